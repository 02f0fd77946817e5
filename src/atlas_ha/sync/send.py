"""Snapshot Send (SPEC 5.4), sending side: role R, SEV[R] and every valid (R, V), V <= E."""

from __future__ import annotations

import concurrent.futures
from dataclasses import dataclass, field
from pathlib import Path

from atlas_ha.context import Server
from atlas_ha.errors import AtlasError, InvalidSnapshotError
from atlas_ha.model import role_key
from atlas_ha.sync.delta import send_area
from atlas_ha.sync.receive import manifest_digest
from atlas_ha.transport.base import Connection
from atlas_ha.transport.protocol import Hello, ReceiveBegin, ReceiveCommit


def send(server: Server, conn: Connection, role: str) -> list[int]:
    """Send every valid snapshot of `role` over `conn`; return the EnvVersions sent."""
    sid = server.sid
    sev = sid.sev(role)
    valid = [v for v in range(1, server.env_id + 1) if sid.is_valid(role, v)]
    if sev is None or not valid or sev not in valid:
        raise InvalidSnapshotError(
            f"nothing to send: no valid snapshot of {role} (SEV[{role}]={sev})"
        )
    digests = {str(v): d for v in valid if (d := manifest_digest(sid.area(role, v)))}
    begun = conn.request(
        ReceiveBegin(role=role, sev=sev, envs=tuple(valid), digests=digests)
    )  # its targets are checked: one for each EnvVersion announced
    whole = []
    for v in valid:
        if v in begun.current:
            continue  # the partner holds this very snapshot, validated: nothing to push
        if send_area(conn, role, sid.area(role, v)):  # the changed objects only, or
            server.faults.checkpoint("send.pushed")
        else:
            whole.append(v)  # the whole area, with the others (`_push`)
    _push(server, conn, [(sid.area(role, v).path, begun.targets[v]) for v in whole])
    committed = conn.request(ReceiveCommit(role=role, sev=sev, envs=tuple(valid)))
    if committed.flagged:
        server.log(
            f"ALERT send {role} to {conn.role} at {conn.address}: accepted, but flagged by its "
            f"receive policy: {'; '.join(committed.flagged)}"
        )
    server.log(f"send {role} Env{valid} SEV={sev} to {conn.role} at {conn.address}")
    return valid


# pushes of one send at once: each is a session on the connection's ssh master, whose
# sshd allows 10 (MaxSessions) with the hello's session among them
PUSHES = 4


def _push(server: Server, conn: Connection, pushes: list[tuple[Path, str]]) -> None:
    """Push each (area, target) whole: at once, one rsync each, where the connection allows
    it (a first copy's areas are independent, and an rsync mostly waits on the disks and
    the other side), else one after the other. Every push runs to its end before the
    first failure is raised, so no rsync is left writing behind the receive-commit that
    is then never asked for."""
    if len(pushes) < 2 or not conn.parallel_pushes:
        for source, dest in pushes:
            conn.push(source, dest)
            server.faults.checkpoint("send.pushed")
        return
    failures: list[BaseException] = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(len(pushes), PUSHES)) as pool:
        running = [pool.submit(conn.push, source, dest) for source, dest in pushes]
        for done in concurrent.futures.as_completed(running):
            failure = done.exception()
            if failure is not None:
                failures.append(failure)
            elif not failures:
                server.faults.checkpoint("send.pushed")
    for more in failures[1:]:
        server.log(f"ALERT send to {conn.role} at {conn.address}: another push failed: {more}")
    if failures:
        raise failures[0]


@dataclass(frozen=True)
class PartnerSend:
    """What a send to one partner did: the EnvVersions sent, or why nothing was."""

    partner: str
    sent: list[int] = field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


def send_to_partners(server: Server) -> dict[str, PartnerSend]:
    """Send this server's own role to each partner (PRI: every SEC; SEC: its PRI), each over
    its own connection; a partner that fails is reported (and alerted), the others still get
    theirs."""
    from atlas_ha.sync.address import own_address
    from atlas_ha.transport import make_transport

    master = server.master()
    transport = make_transport(server.settings)
    address = own_address(server)
    results: dict[str, PartnerSend] = {}
    for partner in sorted(master.partners, key=role_key):
        try:
            with transport.connect(partner, master.partners[partner], address) as conn:
                conn.request(Hello.offer(master.render()))
                results[partner] = PartnerSend(partner, send(server, conn, master.role))
        except AtlasError as exc:
            server.log(f"ALERT send to {partner}: {exc}")
            results[partner] = PartnerSend(partner, error=str(exc))
    return results
