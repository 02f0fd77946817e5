"""The status model (SPEC 7.4, 8.4): group -> server -> service, each a state with its reason.

Pure: `build(inputs)` computes everything from `Inputs` (report/loader.py gathers them from a
server; tests and the web page may build them by hand). States are the Verifier's
(OK/WARNING/CRITICAL/UNKNOWN); several are as bad as the worst by go/no-go (verdict.worst_go:
CRITICAL > UNKNOWN > WARNING > OK), and nothing at all is UNKNOWN: "0 checks" is never a go.

The grid: one row per role of the group (this server's and its partners'), one cell per
verified service of that role (the newest result of the check; older than
`[report] results_stale`: UNKNOWN, stale), plus two cells ATLAS adds itself:

    sync    on a SEC's row (seen from the PRI): its last compare (equal OK, different
            WARNING, stale/missing/invalid CRITICAL; the cycle older than `cycle_stale`:
            UNKNOWN); on the PRI's row: the last SyncCycle's age, and the suspension
            (WARNING: an operator's choice, but no cycle runs)
    atlas   on this server's own row: the daemon's heartbeat (older than `heartbeat_stale`:
            CRITICAL) and role/identity consistency (the installed identity is another
            role's: CRITICAL)

Failover readiness (report/readiness.py) is judged from the same inputs, on the PRI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from atlas_ha.model import role_key
from atlas_ha.settings import ReportSettings
from atlas_ha.verifier.profile import Status
from atlas_ha.verifier.verdict import is_go, worst_go

SYNC, ATLAS = "sync", "atlas"
COMPARE_STATUS = {
    "equal": Status.OK,
    "different": Status.WARNING,
    "stale": Status.CRITICAL,
    "missing": Status.CRITICAL,
    "invalid": Status.CRITICAL,
}


@dataclass(frozen=True)
class CheckInput:
    """The newest result of one check: `service` verified on the server holding `target`."""

    service: str
    target: str
    status: Status
    summary: str
    started: float
    kind: str = ""  # what the page and /metrics also show of the result
    duration: float | None = None
    address: str = ""


@dataclass(frozen=True)
class SecCycle:
    """One SEC in the last SyncCycle: reached or why not, and its compare."""

    sec: str
    reached: bool
    state: str  # the compare state (sync/compare.py; `stale` when not reached)
    env: int
    note: str = ""
    paths: tuple[str, ...] = ()  # the differing paths (state `different`)
    cause: str = ""
    error: str = ""
    rejected: tuple[str, ...] = ()  # its own checkers' findings, from its SyncUp answer


@dataclass(frozen=True)
class CycleInput:
    started: float
    finished: float
    env: int
    secs: tuple[SecCycle, ...] = ()

    def of(self, sec: str) -> SecCycle | None:
        return next((s for s in self.secs if s.sec == sec), None)


@dataclass(frozen=True)
class Suspension:
    since: float
    by: str
    reason: str


@dataclass(frozen=True)
class Inputs:
    now: float
    server: str
    role: str  # the role on this server's Unbound Data (its MasterConfig)
    group: str
    partners: dict[str, str]  # role -> address
    env: int  # this server's EnvVersion
    current_role: str | None = None  # the last Role/Identity Install's
    own_address: str | None = None
    checks: tuple[CheckInput, ...] = ()
    cycle: CycleInput | None = None  # the last SyncCycle (a PRI's)
    suspension: Suspension | None = None
    heartbeat: float | None = None  # the daemon's last heartbeat (None: never)
    daemon_stopped: bool = False  # its last sentence was "stopped"
    last_synced: dict[str, float] = field(default_factory=dict)  # SEC -> last equal compare
    sec_envs: dict[str, int | None] = field(default_factory=dict)  # SEC -> its EnvVersion
    known_envs: frozenset[int] = frozenset()  # the EnvVersions of this server's envs.toml
    pri_validity: dict[int, str | None] = field(default_factory=dict)  # (PRI, v): None = valid
    sec_validity: dict[str, str | None] = field(default_factory=dict)  # (SEC, env): None = valid
    settings: ReportSettings = field(default_factory=ReportSettings)


@dataclass(frozen=True)
class Cell:
    service: str
    status: Status
    reason: str
    when: float | None = None  # the time of what the cell shows (a result, a cycle)

    def to_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "status": self.status.name,
            "reason": self.reason,
            "when": self.when,
        }


@dataclass(frozen=True)
class ServerState:
    role: str
    address: str | None
    own: bool  # this server
    cells: tuple[Cell, ...]

    @property
    def status(self) -> Status:
        return worst_go(c.status for c in self.cells)

    @property
    def reason(self) -> str:
        return reason_of(self.cells, lambda c: c.service)

    def cell(self, service: str) -> Cell | None:
        return next((c for c in self.cells if c.service == service), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "address": self.address,
            "own": self.own,
            "status": self.status.name,
            "go": is_go(self.status) and bool(self.cells),
            "reason": self.reason,
            "cells": [c.to_dict() for c in self.cells],
        }


@dataclass(frozen=True)
class Readiness:
    """Would moving the PRI's disk into the server holding `sec` work now; if not, why."""

    sec: str
    reasons: tuple[str, ...]

    @property
    def ready(self) -> bool:
        return not self.reasons

    def to_dict(self) -> dict[str, Any]:
        return {"sec": self.sec, "ready": self.ready, "reasons": list(self.reasons)}


@dataclass(frozen=True)
class GroupStatus:
    group: str
    server: str
    role: str
    now: float
    servers: tuple[ServerState, ...]
    readiness: tuple[Readiness, ...]
    readiness_note: str  # why there is no readiness (not the PRI), else ""
    cycle: CycleInput | None

    @property
    def cells(self) -> list[tuple[str, Cell]]:
        return [(s.role, c) for s in self.servers for c in s.cells]

    @property
    def status(self) -> Status:
        return worst_go(c.status for _r, c in self.cells)

    @property
    def go(self) -> bool:
        return bool(self.cells) and is_go(self.status)

    @property
    def reason(self) -> str:
        cells = self.cells
        if not cells:
            return "0 checks"
        worst = self.status
        bad = [f"{r} {c.service}: {c.reason}" for r, c in cells if c.status == worst]
        if worst == Status.OK:
            return f"{len(cells)} checks OK"
        return "; ".join(bad)

    @property
    def banner(self) -> str:
        """ "GO: ..." or "NO-GO (STATE): ..." or "UNKNOWN: 0 checks"."""
        if not self.cells:
            return "UNKNOWN: 0 checks"
        status = self.status
        word = "GO" if self.go else "NO-GO"
        shown = word if status == Status.OK else f"{word} ({status.name})"
        return f"{shown}: {self.reason}"

    @property
    def cycle_age(self) -> float | None:
        return None if self.cycle is None else max(0.0, self.now - self.cycle.finished)

    def services(self) -> list[str]:
        """The grid's columns: every service of any row (ATLAS's own two last)."""
        names = {c.service for _r, c in self.cells}
        own = [n for n in (SYNC, ATLAS) if n in names]
        return sorted(names - {SYNC, ATLAS}) + own

    def row(self, role: str) -> ServerState | None:
        return next((s for s in self.servers if s.role == role), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "server": self.server,
            "role": self.role,
            "now": self.now,
            "status": self.status.name,
            "go": self.go,
            "banner": self.banner,
            "services": self.services(),
            "servers": [s.to_dict() for s in self.servers],
            "readiness": [r.to_dict() for r in self.readiness],
            "readiness_note": self.readiness_note,
            "cycle": None
            if self.cycle is None
            else {
                "started": self.cycle.started,
                "finished": self.cycle.finished,
                "age": self.cycle_age,
                "env": self.cycle.env,
                "secs": {s.sec: s.state for s in self.cycle.secs},
            },
        }


def reason_of(cells: tuple[Cell, ...], label: Any) -> str:
    if not cells:
        return "0 checks"
    worst = worst_go(c.status for c in cells)
    if worst == Status.OK:
        return f"{len(cells)} checks OK"
    return "; ".join(f"{label(c)}: {c.reason}" for c in cells if c.status == worst)


def when(t: float) -> str:
    """A time for a reason: UTC, to the second."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def check_cell(check: CheckInput, inputs: Inputs) -> Cell:
    old = inputs.now - check.started
    if old > inputs.settings.results_stale:
        return Cell(
            check.service,
            Status.UNKNOWN,
            f"stale: last result {age(old)} ago (was {check.status.name}: {check.summary})",
            check.started,
        )
    return Cell(check.service, check.status, check.summary, check.started)


def cycle_stale(inputs: Inputs) -> bool:
    c = inputs.cycle
    return c is not None and inputs.now - c.finished > inputs.settings.cycle_stale


def sec_sync_cell(sec: str, inputs: Inputs) -> Cell:
    c = inputs.cycle
    if c is None:
        return Cell(SYNC, Status.UNKNOWN, "never compared (no SyncCycle report)")
    one = c.of(sec)
    if one is None:
        return Cell(SYNC, Status.UNKNOWN, f"not in the last SyncCycle ({when(c.finished)})")
    if cycle_stale(inputs):
        return Cell(
            SYNC,
            Status.UNKNOWN,
            f"stale: compared {age(inputs.now - c.finished)} ago ({one.state})",
            c.finished,
        )
    status = COMPARE_STATUS.get(one.state, Status.UNKNOWN)
    if one.state == "different":
        text = "different in " + shown_paths(one.paths)
    elif one.state == "equal":
        text = f"equal at Env{one.env}"
    else:
        text = f"{one.state}: {one.note}" if one.note else one.state
    return Cell(SYNC, status, text, c.finished)


def pri_sync_cell(inputs: Inputs) -> Cell | None:
    c, s = inputs.cycle, inputs.suspension
    if s is not None:
        return Cell(
            SYNC, Status.WARNING, f"suspended by {s.by} since {when(s.since)}: {s.reason}", s.since
        )
    if inputs.role != "PRI":
        return None  # the SyncCycle is judged on the PRI
    if c is None:
        return Cell(SYNC, Status.UNKNOWN, "no SyncCycle yet")
    ago = inputs.now - c.finished
    if cycle_stale(inputs):
        limit = age(inputs.settings.cycle_stale)
        return Cell(SYNC, Status.CRITICAL, f"last SyncCycle {age(ago)} ago (stale after {limit})")
    return Cell(SYNC, Status.OK, f"last SyncCycle {age(ago)} ago", c.finished)


def atlas_cell(inputs: Inputs) -> Cell:
    findings: list[tuple[Status, str]] = []
    if inputs.heartbeat is None:
        findings.append((Status.UNKNOWN, "no daemon heartbeat (never started)"))
    elif inputs.daemon_stopped:
        findings.append((Status.CRITICAL, f"daemon stopped at {when(inputs.heartbeat)}"))
    elif inputs.now - inputs.heartbeat > inputs.settings.heartbeat_stale:
        ago = age(inputs.now - inputs.heartbeat)
        findings.append((Status.CRITICAL, f"daemon heartbeat {ago} old (not alive)"))
    else:
        findings.append((Status.OK, "daemon alive"))
    if inputs.current_role is None:
        findings.append((Status.WARNING, "no Role/Identity Install yet"))
    elif inputs.current_role != inputs.role:
        findings.append(
            (
                Status.CRITICAL,
                f"installed identity is {inputs.current_role}'s, the disk holds {inputs.role}",
            )
        )
    worst = worst_go(s for s, _t in findings)
    return Cell(ATLAS, worst, "; ".join(t for s, t in findings if s == worst), inputs.heartbeat)


def shown_paths(paths: tuple[str, ...], limit: int = 5) -> str:
    more = f" (+{len(paths) - limit} more)" if len(paths) > limit else ""
    return (", ".join(paths[:limit]) or "?") + more


def build(inputs: Inputs) -> GroupStatus:
    """The status of the group as this server sees it."""
    from atlas_ha.report.readiness import readiness

    roles = sorted({inputs.role, *inputs.partners}, key=role_key)
    rows = []
    for role in roles:
        own = role == inputs.role
        cells = [check_cell(c, inputs) for c in inputs.checks if c.target == role]
        cells.sort(key=lambda c: c.service)
        if own:
            sync = pri_sync_cell(inputs)
            cells += [sync] if sync is not None else []
            cells.append(atlas_cell(inputs))
        elif inputs.role == "PRI" and role != "PRI":
            cells.append(sec_sync_cell(role, inputs))
        address = inputs.own_address if own else inputs.partners.get(role)
        rows.append(ServerState(role, address, own, tuple(cells)))
    is_pri = inputs.role == "PRI"
    ready = tuple(readiness(inputs, sec) for sec in roles if sec != "PRI") if is_pri else ()
    note = "" if is_pri else f"readiness is judged on the PRI (this server holds {inputs.role})"
    return GroupStatus(
        inputs.group, inputs.server, inputs.role, inputs.now, tuple(rows), ready, note, inputs.cycle
    )
