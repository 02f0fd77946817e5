"""Profiles (SPEC 8.4): status, one-line summary, measured values judged by thresholds, details.

A measured value is judged against a service's thresholds: below `slow` it is "ok", from
`slow` it is "slow" (WARNING), from `unacceptable` it is "unacceptable" (CRITICAL). For values
where lower is worse (free disk space) the thresholds are given in descending order.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Status(enum.IntEnum):
    """Nagios-compatible: the number is the plugin exit code."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


JUDGEMENT_STATUS = {"ok": Status.OK, "slow": Status.WARNING, "unacceptable": Status.CRITICAL}


@dataclass(frozen=True)
class Threshold:
    """`slow` and `unacceptable` limits for one measured label."""

    slow: float
    unacceptable: float

    def judge(self, value: float) -> str:
        higher_is_worse = self.unacceptable >= self.slow
        if higher_is_worse:
            if value >= self.unacceptable:
                return "unacceptable"
            return "slow" if value >= self.slow else "ok"
        if value <= self.unacceptable:
            return "unacceptable"
        return "slow" if value <= self.slow else "ok"


@dataclass(frozen=True)
class Measurement:
    label: str
    value: float
    uom: str = ""  # Nagios units: "s", "ms", "B", "%", "c", ""
    judgement: str | None = None  # ok | slow | unacceptable, when a threshold applies
    warn: str | None = None  # Nagios perfdata fields, kept verbatim when they come from a plugin
    crit: str | None = None
    min: float | None = None
    max: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class Profile:
    status: Status
    summary: str  # one line
    measurements: tuple[Measurement, ...] = ()
    details: str = ""
    data: dict[str, Any] = field(default_factory=dict)  # machine-readable extras

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.name,
            "summary": self.summary,
            "measurements": [m.to_dict() for m in self.measurements],
            "details": self.details,
            "data": self.data,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Profile:
        return cls(
            Status[raw["status"]],
            str(raw["summary"]),
            tuple(Measurement(**m) for m in raw.get("measurements", [])),
            str(raw.get("details", "")),
            dict(raw.get("data", {})),
        )


def worst(statuses: list[Status]) -> Status:
    """The go/no-go of several checks: CRITICAL > WARNING > UNKNOWN > OK."""
    order = [Status.OK, Status.UNKNOWN, Status.WARNING, Status.CRITICAL]
    return max(statuses, key=order.index, default=Status.OK)


def judged(
    label: str, value: float, uom: str, thresholds: dict[str, Threshold]
) -> tuple[Measurement, Status]:
    """A Measurement judged by the threshold named `label`, if the service has one."""
    threshold = thresholds.get(label)
    if threshold is None:
        return Measurement(label, value, uom), Status.OK
    judgement = threshold.judge(value)
    measurement = Measurement(
        label,
        value,
        uom,
        judgement,
        warn=f"{threshold.slow:g}",
        crit=f"{threshold.unacceptable:g}",
    )
    return measurement, JUDGEMENT_STATUS[judgement]


def from_checks(
    failures: list[str],
    ok_summary: str,
    measurements: list[tuple[Measurement, Status]],
    details: str = "",
    data: dict[str, Any] | None = None,
) -> Profile:
    """A profile from a verifier's failed checks (each CRITICAL) and judged measurements."""
    statuses = [s for _m, s in measurements] + [Status.CRITICAL] * bool(failures)
    status = worst(statuses)
    if failures:
        summary = "; ".join(failures)
    else:
        slow = [f"{m.label} {m.value:g}{m.uom} {m.judgement}" for m, s in measurements if s]
        summary = ok_summary + (f" ({', '.join(slow)})" if slow else "")
    return Profile(status, summary, tuple(m for m, _s in measurements), details, data or {})
