"""The SEC side of a send back over the PRI's own connection (see `sync.sendback`): each
request the SEC's Snapshot Send makes goes to the PRI as a line `{"callback": {...}}` on the
session it is serving; a push becomes a send grant for that one area, for the PRI's key only
(checked by the ssh forced command), and a `pull` callback; the grant is removed once the PRI
answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

from atlas_ha.context import Server
from atlas_ha.errors import TransportError
from atlas_ha.layout.atomic import atomic_write
from atlas_ha.layout.sid import send_grant_file
from atlas_ha.sync.receive import GRANT_SECONDS
from atlas_ha.transport.base import Connection, decode_answer
from atlas_ha.transport.protocol import Pull

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

    parallel_pushes = False

    def push(self, source: Path, dest: str) -> None:
        env = _env_of(source.name)
        grant = grant_send(self.server, self.address, env)
        try:
            self.request(Pull(env=env))
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


def _env_of(name: str) -> int:
    if not name.startswith(AREA_PREFIX) or not name[len(AREA_PREFIX) :].isdigit():
        raise TransportError(f"{name!r} is not a snapshot area Env<N>")
    return int(name[len(AREA_PREFIX) :])
