"""`atlas-ha env record|confirm|show`: the fingerprint of this server's EnvVersion."""

from __future__ import annotations

import argparse
from typing import Any

from atlas_ha.cli.common import print_json, server_from
from atlas_ha.verifier.drift import confirm, drift, record


def register(sub: Any) -> None:
    env = sub.add_parser("env", help="the fingerprint of this server's EnvVersion (drift)")
    cmds = env.add_subparsers(dest="env_command", required=True)
    p = cmds.add_parser("record", help="record the live fingerprint of this server's EnvID")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_record)
    p = cmds.add_parser(
        "confirm", help="nothing relevant changed: record the live fingerprint, in the history"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_confirm)
    p = cmds.add_parser("show", help="the live system against the recorded fingerprint")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_show)


def cmd_record(args: argparse.Namespace) -> int:
    recorded = record(server_from(args))
    if args.json:
        print_json(recorded)
    else:
        for what, value in sorted(recorded.items()):
            print(f"{what} = {value}")
    return 0


def cmd_confirm(args: argparse.Namespace) -> int:
    confirmed, commit = confirm(server_from(args))
    if args.json:
        print_json({"confirmed": confirmed, "commit": commit})
    elif not confirmed:
        print("env confirm: the live system is as recorded; nothing to confirm")
    else:
        for line in confirmed:
            print(f"confirmed {line}")
        print(f"recorded in the history as {commit}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    found = drift(server_from(args))
    if args.json:
        print_json(
            {
                "env": found.env,
                "recorded": found.recorded,
                "changed": found.changed,
                "unrecorded": found.unrecorded,
            }
        )
        return 0
    if not found.recorded:
        print(f"Env{found.env}: no fingerprint recorded (`atlas-ha env record`)")
    for line in found.lines():
        print(f"CHANGED {line}")
    for what in found.unrecorded:
        print(f"not recorded: {what}")
    if found.recorded and not found.changed:
        print(f"Env{found.env}: as recorded")
    return 0
