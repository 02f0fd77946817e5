"""The role's ssh host key and atlas-ha's own known_hosts (`atlas-ha keys host-key`,
`atlas-ha keys known-hosts`).

The role's host key lives on the Unbound Data (`layout.sid.role_host_key`) and moves with the
role, so the host key answering at the PRI's address stays the PRI's after a disk swap. sshd
presents it through the drop-in (`transport.sshd_dropin`: the first HostKey). Every server's
`ESD_DATA/ssh/known_hosts` (`layout.esd.server_known_hosts`) holds its partners' role host
keys under the aliases `atlas-<ROLE>`, the names the ssh transport and the Verifier check
(`HostKeyAlias=atlas-<ROLE>`). Nothing here trusts what it is given: a key must parse as an
OpenSSH public key, a role must be a partner of this disk's role.
"""

from __future__ import annotations

import os
from pathlib import Path

from atlas_ha.errors import SettingsError
from atlas_ha.layout.atomic import atomic_write, read_text_or_none
from atlas_ha.layout.esd import server_known_hosts, server_ssh_dir
from atlas_ha.layout.sid import SidData, role_host_key, role_ssh_dir
from atlas_ha.model import ROLE_RE
from atlas_ha.settings import Settings
from atlas_ha.system import Runner
from atlas_ha.transport.rolekeys import PublicKey
from atlas_ha.transport.ssh import generate_key


def alias(role: str) -> str:
    return f"atlas-{role}"


def ensure_role_host_key(settings: Settings, runner: Runner) -> PublicKey:
    """The host key of the role on this server's Unbound Data, created once."""
    sid = SidData(settings.sid_data)
    master = sid.master_config()  # no disk, no role, no host key
    ssh_dir = role_ssh_dir(sid.root)
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    os.chmod(ssh_dir, 0o700)
    key = role_host_key(sid.root)
    generate_key(runner, key, alias(master.role))
    pub = key.with_suffix(".pub")
    return PublicKey.parse(pub.read_text(), pub)


def known_roles(settings: Settings) -> dict[str, PublicKey]:
    """{role: host key} of atlas-ha's known_hosts (lines of other names are ignored)."""
    path = server_known_hosts(settings.esd_data)
    found: dict[str, PublicKey] = {}
    for number, line in enumerate((read_text_or_none(path) or "").splitlines(), 1):
        words = line.split()
        if len(words) < 3 or not words[0].startswith("atlas-"):
            continue
        role = words[0].removeprefix("atlas-")
        if ROLE_RE.match(role):
            found[role] = PublicKey.parse(" ".join(words[1:]), f"{path}:{number}")
    return found


def add_known_host(settings: Settings, role: str, key: PublicKey) -> Path:
    """Write `key` as the host key of partner `role` (replacing an earlier one of that role)
    into atlas-ha's known_hosts; refused for a role that is not a partner of this disk."""
    master = SidData(settings.sid_data).master_config()
    if role not in master.partners:
        raise SettingsError(
            f"--role {role}: not a partner of this disk's role {master.role} "
            f"(partners: {', '.join(sorted(master.partners)) or 'none'})"
        )
    path = server_known_hosts(settings.esd_data)
    kept = [
        line
        for line in (read_text_or_none(path) or "").splitlines()
        if line.split()[:1] != [alias(role)]
    ]
    kept.append(f"{alias(role)} {key.kind} {key.blob}")
    server_ssh_dir(settings.esd_data).mkdir(mode=0o700, parents=True, exist_ok=True)
    atomic_write(path, "".join(f"{k}\n" for k in kept), mode=0o600)
    return path


def host_key_line(settings: Settings, runner: Runner) -> str:
    """`keys host-key`: the role's host key (created once) as its partners' known_hosts line."""
    key = ensure_role_host_key(settings, runner)
    return f"{alias(SidData(settings.sid_data).master_config().role)} {key.kind} {key.blob}"


def add_known_host_file(settings: Settings, role: str, pubkey: Path) -> Path:
    """`keys known-hosts --role ROLE FILE`: FILE holds a .pub or the line `keys host-key`
    printed (then its alias must be the role's)."""
    text = (read_text_or_none(pubkey) or "").strip()
    words = text.split()
    if words[:1] and words[0].startswith("atlas-"):
        if words[0] != alias(role):
            raise SettingsError(f"{pubkey}:1: the host key of {words[0]}, not of {alias(role)}")
        text = " ".join(words[1:])
    return add_known_host(settings, role, PublicKey.parse(text, pubkey))
