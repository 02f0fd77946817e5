"""The Verifier of one server: its checks (who verifies whom), scheduler and results database."""

from __future__ import annotations

from dataclasses import dataclass

from atlas_ha.context import Server
from atlas_ha.errors import AtlasError
from atlas_ha.verifier import services as services_mod
from atlas_ha.verifier.api import Context, Verifier, discover
from atlas_ha.verifier.control import Check, Outcome, VerifierControl
from atlas_ha.verifier.results import ResultRow, Retention, VerifierResults, results_file
from atlas_ha.verifier.targets import checks_for, received_env, safe_sev


@dataclass
class Plan:
    """What this server verifies: its role, services and checks."""

    server: Server
    role: str
    services: list[services_mod.ServiceDef]
    kinds: dict[str, type[Verifier]]
    checks: list[Check]


def plan(server: Server, only: str | None = None) -> Plan:
    """This server's checks from its MasterConfig and services file (of one service)."""
    from atlas_ha.sync.address import own_address

    master = server.master()
    services = services_mod.load(server.settings.system_root)
    if only is not None:
        services = [s for s in services if s.name == only]
        if not services:
            raise AtlasError(
                f"no service {only!r} in {services_mod.services_file(server.settings.system_root)}"
            )
    kinds = discover()
    env_of = received_env(server.history, safe_sev(server.sid.sev))
    checks = checks_for(services, kinds, master, own_address(server), server.env_id, env_of)
    return Plan(server, master.role, services, kinds, checks)


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
