"""`atlas-ha`: parse, call the library, render. Every AtlasError maps to its exit code."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from atlas_ha import __version__
from atlas_ha.errors import EXIT_BROKEN_PIPE, EXIT_INTERRUPTED, EXIT_SYSTEM, AtlasError
from atlas_ha.ops.run import program_of, run_command
from atlas_ha.text import show_names_on

# the module registering each command; only the one named is imported (a partner's forced
# command starts a process per session: it need not load the lab, the demo or restore)
MODULES = {
    "init": "server_cmds",
    "boot": "server_cmds",
    "shutdown": "server_cmds",
    "status": "server_cmds",
    "serve": "server_cmds",
    "sync": "sync_cmds",
    "history": "history_cmds",
    "diff": "history_cmds",
    "restore": "history_cmds",
    "keys": "ssh_cmds",
    "ssh-command": "ssh_cmds",
    "lab": "lab_cmds",
    "daemon": "daemon_cmds",
    "verify": "verify_cmds",
    "services": "verify_cmds",
    "demo": "demo_cmd",
    "alerts": "alerts_cmds",
    "events": "events_cmds",
    "check": "check_cmds",
    "raid": "raid_cmds",
    "logs": "logs_cmds",
    "crashes": "crashes_cmds",
    "env": "env_cmds",
    "report": "report_cmds",
    "doctor": "doctor_cmds",
    "join": "join_cmds",
    "version": "version_cmds",
}
ORDER = (
    "server_cmds",
    "sync_cmds",
    "history_cmds",
    "ssh_cmds",
    "lab_cmds",
    "daemon_cmds",
    "verify_cmds",
    "demo_cmd",
    "alerts_cmds",
    "events_cmds",
    "check_cmds",
    "raid_cmds",
    "logs_cmds",
    "crashes_cmds",
    "env_cmds",
    "report_cmds",
    "doctor_cmds",
    "join_cmds",
    "version_cmds",
)


def command_of(argv: Sequence[str]) -> str | None:
    """The command word of `argv` (skipping --config X), or None."""
    args = list(argv)
    while args:
        word = args.pop(0)
        if word == "--config":
            args = args[1:]
        elif not word.startswith("-"):
            return word
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="atlas-ha", description=__doc__)
    parser.add_argument("--version", action="version", version=f"atlas-ha {__version__}")
    parser.add_argument(
        "--config",
        type=Path,
        help="settings file (default: $ATLAS_HA_CONFIG or /etc/atlas-ha/atlas-ha.toml)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    wanted = MODULES.get(command_of(sys.argv[1:] if argv is None else argv) or "")
    for name in ORDER if wanted is None else (wanted,):
        importlib.import_module(f"atlas_ha.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    show_names_on(sys.stdout, sys.stderr)  # a file name's non-UTF-8 bytes print as \xNN
    try:
        args = build_parser(argv).parse_args(argv)
        words = list(sys.argv[1:] if argv is None else argv)
        result: int = run_command(
            args.config, program_of(vars(args)), lambda: args.handler(args), words
        )
    except AtlasError as exc:
        print(f"atlas-ha: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # the reader went away (`| head`): nothing to report
        return EXIT_BROKEN_PIPE
    except OSError as exc:  # a full disk, a read-only or missing mount, permissions
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"atlas-ha: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_SYSTEM
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return result


if __name__ == "__main__":
    sys.exit(main())
