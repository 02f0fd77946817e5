"""`atlas-ha check pri|cycle-age|compare|verifier|suspended|readiness [-w R] [-c R] [-t S]`:
a Nagios/Icinga plugin (report/check.py). Its exit codes are the plugin contract's (0-3),
not atlas-ha's: a usage error is UNKNOWN (3), and so is a server that cannot be read."""

from __future__ import annotations

import argparse
import sys
from typing import Any, NoReturn

from atlas_ha.cli.common import server_from
from atlas_ha.report.check import DEFAULT_TIMEOUT, SUBCOMMANDS, Options, run

UNKNOWN = 3


class PluginParser(argparse.ArgumentParser):
    """A usage error exits UNKNOWN with one status line, as a plugin must."""

    def error(self, message: str) -> NoReturn:
        print(f"ATLAS CHECK UNKNOWN - usage: {message}")
        self.print_usage(sys.stderr)
        sys.exit(UNKNOWN)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 3600:
        raise argparse.ArgumentTypeError(f"-t: seconds (0 < t < 3600), got {text!r}")
    return value


def register(sub: Any) -> None:
    check = sub.add_parser(
        "check",
        help="ATLAS as a Nagios/Icinga plugin (exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)",
    )
    check.error = PluginParser.error.__get__(check)
    subs = check.add_subparsers(dest="check", required=True, parser_class=PluginParser)
    for name in SUBCOMMANDS:
        p = subs.add_parser(name, help=f"check {name} (docs/status.md)")
        p.add_argument("-w", "--warning", metavar="RANGE", help="Nagios range: WARNING outside")
        p.add_argument("-c", "--critical", metavar="RANGE", help="Nagios range: CRITICAL outside")
        p.add_argument(
            "-t", "--timeout", type=_seconds, default=DEFAULT_TIMEOUT, help="seconds (2)"
        )
        if name == "pri":
            p.add_argument("-p", "--port", type=int, help="the PRI's ssh port")
        p.set_defaults(handler=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    options = Options(args.warning, args.critical, getattr(args, "port", None), args.timeout)
    result = run(args.check, lambda: server_from(args), options)
    print(result.line(), flush=True)
    return int(result.status)
