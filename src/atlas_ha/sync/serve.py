"""`atlas-ha serve`: the receiving end of a connection (the ssh forced command runs it too).

Requests are JSON lines on stdin, answers JSON lines on stdout, each a record of the wire
protocol (`transport.protocol`: the allowlist of operations, their fields, the version
agreed at hello; anything else is refused naming it). A session acts for one role,
its *key role* (`transport.authority`: over ssh the role fixed in the forced command of the
key that logged in). The first request must be `hello` with the key role's own MasterConfig;
it is verified (SPEC 5.8) before anything else is allowed. Then: `receive-begin`/
`receive-commit` (only for the key role) and `syncup` (only the PRI's key). A PRI whose
connection can pull asks for the send back over this very session (`"reverse": true` on
hello and syncup; see `sync.sendback`): this SEC then opens no connection of its own to
the PRI.

One read-only request is answered before hello: `role` gives this server's role, group and
EnvID, so that a partner's Verifier (sentry check) can tell who answers an address even when
this server would refuse its hello (two servers claiming PRI, an address answered by the
wrong role). It changes nothing and reveals nothing beyond the MasterConfig's role and group.

A session that receives no request for `[transport] idle` seconds (default 600; "0": never)
ends, saying why on stderr: a partner that went away without closing (a killed cycle, a
partition) leaves no `serve` behind. It is not idle while it works on a request (a SyncUp
answers after minutes) nor while its peer holds a live receive grant (pushes run between
receive-begin and receive-commit). sshd's ClientAliveInterval ends the session of a vanished
partner sooner, also in the middle of a request (docs/transports.md).
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from types import FrameType
from typing import IO, Any

from atlas_ha.context import Server
from atlas_ha.errors import AtlasError, RefusedError
from atlas_ha.model import MasterConfig
from atlas_ha.settings import transport_seconds
from atlas_ha.sync import receive
from atlas_ha.sync.backchannel import BackChannel
from atlas_ha.sync.delta import Delta, offer
from atlas_ha.sync.delta import apply as apply_delta
from atlas_ha.sync.syncup import connect_to_pri, sync_up
from atlas_ha.transport import protocol
from atlas_ha.transport.authority import check_claim, check_op
from atlas_ha.transport.base import Connection, Pending
from atlas_ha.transport.local import registry_of
from atlas_ha.transport.protocol import UNVERSIONED

DEFAULT_IDLE = 600.0  # seconds without a request before a session ends


class Session:
    def __init__(
        self,
        server: Server,
        peer_address: str,
        stdin: IO[str] | None = None,
        stdout: IO[str] | None = None,
        *,
        key_role: str,
    ) -> None:
        self.server = server
        self.peer = peer_address
        self.key_role = key_role  # the authority of the connection: what every request needs
        self.stdio = (stdin, stdout)  # the session's own streams: a send back can use them
        self.requester: MasterConfig | None = None
        self.protocol = UNVERSIONED  # the version both sides speak, from hello on
        self.back: Pending | None = None  # to the PRI, started at hello
        self.used: list[Pending] = []  # given to SyncUp: closed at the end
        self.deltas: dict[tuple[str, int], Delta] = {}  # offered, awaiting receive-objects

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        """The answer to one request, as sent (the fields of its answer record)."""
        return self.answer(request).render(self.protocol)

    def answer(self, request: dict[str, Any]) -> protocol.Answer:
        """The answer record to one request (refused: an AtlasError)."""
        op = protocol.op_of(request, self.peer, self.protocol)
        where = f"refused {op.name} from {self.peer}"
        if op.request is protocol.Role:
            master = self.server.master()
            return protocol.RoleAnswer(role=master.role, group=master.group, env=self.server.env_id)
        if op.request is protocol.Hello:
            return self._hello(protocol.Hello.parse(request, where))
        if self.requester is None:
            raise RefusedError(f"{op.name!r} before hello from {self.peer}")
        # the role a receive acts on: checked against the key's before the rest is read
        acts_on = op.authority is protocol.Authority.OWN_AREA
        role = (op.request.peek(request, "role", where) if acts_on else None) or (
            self.requester.role
        )
        check_op(self.key_role, op.name, role, self.peer)
        if op.request is protocol.ReceiveObjects:  # one try per offer, whatever it sends
            env = request.get("env")
            pending = self.deltas.pop((role, env), None) if isinstance(env, int) else None
            objects = protocol.ReceiveObjects.parse(request, where, self.protocol)
            if pending is None:
                raise RefusedError(
                    f"receive-objects for {role}/Env{objects.env} without a delta offered"
                )
            with self.server.sid.lock(f"area-{role}"):
                apply_delta(self.server, role, pending, objects.objects, self.peer)
            return protocol.Empty()
        record = op.request.parse(request, where, self.protocol)
        if isinstance(record, protocol.ReceiveBegin):
            with self.server.sid.lock(f"area-{role}"):  # begin checks envs before any write
                targets, current = receive.begin(
                    self.server,
                    role,
                    record.sev,
                    list(record.envs),
                    self.peer,
                    dict(record.digests),
                )
            return protocol.BeginAnswer(
                targets={v: str(p) for v, p in targets.items()}, current=tuple(current)
            )
        if isinstance(record, protocol.ReceiveDelta):
            with self.server.sid.lock(f"area-{role}"):
                delta = offer(self.server, role, record.env, record.manifest, self.peer)
            if delta is None:
                return protocol.DeltaAnswer(full=True)
            self.deltas[(role, record.env)] = delta
            return protocol.DeltaAnswer(need=tuple(delta.need))
        if isinstance(record, protocol.ReceiveCommit):
            with self.server.sid.lock(f"area-{role}"):
                flagged = receive.commit(
                    self.server, role, record.sev, list(record.envs), self.peer
                )
            return protocol.CommitAnswer(flagged=tuple(flagged))
        if isinstance(record, protocol.SyncUp):
            return self._syncup(record)
        raise AssertionError(f"{op.name}: in the allowlist, not served")  # pragma: no cover

    def _hello(self, hello: protocol.Hello) -> protocol.HelloAnswer:
        requester = MasterConfig.parse(hello.master_config, f"MasterConfig sent by {self.peer}")
        check_claim(self.key_role, requester.role, self.peer)
        receive.verify_requester(self.server, requester, self.peer, "hello")
        self.requester = requester
        self.protocol = protocol.negotiated(hello.protocol)
        own = self.server.master()
        announced = hello.next == "syncup" and requester.is_pri and not self._reverse(hello)
        if announced and self.back is None and not own.is_pri and "PRI" in own.partners:
            # SyncUp ends with a send back: its handshake overlaps what comes first
            self.back = connect_to_pri(self.server)
        return protocol.HelloAnswer(role=own.role, env=self.server.env_id, protocol=self.protocol)

    def _syncup(self, request: protocol.SyncUp) -> protocol.SyncUpAnswer:
        assert self.requester is not None
        receive.verify_requester(self.server, self.requester, self.peer, "syncup")
        back, self.back = self.back, None
        if back is None:
            reverse = self._reverse(request)
            back = Pending.of(self._channel()) if reverse else connect_to_pri(self.server)
        self.used.append(back)
        return sync_up(self.server, back, request.allow_mass_deletion)

    def receiving(self) -> bool:
        """Whether the peer holds a live receive grant (its pushes may be running)."""
        expires = receive.read_grant(self.server, self.peer).get("expires")
        return isinstance(expires, int | float) and expires > time.time()

    def _reverse(self, request: protocol.Hello | protocol.SyncUp) -> bool:
        """Whether the PRI asks for the send back over this session (and it can carry it)."""
        return request.reverse and None not in self.stdio

    def _channel(self) -> Connection:
        stdin, stdout = self.stdio
        assert stdin is not None and stdout is not None
        return BackChannel(self.server, self.peer, stdin, stdout)

    def close(self) -> None:
        """Close the connections back to the PRI (used by SyncUp or not)."""
        for pending in [*self.used, *([self.back] if self.back is not None else [])]:
            pending.close()
        self.used, self.back = [], None


def serve(
    server: Server,
    peer_address: str,
    key_role: str,
    stdin: IO[str] = sys.stdin,
    stdout: IO[str] = sys.stdout,
) -> int:
    idle = idle_timeout(server)
    session = Session(server, peer_address, stdin, stdout, key_role=key_role)
    try:
        _answer_each(session, server, peer_address, stdin, stdout, idle)
    finally:
        session.close()
    return 0


def idle_timeout(server: Server) -> float:
    """`[transport] idle = "SECONDS"` (default 600; "0": sessions never end for idleness)."""
    return transport_seconds(server.settings, "idle", DEFAULT_IDLE)


def _next_request(stdin: IO[str], session: Session, idle: float) -> str | None:
    """The next request line ("" at the end of input), or None when none came within
    `idle` seconds (SIGALRM: only the main thread can wait so; elsewhere it just waits)."""
    if idle <= 0 or threading.current_thread() is not threading.main_thread():
        return stdin.readline()

    def on_alarm(_signum: int, _frame: FrameType | None) -> None:
        if session.receiving():  # pushes between receive-begin and -commit: not idle
            signal.setitimer(signal.ITIMER_REAL, idle)
            return
        raise TimeoutError  # out of the readline below, and only out of it

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, idle)
    try:
        return stdin.readline()
    except TimeoutError:
        return None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _answer_each(
    session: Session,
    server: Server,
    peer_address: str,
    stdin: IO[str],
    stdout: IO[str],
    idle: float = 0.0,
) -> None:
    # readline, not iteration: a send back reads its answers from this same stream; the
    # idle clock runs only while waiting for a request, never while one is handled
    while True:
        line = _next_request(stdin, session, idle)
        if line is None:
            server.log(
                f"serve {peer_address}: no request for {idle:g} s: the session ends "
                "([transport] idle)"
            )
            return
        if not line:
            return
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise RefusedError("a JSON object per request")
            answer: dict[str, Any] = {"ok": True, **session.handle(request)}
        except json.JSONDecodeError:
            answer = {"ok": False, "class": "RefusedError", "error": "malformed request"}
        except AtlasError as exc:
            server.log(f"ALERT serve {peer_address}: {exc}")
            answer = {"ok": False, "class": type(exc).__name__, "error": str(exc)}
        stdout.write(json.dumps(answer) + "\n")
        stdout.flush()


def serve_local(server: Server, peer_address: str) -> int:
    """`atlas-ha serve`, as the local transport starts it: the session acts for the role of
    the disk in the server the registry names for `peer_address` (over ssh, partners reach
    the session only through `ssh-command`, whose key fixes the role)."""
    if server.settings.transport != "local":
        raise RefusedError(
            "`atlas-ha serve` is the local transport's; over ssh a partner's key reaches the "
            "session only through `atlas-ha ssh-command --role ROLE`"
        )
    return serve(server, peer_address, registry_of(server.settings).role_at(peer_address))
