"""SyncCycle (SPEC 5.9), driven by the PRI.

1. before-create hooks, Snapshot Create, ConvertToOlder;
2. for each SEC in parallel: Snapshot Send, SyncUp request (the SEC converts, installs,
   creates, converts down and sends back: over this same connection when the transport can
   pull, see `transport.sendback`);
3. ConvertToNewer for the SEC roles, Snapshot Compare, record and report.
A SEC that cannot be reached is reported (unreachable, and its snapshot stale); the cycle
goes on for the others. Nothing is repaired here: the next cycle starts from a new Create.
"""

from __future__ import annotations

import contextlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from atlas_ha.converters.chain import convert_to_older
from atlas_ha.daemon.suspend import check_not_suspended
from atlas_ha.errors import AtlasError, RoleError
from atlas_ha.layout.atomic import atomic_write
from atlas_ha.model import role_key
from atlas_ha.sync.address import own_address
from atlas_ha.sync.compare import CompareResult, compare
from atlas_ha.sync.context import Server
from atlas_ha.sync.create import create
from atlas_ha.sync.send import send
from atlas_ha.transport import make_transport
from atlas_ha.transport.base import Connection
from atlas_ha.transport.sendback import SendBackHandler

RESULTS_DIR = ".results"


@dataclass
class SecOutcome:
    sec: str
    reached: bool
    error: str = ""
    reply: dict[str, Any] = field(default_factory=dict)


@dataclass
class CycleReport:
    server: str
    env: int
    started: float
    finished: float = 0.0
    converted_down: list[int] = field(default_factory=list)
    secs: list[SecOutcome] = field(default_factory=list)
    compare: list[CompareResult] = field(default_factory=list)

    @property
    def all_equal(self) -> bool:
        return all(c.state == "equal" for c in self.compare)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def cycle(server: Server) -> CycleReport:
    master = server.master()
    if not master.is_pri:
        raise RoleError(f"a SyncCycle is driven by the PRI; this server holds {master.role}")
    env = server.env_id
    report = CycleReport(server.name, env, server.clock.now())
    with server.sid.lock("cycle"):
        check_not_suspended(server)
        secs = sorted(master.partners, key=role_key)
        # connect first: each partner's handshake and start-up overlap Create and conversions
        pending = {sec: _connect(server, sec) for sec in secs}
        try:
            create(server, "PRI")
            report.converted_down = convert_to_older(server, "PRI", env)
            with ThreadPoolExecutor(max_workers=max(1, len(secs))) as pool:
                work = pool.map(lambda sec: _sync_sec(server, sec, pending[sec]), secs)
                report.secs = list(work)
            # the SECs end their sessions (closing their own connections) meanwhile
            report.compare = compare(server, secs)
        finally:
            for conn in pending.values():
                if isinstance(conn, Connection):
                    with contextlib.suppress(Exception):
                        conn.close()
        for outcome, result in zip(report.secs, report.compare, strict=True):
            if not outcome.reached:
                result.state, result.note = "stale", f"unreachable: {outcome.error}"
    report.finished = server.clock.now()
    _record(server, report)
    server.run_hooks("after_cycle", "PRI", {"ATLAS_HA_CYCLE_OK": str(report.all_equal)})
    return report


def _connect(server: Server, sec: str) -> Connection | AtlasError:
    """Start the connection to `sec` (it is used later), or the error that prevented it."""
    try:
        transport = make_transport(server.settings)
        return transport.connect(sec, server.master().partners[sec], own_address(server))
    except AtlasError as exc:
        return exc


def _sync_sec(server: Server, sec: str, pending: Connection | AtlasError) -> SecOutcome:
    master = server.master()
    try:
        if isinstance(pending, AtlasError):
            raise pending
        conn = pending  # closed by the cycle, after Compare
        reverse = conn.can_pull  # the SEC sends back over this connection: no login to us
        conn.call(
            {"op": "hello", "master_config": master.render(), "next": "syncup", "reverse": reverse}
        )
        send(server, conn, "PRI")
        if reverse:
            back = SendBackHandler(server, conn)
            try:
                reply = conn.call_serving({"op": "syncup", "reverse": True}, back)
            finally:
                back.close()
        else:
            reply = conn.call({"op": "syncup"})
    except AtlasError as exc:
        server.log(f"ALERT cycle: {sec}: {exc}")
        return SecOutcome(sec, False, str(exc))
    return SecOutcome(sec, True, reply={k: v for k, v in reply.items() if k != "ok"})


def _record(server: Server, report: CycleReport) -> None:
    path = server.sid.root / RESULTS_DIR / "last-cycle.json"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    atomic_write(path, json.dumps(report.as_dict(), indent=1), mode=0o600)


def last_cycle(server: Server) -> dict[str, Any] | None:
    path = server.sid.root / RESULTS_DIR / "last-cycle.json"
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return data if isinstance(data, dict) else None
