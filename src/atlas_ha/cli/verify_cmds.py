"""`atlas-ha verify run|list|results` and `atlas-ha services detect` (SPEC 6, 8).

`verify run` exits 0 when every check is OK, else 20 + the worst status of the round:
21 WARNING, 22 CRITICAL, 23 UNKNOWN (CRITICAL outranks WARNING outranks UNKNOWN).
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
from atlas_ha.errors import EXIT_VERIFY_BASE
from atlas_ha.verifier import detect as detect_mod
from atlas_ha.verifier.api import discover
from atlas_ha.verifier.control import Outcome
from atlas_ha.verifier.plan import Plan, control_for, open_results, plan, row_of
from atlas_ha.verifier.profile import Status, worst
from atlas_ha.verifier.results import ResultRow
from atlas_ha.verifier.services import services_file
from atlas_ha.verifier.targets import mode_of

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
    server = server_from(args)
    the_plan = plan(server, args.service)
    if not the_plan.services:
        where = services_file(server.settings.system_root)
        print(f"atlas-ha: no services in {where} (see `atlas-ha services detect`)", file=sys.stderr)
    with open_results(server, the_plan.role) as results:
        control = control_for(the_plan, results)
        if args.loop:
            inner = control.record

            def record(outcomes: list[Outcome]) -> None:
                inner(outcomes)
                _show(the_plan, outcomes, args.json, stream=True)

            control.record = record
            stop = threading.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda _s, _f: stop.set())
            control.run_forever(stop)
            return 0
        outcomes = control.run_once()
    _show(the_plan, outcomes, args.json, stream=False)
    status = worst([o.profile.status for o in outcomes])
    return 0 if status == Status.OK else EXIT_VERIFY_BASE + int(status)


def _show(the_plan: Plan, outcomes: list[Outcome], as_json: bool, stream: bool) -> None:
    rows = [row_of(the_plan.server.name, the_plan.role, o) for o in outcomes]
    rows.sort(key=lambda r: (r.service, r.target_role))
    if as_json and stream:
        for row in rows:
            print(json.dumps(row.to_dict(), sort_keys=True), flush=True)
        return
    if as_json:
        status = worst([r.profile.status for r in rows])
        print_json({"status": status.name, "results": [r.to_dict() for r in rows]})
        return
    for row in rows:
        print(_line(row), flush=True)
    if not stream:
        status = worst([r.profile.status for r in rows])
        print(f"{_go(status).split()[0]}: {len(rows)} checks, worst {status.name}")


def _line(row: ResultRow) -> str:
    p = row.profile
    return (
        f"{p.status.name:<8} {row.service}@{row.target_role} ({row.target_address}) "
        f"{row.duration:.3f}s  {p.summary}"
    )


def _go(status: Status) -> str:
    """Go/no-go of a status: OK and WARNING are go, CRITICAL and UNKNOWN no-go."""
    if status == Status.OK:
        return "GO"
    return f"{'GO' if status == Status.WARNING else 'NO-GO'} ({status.name})"


# -- verify list ----------------------------------------------------------------------------
def cmd_list(args: argparse.Namespace) -> int:
    the_plan = plan(server_from(args))
    entries: list[dict[str, Any]] = []
    for service in the_plan.services:
        checks = [c for c in the_plan.checks if c.service.name == service.name]
        entries.append(
            {
                "service": service.name,
                "kind": service.kind,
                "installed": service.kind in the_plan.kinds,
                "interval": service.interval,
                "timeout": service.timeout,
                "targets": mode_of(service, the_plan.kinds),
                "checks": [
                    {"target": c.target.role, "address": c.target.address, "env": c.target.env}
                    for c in checks
                ],
            }
        )
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
    role = server.role()
    with open_results(server, role) as results:
        latest = results.latest(args.service)
        history = {r.check: results.history(r.service, r.target_role, args.history) for r in latest}
    by_target = _worst_by(latest, lambda r: f"{r.target_role} {r.target_address}")
    by_service = _worst_by(latest, lambda r: r.service)
    if args.json:
        print_json(
            {
                "role": role,
                "servers": {k: v.name for k, v in by_target.items()},
                "services": {k: v.name for k, v in by_service.items()},
                "latest": [r.to_dict() for r in latest],
                "history": {k: [r.to_dict() for r in v] for k, v in history.items()}
                if args.history
                else {},
            }
        )
        return 0
    if not latest:
        print(f"no results yet in SID_DATA/{role}/ (run `atlas-ha verify run`)")
        return 0
    print(f"verified by {server.name} ({role})")
    for title, table in (("servers", by_target), ("services", by_service)):
        print(f"{title}: " + ", ".join(f"{k} {_go(v)}" for k, v in table.items()))
    for row in latest:
        print(f"{_line(row)}   [{_when(row.started)}]")
        for m in row.profile.measurements:
            judged = f" {m.judgement}" if m.judgement else ""
            print(f"           {m.label} = {m.value:g}{m.uom}{judged}")
        for past in history.get(row.check, []):
            print(f"    {_when(past.started)} {past.profile.status.name:<8} {past.profile.summary}")
    return 0


def _worst_by(rows: list[ResultRow], key: Any) -> dict[str, Status]:
    groups: dict[str, list[Status]] = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row.profile.status)
    return {k: worst(v) for k, v in sorted(groups.items())}


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
