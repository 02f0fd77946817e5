"""`atlas-ha events [--since DURATION|ISO] [--json]`: the event log of this server's role."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from atlas_ha.cli.common import colour_on, print_json, server_from
from atlas_ha.report.console import event_line
from atlas_ha.report.view import events_since, since


def since_arg(text: str) -> float:
    try:
        return since(text, time.time())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(sub: Any) -> None:
    p = sub.add_parser(
        "events",
        help="the event log: state changes, cycles, suspend/resume, role changes, alerts",
    )
    p.add_argument(
        "--since",
        type=since_arg,
        help="from this long ago (90s, 30m, 12h, 7d) or this time (ISO 8601, UTC); default all",
    )
    p.add_argument("--json", action="store_true", help="one JSON document: events, damaged")
    p.set_defaults(handler=cmd_events)


def cmd_events(args: argparse.Namespace) -> int:
    found = events_since(server_from(args), args.since)
    if args.json:
        print_json({"events": found.events, "damaged": found.damaged})
        return 0
    colour = colour_on()
    for event in found.events:
        print(event_line(event, colour))
    for note in found.damaged:
        print(f"atlas-ha: warning: {note}", file=sys.stderr)
    return 0
