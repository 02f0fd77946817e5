"""`atlas-ha logs [PROGRAM] [--run ID] [--follow] [--list]`: the run logs of ESD_DATA/logs."""

from __future__ import annotations

import argparse
from typing import Any

from atlas_ha.cli.common import server_from


def register(sub: Any) -> None:
    p = sub.add_parser("logs", help="the run logs (SPEC 7.2): one program's, one run's")
    p.add_argument("program", nargs="?", help="e.g. sync-cycle, daemon-run, ssh-command")
    p.add_argument("--run", dest="run_id", help="only the lines of this run id")
    p.add_argument("--follow", action="store_true", help="keep printing what the newest log gets")
    p.add_argument("--list", action="store_true", help="list the log files instead")
    p.set_defaults(handler=cmd_logs)


def cmd_logs(args: argparse.Namespace) -> int:
    from atlas_ha.ops import logs

    server = server_from(args)
    found = logs.select(server.esd, args.program, args.run_id)
    if args.list:
        for log in found:
            print(log.path.name)
        return 0
    for log in found:
        for line in logs.lines(log.path, args.run_id):
            print(line, flush=False)
    if args.follow:
        for line in logs.follow(found[-1].path, lambda: False):
            if args.run_id is None or line.split(" ", 3)[2:3] == [args.run_id]:
                print(line, flush=True)
    return 0
