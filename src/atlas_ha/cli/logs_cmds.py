"""`atlas-ha logs [PROGRAM] [--run ID] [--follow] [--list]`: the run logs of ESD_DATA/logs."""

from __future__ import annotations

import argparse
from typing import Any

from atlas_ha.cli.common import server_from


def register(sub: Any) -> None:
    p = sub.add_parser("logs", help="the run logs (SPEC 7.2): one program's, one run's")
    p.add_argument("program", nargs="?", help="e.g. sync-cycle, daemon-run, ssh-command")
    p.add_argument("--run", dest="run_id", help="only the lines of this run id")
    p.add_argument(
        "--follow",
        action="store_true",
        help="keep printing what the logs get (later runs and days too)",
    )
    p.add_argument("--list", action="store_true", help="list the log files instead")
    p.set_defaults(handler=cmd_logs)


def cmd_logs(args: argparse.Namespace) -> int:
    from atlas_ha.ops import logfollow, logs

    server = server_from(args)
    if args.list:
        for log in logs.select(server.esd, args.program, args.run_id):
            print(log.path.name)
        return 0
    for line in logfollow.show(server.esd, args.program, args.run_id, follow=args.follow):
        print(line, flush=args.follow)
    return 0
