"""SyncCycle (SPEC 5.9), driven by the PRI.

1. before-create hooks, Snapshot Create, ConvertToOlder;
2. for each SEC in parallel: Snapshot Send, SyncUp request (the SEC converts, installs,
   creates, converts down and sends back: over this same connection when the transport can
   pull, see `sync.sendback`);
3. ConvertToNewer for the SEC roles, Snapshot Compare, record and report.
A SEC that cannot be reached is reported (unreachable, and its snapshot stale); the cycle
goes on for the others. Nothing is repaired here: the next cycle starts from a new Create.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from atlas_ha import hooks
from atlas_ha.context import Server
from atlas_ha.errors import AtlasError, RoleError, SuspendedError, TransportError
from atlas_ha.layout import validation
from atlas_ha.layout.atomic import atomic_write
from atlas_ha.model import role_key
from atlas_ha.sync import guard
from atlas_ha.sync.address import check_address_here, own_address
from atlas_ha.sync.compare import CompareResult, compare
from atlas_ha.sync.convert import convert_to_older
from atlas_ha.sync.create import create
from atlas_ha.sync.send import send
from atlas_ha.sync.sendback import SendBackHandler
from atlas_ha.sync.suspension import check_not_suspended
from atlas_ha.transport import make_transport
from atlas_ha.transport.base import Connection, Pending, close_quietly
from atlas_ha.transport.keep import Kept, KeptConnections
from atlas_ha.transport.protocol import Hello, SyncUp


@dataclass
class SecOutcome:
    sec: str
    reached: bool
    error: str = ""
    reply: dict[str, Any] = field(default_factory=dict)
    cause: str = ""  # why not synced: unreachable, suspended (by its operator), not synced

    @classmethod
    def failed(cls, sec: str, exc: AtlasError) -> SecOutcome:
        if isinstance(exc, SuspendedError):
            cause = "suspended"
        elif isinstance(exc, TransportError):
            cause = "unreachable"
        else:
            cause = "not synced"
        return cls(sec, False, str(exc), cause=cause)


@dataclass
class CycleReport:
    server: str
    env: int
    started: float
    finished: float = 0.0
    converted_down: list[int] = field(default_factory=list)
    secs: list[SecOutcome] = field(default_factory=list)
    compare: list[CompareResult] = field(default_factory=list)
    pri_rejected: list[str] = field(default_factory=list)  # the PRI's own checkers, before Create

    @property
    def all_equal(self) -> bool:
        return all(c.state == "equal" for c in self.compare)

    @property
    def rejected(self) -> list[str]:
        """Every configuration a checker rejected (or could not check), PRI's first."""
        return self.pri_rejected + [line for c in self.compare for line in c.rejected]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def cycle(
    server: Server, keep: KeptConnections | None = None, allow_mass_deletion: bool = False
) -> CycleReport:
    """One SyncCycle. `keep`: connections kept from the last cycle (the daemon's), reused
    where still good and given back at the end; without it every connection is closed.
    `allow_mass_deletion`: the operator allows this cycle's Create, and the SECs' Installs,
    a mass deletion (sync/guard.py); an allowance an earlier Create recorded for the very
    snapshot sent is passed on to the SECs too.

    The cycle lock is held until the report is recorded and the after-cycle hooks are done,
    so that `sync suspend` returns only when nothing of a cycle still runs."""
    master = server.master()
    if not master.is_pri:
        raise RoleError(f"a SyncCycle is driven by the PRI; this server holds {master.role}")
    guard.check_system_root(server, "SyncCycle")
    check_address_here(server, "SyncCycle")  # before Create and before any partner's SetUp
    env = server.env_id
    report = CycleReport(server.name, env, server.clock.now())
    with server.sid.lock("cycle"):
        check_not_suspended(server)
        secs = sorted(master.partners, key=role_key)
        # connect first: each partner's handshake and start-up overlap Create and conversions
        links = {sec: Link(server, sec, keep) for sec in secs}
        closing: list[threading.Thread] = []
        try:
            pri = create(server, "PRI", allow_mass_deletion)
            report.pri_rejected = pri_rejections(server, env)
            allow = allow_mass_deletion or guard.allowance_holds(server, pri)
            report.converted_down = convert_to_older(server, "PRI", env)
            with ThreadPoolExecutor(max_workers=max(1, len(secs))) as pool:
                work = pool.map(lambda sec: _sync_sec(server, links[sec], closing, allow), secs)
                report.secs = list(work)
            # the connections are closed meanwhile (each SEC ends its session)
            report.compare = compare(server, secs)
        finally:
            for link in links.values():
                link.release(closing)
            for thread in closing:
                thread.join()
        for outcome, result in zip(report.secs, report.compare, strict=True):
            if not outcome.reached:
                result.state, result.note = "stale", f"{outcome.cause}: {outcome.error}"
            result.rejected = list(outcome.reply.get("rejected", []))
            for line in result.rejected:
                server.log(f"ALERT cycle: {outcome.sec}: {line}")
        report.finished = server.clock.now()
        _record(server, report)
        ok = {"ATLAS_HA_CYCLE_OK": str(report.all_equal)}
        hooks.emit(server, hooks.Event("after_cycle", "PRI", env=ok))
    return report


class Link:
    """The PRI's connection to one SEC for one cycle: started (or taken from `keep`) at once,
    used by `_sync_sec`, then kept for the next cycle or closed in the background."""

    def __init__(self, server: Server, sec: str, keep: KeptConnections | None) -> None:
        self.server, self.sec, self.keep = server, sec, keep
        partner = server.master().partners[sec]
        self.own = own_address(server)
        self.key = (
            server.settings.transport,
            partner.address,
            partner.ssh_port,
            partner.ssh_user,
            self.own,
        )
        kept = keep.take(sec, self.key) if keep is not None else None
        self.kept = kept is not None
        if kept is not None:
            self.opened, self.pending = kept.opened, Pending.of(kept.conn)
        else:
            self.pending = self._connect()  # sets self.opened
        self.good = False  # set when the cycle went through with this connection
        self.released = False

    def _connect(self) -> Pending:
        """Start the connection (used later: what prevents it is raised then)."""
        # the age of a kept connection is measured on the clock of the keeper
        self.opened = self.keep.clock.monotonic() if self.keep is not None else 0.0

        def start() -> Connection:
            transport = make_transport(self.server.settings)
            partner = self.server.master().partners[self.sec]
            return transport.connect(self.sec, partner, self.own)

        return Pending(start)

    def hello(self, request: Hello) -> Connection:
        """Send the cycle's hello; a kept connection that fails here is replaced once."""
        conn = self.pending.get()
        try:
            conn.request(replace(request, reverse=conn.can_pull))
            return conn
        except AtlasError as exc:
            if not self.kept:
                raise
            self.server.log(
                f"cycle: the kept connection to {self.sec} failed ({exc}): reconnecting"
            )
        close_quietly(conn)
        self.kept, self.pending = False, self._connect()
        return self.hello(request)

    def release(self, closing: list[threading.Thread]) -> None:
        """Give the connection back to `keep` (after a good cycle) or close it in a thread
        (closing waits for the SEC's session to end) that the cycle joins at its end."""
        conn = self.pending.connection
        if self.released or conn is None:
            return
        self.released = True
        if self.keep is not None and self.good:
            self.keep.give_back(self.sec, Kept(self.key, conn, self.opened))
            return
        thread = threading.Thread(target=close_quietly, args=(conn,))
        thread.start()
        closing.append(thread)


def _sync_sec(
    server: Server, link: Link, closing: list[threading.Thread], allow: bool
) -> SecOutcome:
    master, sec = server.master(), link.sec
    syncup = SyncUp(allow_mass_deletion=allow)
    try:
        conn = link.hello(Hello.offer(master.render(), next="syncup"))
        send(server, conn, "PRI")
        if conn.can_pull:  # the SEC sends back over this connection: no login to us
            back = SendBackHandler(server, conn)
            try:
                reply = conn.request_serving(replace(syncup, reverse=True), back)
            finally:
                back.close()
        else:
            reply = conn.request(syncup)
        link.good = True
    except AtlasError as exc:
        server.log(f"ALERT cycle: {sec}: {exc}")
        return SecOutcome.failed(sec, exc)
    except Exception as exc:  # one SEC's failure, even a bug, never stops the others (5.9)
        server.log(f"ALERT cycle: {sec}: internal error {type(exc).__name__}: {exc}")
        return SecOutcome(sec, False, f"internal error {type(exc).__name__}: {exc}", cause="failed")
    finally:
        link.release(closing)
    return SecOutcome(sec, True, reply=reply.render(conn.protocol))


def pri_rejections(server: Server, env: int) -> list[str]:
    """The PRI's own checkers' findings of this Create ("web: rejected by nginx -t on PRI
    (Env2): FILE line N: MESSAGE")."""
    return [
        f"{v.service}: {v.describe(f'PRI (Env{env})')}"
        for v in validation.not_passed(server.esd, "PRI")
    ]


def _record(server: Server, report: CycleReport) -> None:
    path = server.sid.last_cycle_file
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    atomic_write(path, json.dumps(report.as_dict(), indent=1), mode=0o600)


def last_cycle(server: Server) -> dict[str, Any] | None:
    path = server.sid.last_cycle_file
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return data if isinstance(data, dict) else None
