"""The Verifier's ssh key (SPEC 8.3 ssh checks): one per server (Bound Data), accepted by the
partners only with an authorized_keys line that prints a fixed answer, never a session."""

from __future__ import annotations

from pathlib import Path

from atlas_ha.errors import SettingsError
from atlas_ha.layout.atomic import atomic_write, read_text_or_none
from atlas_ha.layout.esd import server_authorized_keys, server_ssh_dir
from atlas_ha.layout.sid import role_authorized_keys
from atlas_ha.settings import Settings
from atlas_ha.system import Runner
from atlas_ha.transport.rolekeys import line_options_and_key
from atlas_ha.transport.ssh import generate_key
from atlas_ha.verifier.kinds.ssh import VERIFIER_KEY, verifier_authorized_line


def _ssh_dir(settings: Settings) -> Path:
    path = server_ssh_dir(settings.esd_data)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def generate_verifier_key(settings: Settings, runner: Runner) -> Path:
    """Create ESD_DATA/ssh/verifier_ed25519 once; return its public key's path."""
    key = _ssh_dir(settings) / VERIFIER_KEY
    generate_key(runner, key, f"atlas-ha-verifier@{settings.name}")
    return key.with_suffix(".pub")


def authorize_verifier(settings: Settings, pubkey: Path) -> str:
    """Accept a partner's verifier key for the fixed answer only; return the key's blob.

    A key already authorized for anything else (a role's key) is refused: the verifier needs
    its own key."""
    text = pubkey.read_text()
    try:
        line = verifier_authorized_line(text)
    except ValueError as exc:
        raise SettingsError(f"{pubkey}:1: {exc}") from None
    blob = text.split()[1]
    _ssh_dir(settings)
    path = server_authorized_keys(settings.esd_data)
    existing = read_text_or_none(path) or ""
    role_file = role_authorized_keys(settings.sid_data)
    for where, lines in ((path, existing), (role_file, read_text_or_none(role_file) or "")):
        for number, present in enumerate(lines.splitlines(), 1):
            if line_options_and_key(present)[1] == blob and present != line:
                raise SettingsError(
                    f"{where}:{number}: this key is already authorized for something else; "
                    "the verifier needs its own key (`atlas-ha keys verifier-key`)"
                )
    if line not in existing.splitlines():
        atomic_write(path, existing + line + "\n", mode=0o600)
    return blob
