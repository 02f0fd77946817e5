"""Shared CLI plumbing: load the server from --config, print JSON, argument types."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from atlas_ha.context import Server
from atlas_ha.faults import Faults
from atlas_ha.model import ROLE_RE
from atlas_ha.ops.run import log_line
from atlas_ha.settings import load, locate


def server_from(args: argparse.Namespace) -> Server:
    settings = load(locate(args.config))
    return Server(settings, faults=Faults.from_environ(settings.name), log=log_line)


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")


def role_name(text: str) -> str:
    """An argument that names a role: PRI or SEC<n> (else a usage error, exit 2)."""
    if not ROLE_RE.match(text):
        raise argparse.ArgumentTypeError(f"a role PRI or SEC<n>, got {text!r}")
    return text


def colour_on() -> bool:
    """Colour the console view: stdout is a terminal and NO_COLOR is unset."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")
