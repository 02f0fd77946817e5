"""The event log (SPEC 7.4): what changed, when — on the Unbound Data beside the results.

SID_DATA/<ROLE>/Report/events-YYYY-MM-DD.jsonl (layout/sid.py), one file per UTC day, one
JSON object per line: {"t": unix seconds, "type": TYPE, ...}. Types and their fields:

    state    scope ("group" or a role), service (a cell; absent for a server or the
             group), was (the previous state, null at first sight), now, reason
    suspend  by, reason          resume  (nothing more)
    role     server, role, current_role, was ({server, role, current_role} or null)
    cycle    started, finished, env, secs {SEC: compare state}, all_equal
    alert    channel, outcome ("sent", "failed: ..."), rule, subject (report/alerts appends)

Appending: the whole line in one write(2) on a descriptor opened O_APPEND, under an flock(2)
of the file so that concurrent appenders never interleave, then fsync(2) of the file
(events are few: state changes and one per cycle, so every event is durable once `append`
returns; the directory is fsynced when a day's file is created). A line torn by a crash is
ended by the next append (so the next event is not glued to it), skipped on reading and
named in `Read.damaged`; nothing else is lost. Retention by age: whole day files older than
`[report] events_keep_days` (default 90) are removed by `prune`.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from atlas_ha.errors import AtlasError
from atlas_ha.layout.atomic import fsync_dir
from atlas_ha.layout.sid import SidData

TYPES = ("state", "suspend", "resume", "role", "cycle", "alert")
DAY = 86400


def day_of(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d")


def append(sid: SidData, role: str, event: dict[str, Any]) -> dict[str, Any]:
    """Append one event ({"t", "type", ...}) to the log of `role`; returns it."""
    if event.get("type") not in TYPES:
        raise AtlasError(f"event type {event.get('type')!r}: expected one of {TYPES}")
    t = event.get("t")
    if not isinstance(t, int | float):
        raise AtlasError(f"event {event!r}: t = unix seconds is required")
    path = sid.events_file(role, day_of(float(t)))
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    line = (json.dumps(event, sort_keys=True, default=str) + "\n").encode()
    created = not path.exists()
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # appenders in turn: the torn-line check below holds
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":  # a line torn by a crash: end it
            line = b"\n" + line
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        fsync_dir(path.parent)
    return event


def alert(
    sid: SidData, role: str, t: float, channel: str, outcome: str, **extra: Any
) -> dict[str, Any]:
    """Record one delivery attempt of an alert (for report/alerts): channel and outcome."""
    return append(
        sid, role, {"t": t, "type": "alert", "channel": channel, "outcome": outcome, **extra}
    )


@dataclass
class Read:
    events: list[dict[str, Any]] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)  # "FILE:LINE: why", skipped


def read(sid: SidData, role: str, since: float | None = None) -> Read:
    """The events of `role` from `since` on (all when None), oldest first."""
    found = Read()
    first_day = day_of(since) if since is not None else ""
    for path in sid.events_files(role):
        if sid.events_day(path) < first_day:
            continue
        for event in _lines(path, found):
            if since is None or float(event["t"]) >= since:
                found.events.append(event)
    found.events.sort(key=lambda e: float(e["t"]))
    return found


def _lines(path: os.PathLike[str], found: Read) -> Iterator[dict[str, Any]]:
    try:
        with open(path, "rb") as stream:
            for number, raw in enumerate(stream, 1):
                if not raw.strip():
                    continue
                try:
                    event = json.loads(raw)
                except ValueError:
                    found.damaged.append(f"{path}:{number}: not a JSON event (skipped)")
                    continue
                if not (
                    isinstance(event, dict)
                    and event.get("type") in TYPES
                    and isinstance(event.get("t"), int | float)
                ):
                    found.damaged.append(f"{path}:{number}: expected {{t, type, ...}} (skipped)")
                    continue
                yield event
    except FileNotFoundError:  # pruned meanwhile
        return


def prune(sid: SidData, role: str, now: float, keep_days: float) -> list[str]:
    """Remove the day files wholly older than `keep_days`; the names removed."""
    cutoff = day_of(now - keep_days * DAY)
    gone = []
    for path in sid.events_files(role):
        if sid.events_day(path) < cutoff:
            path.unlink(missing_ok=True)
            gone.append(path.name)
    if gone:
        fsync_dir(sid.report_dir(role))
    return gone
