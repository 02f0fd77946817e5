"""The alert engine's state (pure values; store.py reads and writes it).

Per subject (transitions written where they happen, engine.py):
    raw state    the state of the newest observation
    hard         OK, until `failures` consecutive alerting results make it the raw state
                 (Nagios' hard state); back to OK after `successes` non-alerting results
    sent         what people were last told (OK, or a problem state); a notification is due
                 whenever hard != sent and nothing holds it back (silence, maintenance
                 window, inhibition, flapping)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from atlas_ha.report.alerts.model import CHECK, OK

STALE = 7 * 86400.0  # a subject not observed for a week is forgotten


@dataclass
class SubjectState:
    server: str
    kind: str = CHECK
    state: str = OK
    reason: str = ""
    fails: int = 0  # consecutive alerting results
    oks: int = 0  # consecutive non-alerting results
    hard: str = OK
    since: float = 0.0  # when `hard` last changed
    sent: str = OK
    last_sent: float = 0.0
    history: list[str] = field(default_factory=list)  # the last 21 raw states (flapping)
    flapping: bool = False
    percent: float = 0.0
    held: str = ""  # why a due notification is held back ("" = none held)
    seen: float = 0.0


@dataclass
class Silence:
    match: str  # a glob over subjects
    until: float
    reason: str
    by: str
    created: float

    def covers(self, subject: str, now: float) -> bool:
        return now < self.until and fnmatchcase(subject, self.match)


@dataclass
class Ack:
    """An operator acknowledged the problem `hard` of a subject (Nagios): no repeats while
    it stays that problem; it ends when the subject resolves or turns another state."""

    hard: str
    reason: str
    by: str
    created: float


@dataclass
class EngineState:
    subjects: dict[str, SubjectState] = field(default_factory=dict)
    silences: list[Silence] = field(default_factory=list)
    once: dict[str, float] = field(default_factory=dict)  # signatures already alerted
    acks: dict[str, Ack] = field(default_factory=dict)  # subject -> its acknowledgement

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EngineState:
        return cls(
            subjects={k: SubjectState(**v) for k, v in data.get("subjects", {}).items()},
            silences=[Silence(**s) for s in data.get("silences", [])],
            once={str(k): float(v) for k, v in data.get("once", {}).items()},
            acks={str(k): Ack(**v) for k, v in data.get("acks", {}).items()},
        )
