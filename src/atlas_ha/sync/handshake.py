"""`atlas-ha version handshake`: the hello to every partner, and the protocol both speak.

What a SyncCycle's sessions start with (SPEC 5.8; `transport.protocol`: the answer carries
min(ours, the partner's) protocol version). `version use` runs it with the version it
switched to: partners that answered the old version's hello must answer the new one's.
"""

from __future__ import annotations

import time
from typing import Any

from atlas_ha.context import Server
from atlas_ha.errors import AtlasError
from atlas_ha.sync.address import own_address
from atlas_ha.transport import make_transport
from atlas_ha.transport.protocol import PROTOCOL_VERSION, Hello


def handshake(server: Server) -> list[dict[str, Any]]:
    """Per partner of this disk's role: whether its hello succeeded, the protocol agreed,
    its EnvID, or the error."""
    master = server.master()
    transport = make_transport(server.settings)
    rows = []
    for role, partner in sorted(master.partners.items()):
        row: dict[str, Any] = {"role": role, "address": partner.address, "ours": PROTOCOL_VERSION}
        started = time.monotonic()
        try:
            with transport.connect(role, partner, own_address(server)) as conn:
                answer = conn.request(Hello.offer(master.render()))
            row.update(ok=True, protocol=answer.protocol, env=answer.env)
        except AtlasError as exc:
            row.update(ok=False, error=str(exc))
        row["seconds"] = round(time.monotonic() - started, 3)
        rows.append(row)
    return rows
