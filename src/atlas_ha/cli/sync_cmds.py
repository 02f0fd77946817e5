"""`atlas-ha sync create|convert-older|convert-newer|send|install|compare|cycle`."""

from __future__ import annotations

import argparse
from typing import Any

from atlas_ha.cli.common import print_json, role_name, server_from
from atlas_ha.errors import EXIT_DIFFERENCES
from atlas_ha.sync.compare import CompareResult, compare
from atlas_ha.sync.convert import convert_partners_to_newer, convert_to_older
from atlas_ha.sync.create import create
from atlas_ha.sync.cycle import cycle
from atlas_ha.sync.install import install
from atlas_ha.sync.send import send_to_partners

ALLOW_HELP = (
    "allow this once to remove more than the [sync] mass_deletion_percent share of the "
    "snapshot's objects (recorded in history)"
)


def register(sub: Any) -> None:
    sync = sub.add_parser("sync", help="Synchronizer operations").add_subparsers(
        dest="sync_command", required=True
    )
    p = sync.add_parser("create", help="Snapshot Create of this server's role")
    p.add_argument("--allow-mass-deletion", action="store_true", help=ALLOW_HELP)
    p.set_defaults(handler=cmd_create)
    sync.add_parser("convert-older", help="ConvertToOlder of this server's role").set_defaults(
        handler=cmd_convert_older
    )
    p = sync.add_parser("convert-newer", help="ConvertToNewer for other roles (or --role)")
    p.add_argument("--role", type=role_name)
    p.set_defaults(handler=cmd_convert_newer)
    sync.add_parser("send", help="Snapshot Send of this role to its partners").set_defaults(
        handler=cmd_send
    )
    p = sync.add_parser("install", help="Snapshot Install (SEC only)")
    p.add_argument("--allow-mass-deletion", action="store_true", help=ALLOW_HELP)
    p.set_defaults(handler=cmd_install)
    p = sync.add_parser("compare", help="Snapshot Compare (PRI only)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_compare)
    p = sync.add_parser("cycle", help="one SyncCycle now (PRI only)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--allow-mass-deletion", action="store_true", help=ALLOW_HELP)
    p.set_defaults(handler=cmd_cycle)
    from atlas_ha.cli.daemon_cmds import register_suspend

    register_suspend(sync)


def cmd_create(args: argparse.Namespace) -> int:
    server = server_from(args)
    area = create(server, allow_mass_deletion=args.allow_mass_deletion)
    print(f"created {area.ref}; SnapshotEnvVersion[{area.ref.role}]={area.ref.env}")
    return 0


def cmd_convert_older(args: argparse.Namespace) -> int:
    server = server_from(args)
    role = server.role()
    written = convert_to_older(server, role, server.env_id)
    print(f"converted ({role},{server.env_id}) down to Env{written or 'nothing'}")
    return 0


def cmd_convert_newer(args: argparse.Namespace) -> int:
    for role, written in convert_partners_to_newer(server_from(args), args.role):
        print(f"{role}: " + (f"converted up to Env{written}" if written else "nothing to do"))
    return 0


def cmd_send(args: argparse.Namespace) -> int:
    server = server_from(args)
    results = send_to_partners(server)
    for partner, outcome in results.items():
        if outcome.ok:
            print(f"sent {server.role()} Env{outcome.sent} to {partner}")
        else:
            print(f"ALERT send to {partner}: {outcome.error}")
    return 0 if all(o.ok for o in results.values()) else EXIT_DIFFERENCES


def cmd_install(args: argparse.Namespace) -> int:
    server = server_from(args)
    changed = install(server, allow_mass_deletion=args.allow_mass_deletion)
    print(f"installed (PRI,{server.env_id}): {len(changed)} changed")
    for path in changed:
        print(f"  {path}")
    return 0


def render_compare(results: list[CompareResult]) -> None:
    for r in results:
        print(r.summary())
        for d in r.differences:
            print(f"  {d.path}: {d.what}")
            if d.diff:
                print("    " + d.diff.replace("\n", "\n    "))


def cmd_compare(args: argparse.Namespace) -> int:
    results = compare(server_from(args))
    if args.json:
        print_json([r.as_dict() for r in results])
    else:
        render_compare(results)
    return 0 if all(r.state == "equal" for r in results) else EXIT_DIFFERENCES


def cmd_cycle(args: argparse.Namespace) -> int:
    report = cycle(server_from(args), allow_mass_deletion=args.allow_mass_deletion)
    if args.json:
        print_json(report.as_dict())
    else:
        for s in report.secs:
            print(f"{s.sec}: " + ("synced" if s.reached else f"NOT SYNCED: {s.error}"))
        for line in report.pri_rejected:
            print(f"PRI: {line}")
        render_compare(report.compare)
    return 0 if report.all_equal else EXIT_DIFFERENCES
