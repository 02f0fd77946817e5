"""`atlas-ha`: parse, call the library, render. Every AtlasError maps to its exit code."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from atlas_ha import __version__
from atlas_ha.cli import (
    daemon_cmds,
    history_cmds,
    lab_cmds,
    server_cmds,
    ssh_cmds,
    sync_cmds,
    verify_cmds,
)
from atlas_ha.errors import EXIT_SYSTEM, AtlasError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="atlas-ha", description=__doc__)
    parser.add_argument("--version", action="version", version=f"atlas-ha {__version__}")
    parser.add_argument(
        "--config",
        type=Path,
        help="settings file (default: $ATLAS_HA_CONFIG or /etc/atlas-ha/atlas-ha.toml)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    server_cmds.register(sub)
    sync_cmds.register(sub)
    history_cmds.register(sub)
    ssh_cmds.register(sub)
    lab_cmds.register(sub)
    daemon_cmds.register(sub)
    verify_cmds.register(sub)
    from atlas_ha.cli import demo_cmd

    demo_cmd.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.handler(args)
    except AtlasError as exc:
        print(f"atlas-ha: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # the reader went away (`| head`): nothing to report
        return 141
    except OSError as exc:  # a full disk, a read-only or missing mount, permissions
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"atlas-ha: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_SYSTEM
    except KeyboardInterrupt:
        return 130
    return result


if __name__ == "__main__":
    sys.exit(main())
