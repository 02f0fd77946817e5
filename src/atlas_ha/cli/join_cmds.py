"""`atlas-ha join [TOKEN]`: the key exchange of two partner roles (sync/join.py)."""

from __future__ import annotations

import argparse
from typing import Any

from atlas_ha.cli.common import server_from
from atlas_ha.errors import EXIT_DOCTOR


def register(sub: Any) -> None:
    p = sub.add_parser(
        "join",
        help="exchange role keys and host keys with a partner (a pasted token, or ssh as admin)",
    )
    p.add_argument("token", nargs="?", help="the token `atlas-ha join` printed on the partner")
    p.add_argument(
        "--ssh",
        metavar="ADMIN@HOST",
        help="do both sides at once, logging in to the partner with your own ssh credentials",
    )
    p.add_argument("--remote-config", help="with --ssh: the partner's settings file")
    p.set_defaults(handler=cmd_join)


def cmd_join(args: argparse.Namespace) -> int:
    from atlas_ha.doctor.checks import join_and_doctor
    from atlas_ha.sync.join import describe, join_over_ssh, offer
    from atlas_ha.system import Runner

    server = server_from(args)
    if args.ssh:
        _said, joined = join_over_ssh(server, args.ssh, args.remote_config, Runner())
        print(f"join: {args.ssh} accepted this role; accepted {joined.role}")
        print(f"  authorized in {joined.authorized_in}: {joined.authorized}")
        print(f"  host key of atlas-{joined.role} in {joined.known_hosts}")
        return 0
    if args.token is None:
        token = offer(server).token()
        print(f"join: this role: {describe(token)}")
        print("paste on the partner (check the key's fingerprint there):")
        print(f"  atlas-ha join {token}")
        return 0
    print(f"join: token of {describe(args.token)}")
    joined, report = join_and_doctor(server, args.token)
    print(f"  authorized in {joined.authorized_in}: {joined.authorized}")
    print(f"  host key of atlas-{joined.role} in {joined.known_hosts}")
    if joined.reply is not None:
        print(f"paste on {joined.role} to finish (its key and host key for this role):")
        print(f"  atlas-ha join {joined.reply}")
        return 0
    assert report is not None
    print("join: both sides done; doctor:")
    for check in report.checks:
        print(f"  {check.line()}".replace("\n", "\n  "))
    print(f"doctor: {'green' if report.ok else f'{len(report.failing())} check(s) FAIL'}")
    return 0 if report.ok else EXIT_DOCTOR
