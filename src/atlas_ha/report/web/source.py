"""Every read of status data the page, the JSON API, the live updates and /metrics make.

THE ONE ADAPTER: today it builds what the page shows from the library's own records —
the Verifier's results (SID_DATA/<ROLE>/VerifierResults.sqlite through
`verifier.results.VerifierResults`), the last SyncCycle's report (`SidData.last_cycle_file`
through `sync.cycle.last_cycle`), the areas' validity (`sync.status.server_status`), the
suspension (`sync.suspension.suspended`) and the daemon's heartbeat (`SidData.heartbeat_file`).
When the status model (report/model.py, report/events.py, readiness) lands, this file is
the only one to change: the views (app.py, templates, metrics.py) take the dataclasses below.

Interim rules, replaced by the status model:
- banner: NO-GO when a check is CRITICAL or UNKNOWN, a SEC's last compare is not equal, or
  no SyncCycle has been recorded on a PRI; suspension is a WARNING (GO, said loudly).
- readiness of a SEC: its last compare equal, reached in the last cycle, its area at the
  PRI's EnvVersion valid, and none of its checks CRITICAL or UNKNOWN.
- events: the event log (report/events.py: state changes, cycles, suspend/resume, role
  changes, alert deliveries) of the last week, and the daemon's latest sentence.
- time strips: the last 24 hours and 90 days of each cell from the roll-ups (strips.py).

Compare diffs of shadow-class files (/etc/shadow, ... and `[receive] shadow_files`) are never
shown: the page says that the content differs, not how.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from atlas_ha.context import Server
from atlas_ha.errors import AtlasError
from atlas_ha.model import ROLE_RE, role_key
from atlas_ha.report.console import event_text
from atlas_ha.report.view import events_since
from atlas_ha.report.web.strips import cell_strips
from atlas_ha.sync.address import own_address
from atlas_ha.sync.cycle import last_cycle
from atlas_ha.sync.status import server_status
from atlas_ha.sync.suspension import suspended
from atlas_ha.verifier.profile import Status, worst
from atlas_ha.verifier.results import ResultRow, VerifierResults
from atlas_ha.verifier.verdict import is_go

HISTORY_ROWS = 20
EVENT_ROWS = 500  # the newest events the page lists
NO_GO = ("CRITICAL", "UNKNOWN")
WITHHELD = "(diff withheld: a shadow-class file)"


@dataclass(frozen=True)
class Cell:
    """One server x service: the newest result of that check (status None: not checked)."""

    server: str  # the verified role
    service: str
    status: str | None
    reason: str
    started: float | None = None
    duration: float | None = None
    kind: str = ""
    address: str = ""
    strip24: tuple[str, ...] = ()  # the worst state of each of the last 24 hours (strips.py)
    strip90: tuple[str, ...] = ()  # ... and of the last 90 days


@dataclass(frozen=True)
class Banner:
    go: bool
    status: str  # OK | WARNING | CRITICAL | UNKNOWN
    reasons: tuple[str, ...]

    @property
    def word(self) -> str:
        return "GO" if self.go else "NO-GO"


@dataclass(frozen=True)
class SecState:
    """A SEC in the last SyncCycle: reached, its compare state and why."""

    sec: str
    reached: bool
    state: str  # equal | different | missing | invalid | stale
    note: str
    differences: tuple[dict[str, str], ...] = ()


@dataclass(frozen=True)
class Readiness:
    sec: str
    ready: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Overview:
    server: str  # this server's name
    role: str
    group: str
    env_id: int | None
    generated: float
    banner: Banner
    servers: tuple[tuple[str, str], ...]  # (role, address), PRI first
    services: tuple[str, ...]
    cells: dict[str, Cell]  # key "ROLE/service"
    suspended: dict[str, Any] | None
    cycle: dict[str, Any] | None  # {"started", "finished", "all_equal", "secs": [SecState]}
    readiness: tuple[Readiness, ...]
    daemon: dict[str, Any] | None
    error: str = ""

    def cell(self, role: str, service: str) -> Cell:
        return self.cells.get(f"{role}/{service}") or Cell(role, service, None, "not checked")

    def live(self) -> dict[str, Any]:
        """What an open page updates without reloading (sent by the SSE stream)."""
        return {
            "banner": {
                "word": self.banner.word,
                "status": self.banner.status,
                "reasons": list(self.banner.reasons),
            },
            "cells": {k: {"status": c.status, "reason": c.reason} for k, c in self.cells.items()},
            "suspended": self.suspended is not None,
            "readiness": [asdict(r) for r in self.readiness],
        }

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["banner"]["word"] = self.banner.word
        return data


@dataclass(frozen=True)
class ServiceView:
    name: str
    latest: tuple[ResultRow, ...]  # one row per verified server
    history: tuple[ResultRow, ...]  # newest first, every server

    def to_dict(self) -> dict[str, Any]:
        return {
            "service": self.name,
            "latest": [r.to_dict() for r in self.latest],
            "history": [r.to_dict() for r in self.history],
        }


@dataclass(frozen=True)
class ServerView:
    role: str
    address: str
    sev: int | None
    areas: dict[str, str]  # EnvN -> "valid" | why not
    flagged: tuple[Any, ...]
    compare: SecState | None
    cells: tuple[Cell, ...]
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Event:
    when: float
    what: str
    detail: str = ""


@dataclass
class Source:
    """What the page shows about `server` (this machine; its disk's role)."""

    server: Server
    _stamp: tuple[Any, ...] = field(default=(), init=False)

    # -- what changes: the files whose change an open page must see -----------------------
    def watched(self) -> list[Path]:
        sid = self.server.sid
        files = [sid.last_cycle_file, sid.suspended_file, sid.master_config_file]
        try:
            role = self.server.role()
        except AtlasError:
            return files
        db = sid.verifier_results_file(role)
        return [*files, db, db.with_name(db.name + "-wal")]

    def stamp(self) -> tuple[Any, ...]:
        """Changes whenever one of the watched files does (cheap: stat only)."""
        found: list[tuple[str, int | None, int | None, int | None]] = []
        for path in self.watched():
            try:
                st = path.stat()
                found.append((str(path), st.st_mtime_ns, st.st_size, st.st_ino))
            except OSError:
                found.append((str(path), None, None, None))
        return tuple(found)

    # -- the top page -----------------------------------------------------------------------
    def overview(self) -> Overview:
        server = self.server
        now = server.clock.now()
        try:
            master = server.master()
            env_id: int | None = server.env_id
        except AtlasError as exc:
            banner = Banner(False, "UNKNOWN", (f"this server cannot be read: {exc}",))
            return Overview(
                server.name,
                "?",
                "?",
                None,
                now,
                banner,
                (),
                (),
                {},
                None,
                None,
                (),
                self._daemon(now),
                error=str(exc),
            )
        latest = self._latest(master.role)
        servers = {master.role: _own_address(server)}
        servers.update({r: p.address for r, p in master.partners.items()})
        for row in latest:
            servers.setdefault(row.target_role, row.target_address)
        order = sorted(servers, key=_role_sort)
        cells = {f"{r.target_role}/{r.service}": _cell(r) for r in latest}
        for key, (hours, days) in cell_strips(server, master.role, now).items():
            if key in cells:
                cells[key] = replace(cells[key], strip24=hours, strip90=days)
        cycle = self._cycle(server, master.is_pri)
        flag = suspended(server)
        readiness = (
            tuple(
                self._readiness(sec, cycle, cells, env_id)
                for sec in sorted(master.partners, key=role_key)
            )
            if master.is_pri
            else ()
        )
        banner = _banner(cells, cycle, flag, master.is_pri)
        return Overview(
            server=server.name,
            role=master.role,
            group=master.group,
            env_id=env_id,
            generated=now,
            banner=banner,
            servers=tuple((r, servers[r]) for r in order),
            services=tuple(sorted({r.service for r in latest})),
            cells=cells,
            suspended=flag,
            cycle=cycle,
            readiness=readiness,
            daemon=self._daemon(now),
        )

    def service(self, name: str) -> ServiceView | None:
        try:
            role = self.server.role()
        except AtlasError:
            return None
        with self._results(role) as results:
            if results is None:
                return None
            latest = tuple(results.newest(name))
            if not latest:
                return None
            history = tuple(results.history(name, None, HISTORY_ROWS * max(1, len(latest))))
        return ServiceView(name, latest, history)

    def server_view(self, role: str) -> ServerView | None:
        if not ROLE_RE.match(role):
            return None
        overview = self.overview()
        known = dict(overview.servers)
        if role not in known:
            return None
        try:
            status = server_status(self.server)
        except AtlasError as exc:
            status, error = {"roles": {}}, str(exc)
        else:
            error = ""
        area = status["roles"].get(role, {})
        secs = (overview.cycle or {}).get("secs", [])
        compare = next((s for s in secs if s.sec == role), None)
        cells = tuple(overview.cell(role, s) for s in overview.services)
        return ServerView(
            role=role,
            address=known[role],
            sev=area.get("sev"),
            areas=dict(area.get("areas", {})),
            flagged=tuple(area.get("flagged", [])),
            compare=compare,
            cells=cells,
            error=error,
        )

    def events(self, days: float = 7.0, most: int = EVENT_ROWS) -> list[Event]:
        """The event log of the last `days` (report/events.py), newest first, with the
        daemon's latest sentence on top while it runs."""
        now = self.server.clock.now()
        found: list[Event] = []
        beat = self._daemon(now)
        if beat is not None:
            found.append(
                Event(float(beat.get("heartbeat") or 0), "daemon", str(beat.get("sentence", "")))
            )
        try:
            logged = events_since(self.server, now - days * 86400).events
        except AtlasError:  # no role on this disk: nothing logged
            logged = []
        for event in reversed(logged[-most:]):
            found.append(Event(float(event["t"]), str(event["type"]), event_text(event)))
        return found

    # -- pieces -----------------------------------------------------------------------------
    def _results(self, role: str) -> _Opened:
        return _Opened(self.server.sid.verifier_results_file(role))

    def _latest(self, role: str) -> list[ResultRow]:
        with self._results(role) as results:
            return results.newest() if results is not None else []

    def _cycle(self, server: Server, is_pri: bool) -> dict[str, Any] | None:
        raw = last_cycle(server) if is_pri else None
        if raw is None:
            return None
        reached = {s.get("sec"): s for s in raw.get("secs", []) if isinstance(s, dict)}
        shadow = server.settings.receive.shadow_paths
        secs = []
        for c in raw.get("compare", []):
            sec = str(c.get("sec"))
            diffs = tuple(
                {
                    "path": str(d.get("path")),
                    "what": str(d.get("what")),
                    "diff": WITHHELD
                    if _shadow(str(d.get("path")), shadow) and d.get("diff")
                    else str(d.get("diff", "")),
                }
                for d in c.get("differences", [])
            )
            outcome = reached.get(sec, {})
            secs.append(
                SecState(
                    sec,
                    bool(outcome.get("reached", False)),
                    str(c.get("state")),
                    str(c.get("note", "")),
                    diffs,
                )
            )
        return {
            "started": raw.get("started"),
            "finished": raw.get("finished"),
            "all_equal": _all_equal(raw),
            "secs": secs,
        }

    def _readiness(
        self, sec: str, cycle: dict[str, Any] | None, cells: dict[str, Cell], env_id: int | None
    ) -> Readiness:
        reasons: list[str] = []
        if cycle is None:
            reasons.append("no SyncCycle recorded yet")
        else:
            state = next((s for s in cycle["secs"] if s.sec == sec), None)
            when = _when(cycle.get("finished"))
            if state is None:
                reasons.append(f"not in the last SyncCycle ({when})")
            else:
                if not state.reached:
                    reasons.append(f"not synced in the last SyncCycle ({when}): {state.note}")
                if state.state == "different":
                    paths = ", ".join(d["path"] for d in state.differences[:5])
                    reasons.append(f"compare differs in {paths}")
                elif state.state not in ("equal", "stale"):
                    reasons.append(f"compare: {state.state} ({state.note})")
        if env_id is not None:
            why = self.server.sid.validity(sec, env_id)
            if why is not None:
                reasons.append(f"its snapshot at Env{env_id} is not valid: {why}")
        for cell in cells.values():
            if cell.server == sec and cell.status in NO_GO:
                reasons.append(f"{cell.service} {cell.status}: {cell.reason}")
        return Readiness(sec, not reasons, tuple(reasons))

    def _daemon(self, now: float) -> dict[str, Any] | None:
        try:
            beat = json.loads(self.server.sid.heartbeat_file.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(beat, dict):
            return None
        heartbeat = beat.get("heartbeat")
        beat["age"] = now - float(heartbeat) if isinstance(heartbeat, int | float) else None
        return beat


class _Opened:
    """The results database for reading, or None when this role has none yet (the page never
    creates one)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.results: VerifierResults | None = None

    def __enter__(self) -> VerifierResults | None:
        if self.path.exists():
            self.results = VerifierResults(self.path)
        return self.results

    def __exit__(self, *_exc: object) -> None:
        if self.results is not None:
            self.results.close()


def _cell(row: ResultRow) -> Cell:
    return Cell(
        server=row.target_role,
        service=row.service,
        status=row.profile.status.name,
        reason=row.profile.summary,
        started=row.started,
        duration=row.duration,
        kind=row.kind,
        address=row.target_address,
    )


def _banner(
    cells: dict[str, Cell], cycle: dict[str, Any] | None, flag: dict[str, Any] | None, is_pri: bool
) -> Banner:
    statuses = [Status[c.status] for c in cells.values() if c.status is not None]
    status = worst(statuses)
    reasons = [
        f"{c.service} on {c.server}: {c.status} ({c.reason})"
        for c in cells.values()
        if c.status in NO_GO
    ]
    go = is_go(status) and status != Status.UNKNOWN
    if is_pri and cycle is None:
        go, reasons = False, [*reasons, "no SyncCycle recorded yet"]
        status = worst([status, Status.UNKNOWN])
    for sec in (cycle or {}).get("secs", []):
        if sec.state != "equal":
            go = False
            status = worst([status, Status.CRITICAL])
            reasons.append(
                f"{sec.sec}: compare {sec.state}" + (f" ({sec.note})" if sec.note else "")
            )
    if flag is not None:
        status = worst([status, Status.WARNING])
        reasons.append(f"suspended by {flag.get('by')}: {flag.get('reason')}")
    if not cells:
        reasons.append("no Verifier results yet")
    return Banner(go, status.name, tuple(reasons))


def _all_equal(raw: dict[str, Any]) -> bool:
    return all(c.get("state") == "equal" for c in raw.get("compare", []))


def _shadow(path: str, shadow: tuple[str, ...]) -> bool:
    return path in shadow or path.startswith(tuple(p + "/" for p in shadow))


def _own_address(server: Server) -> str:
    try:
        return own_address(server)
    except (AtlasError, OSError):
        return server.settings.address or ""


def _role_sort(role: str) -> tuple[int, int]:
    return role_key(role) if ROLE_RE.match(role) else (2, 0)


def _when(stamp: object) -> str:
    if not isinstance(stamp, int | float):
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(stamp))
