"""`atlas-ha demo`: the seed's scenarios, on the lab when this machine allows it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="run the seed's failover scenarios on a 3-server group")
    p.add_argument("--dir", type=Path, default=Path("/var/tmp/atlas-ha-demo"))
    p.add_argument(
        "--down", action="store_true", help="take the lab down (remove the simulation) at the end"
    )
    p.add_argument(
        "--loopback",
        action="store_true",
        help="servers on loopback addresses and unprivileged ports (the default without root)",
    )
    p.add_argument(
        "--local",
        action="store_true",
        help="simulate the servers on the filesystem only (no namespaces, no root)",
    )
    p.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from atlas_ha.demo.run import run_demo

    return run_demo(args.dir, local=args.local, down=args.down, loopback=args.loopback)
