"""The alert engine's state and the delivery record on SID_DATA (layout/sid.py owns the
paths), each written atomically (layout/atomic.py), under the `alerts` lock.

    state.json       {"engine": EngineState, "channels": {name: ChannelHealth}}
    deliveries.json  the newest KEEP delivery attempts, oldest first
A damaged state file is kept aside (`.damaged`) and the engine starts afresh: alerts are
state, not history; nothing the group depends on is lost.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from atlas_ha.layout.atomic import atomic_write
from atlas_ha.layout.sid import SidData
from atlas_ha.report.alerts.state import EngineState

KEEP = 500  # delivery attempts kept


@dataclass
class ChannelHealth:
    failures: int = 0  # consecutive failed attempts
    next_try: float = 0.0  # no attempt before this (backoff)
    last_error: str = ""
    reported: bool = False  # its failure was reported through the other channels
    queue: list[dict[str, Any]] = field(default_factory=list)  # notifications owed to it


@dataclass
class AlertState:
    engine: EngineState = field(default_factory=EngineState)
    channels: dict[str, ChannelHealth] = field(default_factory=dict)
    marks: dict[str, float] = field(default_factory=dict)  # what observe.py already read
    rules_error: str = ""  # the rules file's error, while it is malformed

    def as_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine.as_dict(),
            "channels": {k: asdict(v) for k, v in self.channels.items()},
            "marks": self.marks,
            "rules_error": self.rules_error,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AlertState:
        return cls(
            engine=EngineState.from_dict(data.get("engine", {})),
            channels={k: ChannelHealth(**v) for k, v in data.get("channels", {}).items()},
            marks={str(k): float(v) for k, v in data.get("marks", {}).items()},
            rules_error=str(data.get("rules_error", "")),
        )


@contextlib.contextmanager
def locked(sid: SidData) -> Iterator[None]:
    with sid.lock("alerts"):
        yield


def load(sid: SidData) -> AlertState:
    path = sid.alert_state_file
    try:
        return AlertState.from_dict(json.loads(path.read_text()))
    except FileNotFoundError:
        return AlertState()
    except (ValueError, TypeError, KeyError, AttributeError):  # damaged: kept aside, fresh
        os.replace(path, path.with_name(path.name + ".damaged"))
        return AlertState()


def save(sid: SidData, state: AlertState) -> None:
    sid.alerts_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    atomic_write(sid.alert_state_file, json.dumps(state.as_dict(), indent=1), mode=0o600)


def deliveries(sid: SidData) -> list[dict[str, Any]]:
    try:
        data = json.loads(sid.alert_deliveries_file.read_text())
    except (FileNotFoundError, ValueError):
        return []
    return data if isinstance(data, list) else []


def record(sid: SidData, attempts: list[dict[str, Any]]) -> None:
    """Append delivery attempts to the record and count them (under the alerts lock: the
    daemon's round and `alerts test` may record at the same time)."""
    if not attempts:
        return
    sid.alerts_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with locked(sid):
        kept = (deliveries(sid) + attempts)[-KEEP:]
        atomic_write(sid.alert_deliveries_file, json.dumps(kept, indent=1), mode=0o600)
        counted = totals(sid)
        for a in attempts:
            per = counted.setdefault(str(a["channel"]), {})
            per[str(a["outcome"])] = per.get(str(a["outcome"]), 0) + 1
        atomic_write(sid.alert_totals_file, json.dumps(counted, indent=1), mode=0o600)


def totals(sid: SidData) -> dict[str, dict[str, int]]:
    """{channel: {outcome: attempts}} since the disk was set up (a damaged file: from 0)."""
    try:
        data = json.loads(sid.alert_totals_file.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        str(c): {str(o): n for o, n in per.items() if isinstance(n, int) and n >= 0}
        for c, per in data.items()
        if isinstance(per, dict)
    }
