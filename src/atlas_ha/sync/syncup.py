"""What a SEC does on a SyncUp request (SPEC 5.9 step 2)."""

from __future__ import annotations

from typing import Any

from atlas_ha.converters.chain import convert_to_newer, convert_to_older
from atlas_ha.errors import RoleError
from atlas_ha.sync.address import own_address
from atlas_ha.sync.context import Server
from atlas_ha.sync.create import create
from atlas_ha.sync.install import install
from atlas_ha.sync.send import send
from atlas_ha.transport import make_transport


def sync_up(server: Server) -> dict[str, Any]:
    """ConvertToNewer (PRI), Install, Create, ConvertToOlder, Send to the PRI."""
    master = server.master()
    if master.is_pri or "PRI" not in master.partners:
        raise RoleError(f"SyncUp runs on a SEC with a PRI partner; this is {master.role}")
    env, role = server.env_id, master.role
    with server.sid.lock("cycle"):
        converted = convert_to_newer(server, "PRI", env)
        changed = install(server)
        create(server, role)
        older = convert_to_older(server, role, env)
        transport = make_transport(server.settings)
        with transport.connect("PRI", master.partners["PRI"], own_address(server)) as conn:
            conn.call({"op": "hello", "master_config": master.render()})
            sent = send(server, conn, role)
    return {
        "role": role,
        "env": env,
        "converted_pri": converted,
        "installed": changed,
        "created": env,
        "converted_down": older,
        "sent": sent,
    }
