"""`atlas-ha keys generate|authorize|host-key|known-hosts|verifier-key|authorize-verifier|
sshd-config` and the
forced command `atlas-ha ssh-command --role ROLE`.

A role's key (`generate`) lives on the Unbound Data and moves with the role; a partner
role's key (`authorize --role ROLE`) reaches only the forced command, acting as that role
only (`transport.rolekeys`, `transport.authority`). The Verifier's key (`authorize-verifier`,
SPEC 8.3 ssh checks) is a separate, per-server key whose authorized_keys line can only print
a fixed answer: it cannot reach atlas-ha at all."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from atlas_ha.context import Server

# The forced command starts a process for every rsync a partner runs: it imports what it
# needs when it needs it (an rsync only the settings), and nothing else.


def register(sub: Any) -> None:
    keys = sub.add_parser("keys", help="this role's ssh key and its partner roles' keys")
    ksub = keys.add_subparsers(dest="keys_command", required=True)
    ksub.add_parser(
        "generate", help="create the role's key SID_DATA/.ssh/id_ed25519 on the disk (once)"
    ).set_defaults(handler=cmd_generate)
    p = ksub.add_parser(
        "authorize", help="accept a partner role's key, as that role, via the forced command"
    )
    p.add_argument("--role", required=True, help="the partner role whose key this is")
    p.add_argument(
        "--from",
        dest="source",
        help="the address it connects from (default: the role's in this disk's MasterConfig)",
    )
    p.add_argument("pubkey", type=Path, help="the partner role's id_ed25519.pub")
    p.set_defaults(handler=cmd_authorize)
    ksub.add_parser(
        "verifier-key", help="create ESD_DATA/ssh/verifier_ed25519 (once): the ssh check's key"
    ).set_defaults(handler=cmd_verifier_key)
    p = ksub.add_parser(
        "authorize-verifier", help="accept a partner's verifier key: it only prints a fixed answer"
    )
    p.add_argument("pubkey", type=Path, help="the partner's verifier_ed25519.pub")
    p.set_defaults(handler=cmd_authorize_verifier)
    p = ksub.add_parser(
        "sshd-config",
        help="the sshd drop-in adding atlas-ha's authorized-keys files beside the usual ones",
    )
    p.add_argument(
        "--write", type=Path, metavar="DIR", help="write DIR/atlas-ha.conf (/etc/ssh/sshd_config.d)"
    )
    p.set_defaults(handler=cmd_sshd_config)
    ksub.add_parser(
        "host-key", help="the role's ssh host key SID_DATA/.ssh/host_ed25519 (created once)"
    ).set_defaults(handler=cmd_host_key)
    p = ksub.add_parser(
        "known-hosts", help="write a partner role's host key into atlas-ha's known_hosts"
    )
    p.add_argument("--role", required=True, help="the partner role whose host key this is")
    p.add_argument("pubkey", type=Path, help="its host_ed25519.pub (`keys host-key` there)")
    p.set_defaults(handler=cmd_known_hosts)
    p = sub.add_parser("ssh-command", help="(forced command for partners' keys; not for humans)")
    p.add_argument("--role", help="the role of the key (fixed in its authorized_keys line)")
    p.set_defaults(handler=cmd_ssh_command)


def server_from(args: argparse.Namespace) -> Server:
    from atlas_ha.cli.common import server_from as load_server

    return load_server(args)


def cmd_generate(args: argparse.Namespace) -> int:
    from atlas_ha.system import Runner
    from atlas_ha.transport.rolekeys import generate_role_key

    pub = generate_role_key(server_from(args).settings, Runner())
    print(pub.read_text().strip())
    return 0


def cmd_authorize(args: argparse.Namespace) -> int:
    from atlas_ha.transport.rolekeys import authorize_role

    done = authorize_role(server_from(args).settings, args.role, args.pubkey, args.source)
    print(f"authorized in {done.path}: {done.line}")
    if done.replaced:
        print(f"  replaced {done.replaced} earlier line(s) of {args.role}")
    if done.legacy_removed:
        print(f"  removed {done.legacy_removed} role-less line(s) of per-server keys")
    return 0


def cmd_host_key(args: argparse.Namespace) -> int:
    from atlas_ha.system import Runner
    from atlas_ha.transport.hostkeys import host_key_line

    print(host_key_line(server_from(args).settings, Runner()))
    return 0


def cmd_known_hosts(args: argparse.Namespace) -> int:
    from atlas_ha.transport.hostkeys import add_known_host_file

    path = add_known_host_file(server_from(args).settings, args.role, args.pubkey)
    print(f"wrote the host key of atlas-{args.role} into {path}")
    return 0


def cmd_verifier_key(args: argparse.Namespace) -> int:
    from atlas_ha.system import Runner
    from atlas_ha.verifier.keys import generate_verifier_key

    print(generate_verifier_key(server_from(args).settings, Runner()).read_text().strip())
    return 0


def cmd_authorize_verifier(args: argparse.Namespace) -> int:
    from atlas_ha.verifier.keys import authorize_verifier

    blob = authorize_verifier(server_from(args).settings, args.pubkey)
    print(f"authorized {blob[:16]}... for the verifier's ssh check only (prints a fixed answer)")
    return 0


def cmd_sshd_config(args: argparse.Namespace) -> int:
    from atlas_ha.settings import load, locate
    from atlas_ha.transport.sshd_dropin import sshd_dropin, write_sshd_dropin

    settings = load(locate(args.config))
    if args.write is None:
        print(sshd_dropin(settings), end="")
        return 0
    path, checked = write_sshd_dropin(settings, args.write)
    said = "`sshd -t` accepts it" if checked else "check it with `sshd -t`"
    print(f"wrote {path} ({said}); now reload sshd: systemctl reload ssh (sshd on RHEL)")
    return 0


def cmd_ssh_command(args: argparse.Namespace) -> int:
    from atlas_ha.settings import load, locate
    from atlas_ha.transport.forced import forced_command

    def session(peer: str, key_role: str) -> int:
        from atlas_ha.sync.serve import serve  # the whole synchronizer: not for an rsync

        return serve(server_from(args), peer, key_role)

    return forced_command(load(locate(args.config)), args.role, session)
