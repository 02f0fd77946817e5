"""Every read of status data the page, the JSON API, the live updates and /metrics make.

The verdicts are the status model's (report/model.py, readiness.py) over the inputs the one
loader gathers (report/loader.py): the banner, every cell's state and reason, and the
failover readiness are exactly what `atlas-ha status`, `atlas-ha check` and /api/v1 say
(the overview also carries the model's own dict under "report"). What this adapter adds is
presentation only: each cell's time strips (roll-ups, strips.py), the last cycle's compare
with its diffs, a service's results and history, a server's areas, the event log (report/
events.py) and the daemon's latest sentence.

Compare diffs of shadow-class files (/etc/shadow, ... and `[receive] shadow_files`) are never
shown: the page says that the content differs, not how.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from atlas_ha.context import Server
from atlas_ha.errors import AtlasError
from atlas_ha.model import ROLE_RE
from atlas_ha.report import loader
from atlas_ha.report.alerts import store as alert_store
from atlas_ha.report.console import event_text
from atlas_ha.report.model import GroupStatus, Inputs, build
from atlas_ha.report.rollups import DAY, HOUR
from atlas_ha.report.view import events_since
from atlas_ha.report.web.strips import StripCache
from atlas_ha.sync.cycle import last_cycle
from atlas_ha.sync.status import server_status
from atlas_ha.verifier.profile import Status
from atlas_ha.verifier.results import ResultRow, VerifierResults

HISTORY_ROWS = 20
OWN_KIND = "atlas"  # the kind of ATLAS's own cells (sync, atlas) on the page and /metrics
EVENT_ROWS = 500  # the newest events the page lists
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
    text: str = ""  # the model's banner, as `atlas-ha status` prints it

    @property
    def word(self) -> str:
        """GO, NO-GO, or UNKNOWN (0 checks): the banner's first word."""
        return self.text.split(":", 1)[0].split(" ", 1)[0] if self.text else "NO-GO"


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
    report: dict[str, Any] = field(default_factory=dict)  # the model's GroupStatus.to_dict()
    last_good_cycle: float | None = None  # the last SyncCycle that found every SEC equal

    def cell(self, role: str, service: str) -> Cell:
        return self.cells.get(f"{role}/{service}") or Cell(role, service, None, "not checked")

    def live(self) -> dict[str, Any]:
        """What an open page updates without reloading (sent by the SSE stream)."""
        return {
            "banner": {
                "word": self.banner.word,
                "status": self.banner.status,
                "reasons": list(self.banner.reasons),
                "text": self.banner.text,
            },
            "cells": {k: {"status": c.status, "reason": c.reason} for k, c in self.cells.items()},
            "suspended": self.suspended is not None,
            "readiness": [asdict(r) for r in self.readiness],
        }

    def to_dict(self) -> dict[str, Any]:
        """What asdict(self) gives (with the banner's word), without its deep copy of every
        cell's strips (most of /api/v1/overview's time)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["banner"] = {**asdict(self.banner), "word": self.banner.word}
        data["servers"] = [list(s) for s in self.servers]
        data["services"] = list(self.services)
        data["cells"] = {k: dict(vars(c)) for k, c in self.cells.items()}
        data["readiness"] = [asdict(r) for r in self.readiness]
        if self.cycle is not None:
            data["cycle"] = {**self.cycle, "secs": [asdict(s) for s in self.cycle["secs"]]}
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


@dataclass(frozen=True)
class AlertsView:
    """The alert state as the page shows it (report/alerts/store.py)."""

    active: tuple[dict[str, Any], ...]  # subject, state, reason, since, held, ack
    silences: tuple[dict[str, Any], ...]
    failing: tuple[dict[str, Any], ...]  # channels whose last delivery failed: name, error
    rules_error: str = ""
    error: str = ""  # the alert state cannot be read


@dataclass
class Source:
    """What the page shows about `server` (this machine; its disk's role)."""

    server: Server
    _stamp: tuple[Any, ...] = field(default=(), init=False)
    # the strips of the last render, while the roll-ups and the current hour are the same
    _strips: StripCache = field(default_factory=StripCache, init=False)

    # -- what changes: the files whose change an open page must see -----------------------
    def watched(self) -> list[Path]:
        sid = self.server.sid
        files = [sid.last_cycle_file, sid.suspended_file, sid.master_config_file]
        files.append(sid.heartbeat_file)
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
            inputs = loader.gather(server, now)
            group = build(inputs)
        except AtlasError as exc:
            reason = f"this server cannot be read: {exc}"
            banner = Banner(False, "UNKNOWN", (reason,), f"UNKNOWN: {reason}")
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
        cells = _cells(group, inputs)
        for key, (hours, days) in self._cell_strips(inputs.role, now).items():
            if key in cells:
                cells[key] = replace(cells[key], strip24=hours, strip90=days)
        s = inputs.suspension
        return Overview(
            server=server.name,
            role=inputs.role,
            group=inputs.group,
            env_id=inputs.env,
            generated=now,
            banner=_banner(group),
            servers=tuple((row.role, row.address or "") for row in group.servers),
            services=tuple(group.services()),
            cells=cells,
            suspended=None if s is None else {"since": s.since, "by": s.by, "reason": s.reason},
            cycle=self._cycle(server, inputs.role == "PRI"),
            readiness=tuple(Readiness(r.sec, r.ready, r.reasons) for r in group.readiness),
            daemon=self._daemon(now),
            report=group.to_dict(),
            last_good_cycle=loader.last_good_cycle(server, inputs.role, inputs.cycle),
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

    def alerts(self) -> AlertsView:
        """The active alerts (announced or held), the silences in force, the channels that
        are failing (an unreachable mail server is an error on the page) and a rules error."""
        now = self.server.clock.now()
        try:
            state = alert_store.load(self.server.sid)
        except (AtlasError, OSError) as exc:
            return AlertsView((), (), (), error=str(exc))
        acks = state.engine.acks
        active = tuple(
            {
                "subject": k,
                "state": v.hard,
                "reason": v.reason,
                "since": v.since,
                "held": v.held,
                "ack": acks[k].__dict__ if k in acks else None,
                "announced": v.sent == v.hard,
            }
            for k, v in sorted(state.engine.subjects.items())
            if v.hard != "OK"
        )
        silences = tuple(s.__dict__ for s in state.engine.silences if s.until > now)
        failing = tuple(
            {"channel": k, "failures": v.failures, "error": v.last_error, "next_try": v.next_try}
            for k, v in sorted(state.channels.items())
            if v.failures > 0
        )
        return AlertsView(active, silences, failing, state.rules_error)

    # -- pieces -----------------------------------------------------------------------------
    def _cell_strips(self, role: str, now: float) -> dict[str, Any]:
        """The strips (report/web/strips.py StripCache): kept while the roll-ups and the
        hour are the same; after a fold (the recorder, after each daemon turn) only the
        newest buckets are read again, a new hour or another file reads them whole."""
        db = self.server.sid.rollups_file(role)
        stats: list[tuple[int, int, int] | None] = []
        for path in (db, db.with_name(db.name + "-wal")):
            try:
                st = path.stat()
                stats.append((st.st_ino, st.st_mtime_ns, st.st_size))
            except OSError:
                stats.append(None)
        file = stats[0][0] if stats[0] is not None else None
        return self._strips.strips(db, now, (role, file), tuple(stats))

    def forget_strips(self, day: bool = True) -> None:
        """The next render reads the hourly strips whole, as the first one of an hour does
        (`day`: and the daily ones, as the first of a day does)."""
        self._strips.forget(HOUR, DAY) if day else self._strips.forget(HOUR)

    def _results(self, role: str) -> _Opened:
        return _Opened(self.server.sid.verifier_results_file(role))

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


def _cells(group: GroupStatus, inputs: Inputs) -> dict[str, Cell]:
    """The model's cells, keyed "ROLE/service", with what the page shows beside a check's
    verdict (its kind, duration and address)."""
    checks = {(c.target, c.service): c for c in inputs.checks}
    found = {}
    for role, cell in group.cells:
        check = checks.get((role, cell.service))
        found[f"{role}/{cell.service}"] = Cell(
            server=role,
            service=cell.service,
            status=cell.status.name,
            reason=cell.reason,
            started=cell.when,
            duration=check.duration if check is not None else None,
            kind=check.kind if check is not None else OWN_KIND,
            address=check.address if check is not None else "",
        )
    return found


def _banner(group: GroupStatus) -> Banner:
    """The model's banner: its word, state and the reasons of its worst cells."""
    cells = group.cells
    status = group.status if cells else Status.UNKNOWN
    worst = [f"{r} {c.service}: {c.reason}" for r, c in cells if c.status == status]
    reasons = tuple(worst) if cells and status != Status.OK else (group.reason,)
    return Banner(group.go, status.name, reasons, group.banner)


def _all_equal(raw: dict[str, Any]) -> bool:
    return all(c.get("state") == "equal" for c in raw.get("compare", []))


def _shadow(path: str, shadow: tuple[str, ...]) -> bool:
    return path in shadow or path.startswith(tuple(p + "/" for p in shadow))
