"""`atlas-ha history [PATH]`, `atlas-ha diff`, `atlas-ha restore` (SPEC 5.11)."""

from __future__ import annotations

import argparse
from typing import Any

from atlas_ha.cli.common import server_from


def register(sub: Any) -> None:
    p = sub.add_parser("history", help="changes recorded in SID_DATA (of one system path)")
    p.add_argument("path", nargs="?")
    p.add_argument("-n", type=int, default=50)
    p.set_defaults(handler=cmd_history)


def cmd_history(args: argparse.Namespace) -> int:
    server = server_from(args)
    paths = []
    if args.path:
        for role in server.sid.roles():
            for v in server.sid.envs(role):
                for tree in ("SyncFiles", "IdentFiles"):
                    paths.append(f"{role}/Env{v}/{tree}{args.path}")
    for change in server.history.log(paths, args.n):
        print(
            f"{change.rev[:10]} {change.when} {change.operation:<14} {change.role}/"
            f"Env{change.env} on {change.server}"
        )
    return 0
