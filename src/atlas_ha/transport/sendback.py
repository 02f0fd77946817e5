"""A SEC's send back over the PRI's own connection (SPEC 5.9 step 2, last part).

Without it a SEC ends its SyncUp by logging in to the PRI to send its snapshot: a second
ssh login per cycle, in series with the first. With it (when the PRI's connection can
`pull`), the SEC's Snapshot Send runs unchanged, but over the session it is serving:

* SEC side, `BackChannel`: each request the send makes (hello, receive-begin,
  receive-commit) goes to the PRI as a line `{"callback": {...}}` and its answer comes back
  on the session's input; a push becomes a send grant for that one area, for the PRI's key
  only (checked by the ssh forced command), and a `pull` callback, the grant removed once
  the PRI answers.
* PRI side, `SendBackHandler`: answers those callbacks with the same `Session` that serves
  a SEC logging in, acting for the role we connected to (whose host key ssh checked under
  `atlas-<ROLE>`): its MasterConfig must be that role's, verified against the address we
  connected to; it pulls only areas its own receive-begin granted and found not
  current; the received areas are validated by receive-commit exactly as pushed ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from atlas_ha.errors import RefusedError, TransportError
from atlas_ha.layout.atomic import atomic_write
from atlas_ha.layout.sid import send_grant_file
from atlas_ha.sync.receive import GRANT_SECONDS, read_grant
from atlas_ha.transport.base import Connection, decode_answer

if TYPE_CHECKING:
    from atlas_ha.sync.context import Server

CALLBACK_OPS = ("hello", "receive-begin", "receive-delta", "receive-objects", "receive-commit")
AREA_PREFIX = "Env"


class BackChannel(Connection):
    """The SEC's connection to the PRI, carried by the session the PRI opened to it."""

    def __init__(self, server: Server, peer: str, stdin: IO[str], stdout: IO[str]) -> None:
        super().__init__("PRI", peer)
        self.server = server
        self.stdin, self.stdout = stdin, stdout

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            self.stdout.write(json.dumps({"callback": request}) + "\n")
            self.stdout.flush()
            line = self.stdin.readline()
        except OSError as exc:
            raise TransportError(f"PRI at {self.address}: connection lost: {exc}") from exc
        if not line:
            raise TransportError(f"PRI at {self.address}: the session ended during the send")
        return self.raise_for(decode_answer(line, f"PRI at {self.address}"))

    def push(self, source: Path, dest: str) -> None:
        env = _env_of(source.name)
        grant = grant_send(self.server, self.address, env)
        try:
            self.call({"op": "pull", "env": env})
        finally:
            grant.unlink(missing_ok=True)


def grant_send(server: Server, peer: str, env: int) -> Path:
    """Let the PRI's key at `peer` read (rsync --sender) area Env<env> of this server's own
    role, for a while; return the grant's file (the caller removes it)."""
    grant = send_grant_file(server.sid.root, peer)
    record = {
        "role": server.master().role,
        "for": "PRI",  # a SEC sends only to its PRI: no other role's key may pull
        "envs": [env],
        "expires": server.clock.now() + GRANT_SECONDS,
    }
    grant.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    atomic_write(grant, json.dumps(record), mode=0o600)
    return grant


class SendBackHandler:
    """The PRI's answers to a SEC sending back over `conn` (see the module docstring)."""

    def __init__(self, server: Server, conn: Connection) -> None:
        from atlas_ha.transport.serve import Session  # serve imports the synchronizer

        self.server = server
        self.conn = conn
        self.session = Session(server, conn.address, key_role=conn.role)
        self.targets: dict[int, Path] = {}

    def __call__(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "pull":
            return self._pull(request.get("env"))
        if op not in CALLBACK_OPS:
            raise RefusedError(
                f"{self.conn.role} at {self.conn.address}: {op!r} is not part of a send back"
            )
        answer = self.session.handle(request)
        if op == "receive-begin":
            self.targets = {int(v): Path(p) for v, p in answer["targets"].items()}
        return answer

    def _pull(self, env: object) -> dict[str, Any]:
        peer = self.conn.address
        granted = read_grant(self.server, peer).get("envs")
        if (
            not isinstance(env, int)
            or env not in self.targets
            or not isinstance(granted, list)
            or env not in granted
        ):
            raise RefusedError(
                f"{self.conn.role} at {peer}: pull of {env!r} refused: not an area "
                "this receive granted"
            )
        self.conn.pull(f"{AREA_PREFIX}{env}/", self.targets[env])
        return {}

    def close(self) -> None:
        self.session.close()


def _env_of(name: str) -> int:
    if not name.startswith(AREA_PREFIX) or not name[len(AREA_PREFIX) :].isdigit():
        raise TransportError(f"{name!r} is not a snapshot area Env<N>")
    return int(name[len(AREA_PREFIX) :])
