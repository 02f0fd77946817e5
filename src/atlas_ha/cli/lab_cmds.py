"""`atlas-ha lab up|status|shutdown|unplug|plug|swap|boot|exec|cycle|down`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from atlas_ha.cli.common import print_json
from atlas_ha.errors import EXIT_DIFFERENCES, SettingsError

DEFAULT_DIR = Path("/var/tmp/atlas-ha-lab")


def register(sub: Any) -> None:
    lab = sub.add_parser("lab", help="a group of simulated servers in network namespaces")
    lab.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    lsub = lab.add_subparsers(dest="lab_command", required=True)
    p = lsub.add_parser("up", help="build the servers, their namespaces, keys and sshd; boot")
    p.add_argument("--servers", default="A=2,B=1,C=3", help="NAME=EnvVersion,...")
    p.add_argument("--roles", default="A=PRI,B=SEC1,C=SEC2", help="NAME=ROLE,...")
    p.add_argument(
        "--loopback",
        action="store_true",
        help="loopback addresses and unprivileged ports instead of namespaces (default "
        "without root)",
    )
    p.add_argument(
        "--cycle-interval",
        type=float,
        default=300.0,
        help="seconds between the PRI sync runner's SyncCycles (default 300)",
    )
    p.set_defaults(handler=cmd_up)
    p = lsub.add_parser("status", help="servers, disks, addresses")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_status)
    for name, handler, helptext in (
        ("shutdown", cmd_shutdown, "shut servers down"),
        ("boot", cmd_boot, "boot servers"),
    ):
        p = lsub.add_parser(name, help=helptext)
        p.add_argument("servers", nargs="+")
        p.set_defaults(handler=handler)
    p = lsub.add_parser("unplug", help="take the Unbound Data out of a (down) server")
    p.add_argument("server")
    p.set_defaults(handler=cmd_unplug)
    p = lsub.add_parser("plug", help="put a disk into a (down) server")
    p.add_argument("disk")
    p.add_argument("server")
    p.set_defaults(handler=cmd_plug)
    p = lsub.add_parser("swap", help="shut down both, swap their Unbound Data, boot both")
    p.add_argument("a")
    p.add_argument("b")
    p.set_defaults(handler=cmd_swap)
    p = lsub.add_parser("cycle", help="run one SyncCycle on a server (its PRI)")
    p.add_argument("server")
    p.set_defaults(handler=cmd_cycle)
    p = lsub.add_parser(
        "exec",
        help="run a command on a server: its network, mount and UTS namespaces, its settings "
        "($ATLAS_HA_CONFIG) and atlas-ha on PATH",
    )
    p.add_argument("server")
    p.add_argument("argv", nargs=argparse.REMAINDER)
    p.set_defaults(handler=cmd_exec)
    lsub.add_parser("down", help="stop everything, remove namespaces").set_defaults(
        handler=cmd_down
    )


def _lab(args: argparse.Namespace) -> Any:
    from atlas_ha.lab.lab import Lab

    return Lab(args.dir, loopback=True if getattr(args, "loopback", False) else None)


def _pairs(text: str, what: str) -> dict[str, str]:
    result = {}
    for item in filter(None, text.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise SettingsError(f"--{what}: expected NAME=VALUE,..., got {item!r}")
        result[key] = value
    return result


def cmd_up(args: argparse.Namespace) -> int:
    envs = {k: int(v) for k, v in _pairs(args.servers, "servers").items()}
    roles = _pairs(args.roles, "roles")
    if set(envs) != set(roles):
        raise SettingsError("--servers and --roles must name the same servers")
    lab = _lab(args)
    lab.up(envs, roles, args.cycle_interval)
    print(f"lab up in {lab.base}: " + ", ".join(f"{n} Env{envs[n]} {roles[n]}" for n in envs))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    status = _lab(args).status()
    if args.json:
        print_json(status)
        return 0
    for s in status["servers"]:
        print(
            f"{s['name']}: Env{s['env']} {s['state']:<4} disk {s['disk'] or '-':<7} "
            f"role {s['role'] or '-':<4} address {s['address'] or '-'} "
            f"({s['netns'] or 'loopback'})"
        )
    client = status["client"]
    print(f"client: {client['address']} ({client['netns'] or 'loopback'})")
    return 0


def cmd_shutdown(args: argparse.Namespace) -> int:
    _lab(args).shutdown(*args.servers)
    return 0


def cmd_boot(args: argparse.Namespace) -> int:
    lab = _lab(args)
    for name in args.servers:
        for line in lab.boot(name):
            print(line)
    return 0


def cmd_unplug(args: argparse.Namespace) -> int:
    print(_lab(args).unplug(args.server))
    return 0


def cmd_plug(args: argparse.Namespace) -> int:
    _lab(args).plug(args.disk, args.server)
    return 0


def cmd_swap(args: argparse.Namespace) -> int:
    _lab(args).swap(args.a, args.b)
    return 0


def cmd_cycle(args: argparse.Namespace) -> int:
    report = _lab(args).cycle(args.server)
    print_json(report)
    return 0 if all(c["state"] == "equal" for c in report["compare"]) else EXIT_DIFFERENCES


def cmd_exec(args: argparse.Namespace) -> int:
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    return int(_lab(args).run_on(args.server, argv))


def cmd_down(args: argparse.Namespace) -> int:
    _lab(args).down()
    print("lab down")
    return 0
