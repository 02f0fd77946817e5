"""The values the alert engine takes and gives (no I/O).

An Observation is one result about one subject this round: a check of a service on a server
(`group/server/service`), the reachability of a server (`group/server`), a suspension, a crash
signature, a rules-file error. A Notification is one message to send: the Alerts of one
server in one round (grouping), or one Alert when grouping is off.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

OK, WARNING, CRITICAL, UNKNOWN = "OK", "WARNING", "CRITICAL", "UNKNOWN"
STATES = (OK, WARNING, CRITICAL, UNKNOWN)

# observation kinds
CHECK = "check"  # a Verifier check of a service (thresholds, flapping, inhibition apply)
REACHABILITY = "reachability"  # can the server be reached at all (inhibits its checks)
SUSPENDED = "suspended"  # the Synchronizer is suspended: reminded every round (SPEC 5.10)
CRASH = "crash"  # a crash signature: alerted once, the first time it is seen (SPEC 7.3)
RULES = "rules"  # the rules file is malformed: alerted once per distinct error
OPERATION = "operation"  # an operation's alert (a start refused, a degraded log, RAID
# mismatches): alerted when first seen, then at most once per `repeat` while it recurs
KINDS = (CHECK, REACHABILITY, SUSPENDED, CRASH, RULES, OPERATION)

# alert events
PROBLEM = "problem"
RESOLVED = "resolved"
REPEAT = "repeat"
FLAPPING_START = "flapping started"
FLAPPING_STOP = "flapping stopped"
REMINDER = "reminder"
NEW_CRASH = "new crash"
RULES_ERROR = "rules error"
OPERATION_ALERT = "operation"
CHANNEL_FAILED = "channel failed"
CHANNEL_RECOVERED = "channel recovered"
TEST = "test"


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


@dataclass(frozen=True)
class Observation:
    subject: str  # group/server/service, or group/server
    server: str
    state: str  # OK | WARNING | CRITICAL | UNKNOWN
    reason: str
    at: datetime
    kind: str = CHECK
    signature: str = ""  # crash, rules, operation: what makes it "the same" as before

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"observation of {self.subject}: state {self.state!r}")
        if self.kind not in KINDS:
            raise ValueError(f"observation of {self.subject}: kind {self.kind!r}")


@dataclass(frozen=True)
class Alert:
    event: str  # PROBLEM, RESOLVED, ...
    subject: str
    server: str
    state: str
    reason: str
    at: datetime

    def line(self) -> str:
        return f"[{self.event}] {self.subject} {self.state}: {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alert:
        return cls(
            event=str(data["event"]),
            subject=str(data["subject"]),
            server=str(data["server"]),
            state=str(data["state"]),
            reason=str(data["reason"]),
            at=datetime.fromisoformat(str(data["at"])),
        )


@dataclass(frozen=True)
class Notification:
    """One message: the alerts of one server (or one alert), for `channels` (empty: all)."""

    server: str
    alerts: tuple[Alert, ...]
    channels: tuple[str, ...] = ()
    exclude: tuple[str, ...] = field(default=())  # channels it must not go to

    @property
    def worst(self) -> str:
        order = {OK: 0, UNKNOWN: 1, WARNING: 2, CRITICAL: 3}
        return max((a.state for a in self.alerts), key=lambda s: order.get(s, 0), default=OK)

    def title(self) -> str:
        first = self.alerts[0]
        if len(self.alerts) == 1:
            return f"ATLAS {first.event}: {first.subject} {first.state}"
        return f"ATLAS {self.server}: {len(self.alerts)} alerts, worst {self.worst}"

    def body(self) -> str:
        lines = [a.line() for a in self.alerts]
        when = max(a.at for a in self.alerts).isoformat(timespec="seconds")
        return "\n".join([*lines, "", f"server: {self.server}", f"at: {when}"]) + "\n"

    def as_dict(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "title": self.title(),
            "alerts": [a.as_dict() for a in self.alerts],
            "channels": list(self.channels),
            "exclude": list(self.exclude),
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Notification:
        return cls(
            server=str(data["server"]),
            alerts=tuple(Alert.from_dict(a) for a in data["alerts"]),
            channels=tuple(str(c) for c in data.get("channels", ())),
            exclude=tuple(str(c) for c in data.get("exclude", ())),
        )
