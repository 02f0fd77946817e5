"""`atlas-ha verify run|list|results` and `atlas-ha services detect` (SPEC 6, 8).

`verify run` exits 0 when every check is OK, else 20 + the worst status of the round:
21 WARNING, 22 CRITICAL, 23 UNKNOWN (CRITICAL outranks UNKNOWN outranks WARNING; no
checks at all is UNKNOWN; verifier/verdict.py, errors.py).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from datetime import UTC, datetime
from typing import Any

from atlas_ha.cli.common import print_json, server_from
from atlas_ha.verifier import detect as detect_mod
from atlas_ha.verifier.api import discover
from atlas_ha.verifier.plan import plan, results_view, run_loop, run_round
from atlas_ha.verifier.results import ResultRow
from atlas_ha.verifier.verdict import exit_code, is_go, verdict, worst_of

RUN_HELP = """\
Verify this server's partners (the PRI every SEC, a SEC its PRI) and itself, as the
services file says: one round now, or with --loop every check at its own interval until
interrupted. Every result is stored in SID_DATA/<ROLE>/VerifierResults.sqlite.
Exit: 0 all OK; 21 worst WARNING, 22 worst CRITICAL, 23 worst UNKNOWN."""


def register(sub: Any) -> None:
    """Add the verify and services commands to the `atlas-ha` parser."""
    verify = sub.add_parser("verify", help="the Verifier: run checks, list them, show results")
    vsub = verify.add_subparsers(dest="verify_command", required=True)
    p = vsub.add_parser(
        "run",
        help="run the checks (one round, or --loop)",
        description=RUN_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--service", help="only this service")
    p.add_argument("--loop", action="store_true", help="run the schedule until interrupted")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_run)
    p = vsub.add_parser("list", help="services, kinds, targets, intervals")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_list)
    p = vsub.add_parser("results", help="latest profile of every check, go/no-go at the top")
    p.add_argument("--service", help="only this service")
    p.add_argument("--history", type=int, metavar="N", default=0, help="also the last N runs")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_results)
    services = sub.add_parser("services", help="the services file")
    ssub = services.add_subparsers(dest="services_command", required=True)
    p = ssub.add_parser("detect", help="propose service definitions for what is installed")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_detect)


# -- verify run ---------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    the_plan = plan(server_from(args), args.service)
    if not the_plan.services:
        print(
            f"atlas-ha: no services in {the_plan.services_file} (see `atlas-ha services detect`)",
            file=sys.stderr,
        )
    if args.loop:
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda _s, _f: stop.set())
        run_loop(the_plan, stop, lambda rows: _show(rows, args.json, stream=True))
        return 0
    rows = run_round(the_plan)
    _show(rows, args.json, stream=False)
    return exit_code(worst_of(rows))


def _show(rows: list[ResultRow], as_json: bool, stream: bool) -> None:
    if as_json and stream:
        for row in rows:
            print(json.dumps(row.to_dict(), sort_keys=True), flush=True)
        return
    status = worst_of(rows)
    if as_json:
        print_json({"status": status.name, "results": [r.to_dict() for r in rows]})
        return
    for row in rows:
        print(_line(row), flush=True)
    if not stream:
        if not rows:
            print("UNKNOWN: 0 checks (nothing verified is not a go)")
        else:
            print(f"{'GO' if is_go(status) else 'NO-GO'}: {len(rows)} checks, worst {status.name}")


def _line(row: ResultRow) -> str:
    p = row.profile
    return (
        f"{p.status.name:<8} {row.service}@{row.target_role} ({row.target_address}) "
        f"{row.duration:.3f}s  {p.summary}"
    )


# -- verify list ----------------------------------------------------------------------------
def cmd_list(args: argparse.Namespace) -> int:
    the_plan = plan(server_from(args))
    entries = the_plan.describe()
    if args.json:
        print_json({"role": the_plan.role, "services": entries})
        return 0
    print(f"{the_plan.server.name} ({the_plan.role}): {len(entries)} services")
    for e in entries:
        kind = e["kind"] + ("" if e["installed"] else " (NOT INSTALLED)")
        targets = ", ".join(
            f"{c['target']} {c['address']}" + (f" Env{c['env']}" if c["env"] else "")
            for c in e["checks"]
        )
        print(
            f"  {e['service']:<16} {kind:<14} every {e['interval']:g}s, timeout "
            f"{e['timeout']:g}s, {e['targets']}: {targets or 'none'}"
        )
    return 0


# -- verify results ---------------------------------------------------------------------------
def cmd_results(args: argparse.Namespace) -> int:
    server = server_from(args)
    view = results_view(server, args.service, args.history)
    if args.json:
        print_json(
            {
                "role": view.role,
                "servers": {k: v.name for k, v in view.servers.items()},
                "services": {k: v.name for k, v in view.services.items()},
                "latest": [r.to_dict() for r in view.latest],
                "history": {k: [r.to_dict() for r in v] for k, v in view.history.items()},
            }
        )
        return 0
    if not view.latest:
        print(f"no results yet in SID_DATA/{view.role}/ (run `atlas-ha verify run`)")
        return 0
    print(f"verified by {server.name} ({view.role})")
    for title, table in (("servers", view.servers), ("services", view.services)):
        print(f"{title}: " + ", ".join(f"{k} {verdict(v)}" for k, v in table.items()))
    for row in view.latest:
        print(f"{_line(row)}   [{_when(row.started)}]")
        for m in row.profile.measurements:
            judged = f" {m.judgement}" if m.judgement else ""
            print(f"           {m.label} = {m.value:g}{m.uom}{judged}")
        for past in view.history.get(row.check, []):
            print(f"    {_when(past.started)} {past.profile.status.name:<8} {past.profile.summary}")
    return 0


def _when(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# -- services detect --------------------------------------------------------------------------
def cmd_detect(args: argparse.Namespace) -> int:
    server = server_from(args)
    proposals = detect_mod.detect(server.settings.system_root, set(discover()))
    if args.json:
        print_json([p.to_dict() for p in proposals])
    else:
        sys.stdout.write(detect_mod.render(proposals))
    return 0
