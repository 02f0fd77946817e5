"""A role's ssh authority (SPEC 10): its client key and the partner roles' keys it accepts.

Both live on the Unbound Data, in SID_DATA/.ssh/ (`layout.sid.role_ssh_dir`: mode 0700, not a
role area so never sent, ignored by the history), and so move with the role:

* `id_ed25519`: the role's client key (`generate_role_key`, `atlas-ha keys generate`);
* `authorized_keys`: one line per partner role, the role fixed in the forced command and the
  role's address (from this disk's MasterConfig) as `from=` (`authorize_role`,
  `atlas-ha keys authorize --role ROLE PUBKEY`)::

      command="atlas-ha ssh-command --role SEC1",from="192.0.2.12",restrict ssh-ed25519 AAAA...

  The line names nothing of one server (the program is found on sshd's PATH, its settings at
  $ATLAS_HA_CONFIG or the default path), so it works in whichever server the disk is plugged.

For the seed's group the PRI's disk holds SEC1's and SEC2's keys and each SEC's disk the PRI's
key. A disk swap (SPEC 11, Scenarios 1-3) changes none of these files: the PRI's key moves
with the PRI's disk into the new PRI, and the SECs' disks still accept exactly that key, as
PRI, from the PRI's address. Each server's sshd names both this file and the server's own
ESD_DATA/ssh/authorized_keys (the Verifier keys, which only print a fixed answer).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from atlas_ha.errors import SettingsError
from atlas_ha.layout.atomic import atomic_write, read_text_or_none
from atlas_ha.layout.esd import server_authorized_keys
from atlas_ha.layout.sid import SidData, role_authorized_keys, role_key_file, role_ssh_dir
from atlas_ha.model import ROLE_RE
from atlas_ha.settings import Settings
from atlas_ha.system import Runner
from atlas_ha.transport.ssh import generate_key

PROGRAM = "atlas-ha"
KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)
BLOB_RE = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
COMMENT_RE = re.compile(r"^[A-Za-z0-9._@:+-]+$")
FROM_RE = re.compile(r"^[0-9A-Za-z.:/*?!,_-]+$")
ROLE_LINE_RE = re.compile(r'(?:^|,)command="[^"]*\bssh-command --role (PRI|SEC[1-9][0-9]*)"')
# what `keys authorize` wrote before role-bound keys: it fixes no role, so it has no authority
LEGACY_LINE_RE = re.compile(r'(?:^|,)command="[^"]*\bssh-command"')


@dataclass(frozen=True)
class PublicKey:
    kind: str
    blob: str
    comment: str

    @classmethod
    def parse(cls, text: str, where: Path | str) -> PublicKey:
        parts = text.strip().splitlines()[0].split() if text.strip() else []
        if len(parts) < 2 or parts[0] not in KEY_TYPES or not BLOB_RE.match(parts[1]):
            raise SettingsError(f"{where}:1: expected an OpenSSH public key line (TYPE BASE64)")
        comment = " ".join(w for w in parts[2:] if COMMENT_RE.match(w))
        return cls(parts[0], parts[1], comment)


def forced_line(role: str, source: str, key: PublicKey) -> str:
    """The authorized_keys line that lets `key` act as `role`, from `source` only."""
    command = f"{PROGRAM} ssh-command --role {role}"
    line = f'command="{command}",from="{source}",restrict {key.kind} {key.blob} {key.comment}'
    return line.strip()


def line_options_and_key(line: str) -> tuple[str, str | None]:
    """(options, key blob) of an authorized_keys line ("", None for blanks and comments)."""
    text = line.strip()
    if not text or text.startswith("#"):
        return "", None
    quoted, end = False, len(text)
    for i, char in enumerate(text):
        if char == '"':
            quoted = not quoted
        elif char in " \t" and not quoted:
            end = i
            break
    first, rest = text[:end], text[end:].split()
    if first in KEY_TYPES:
        return "", rest[0] if rest else None
    return first, rest[1] if len(rest) > 1 else None


def line_role(line: str) -> str | None:
    """The role an atlas-ha line fixes in its forced command (None: not such a line)."""
    match = ROLE_LINE_RE.search(line_options_and_key(line)[0])
    return match.group(1) if match else None


def generate_role_key(settings: Settings, runner: Runner) -> Path:
    """Create the client key of the role on this server's Unbound Data (once); return its
    public key file."""
    sid = SidData(settings.sid_data)
    master = sid.master_config()  # no disk, no role, no key
    ssh_dir = role_ssh_dir(sid.root)
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    os.chmod(ssh_dir, 0o700)
    key = role_key_file(sid.root)
    generate_key(runner, key, f"atlas-ha-{master.role}@{master.group}")
    return key.with_suffix(".pub")


@dataclass(frozen=True)
class Authorized:
    path: Path
    line: str
    replaced: int  # earlier lines of the same role (another key, or the same one)
    legacy_removed: int  # role-less atlas-ha lines removed from ESD_DATA/ssh/authorized_keys


def authorize_role(settings: Settings, role: str, pubkey: Path, source: str | None) -> Authorized:
    """Accept `pubkey` as the key of partner `role` (from `source`, default the role's address
    in this disk's MasterConfig): its line replaces any earlier line of that role, so a
    regenerated key leaves no old one authorized. Refused: a role that is not a partner of
    this disk's role, a key already authorized for another role or purpose."""
    sid = SidData(settings.sid_data)
    master = sid.master_config()
    if not ROLE_RE.match(role):
        raise SettingsError(f"--role {role!r}: expected PRI or SEC<n>")
    if role not in master.partners:
        raise SettingsError(
            f"{sid.master_config_file}: {role} is not a partner of this disk's role "
            f"{master.role} (partners: {', '.join(sorted(master.partners)) or 'none'})"
        )
    key = PublicKey.parse(read_text_or_none(pubkey) or "", pubkey)
    return authorize_role_key(settings, role, key, source)


def authorize_role_key(
    settings: Settings, role: str, key: PublicKey, source: str | None
) -> Authorized:
    """`authorize_role` for a key already parsed (a join token's)."""
    sid = SidData(settings.sid_data)
    master = sid.master_config()
    if role not in master.partners:
        raise SettingsError(
            f"{sid.master_config_file}: {role} is not a partner of this disk's role "
            f"{master.role} (partners: {', '.join(sorted(master.partners)) or 'none'})"
        )
    source = source or master.partners[role].address
    if not FROM_RE.match(source):
        raise SettingsError(f"--from {source!r}: expected addresses or patterns (sshd from=)")
    path = role_authorized_keys(sid.root)
    kept, replaced = [], 0
    for number, line in enumerate((read_text_or_none(path) or "").splitlines(), 1):
        blob = line_options_and_key(line)[1]
        if line_role(line) == role:
            replaced += 1
            continue
        if blob == key.blob:
            whose = line_role(line) or "something else"
            raise SettingsError(
                f"{path}:{number}: this key is already authorized for {whose}; "
                "a role's key acts for that role only"
            )
        kept.append(line)
    legacy = _drop_legacy(settings, key.blob)
    line = forced_line(role, source, key)
    role_ssh_dir(sid.root).mkdir(mode=0o700, exist_ok=True)
    atomic_write(path, "".join(f"{k}\n" for k in [*kept, line]), mode=0o600)
    return Authorized(path, line, replaced, legacy)


def _drop_legacy(settings: Settings, blob: str) -> int:
    """Remove the role-less atlas-ha lines (per-server keys) from the server's own
    authorized_keys; refuse when `blob` is authorized there for something else (the
    Verifier's key)."""
    path = server_authorized_keys(settings.esd_data)
    lines = (read_text_or_none(path) or "").splitlines()
    kept = []
    for number, line in enumerate(lines, 1):
        options, found = line_options_and_key(line)
        if LEGACY_LINE_RE.search(options):
            continue
        if found == blob:
            raise SettingsError(
                f"{path}:{number}: this key is already authorized for something else; "
                "a role's key acts for that role only"
            )
        kept.append(line)
    if len(kept) != len(lines):
        atomic_write(path, "".join(f"{k}\n" for k in kept), mode=0o600)
    return len(lines) - len(kept)
