"""`atlas-ha serve`: the receiving end of a connection (the ssh forced command runs it too).

Requests are JSON lines on stdin, answers JSON lines on stdout. A session acts for one role,
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
import re
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
from atlas_ha.transport.authority import check_claim, check_op
from atlas_ha.transport.base import Connection, close_quietly
from atlas_ha.transport.local import registry_of

DIGEST_RE = re.compile(r"^[0-9a-f]{64}$")
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
        self.back: Connection | AtlasError | None = None  # to the PRI, opened at hello
        self.used: list[Connection | AtlasError] = []  # given to SyncUp: closed at the end
        self.deltas: dict[tuple[str, int], Delta] = {}  # offered, awaiting receive-objects

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "hello":
            text = str(request.get("master_config", ""))
            requester = MasterConfig.parse(text, f"MasterConfig sent by {self.peer}")
            check_claim(self.key_role, requester.role, self.peer)
            receive.verify_requester(self.server, requester, self.peer, "hello")
            self.requester = requester
            own = self.server.master()
            announced = request.get("next") == "syncup" and requester.is_pri
            announced = announced and not self._reverse(request)
            if announced and self.back is None and not own.is_pri and "PRI" in own.partners:
                # SyncUp ends with a send back: its handshake overlaps what comes first
                self.back = connect_to_pri(self.server)
            return {"role": own.role, "env": self.server.env_id}
        if op == "role":
            master = self.server.master()
            return {"role": master.role, "group": master.group, "env": self.server.env_id}
        if self.requester is None:
            raise RefusedError(f"{op!r} before hello from {self.peer}")
        role = str(request.get("role", self.requester.role))
        check_op(self.key_role, str(op), role, self.peer)
        if op == "receive-begin":
            envs, sev = _ints(request.get("envs")), _sev(request.get("sev"))
            digests = _digests(request.get("digests", {}))
            with self.server.sid.lock(f"area-{role}"):  # begin checks envs before any write
                targets, current = receive.begin(self.server, role, sev, envs, self.peer, digests)
            return {"targets": {str(v): str(p) for v, p in targets.items()}, "current": current}
        if op == "receive-delta":
            env = _ints([request.get("env")])[0]
            with self.server.sid.lock(f"area-{role}"):
                delta = offer(self.server, role, env, request.get("manifest"), self.peer)
            if delta is None:
                return {"full": True}
            self.deltas[(role, env)] = delta
            return {"need": [list(key) for key in delta.need]}
        if op == "receive-objects":
            env = _ints([request.get("env")])[0]
            pending = self.deltas.pop((role, env), None)
            if pending is None:
                raise RefusedError(f"receive-objects for {role}/Env{env} without a delta offered")
            with self.server.sid.lock(f"area-{role}"):
                apply_delta(self.server, role, pending, request.get("objects"), self.peer)
            return {}
        if op == "receive-commit":
            envs, sev = _ints(request.get("envs")), _ints([request.get("sev")])[0]
            with self.server.sid.lock(f"area-{role}"):
                flagged = receive.commit(self.server, role, sev, envs, self.peer)
            return {"flagged": flagged}
        if op == "syncup":
            receive.verify_requester(self.server, self.requester, self.peer, "syncup")
            back, self.back = self.back, None
            if back is None:
                back = self._channel() if self._reverse(request) else connect_to_pri(self.server)
            self.used.append(back)
            return sync_up(self.server, back, request.get("allow_mass_deletion") is True)
        raise RefusedError(f"unknown operation {op!r} from {self.peer}")

    def receiving(self) -> bool:
        """Whether the peer holds a live receive grant (its pushes may be running)."""
        expires = receive.read_grant(self.server, self.peer).get("expires")
        return isinstance(expires, int | float) and expires > time.time()

    def _reverse(self, request: dict[str, Any]) -> bool:
        """Whether the PRI asks for the send back over this session (and it can carry it)."""
        return request.get("reverse") is True and None not in self.stdio

    def _channel(self) -> Connection:
        stdin, stdout = self.stdio
        assert stdin is not None and stdout is not None
        return BackChannel(self.server, self.peer, stdin, stdout)

    def close(self) -> None:
        """Close the connections back to the PRI (used by SyncUp or not)."""
        for conn in [*self.used, self.back]:
            if isinstance(conn, Connection):
                close_quietly(conn)
        self.used, self.back = [], None


def _ints(value: object) -> list[int]:
    if not isinstance(value, list) or not all(isinstance(v, int) and v > 0 for v in value):
        raise RefusedError(f"expected a list of positive EnvVersions, got {value!r}")
    return list(value)


def _sev(value: object) -> int:
    """The SnapshotEnvVersion a receive-begin announces (checked against envs by begin)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise RefusedError(f"expected sev = a positive EnvVersion, got {value!r}")
    return value


def _digests(value: object) -> dict[str, str]:
    """{env: sha256 hex of the sender's Manifest}, as sent with receive-begin."""
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and DIGEST_RE.match(v) for k, v in value.items()
    ):
        raise RefusedError(f"expected {{env: sha256 hex digest}}, got {value!r}")
    return dict(value)


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
