"""What the CLI asks of report/: `atlas-ha status` (the server's status and the group's
status model), `atlas-ha events` (the log from a time on; `since` parses --since)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from atlas_ha.context import Server
from atlas_ha.report import events, loader
from atlas_ha.report.model import GroupStatus, build
from atlas_ha.sync.status import server_status

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([smhdw])$")


@dataclass
class StatusView:
    server: dict[str, Any]  # sync/status.py server_status
    group: GroupStatus

    def to_dict(self) -> dict[str, Any]:
        return {**self.server, "report": self.group.to_dict()}


def status_view(server: Server) -> StatusView:
    data = server_status(server)
    return StatusView(data, build(loader.gather(server)))


def group_status(server: Server) -> GroupStatus:
    return build(loader.gather(server))


def since(text: str, now: float) -> float:
    """--since: a duration back from `now` (90s, 30m, 12h, 7d, 2w) or an ISO 8601 time (a
    time without zone is UTC). ValueError names what was expected."""
    if m := DURATION.match(text.strip()):
        return now - float(m.group(1)) * UNITS[m.group(2)]
    try:
        t = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r}: expected a duration (90s, 30m, 12h, 7d, 2w) or an ISO time "
            "(2026-12-01T10:00, UTC unless a zone is given)"
        ) from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.timestamp()


def events_since(server: Server, start: float | None) -> events.Read:
    return events.read(server.sid, server.role(), start)
