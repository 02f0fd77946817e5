"""Go/no-go (SPEC 8.4): what the statuses of checks mean for the servers and services.

OK and WARNING are go; CRITICAL and UNKNOWN no-go. Several checks are as bad as the worst
of them for go/no-go: CRITICAL > UNKNOWN > WARNING > OK (a check that could not run is not a
go, even beside a WARNING), and no checks at all is UNKNOWN, never a go. `verify run` exits
with the code of its round's worst status (errors.py: 0, 21 WARNING, 22 CRITICAL, 23
UNKNOWN)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from atlas_ha.errors import EXIT_VERIFY_CRITICAL, EXIT_VERIFY_UNKNOWN, EXIT_VERIFY_WARNING
from atlas_ha.verifier.profile import Status
from atlas_ha.verifier.results import ResultRow

EXIT_CODES = {
    Status.OK: 0,
    Status.WARNING: EXIT_VERIFY_WARNING,
    Status.CRITICAL: EXIT_VERIFY_CRITICAL,
    Status.UNKNOWN: EXIT_VERIFY_UNKNOWN,
}


GO_ORDER = (Status.OK, Status.WARNING, Status.UNKNOWN, Status.CRITICAL)


def worst_go(statuses: Iterable[Status]) -> Status:
    """The go/no-go of several statuses: CRITICAL > UNKNOWN > WARNING > OK; none: UNKNOWN."""
    return max(statuses, key=GO_ORDER.index, default=Status.UNKNOWN)


def is_go(status: Status) -> bool:
    return status in (Status.OK, Status.WARNING)


def verdict(status: Status) -> str:
    """ "GO" for OK; else GO or NO-GO with the status: "GO (WARNING)", "NO-GO (UNKNOWN)"."""
    if status == Status.OK:
        return "GO"
    return f"{'GO' if is_go(status) else 'NO-GO'} ({status.name})"


def exit_code(status: Status) -> int:
    """The exit code of a round whose worst status is `status`."""
    return EXIT_CODES[status]


def worst_of(rows: Iterable[ResultRow]) -> Status:
    return worst_go(r.profile.status for r in rows)


def worst_by(rows: Iterable[ResultRow], key: Callable[[ResultRow], str]) -> dict[str, Status]:
    """The worst status of each group of rows, by `key`, in the order of the keys."""
    groups: dict[str, list[Status]] = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row.profile.status)
    return {k: worst_go(v) for k, v in sorted(groups.items())}


def by_target(rows: Iterable[ResultRow]) -> dict[str, Status]:
    """The worst status of each verified server: "ROLE ADDRESS" -> Status."""
    return worst_by(rows, lambda r: f"{r.target_role} {r.target_address}")


def by_service(rows: Iterable[ResultRow]) -> dict[str, Status]:
    return worst_by(rows, lambda r: r.service)
