"""The ssh forced command (`atlas-ha ssh-command --role ROLE`): what a partner role's key may do.

authorized_keys (on this server's Unbound Data: `layout.sid.role_authorized_keys`) holds, per
partner role, that role's key with the role fixed in the forced command::

    command="atlas-ha ssh-command --role SEC1",from="192.0.2.12",restrict ssh-ed25519 AAAA...

Every request is then checked against that *key role* (`transport.authority`): the session's
hello must carry the key role's own MasterConfig, receives only of the key role, SyncUp only
from the PRI's key, rsync only under a grant made for the key role. A line without `--role`
(from before role-bound keys) is refused.

Whatever the client asked for is in SSH_ORIGINAL_COMMAND. Allowed, and nothing else:
  * `atlas-ha serve`  — the JSON session (hello with role verification, receive, SyncUp);
  * `rsync --server ...` receiving (never `--sender`), only while this client holds a receive
    grant for the key role (made by receive-begin in its own session, removed by
    receive-commit), with only the options atlas-ha's own sender uses, and only into
    SID_DATA/<granted role>/Env<N>/ (no `..`, no absolute path, never through a symlink).
    (Debian's rrsync was the first choice but refuses `--modify-window=-1`, which same-second
    edits need.)
  * `rsync --server --sender ...` reading, only while this server's own session holds a send
    grant for this client made for the key role (the PRI: made when a SEC sends its snapshot
    back over the PRI's own connection, removed when that pull is answered), with only the
    options atlas-ha's own receiver sends, and only from SID_DATA/<this server's role>/Env<N>/
    for a granted N.

The program is found on sshd's PATH and its settings at $ATLAS_HA_CONFIG (else the default
path): the authorized_keys line travels with the disk, so it names nothing of one server.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import time
from collections.abc import Callable
from pathlib import Path

from atlas_ha.errors import RefusedError
from atlas_ha.layout.sid import grant_file, send_grant_file
from atlas_ha.ops.run import run_child
from atlas_ha.settings import Settings
from atlas_ha.transport.authority import check_grant, checked_key_role

RSYNC = "/usr/bin/rsync"
# what `rsync -a --delete --modify-window=-1 --numeric-ids` sends (-e.<capabilities> included)
FLAGS_RE = re.compile(r"^-[logDtpracvuxHSWzi]+(e\d*\.[A-Za-z]*)?$")
LONG_OPTIONS = {"--delete", "--numeric-ids", "-@-1", "--modify-window=-1", "--delete-during"}
# what the same rsync, pulling, asks of the sending side
SENDER_LONG_OPTIONS = {"--numeric-ids"}
DEST_RE = re.compile(r"^Env[1-9][0-9]*/?$")


def client_address() -> str:
    client = os.environ.get("SSH_CLIENT", "").split()
    if not client:
        raise RefusedError("ssh-command runs only as an ssh forced command (no SSH_CLIENT)")
    return client[0]


def forced_command(settings: Settings, role: str | None, session: Callable[[str, str], int]) -> int:
    """Run what the partner asked for, if its key's role (`role`, fixed in the authorized_keys
    line) may. `session(peer, key_role)` serves a JSON session (the synchronizer's partner
    session, given by the caller: transport defines the operations, `transport.protocol`,
    and serves none of them); an rsync
    needs only the settings (and starts without loading the synchronizer)."""
    peer = client_address()
    key_role = checked_key_role(role, peer)
    original = os.environ.get("SSH_ORIGINAL_COMMAND", "")
    try:
        argv = shlex.split(original)
    except ValueError as exc:
        raise RefusedError(f"refused from {peer}: unparsable command {original!r}") from exc
    if argv == ["atlas-ha", "serve"]:
        return session(peer, key_role)
    if argv[:3] == ["rsync", "--server", "--sender"]:
        root, envs = granted_send_root(settings.sid_data, peer, key_role)
        source = checked_rsync(argv, root, peer, envs, sender=True)
        return run_child([RSYNC, *argv[1:-1], source], root, f"rsync --sender from {peer}")
    if argv[:2] == ["rsync", "--server"] and "--sender" not in argv:
        root, envs = granted_root(settings.sid_data, peer, key_role)
        dest = checked_rsync(argv, root, peer, envs)
        return run_child([RSYNC, *argv[1:-1], dest], root, f"rsync receiving from {peer}")
    raise RefusedError(f"refused from {peer}: {original!r} is not an atlas-ha operation")


def checked_rsync(
    argv: list[str], root: Path, peer: str, envs: list[int] | None = None, sender: bool = False
) -> str:
    """Accept exactly our own receiving rsync into root/Env<N>/ (or, `sender`, our own pulling
    rsync's reading side from root/Env<N>/), N one of the granted `envs` when given; return
    that directory."""
    first, allowed = (3, SENDER_LONG_OPTIONS) if sender else (2, LONG_OPTIONS)
    if len(argv) < first + 3 or argv[-2] != ".":
        raise RefusedError(f"refused rsync from {peer}: expected `rsync --server OPTS . DIR`")
    for option in argv[first:-2]:
        if option not in allowed and not FLAGS_RE.match(option):
            raise RefusedError(f"refused rsync from {peer}: option {option!r} is not allowed")
    dest = argv[-1]
    if not DEST_RE.match(dest):
        whose = "this server's own role area" if sender else "the sender's own role area"
        raise RefusedError(
            f"refused rsync from {peer}: {'source' if sender else 'destination'} {dest!r} "
            f"is not Env<N>/ of {whose}"
        )
    if envs is not None and int(dest.rstrip("/")[3:]) not in envs:
        raise RefusedError(
            f"refused rsync from {peer}: {dest!r} is not one of the areas granted "
            f"for this receive ({', '.join(f'Env{v}' for v in envs) or 'none'})"
        )
    target = root / dest.rstrip("/")
    if target.is_symlink():
        raise RefusedError(f"refused rsync from {peer}: {target} is a symlink")
    if sender and not target.is_dir():
        raise RefusedError(f"refused rsync from {peer}: {target} is not a snapshot area")
    return dest


def granted_root(sid_root: Path, peer: str, key_role: str) -> tuple[Path, list[int]]:
    """SID_DATA/<role> and the EnvVersions `peer` may write there, if it holds a live receive
    grant and the grant's role is its key's role, else refuse."""
    role, envs, _for = _live_grant(grant_file(sid_root, peer), peer, "receive")
    check_grant(key_role, role, peer, "receive")
    root = sid_root / role
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    return root, envs


def granted_send_root(sid_root: Path, peer: str, key_role: str) -> tuple[Path, list[int]]:
    """SID_DATA/<own role> and the EnvVersions `peer` may read there, if this server's own
    session granted it a pull for its key's role, else refuse."""
    role, envs, granted_for = _live_grant(send_grant_file(sid_root, peer), peer, "send")
    check_grant(key_role, granted_for, peer, "send")
    root = sid_root / role
    if root.is_symlink() or not root.is_dir():
        raise RefusedError(f"refused rsync from {peer}: {root} is not a role area")
    return root, envs


def _live_grant(path: Path, peer: str, what: str) -> tuple[str, list[int], str | None]:
    """(role, EnvVersions, the key role it is for, if it names one) of the unexpired grant in
    `path`, else refuse."""
    try:
        grant = json.loads(path.read_text())
        role, expires = str(grant["role"]), float(grant["expires"])
        envs = [int(v) for v in grant["envs"]]
        granted_for = grant.get("for")
    except (FileNotFoundError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RefusedError(f"refused rsync from {peer}: no {what} in progress") from exc
    if expires < time.time():
        raise RefusedError(f"refused rsync from {peer}: the {what} grant expired")
    return role, envs, granted_for if isinstance(granted_for, str) else None
