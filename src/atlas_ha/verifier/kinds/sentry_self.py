"""The sentry check of a server on itself (SPEC 8.6): daemon, last good cycle, suspension,
compare result, role/identity consistency, environment drift (verifier/drift.py). Each check
adds findings (status, sentence)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atlas_ha.converters import identity
from atlas_ha.errors import AtlasError
from atlas_ha.layout.atomic import atomic_write
from atlas_ha.sync.cycle import last_cycle
from atlas_ha.sync.identity import current_role
from atlas_ha.sync.suspension import suspended as suspension_of
from atlas_ha.verifier import drift
from atlas_ha.verifier.api import Context
from atlas_ha.verifier.profile import Measurement, Status, Threshold, judged
from atlas_ha.verifier.services import ServiceDef

DEFAULT_THRESHOLDS = {"cycle_age": Threshold(900.0, 1800.0)}  # 3 and 6 default cycles
COMPARE_STATUS = {
    "equal": Status.OK,
    "different": Status.WARNING,
    "stale": Status.CRITICAL,
    "missing": Status.CRITICAL,
    "invalid": Status.CRITICAL,
}
STATE_FILE = "sentry.json"


@dataclass
class Findings:
    items: list[tuple[Status, str]] = field(default_factory=list)
    measured: list[tuple[Measurement, Status]] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def add(self, status: Status, text: str) -> None:
        self.items.append((status, text))
        self.details.append(f"{status.name}: {text}")


def check_self(ctx: Context, service: ServiceDef, found: Findings) -> None:
    server = ctx.server
    for step in (daemon, cycle_age, suspended, compare_result, role_identity, environment):
        try:
            step(ctx, service, found)
        except (AtlasError, OSError) as exc:
            found.add(Status.CRITICAL, f"{step.__name__.replace('_', ' ')}: {exc}")
    found.data["role"] = ctx.role
    found.data["server"] = server.name


def environment(ctx: Context, service: ServiceDef, found: Findings) -> None:
    """The live system against the fingerprint of this server's EnvID: a change is a WARNING
    until a new EnvVersion is defined or the operator confirms it (`atlas-ha env confirm`)."""
    result = drift.drift(ctx.server)
    env = result.env
    if not result.recorded:
        found.details.append(f"no fingerprint of Env{env} recorded (`atlas-ha env record`)")
        return
    if result.changed:
        found.data["drift"] = [list(c) for c in result.changed]
        found.add(
            Status.WARNING,
            f"environment drift since Env{env} was recorded: {'; '.join(result.lines())}: "
            f"define Env{env + 1} (with its converter) if this changes what the services "
            "accept, or confirm that nothing relevant changed (`atlas-ha env confirm`)",
        )
    else:
        found.details.append(f"Env{env} as recorded")
    for what in result.unrecorded:
        found.details.append(f"{what}: not in the fingerprint of Env{env} (`atlas-ha env record`)")


def daemon(ctx: Context, service: ServiceDef, found: Findings) -> None:
    """The daemon named by its PID file is alive (when there is a PID file)."""
    pid_file = Path(service.options.get("pidfile", ctx.server.esd.daemon_pid_file))
    match = str(service.options.get("daemon_match", "atlas"))
    try:
        text = pid_file.read_text().strip()
    except FileNotFoundError:
        found.details.append(f"no daemon PID file {pid_file}: liveness from the cycle age")
        return
    if not text.isdigit():
        found.add(Status.CRITICAL, f"daemon PID file {pid_file}: not a PID ({text[:20]!r})")
        return
    pid = int(text)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        found.add(Status.CRITICAL, f"daemon not running (PID {pid} in {pid_file} is gone)")
        return
    if stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X") or match not in cmdline:
        found.add(Status.CRITICAL, f"daemon not running (PID {pid} is not {match!r})")
        return
    found.details.append(f"daemon PID {pid} alive: {cmdline.strip()[:120]}")


def cycle_age(ctx: Context, service: ServiceDef, found: Findings) -> None:
    """Age of the last good SyncCycle: PRI from its cycle report, a SEC from the last PRI
    snapshot it received (each cycle sends it)."""
    server = ctx.server
    now = server.clock.now()
    if ctx.role == "PRI":
        when = _last_good_cycle(ctx)
        what = "good SyncCycle"
    else:
        when, what = _last_pri_snapshot(ctx), "PRI snapshot received"
    if when is None:
        found.add(Status.CRITICAL, f"no {what} recorded")
        return
    thresholds = {**DEFAULT_THRESHOLDS, **service.thresholds}
    measurement, status = judged("cycle_age", max(0.0, now - when), "s", thresholds)
    found.measured.append((measurement, status))
    if status is not Status.OK:
        found.add(status, f"last {what} {measurement.value:.0f} s ago ({measurement.judgement})")


def _last_good_cycle(ctx: Context) -> float | None:
    """The finish time of the last cycle with every SEC reached and equal; remembered in the
    sentry's state file, since the cycle report holds only the latest cycle."""
    report = last_cycle(ctx.server)
    state_file = ctx.state_dir / STATE_FILE if ctx.state_dir != Path() else None
    state = _read_state(state_file)
    if report is not None and _good(report):
        finished = float(report.get("finished", 0.0))
        if state_file is not None and finished > state.get("last_good_cycle", 0.0):
            state_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            atomic_write(state_file, json.dumps({"last_good_cycle": finished}), mode=0o600)
        return finished
    good = state.get("last_good_cycle")
    return float(good) if isinstance(good, int | float) else None


def _good(report: dict[str, Any]) -> bool:
    secs, compared = report.get("secs", []), report.get("compare", [])
    reached = all(isinstance(s, dict) and s.get("reached") for s in secs)
    return reached and all(isinstance(c, dict) and c.get("state") == "equal" for c in compared)


def _read_state(path: Path | None) -> dict[str, float]:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _last_pri_snapshot(ctx: Context) -> float | None:
    sid = ctx.server.sid
    sev = sid.sev("PRI")
    if sev is None or not sid.is_valid("PRI", sev):
        return None
    return sid.sev_file("PRI").stat().st_mtime


def suspended(ctx: Context, service: ServiceDef, found: Findings) -> None:
    flag = suspension_of(ctx.server)
    found.data["suspended"] = flag is not None
    if flag is not None:
        why = f"by {flag.get('by')}: {flag.get('reason')}"
        found.add(Status.WARNING, f"the Synchronizer is suspended ({why})")


def compare_result(ctx: Context, service: ServiceDef, found: Findings) -> None:
    """PRI: the last cycle's Snapshot Compare; stale/missing/invalid SECs are CRITICAL,
    different ones WARNING."""
    if ctx.role != "PRI":
        return
    report = last_cycle(ctx.server)
    if report is None:
        return  # cycle_age reports it
    states = {}
    for result in report.get("compare", []):
        if not isinstance(result, dict):
            continue
        sec, state = str(result.get("sec", "?")), str(result.get("state", "?"))
        states[sec] = state
        status = COMPARE_STATUS.get(state, Status.CRITICAL)
        if status is not Status.OK:
            note = result.get("note") or ", ".join(
                str(d.get("path")) for d in result.get("differences", [])[:5]
            )
            found.add(status, f"{sec}: {state.upper()} ({note})")
    found.data["compare"] = states


def role_identity(ctx: Context, service: ServiceDef, found: Findings) -> None:
    """The role booted with is the disk's role; the installed identity's address is the
    role's (its snapshot's identity) and no partner's."""
    server = ctx.server
    master = server.master()
    booted = current_role(server)
    if booted is not None and booted != master.role:
        found.add(
            Status.CRITICAL,
            f"this server booted as {booted} but its disk holds {master.role} "
            "(Role/Identity Install has not run since the disk changed)",
        )
    address = _installed_address(ctx)
    found.data["address"] = address
    for role, partner in master.partners.items():
        if partner.address == address:
            found.add(
                Status.CRITICAL,
                f"this server ({master.role}) answers {address}, which MasterConfig gives {role}",
            )
    expected = _role_address(ctx, master.role)
    if expected is not None and expected != address:
        found.add(
            Status.CRITICAL,
            f"installed identity address {address} is not {master.role}'s ({expected}, "
            f"from its snapshot)",
        )


def _identity_files(root: Path, fmt: str, device: str) -> dict[str, bytes]:
    files = {}
    for path in identity.paths(fmt, device):
        source = root / path.lstrip("/")
        if source.exists():
            files[path] = source.read_bytes()
    return files


def _installed_address(ctx: Context) -> str:
    server = ctx.server
    env = server.envs[server.env_id]
    fmt = env.formats["identity"]
    files = _identity_files(server.settings.system_root, fmt, env.device)
    return identity.parse(fmt, files).address


def _role_address(ctx: Context, role: str) -> str | None:
    """The address of `role`'s identity in its valid snapshot at this EnvVersion, if any."""
    server = ctx.server
    sid, env_id = server.sid, server.env_id
    if not sid.is_valid(role, env_id):
        return None
    env = server.envs[env_id]
    fmt = env.formats["identity"]
    area = sid.area(role, env_id)
    files = {}
    for path in identity.paths(fmt, env.device):
        copy = area.copy_path("IdentFiles", path)
        if copy.exists():
            files[path] = copy.read_bytes()
    return identity.parse(fmt, files).address if files else None
