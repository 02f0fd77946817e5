"""What a SEC does on a SyncUp request (SPEC 5.9 step 2)."""

from __future__ import annotations

from atlas_ha.context import Server
from atlas_ha.errors import RoleError
from atlas_ha.layout import validation
from atlas_ha.sync.address import own_address
from atlas_ha.sync.convert import convert_to_newer, convert_to_older
from atlas_ha.sync.create import create
from atlas_ha.sync.install import install
from atlas_ha.sync.send import send
from atlas_ha.sync.suspension import check_not_suspended
from atlas_ha.transport import make_transport
from atlas_ha.transport.base import Connection, Pending
from atlas_ha.transport.protocol import Hello, SyncUpAnswer


def connect_to_pri(server: Server) -> Pending:
    """Start the connection back to this SEC's PRI (from its own MasterConfig): what prevents
    it is raised only where the connection is needed, after Install (`Pending.get`)."""

    def start() -> Connection:
        master = server.master()
        transport = make_transport(server.settings)
        return transport.connect("PRI", master.partners["PRI"], own_address(server))

    return Pending(start)


def sync_up(
    server: Server, pending: Pending | None = None, allow_mass_deletion: bool = False
) -> SyncUpAnswer:
    """ConvertToNewer (PRI), Install, Create, ConvertToOlder, Send to the PRI.

    `pending`: the connection back to the PRI, if already started (`connect_to_pri`); the
    caller then closes it (after answering: closing waits for the PRI's side to end).
    `allow_mass_deletion`: the PRI's operator allowed the mass deletion its snapshot holds
    (Install and this SEC's Create then let it through)."""
    master = server.master()
    if master.is_pri or "PRI" not in master.partners:
        raise RoleError(f"SyncUp runs on a SEC with a PRI partner; this is {master.role}")
    env, role = server.env_id, master.role
    with server.sid.lock("cycle"):
        check_not_suspended(server, "SyncUp")
        # connect first: the handshake and the PRI's start-up overlap the work below
        own_connection = pending is None
        back = connect_to_pri(server) if pending is None else pending
        try:
            converted = convert_to_newer(server, "PRI", env)
            changed = install(server, allow_mass_deletion)
            create(server, role, allow_mass_deletion)
            older = convert_to_older(server, role, env)
            conn = back.get()  # what prevented the connection, if anything, is raised here
            conn.request(Hello.offer(master.render()))
            sent = send(server, conn, role)
        finally:
            if own_connection:
                back.close()
    return SyncUpAnswer(
        role=role,
        env=env,
        converted_pri=tuple(converted),
        installed=tuple(changed),
        created=env,
        converted_down=tuple(older),
        sent=tuple(sent),
        rejected=tuple(rejections(server, role, env)),
    )


def rejections(server: Server, role: str, env: int) -> list[str]:
    """What the PRI's report says of this SEC's checkers: "web: installed but rejected by
    nginx -t on SEC1 (Env1): FILE line N: MESSAGE" (and the checkers that could not tell)."""
    return [
        f"{v.service}: {'installed but ' if v.state == 'rejected' else ''}"
        + v.describe(f"{role} (Env{env})")
        for v in validation.not_passed(server.esd, role)
    ]
