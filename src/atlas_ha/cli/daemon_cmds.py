"""`atlas-ha daemon run|start|stop|restart|status|units` and `atlas-ha sync suspend|resume`."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path
from typing import Any

from atlas_ha.cli.common import print_json, server_from
from atlas_ha.errors import EXIT_NOT_RUNNING

DEFAULT_INTERVAL = 300.0
REPLAN = 300.0


def register(sub: Any) -> None:
    daemon = sub.add_parser("daemon", help="the Sentry daemon: SyncCycle loop, Verifier schedule")
    dsub = daemon.add_subparsers(dest="daemon_command", required=True)
    p = dsub.add_parser("run", help="run in the foreground (what systemd starts)")
    p.add_argument("--interval", type=float, default=DEFAULT_INTERVAL, help="s between cycles")
    p.add_argument("--no-verifier", action="store_true", help="only the SyncCycle loop")
    p.add_argument("--replan", type=float, default=REPLAN, help="s between services-file reads")
    p.set_defaults(handler=cmd_run)
    for name, handler in (("start", cmd_start), ("restart", cmd_restart)):
        p = dsub.add_parser(name, help=f"{name} the daemon in the background")
        p.add_argument("--interval", type=float, default=None)
        p.add_argument("--replan", type=float, default=None)
        p.set_defaults(handler=handler)
    p = dsub.add_parser("stop", help="stop the daemon (a running cycle finishes)")
    p.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="seconds to wait for its process to exit (default 30); then exit 50, not killed",
    )
    p.set_defaults(handler=cmd_stop)
    p = dsub.add_parser("status", help="is it running, its heartbeat and last decision")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_status)
    p = dsub.add_parser("units", help="print (or --write) the systemd units")
    p.add_argument("--write", type=Path, metavar="DIR")
    p.set_defaults(handler=cmd_units)


def register_suspend(sync: Any) -> None:
    p = sync.add_parser("suspend", help="wait for a running cycle, then start no new one")
    p.add_argument("--reason", default="suspended by an operator")
    p.set_defaults(handler=cmd_suspend)
    sync.add_parser("resume", help="let SyncCycles run again").set_defaults(handler=cmd_resume)


def cmd_run(args: argparse.Namespace) -> int:
    from atlas_ha.daemon import control
    from atlas_ha.ops.run import log_line

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _s, _f: stop.set())
    signal.signal(signal.SIGINT, lambda _s, _f: stop.set())
    server = server_from(args)
    control.run(server, args.interval, stop, log_line, not args.no_verifier, args.replan)
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    from atlas_ha.daemon import control

    pid = control.start(server_from(args), args.interval, args.replan)
    print(f"daemon running, pid {pid}")
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    from atlas_ha.daemon import control

    pid = control.stop(server_from(args), args.timeout)
    print(f"daemon {pid} stopped (its process exited)" if pid else "daemon was not running")
    return 0


def cmd_restart(args: argparse.Namespace) -> int:
    from atlas_ha.daemon import control

    print(f"daemon running, pid {control.restart(server_from(args), args.interval, args.replan)}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from atlas_ha.daemon import control

    state = control.status(server_from(args))
    if args.json:
        print_json(state)
    elif state["running"]:
        age = state["heartbeat_age"]
        print(f"running, pid {state['pid']}, heartbeat {age:.0f} s ago: {state['sentence']}")
    else:
        print(f"not running (last said: {state['sentence'] or 'nothing'})")
    return 0 if state["running"] else EXIT_NOT_RUNNING


def cmd_units(args: argparse.Namespace) -> int:
    from atlas_ha.daemon.systemd import installed_program, unit_files, write_units
    from atlas_ha.settings import locate

    config = locate(args.config).absolute()
    program = installed_program(config)
    if args.write:
        for path in write_units(args.write, program, config):
            print(f"wrote {path}")
        print("next: systemctl daemon-reload && systemctl enable --now atlas-ha-identity atlas-ha")
        return 0
    for name, text in unit_files(program, config).items():
        print(f"# --- {name}\n{text}")
    return 0


def cmd_suspend(args: argparse.Namespace) -> int:
    from atlas_ha.sync.suspension import suspend

    flag = suspend(server_from(args), args.reason)
    print(f"suspended (by {flag['by']}: {flag['reason']}); no SyncCycle runs until resume")
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    from atlas_ha.sync.suspension import resume

    print("resumed" if resume(server_from(args)) else "was not suspended")
    return 0
