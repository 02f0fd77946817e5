"""init, boot, shutdown, status, serve."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from atlas_ha.cli.common import colour_on, print_json, server_from
from atlas_ha.context import Server
from atlas_ha.doctor.checks import init_and_doctor
from atlas_ha.errors import ConversionError, SettingsError
from atlas_ha.layout.esd import read_envs
from atlas_ha.model import MasterConfig
from atlas_ha.settings import locate
from atlas_ha.sync.boot import boot, shutdown
from atlas_ha.sync.init import InitRequest, settings_for
from atlas_ha.sync.serve import serve_local
from atlas_ha.sync.status import age_text, area_state
from atlas_ha.system import Runner


def register(sub: Any) -> None:
    p = sub.add_parser("init", help="set up this server (EnvID, envs.toml, MasterConfig, area)")
    p.add_argument("--name", required=True)
    p.add_argument("--env", type=int, required=True, help="this server's EnvVersion")
    p.add_argument(
        "--envs",
        type=Path,
        metavar="FILE",
        help="the site's envs.toml, the same file on every server: its EnvVersions "
        "instead of the reference environments (docs/install.md)",
    )
    p.add_argument("--system-root", type=Path, default=Path("/"))
    p.add_argument("--esd-data", type=Path, required=True)
    p.add_argument("--sid-data", type=Path, required=True)
    p.add_argument("--registry", type=Path, help="local transport: address registry directory")
    p.add_argument("--address", help="this server's address (default: from its identity)")
    p.add_argument("--group", help="new Unbound Data: the group name")
    p.add_argument("--role", help="new Unbound Data: PRI or SEC<n>")
    p.add_argument("--partner", action="append", default=[], metavar="ROLE=ADDRESS")
    p.add_argument("--transport", choices=("local", "ssh"), default="local")
    p.add_argument("--ssh-user", help="with --transport ssh: the user partners log in as (root)")
    p.add_argument("--ssh-port", help="with --transport ssh: the partners' sshd port (22)")
    p.set_defaults(handler=cmd_init)
    p = sub.add_parser("boot", help="Role/Identity Install, then answer on the role's address")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_boot)
    p = sub.add_parser("shutdown", help="stop answering on this server's addresses (local)")
    p.set_defaults(handler=cmd_shutdown)
    p = sub.add_parser(
        "status", help="go/no-go of the group, readiness per SEC, role, EnvVersion, validity"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_status)
    p = sub.add_parser("serve", help="receiving end of a partner connection (local transport)")
    p.add_argument("--peer-address", required=True)
    p.set_defaults(handler=cmd_serve)


def cmd_init(args: argparse.Namespace) -> int:
    config = locate(args.config)
    settings = settings_for(
        config,
        args.name,
        args.system_root.resolve(),
        args.esd_data.resolve(),
        args.sid_data.resolve(),
        args.registry.resolve() if args.registry else None,
        args.address,
        args.transport,
        args.ssh_user,
        args.ssh_port,
    )
    master = None
    if args.role or args.group:
        if not (args.role and args.group):
            raise SettingsError("--group and --role go together")
        partners = {}
        for item in args.partner:
            role, _, address = item.partition("=")
            partners[role] = {"address": address}
        master = MasterConfig.from_dict(
            {"group": args.group, "role": args.role, "partners": partners}, "--partner"
        )
    envs = read_envs(args.envs) if args.envs else None
    request = InitRequest(settings, args.env, master, envs)
    report, doctor = init_and_doctor(request, Server(settings, runner=Runner()))
    for line in report.done:
        print(f"init: wrote {line}")
    for conversion in report.conversions:
        print(f"init: {conversion.line()}")
    for note in report.notes:
        print(f"init: note: {note}")
    if not report.ok:
        print(
            "init: fix what FAILS before the first cycle (docs/converters.md), then run init again"
        )
        return ConversionError.exit_code
    print("init: doctor (offline; partners are checked once joined):")
    for check in doctor.checks:
        print(f"  {check.line()}".replace("\n", "\n  "))
    print("next:")
    for step in report.next_steps:
        print(f"  {step}")
    return 0


def cmd_boot(args: argparse.Namespace) -> int:
    server = server_from(args)
    booted = boot(server)
    if args.json:
        print_json(booted.as_dict())
        return 0
    result = booted.identity
    print(f"boot {server.name}: EnvID {result.env}, role {result.role}: {result.note}")
    for path in result.installed:
        print(f"  installed {path}")
    if booted.answering_on:
        print(f"  answering on {booted.answering_on}")
    return 0


def cmd_shutdown(args: argparse.Namespace) -> int:
    server = server_from(args)
    gone = shutdown(server)
    print(f"shutdown {server.name}: no longer answering on {', '.join(gone) or 'nothing'}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    # imported here: `serve` (a process per partner session) never loads report/
    from atlas_ha.report.console import status_lines
    from atlas_ha.report.view import status_view

    view = status_view(server_from(args))
    if args.json:
        print_json(view.to_dict())
        return 0
    data = view.server
    print(f"{data['server']}: Env{data['env_id']}, role {data['role']} of {data['group']}")
    for line in status_lines(view.group, colour_on()):
        print(line)
    for role, info in data["roles"].items():
        areas = ", ".join(area_state(k, v) for k, v in info["areas"].items())
        print(f"  {role}: SnapshotEnvVersion={info['sev']}  {areas}")
        for line in info["flagged"]:
            print(f"    ALERT flagged by the receive policy: {line}")
    cycle = data["last_cycle"]
    if cycle:
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(cycle["finished"]))
        ago = age_text(data["last_cycle_age"])
        for c in cycle["compare"]:
            note = f" ({c['note']})" if c["note"] else ""
            print(f"  last compare {c['sec']}: {c['state']}{note} at {when}, {ago} ago")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    return serve_local(server_from(args), args.peer_address)
