"""Who verifies whom (SPEC 8.3): the PRI every SEC, a SEC its PRI, and a server itself.

From this server's MasterConfig (the disk's role): its partners are the targets of a service
whose `targets` (or its kind's `default_targets`) is "partners" or "all"; "self" or "all" add
this server itself (own=True, its own address and EnvID). A partner's `env` is the
EnvVersion its last snapshot came in, so a verifier knows which format the partner's service
speaks: the SnapshotEnvVersion it sent, as recorded by the last "receive" in the history;
else the SnapshotEnvVersion of that role's area in this SID_DATA (which ConvertToNewer raises
to this server's EnvID when the partner is older).
"""

from __future__ import annotations

from collections.abc import Callable

from atlas_ha.errors import AtlasError, FormatError, UnknownKindError
from atlas_ha.layout.history import History
from atlas_ha.model import MasterConfig, role_key
from atlas_ha.verifier.api import Target, Verifier, verifier_for
from atlas_ha.verifier.control import Check
from atlas_ha.verifier.services import TARGETS, ServiceDef
from atlas_ha.verifier.validate import ConfigVerifier, config_check_of


def targets_of(
    master: MasterConfig,
    mode: str,
    own_address: str,
    own_env: int | None,
    sev: Callable[[str], int | None],
) -> list[Target]:
    """The targets of one service whose target mode is `mode` (partners | self | all)."""
    if mode not in TARGETS:
        raise ValueError(f"targets mode {mode!r} is not one of {TARGETS}")
    found: list[Target] = []
    if mode in ("partners", "all"):
        for role in sorted(master.partners, key=role_key):
            partner = master.partners[role]
            found.append(
                Target(
                    role=role,
                    address=partner.address,
                    env=sev(role),
                    ssh_port=partner.ssh_port,
                    ssh_user=partner.ssh_user,
                )
            )
    if mode in ("self", "all"):
        found.append(Target(role=master.role, address=own_address, env=own_env, own=True))
    return found


def mode_of(service: ServiceDef, kinds: dict[str, type[Verifier]]) -> str:
    """The service's `targets`, else its kind's default (partners for an unknown kind)."""
    if service.targets is not None:
        return service.targets
    kind = kinds.get(service.kind)
    return kind.default_targets if kind is not None else "partners"


def received_env(
    history: History, fallback: Callable[[str], int | None]
) -> Callable[[str], int | None]:
    """The EnvVersion of a partner role: the SnapshotEnvVersion it last sent (history), else
    `fallback(role)`."""

    def env(role: str) -> int | None:
        try:
            changes = history.log([role], limit=30)
        except AtlasError:
            changes = []
        for change in changes:
            if change.operation == "receive" and change.role == role and change.env.isdigit():
                return int(change.env)
        return fallback(role)

    return env


def safe_sev(read: Callable[[str], int | None]) -> Callable[[str], int | None]:
    """A SnapshotEnvVersion reader that answers None for a malformed file (Verify reports)."""

    def sev(role: str) -> int | None:
        try:
            return read(role)
        except FormatError:
            return None

    return sev


def checks_for(
    services: list[ServiceDef],
    kinds: dict[str, type[Verifier]],
    master: MasterConfig,
    own_address: str,
    own_env: int | None,
    sev: Callable[[str], int | None],
) -> list[Check]:
    """Every (service, target) check of this server; an unknown kind is a check that
    reports UNKNOWN naming the kind. A service naming a configuration checker (`validate`)
    adds the check `<service>:config` of this server itself (verifier/validate.py)."""
    checks = []
    for service in services:
        try:
            verifier: Verifier | None = verifier_for(service, kinds)
            problem = ""
        except UnknownKindError as exc:
            verifier, problem = None, str(exc)
        mode = mode_of(service, kinds)
        for target in targets_of(master, mode, own_address, own_env, sev):
            checks.append(Check(service, target, verifier, problem))
        if service.validate:
            (own,) = targets_of(master, "self", own_address, own_env, sev)
            checks.append(Check(config_check_of(service), own, ConfigVerifier()))
    return checks
