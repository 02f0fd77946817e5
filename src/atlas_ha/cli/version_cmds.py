"""`atlas-ha version list|install WHEEL-OR-DIR|use VERSION|rollback|handshake`: side-by-side
versions of atlas-ha (SPEC 7.5, docs/versions.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from atlas_ha.cli.common import print_json, server_from
from atlas_ha.errors import EXIT_DIFFERENCES


def register(sub: Any) -> None:
    version = sub.add_parser("version", help="side-by-side versions: install, use, roll back")
    vsub = version.add_subparsers(dest="version_command", required=True)
    p = vsub.add_parser("list", help="the installed versions, current and previous marked")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_list)
    p = vsub.add_parser("install", help="install a wheel (or a directory of wheels), offline")
    p.add_argument("source", type=Path, metavar="WHEEL-OR-DIR")
    p.add_argument("--uv", type=Path, help="the uv program (default: $ATLAS_HA_UV, PATH)")
    p.add_argument("--replace", action="store_true", help="rebuild a version no link names")
    p.set_defaults(handler=cmd_install)
    p = vsub.add_parser("use", help="switch to VERSION, verify, roll back by itself if bad")
    p.add_argument("version")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_use)
    p = vsub.add_parser("rollback", help="swap current and previous, with the same verification")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_rollback)
    p = vsub.add_parser("handshake", help="hello to every partner: the protocol agreed")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_handshake)


def cmd_list(args: argparse.Namespace) -> int:
    from atlas_ha.layout.esd import EsdData
    from atlas_ha.settings import load, locate
    from atlas_ha.versions.install import installed_versions

    found = installed_versions(EsdData(load(locate(args.config)).esd_data))
    if args.json:
        print_json([v.to_dict() for v in found])
        return 0
    if not found:
        print("no side-by-side versions installed (atlas-ha version install WHEEL)")
    for v in found:
        mark = "current" if v.current else "previous" if v.previous else ""
        print(f"{v.version:<16} {mark:<9} {v.directory}")
    return 0


def cmd_install(args: argparse.Namespace) -> int:
    from atlas_ha.layout.esd import EsdData
    from atlas_ha.settings import load, locate
    from atlas_ha.system import Runner
    from atlas_ha.versions.install import install

    esd = EsdData(load(locate(args.config)).esd_data)
    done = install(esd, args.source, Runner(), uv=args.uv, replace=args.replace)
    for reason in done.skipped:
        print(f"atlas-ha: not taken from the running version: {reason}", file=sys.stderr)
    print(f"installed {done.version} in {done.directory} ({done.seconds:.1f} s)")
    print(f"next: atlas-ha version use {done.version}")
    return 0


def _show(switch: Any, as_json: bool, verb: str) -> int:
    if as_json:
        print_json(switch.to_dict())
        return 0
    for step in switch.steps:
        print(f"  {step.what}: {step.detail} ({step.seconds:.1f} s)")
    took = f"{switch.seconds:.1f} s"
    print(f"{verb} {switch.old or '-'} -> {switch.new}; daemon {switch.daemon} ({took})")
    return 0


def cmd_use(args: argparse.Namespace) -> int:
    from atlas_ha.system import Runner
    from atlas_ha.versions.switch import use

    server = server_from(args)
    return _show(use(server.settings, args.version, Runner(), _say), args.json, "switched")


def cmd_rollback(args: argparse.Namespace) -> int:
    from atlas_ha.system import Runner
    from atlas_ha.versions.switch import rollback

    server = server_from(args)
    return _show(rollback(server.settings, Runner(), _say), args.json, "rolled back")


def _say(line: str) -> None:
    print(f"atlas-ha: {line}", file=sys.stderr, flush=True)


def cmd_handshake(args: argparse.Namespace) -> int:
    from atlas_ha.sync.handshake import handshake

    rows = handshake(server_from(args))
    if args.json:
        print_json(rows)
        return 0 if all(r["ok"] for r in rows) else EXIT_DIFFERENCES
    for r in rows:
        said = f"protocol {r['protocol']} (ours {r['ours']})" if r["ok"] else r["error"]
        print(f"{r['role']:<5} {r['address']:<16} {said}")
    return 0 if all(r["ok"] for r in rows) else EXIT_DIFFERENCES
