"""`atlas-ha report serve` (the status page in the foreground) and `atlas-ha report
hash-password [--token]` (what to put in `[report.auth]`; docs/web.md)."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from atlas_ha.cli.common import server_from
from atlas_ha.errors import SettingsError


def register(sub: Any) -> None:
    report = sub.add_parser("report", help="the status page: serve it, hash its passwords")
    rsub = report.add_subparsers(dest="report_command", required=True)
    p = rsub.add_parser("serve", help="serve the status page in the foreground ([report] listen)")
    p.set_defaults(handler=cmd_serve)
    p = rsub.add_parser(
        "hash-password",
        help="the scrypt hash of a password (read from the terminal twice, or one stdin line)",
    )
    p.add_argument("--user", default="NAME", help="the user name to print in the TOML table")
    p.add_argument("--role", choices=("viewer", "operator"), default="viewer")
    p.add_argument(
        "--token", action="store_true", help="make a new bearer token instead; print it once"
    )
    p.set_defaults(handler=cmd_hash_password)


def cmd_serve(args: argparse.Namespace) -> int:
    from atlas_ha.report.web.server import serve

    serve(server_from(args), lambda line: print(line, flush=True))
    return 0


def cmd_hash_password(args: argparse.Namespace) -> int:
    from atlas_ha.report.web.auth import hash_password, new_token

    if args.token:
        token, digest = new_token()
        print(f"# the token (give it to the client; it is not stored): {token}")
        print(f'[report.auth.tokens.{args.user}]\nrole = "{args.role}"\nsha256 = "{digest}"')
        return 0
    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise SettingsError("the two passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\n")
    if not password:
        raise SettingsError("an empty password")
    print(
        f'[report.auth.users.{args.user}]\nrole = "{args.role}"\n'
        f'password = "{hash_password(password)}"'
    )
    return 0
