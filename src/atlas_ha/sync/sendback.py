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

from pathlib import Path
from typing import Any

from atlas_ha.context import Server
from atlas_ha.errors import RefusedError
from atlas_ha.sync.backchannel import AREA_PREFIX, BackChannel, grant_send
from atlas_ha.sync.receive import read_grant
from atlas_ha.sync.serve import Session
from atlas_ha.transport import protocol
from atlas_ha.transport.base import Connection

__all__ = ["BackChannel", "SendBackHandler", "grant_send"]


class SendBackHandler:
    """The PRI's answers to a SEC sending back over `conn` (see the module docstring)."""

    def __init__(self, server: Server, conn: Connection) -> None:
        self.server = server
        self.conn = conn
        self.session = Session(server, conn.address, key_role=conn.role)
        self.targets: dict[int, Path] = {}

    def __call__(self, request: dict[str, Any]) -> dict[str, Any]:
        op = protocol.callback_op(request)
        if op is None:
            allowed = ", ".join(n for n, o in protocol.OPS.items() if o.callback)
            raise RefusedError(
                f"{self.conn.role} at {self.conn.address}: {request.get('op')!r:.40} is "
                f"not part of a send back (that is: {allowed})"
            )
        if op.request is protocol.Pull:
            return self._pull(request)
        answer = self.session.answer(request)
        if isinstance(answer, protocol.BeginAnswer):
            self.targets = {v: Path(p) for v, p in answer.targets.items()}
        return answer.render(self.session.protocol)

    def _pull(self, request: dict[str, Any]) -> dict[str, Any]:
        peer, env = self.conn.address, request.get("env")
        granted = read_grant(self.server, peer).get("envs")
        refused = RefusedError(
            f"{self.conn.role} at {peer}: pull of {env!r:.40} refused: not an area "
            "this receive granted"
        )
        try:
            pull = protocol.Pull.parse(request, f"refused pull from {peer}")
        except RefusedError:
            raise refused from None
        if pull.env not in self.targets or not isinstance(granted, list) or pull.env not in granted:
            raise refused
        self.conn.pull(f"{AREA_PREFIX}{pull.env}/", self.targets[pull.env])
        return protocol.Empty().render(self.session.protocol)

    def close(self) -> None:
        self.session.close()
