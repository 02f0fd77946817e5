"""Kind `health`: this server's own disk space, RAID arrays, load, memory and temperature.

    [service.health]
    kind = "health"                   # targets: self only
    [service.health.options]
    paths = ["/", "/srv"]             # disk space of these system paths (default ["/"])
    proc = "/proc"                    # where /proc and /sys are (tests feed fixtures)
    sys = "/sys"
    [service.health.thresholds]       # measured label = [slow, unacceptable]
    free = [15, 5]                    # % free on every path ("free /srv" for one path)
    load = [2, 4]                     # 5-minute load average per CPU
    mem_available = [10, 5]           # % of memory available
    temp = [80, 95]                   # degrees Celsius, every thermal zone ("temp <zone>")

Without thresholds the values above apply. A degraded or inactive array in /proc/mdstat is
CRITICAL (an empty rotating slot of [raid.rotating] is expected, docs/backup.md), one
resyncing or recovering is WARNING, and so is a mismatch_cnt > 0 in sysfs after a check. A
thermal zone or /proc/mdstat that does not exist is simply not measured.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from atlas_ha.errors import FormatError
from atlas_ha.layout.esd import EsdData
from atlas_ha.raid import mdstat as md_parse
from atlas_ha.raid import sysfs as md_sysfs
from atlas_ha.raid.rotate import rotating_map
from atlas_ha.verifier.api import Context, Target, Verifier
from atlas_ha.verifier.profile import (
    JUDGEMENT_STATUS,
    Measurement,
    Profile,
    Status,
    Threshold,
    from_checks,
    worst,
)
from atlas_ha.verifier.services import ServiceDef

DEFAULTS = {
    "free": Threshold(15, 5),
    "load": Threshold(2, 4),
    "mem_available": Threshold(10, 5),
    "temp": Threshold(80, 95),
}

Judged = tuple[Measurement, Status]


class HealthVerifier(Verifier):
    kind = "health"
    default_targets = "self"

    def verify(self, ctx: Context, service: ServiceDef, target: Target) -> Profile:
        if not target.own:
            return Profile(Status.UNKNOWN, f"health verifies this server only, not {target.role}")
        proc = Path(str(service.options.get("proc", "/proc")))
        sys_root = Path(str(service.options.get("sys", "/sys")))
        paths = service.options.get("paths", ["/"])
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            return Profile(Status.UNKNOWN, "options.paths is a list of system paths")
        measured: list[Judged] = []
        failures: list[str] = []
        for path in paths:
            measured.append(_disk(ctx, path, service, failures))
        measured += _load(proc, service) + _memory(proc, service) + _temps(sys_root, service)
        settings = ctx.server.settings
        rotating = rotating_map(settings.raid, EsdData(settings.esd_data))  # as `raid status`
        raid_status, raid_notes = mdstat(proc / "mdstat", sys_root, rotating)
        if raid_status == Status.CRITICAL:
            failures += raid_notes
        profile = from_checks(failures, "healthy", measured)
        if raid_status == Status.WARNING:  # recovering, mismatches: not failed, not healthy
            summary = "; ".join([*raid_notes, profile.summary])
            return Profile(worst([profile.status, raid_status]), summary, profile.measurements)
        return profile


def _judged(label: str, family: str, value: float, uom: str, service: ServiceDef) -> Judged:
    threshold = service.thresholds.get(label) or service.thresholds.get(family) or DEFAULTS[family]
    judgement = threshold.judge(value)
    measurement = Measurement(
        label, round(value, 3), uom, judgement, f"{threshold.slow:g}", f"{threshold.unacceptable:g}"
    )
    return measurement, JUDGEMENT_STATUS[judgement]


def _disk(ctx: Context, path: str, service: ServiceDef, failures: list[str]) -> Judged:
    try:
        st = os.statvfs(ctx.in_root(path))
    except OSError as exc:
        failures.append(f"{path}: {exc.strerror}")
        return Measurement(f"free {path}", 0.0, "%"), Status.CRITICAL
    free = 100.0 * st.f_bavail / st.f_blocks if st.f_blocks else 0.0
    return _judged(f"free {path}", "free", free, "%", service)


def _load(proc: Path, service: ServiceDef) -> list[Judged]:
    try:
        fields = (proc / "loadavg").read_text().split()
        load5 = float(fields[1])
    except (OSError, IndexError, ValueError):
        return []
    cpus = _cpus(proc)
    return [_judged("load", "load", load5 / cpus, "", service)]


def _cpus(proc: Path) -> int:
    try:
        text = (proc / "cpuinfo").read_text()
    except OSError:
        return os.cpu_count() or 1
    return max(1, sum(1 for line in text.splitlines() if line.startswith("processor")))


def _memory(proc: Path, service: ServiceDef) -> list[Judged]:
    try:
        info = dict(
            (line.split(":")[0], float(line.split()[1]))
            for line in (proc / "meminfo").read_text().splitlines()
            if ":" in line and len(line.split()) >= 2
        )
        available = 100.0 * info["MemAvailable"] / info["MemTotal"]
    except (OSError, KeyError, ValueError, ZeroDivisionError):
        return []
    return [_judged("mem_available", "mem_available", available, "%", service)]


def _temps(sys_root: Path, service: ServiceDef) -> list[Judged]:
    found = []
    base = sys_root / "class" / "thermal"
    for zone in sorted(base.glob("thermal_zone*")) if base.is_dir() else []:
        try:
            millidegrees = int((zone / "temp").read_text().strip())
            name = (zone / "type").read_text().strip() or zone.name
        except (OSError, ValueError):
            continue
        found.append(_judged(f"temp {name}", "temp", millidegrees / 1000, "", service))
    return found


def mdstat(
    path: Path,
    sys_root: Path | None = None,
    rotating: Mapping[str, tuple[int, ...]] | None = None,
) -> tuple[Status, list[str]]:
    """The worst state of the arrays in /proc/mdstat (raid/mdstat.py) and a note for each
    array not clean: inactive or degraded is CRITICAL, a resync, recovery or reshape is
    WARNING, a mismatch_cnt > 0 after the last check (sysfs) is WARNING. An empty slot of
    `rotating` ([raid.rotating]: a backup disk taken away, docs/backup.md) is expected."""
    try:
        stat = md_parse.read(path)
    except FormatError as exc:
        return Status.WARNING, [f"RAID state unreadable: {exc}"]
    if stat is None:
        return Status.OK, []
    statuses, notes = [Status.OK], []
    for array in stat.arrays:
        name = array.name
        if not array.active:
            statuses.append(Status.CRITICAL)
            notes.append(f"{name} is inactive")
            continue
        expected = (rotating or {}).get(name, ())
        missing = [n for n in array.empty_slots if n not in expected]
        faulty = [m.name for m in array.members if m.faulty]
        if missing or faulty:
            statuses.append(Status.CRITICAL)
            note = f"{name} degraded: {array.working}/{array.raid_disks} disks [{array.status}]"
            notes.append(note + (f", faulty {' '.join(faulty)}" if faulty and not missing else ""))
        elif array.empty_slots:
            notes.append(f"{name}: rotating slot {list(array.empty_slots)} empty (expected)")
        p = array.progress
        if p is not None and p.waiting is None and p.action in ("resync", "recovery", "reshape"):
            statuses.append(Status.WARNING)
            notes.append(f"{name}: {p.action} {p.percent}% (finish in {p.finish_min} min)")
        if sys_root is not None and md_sysfs.md_dir(sys_root, name).is_dir():
            try:
                attrs = md_sysfs.read(sys_root, name)
            except FormatError as exc:
                statuses.append(Status.WARNING)
                notes.append(f"{name}: sysfs unreadable: {exc}")
                continue
            last = attrs.last_sync_action
            if attrs.mismatch_cnt > 0 and last in ("check", "repair") and not attrs.syncing:
                statuses.append(Status.WARNING)
                notes.append(f"{name}: mismatch_cnt {attrs.mismatch_cnt} after the last {last}")
    return worst(statuses), notes
