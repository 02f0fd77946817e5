"""`atlas-ha demo`: the seed's scenarios on a three-server group on this machine."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="run the seed's failover scenarios on a 3-server group")
    p.add_argument("--dir", type=Path, default=Path("/tmp/atlas-ha-demo"))
    p.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from atlas_ha.demo.scenarios import run_demo

    return run_demo(args.dir)
