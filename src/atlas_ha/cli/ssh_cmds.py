"""`atlas-ha keys generate|authorize|verifier-key|authorize-verifier` and the forced command
`atlas-ha ssh-command`.

A partner's key (`authorize`) reaches only the forced command (atlas-ha operations). The
Verifier's key (`authorize-verifier`, SPEC 8.3 ssh checks) is a separate key whose
authorized_keys line can only print a fixed answer: it cannot reach atlas-ha at all."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atlas_ha.errors import SettingsError
from atlas_ha.layout.atomic import atomic_write, read_text_or_none

if TYPE_CHECKING:
    from atlas_ha.sync.context import Server

# The forced command starts a process for every rsync a partner runs: it imports what it
# needs when it needs it (an rsync only the settings), and nothing else.


def register(sub: Any) -> None:
    keys = sub.add_parser("keys", help="this server's ssh key and its partners' keys")
    ksub = keys.add_subparsers(dest="keys_command", required=True)
    ksub.add_parser("generate", help="create ESD_DATA/ssh/id_ed25519 (once)").set_defaults(
        handler=cmd_generate
    )
    p = ksub.add_parser("authorize", help="accept a partner's key, only via the forced command")
    p.add_argument("pubkey", type=Path, help="the partner's id_ed25519.pub")
    p.set_defaults(handler=cmd_authorize)
    ksub.add_parser(
        "verifier-key", help="create ESD_DATA/ssh/verifier_ed25519 (once): the ssh check's key"
    ).set_defaults(handler=cmd_verifier_key)
    p = ksub.add_parser(
        "authorize-verifier", help="accept a partner's verifier key: it only prints a fixed answer"
    )
    p.add_argument("pubkey", type=Path, help="the partner's verifier_ed25519.pub")
    p.set_defaults(handler=cmd_authorize_verifier)
    p = sub.add_parser("ssh-command", help="(forced command for partners' keys; not for humans)")
    p.set_defaults(handler=cmd_ssh_command)


def ssh_dir(args: argparse.Namespace) -> Path:
    server = server_from(args)
    path = server.settings.esd_data / "ssh"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def server_from(args: argparse.Namespace) -> Server:
    from atlas_ha.cli.common import server_from as load_server

    return load_server(args)


def cmd_generate(args: argparse.Namespace) -> int:
    from atlas_ha.system import Runner
    from atlas_ha.transport.ssh import generate_key

    server = server_from(args)
    key = ssh_dir(args) / "id_ed25519"
    generate_key(Runner(), key, f"atlas-ha@{server.name}")
    print(key.with_suffix(".pub").read_text().strip())
    return 0


def cmd_authorize(args: argparse.Namespace) -> int:
    server = server_from(args)
    parts = args.pubkey.read_text().split()
    if len(parts) < 2 or not parts[0].startswith("ssh-"):
        raise SettingsError(f"{args.pubkey}:1: expected an OpenSSH public key line")
    command = f"{sys.executable} -m atlas_ha --config {server.settings.config_file} ssh-command"
    line = f'command="{command}",restrict {parts[0]} {parts[1]} {" ".join(parts[2:])}'.strip()
    path = ssh_dir(args) / "authorized_keys"
    existing = read_text_or_none(path) or ""
    if parts[1] not in existing:
        atomic_write(path, existing + line + "\n", mode=0o600)
    print(f"authorized {parts[-1]} for atlas-ha operations only")
    return 0


def cmd_verifier_key(args: argparse.Namespace) -> int:
    from atlas_ha.system import Runner
    from atlas_ha.transport.ssh import generate_key
    from atlas_ha.verifier.kinds.ssh import VERIFIER_KEY

    server = server_from(args)
    key = ssh_dir(args) / VERIFIER_KEY
    generate_key(Runner(), key, f"atlas-ha-verifier@{server.name}")
    print(key.with_suffix(".pub").read_text().strip())
    return 0


def cmd_authorize_verifier(args: argparse.Namespace) -> int:
    from atlas_ha.verifier.kinds.ssh import verifier_authorized_line

    text = args.pubkey.read_text()
    try:
        line = verifier_authorized_line(text)
    except ValueError as exc:
        raise SettingsError(f"{args.pubkey}:1: {exc}") from None
    blob = text.split()[1]
    path = ssh_dir(args) / "authorized_keys"
    existing = read_text_or_none(path) or ""
    for number, present in enumerate(existing.splitlines(), 1):
        if blob in present.split() and present != line:
            raise SettingsError(
                f"{path}:{number}: this key is already authorized for something else; "
                "the verifier needs its own key (`atlas-ha keys verifier-key`)"
            )
    if line not in existing.splitlines():
        atomic_write(path, existing + line + "\n", mode=0o600)
    print(f"authorized {blob[:16]}... for the verifier's ssh check only (prints a fixed answer)")
    return 0


def cmd_ssh_command(args: argparse.Namespace) -> int:
    from atlas_ha.settings import load, locate
    from atlas_ha.transport.forced import forced_command

    return forced_command(load(locate(args.config)), lambda: server_from(args))
