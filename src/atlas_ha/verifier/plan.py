"""The Verifier of one server: its checks (who verifies whom), scheduler and results database."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atlas_ha.context import Server
from atlas_ha.errors import AtlasError
from atlas_ha.verifier import services as services_mod
from atlas_ha.verifier.api import Context, Verifier, discover
from atlas_ha.verifier.control import Check, Outcome, VerifierControl
from atlas_ha.verifier.profile import Status
from atlas_ha.verifier.results import ResultRow, Retention, VerifierResults, results_file
from atlas_ha.verifier.targets import checks_for, mode_of, received_env, safe_sev
from atlas_ha.verifier.verdict import by_service, by_target


@dataclass
class Plan:
    """What this server verifies: its role, services and checks."""

    server: Server
    role: str
    services: list[services_mod.ServiceDef]
    kinds: dict[str, type[Verifier]]
    checks: list[Check]
    services_file: Path

    def describe(self) -> list[dict[str, Any]]:
        """Each service: its kind (installed or not), interval, timeout, targets mode and
        its checks (target role, address, EnvVersion)."""
        entries: list[dict[str, Any]] = []
        for service in self.services:
            checks = [c for c in self.checks if c.service.name == service.name]
            entries.append(
                {
                    "service": service.name,
                    "kind": service.kind,
                    "installed": service.kind in self.kinds,
                    "interval": service.interval,
                    "timeout": service.timeout,
                    "targets": mode_of(service, self.kinds),
                    "checks": [
                        {"target": c.target.role, "address": c.target.address, "env": c.target.env}
                        for c in checks
                    ],
                }
            )
        return entries


def plan(server: Server, only: str | None = None) -> Plan:
    """This server's checks from its MasterConfig and services file (of one service)."""
    from atlas_ha.sync.address import own_address

    master = server.master()
    source = services_mod.services_file(server.settings.system_root)
    services = services_mod.load(server.settings.system_root)
    if only is not None:
        services = [s for s in services if s.name == only]
        if not services:
            raise AtlasError(f"no service {only!r} in {source}")
    kinds = discover()
    env_of = received_env(server.history, safe_sev(server.sid.sev))
    checks = checks_for(services, kinds, master, own_address(server), server.env_id, env_of)
    return Plan(server, master.role, services, kinds, checks, source)


def open_results(server: Server, role: str) -> VerifierResults:
    policy = services_mod.load_results_policy(server.settings.system_root)
    retention = Retention(
        keep_days=policy.get("keep_days", Retention.keep_days),
        keep_rows=int(policy.get("keep_rows", Retention.keep_rows)),
    )
    return VerifierResults(results_file(server.settings.sid_data, role), retention)


def control_for(the_plan: Plan, results: VerifierResults | None) -> VerifierControl:
    """A VerifierControl recording every outcome into `results` (when given)."""
    server = the_plan.server
    ctx = Context(server, the_plan.role, state_dir=server.sid.verifier_state_dir)

    def record(outcomes: list[Outcome]) -> None:
        if results is not None:
            results.add(
                [row_of(server.name, the_plan.role, o) for o in outcomes], server.clock.now()
            )

    return VerifierControl(ctx, the_plan.checks, server.clock, record)


def row_of(server_name: str, role: str, outcome: Outcome) -> ResultRow:
    check = outcome.check
    return ResultRow(
        server=server_name,
        role=role,
        service=check.service.name,
        kind=check.service.kind,
        target_role=check.target.role,
        target_address=check.target.address,
        started=outcome.started,
        duration=outcome.duration,
        profile=outcome.profile,
    )


def rows_of(the_plan: Plan, outcomes: list[Outcome]) -> list[ResultRow]:
    """The result rows of `outcomes`, ordered by service and target role."""
    rows = [row_of(the_plan.server.name, the_plan.role, o) for o in outcomes]
    return sorted(rows, key=lambda r: (r.service, r.target_role))


def run_round(the_plan: Plan) -> list[ResultRow]:
    """One round of every check of the plan now, recorded in the results database."""
    with open_results(the_plan.server, the_plan.role) as results:
        outcomes = control_for(the_plan, results).run_once()
    return rows_of(the_plan, outcomes)


def run_loop(
    the_plan: Plan, stop: threading.Event, show: Callable[[list[ResultRow]], None]
) -> None:
    """Every check at its own interval until `stop` is set; each batch of results is
    recorded, then handed to `show`."""
    with open_results(the_plan.server, the_plan.role) as results:
        control = control_for(the_plan, results)
        inner = control.record

        def record(outcomes: list[Outcome]) -> None:
            inner(outcomes)
            show(rows_of(the_plan, outcomes))

        control.record = record
        control.run_forever(stop)


@dataclass
class ResultsView:
    """What `verify results` shows: the latest row of every check, the go/no-go of every
    verified server and service, and (when asked for) each check's last runs."""

    role: str
    latest: list[ResultRow]
    history: dict[str, list[ResultRow]] = field(default_factory=dict)

    @property
    def servers(self) -> dict[str, Status]:
        return by_target(self.latest)

    @property
    def services(self) -> dict[str, Status]:
        return by_service(self.latest)


def results_view(server: Server, service: str | None = None, history: int = 0) -> ResultsView:
    """The stored results of this server's role (of one service), with the last `history`
    runs of each check."""
    role = server.role()
    with open_results(server, role) as results:
        latest = results.latest(service)
        runs = (
            {r.check: results.history(r.service, r.target_role, history) for r in latest}
            if history
            else {}
        )
    return ResultsView(role, latest, runs)
