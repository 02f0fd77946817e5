"""Role-bound authority (SPEC 10): what the role a connection is authenticated as may do.

Every connection a server serves acts for exactly one role, its *key role*, fixed before the
first request is read:

* over ssh, the role fixed (`ssh-command --role ROLE`) in the authorized_keys line of the key
  that logged in. That line lives on this server's Unbound Data and the key on the partner
  role's Unbound Data (`layout.sid.role_ssh_dir`): both move with their disks, so the
  authority moves with the role and never stays with a server, a key file or an address;
* in a send back, the role the PRI connected to (ssh checked that role's host key, which
  travels with the role, under the alias `atlas-<ROLE>`);
* over the local transport, the role of the disk in the server that the registry names for
  the peer's address (the local transport's "network").

What a request claims is checked against the key role; the MasterConfig sent and the source
address are checked as before (SPEC 5.8, `sync.receive.verify_requester`), as a second factor.
Only the PRI's key may send PRI snapshots or request SyncUp; a SEC's key may only send its
own role's snapshot (to its PRI). Which operation needs which is the wire protocol's
allowlist (`transport.protocol.OPS`, `Authority`). Nothing here reads or writes anything.
"""

from __future__ import annotations

from atlas_ha.errors import RefusedError
from atlas_ha.model import ROLE_RE
from atlas_ha.transport.protocol import OPS, Authority

# the requests of a session that act on one role's snapshot area
RECEIVE_OPS = tuple(n for n, op in OPS.items() if op.session and op.authority is Authority.OWN_AREA)


def checked_key_role(role: str | None, peer: str) -> str:
    """The key role a forced command was given, or refuse (a line with none has no authority:
    an authorized_keys line from before role-bound keys)."""
    if role is None:
        raise RefusedError(
            f"refused from {peer}: the authorized_keys line of this key fixes no role "
            "(`ssh-command` without `--role`); authorize the partner role's key with "
            "`atlas-ha keys authorize --role ROLE PUBKEY`"
        )
    if not ROLE_RE.match(role):
        raise RefusedError(f"refused from {peer}: --role {role!r} is not PRI or SEC<n>")
    return role


def check_claim(key_role: str, claimed: str, peer: str) -> None:
    """hello: the MasterConfig sent must be the key role's own."""
    if claimed != key_role:
        raise RefusedError(
            f"refused hello from {peer}: the key that connected is {key_role}'s, but the "
            f"MasterConfig sent claims {claimed}; a role's key acts only as that role"
        )


def check_op(key_role: str, op: str, role: str, peer: str) -> None:
    """Any other request: `role` is the role it acts on (receive-*: the area role). An
    operation the allowlist does not know has no authority at all."""
    if op not in OPS:
        raise RefusedError(f"refused {op!r} from {peer}: not an operation of the wire protocol")
    needs = OPS[op].authority
    if needs is Authority.OWN_AREA and role != key_role:
        raise RefusedError(
            f"refused {op} of {role} from {peer}: the key that connected is {key_role}'s; "
            f"it may send only {key_role}'s snapshot"
        )
    if needs is Authority.PRI and key_role != "PRI":
        raise RefusedError(
            f"refused syncup from {peer}: the key that connected is {key_role}'s; "
            "only the PRI's key may request SyncUp"
        )


def check_grant(key_role: str, granted_to: object, peer: str, what: str) -> None:
    """rsync under a grant: only a key of the role the grant was made for may use it (a
    receive grant: the role whose area it opened; a send grant: the PRI, who pulls)."""
    if granted_to != key_role:
        raise RefusedError(
            f"refused rsync from {peer}: the {what} grant is for {granted_to}'s key; "
            f"the key that connected is {key_role}'s"
        )
