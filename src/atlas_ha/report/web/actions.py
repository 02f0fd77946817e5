"""The operator actions of the status page, through the library's own functions.

- run a SyncCycle now: the page writes a request (SidData.cycle_request_file); the daemon's
  loop takes it at its next tick (within 5 s) and cycles at once. There is no other control
  channel to the daemon than its PID (daemon/control.py), and the report layer sits below the
  daemon: a file both can reach is the channel.
- suspend / resume: sync/suspension.py (suspend waits for a running cycle to end).
- silence subjects for a while, acknowledge an active alert: report/alerts/round.py (the
  alert state, under its lock; the operator's name is `by`).
The reason an operator gives is one line, at most MAX_REASON characters; the name of the
operator is added to it (the suspension records the server's name as `by`).
"""

from __future__ import annotations

import json
from typing import Any

from atlas_ha.context import Server
from atlas_ha.layout.atomic import atomic_write
from atlas_ha.report.alerts import round as alert_rounds
from atlas_ha.report.alerts.state import Ack, Silence
from atlas_ha.sync.suspension import resume, suspend

MAX_REASON = 300


def clean_reason(text: str) -> str:
    """One printable line (control characters become spaces), bounded."""
    line = "".join(c if c.isprintable() else " " for c in text).strip()
    return line[:MAX_REASON]


def request_cycle(server: Server, by: str) -> dict[str, Any]:
    path = server.sid.cycle_request_file
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    request = {"requested": server.clock.now(), "by": by}
    atomic_write(path, json.dumps(request), mode=0o600)
    return request


def take_cycle_request(server: Server) -> dict[str, Any] | None:
    """The pending request (removed), or None. A damaged request still counts as one."""
    path = server.sid.cycle_request_file
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    path.unlink(missing_ok=True)
    try:
        data = json.loads(text)
    except ValueError:
        return {"requested": 0.0, "by": "?"}
    return data if isinstance(data, dict) else {"requested": 0.0, "by": "?"}


def pending_cycle_request(server: Server) -> bool:
    return server.sid.cycle_request_file.exists()


def suspend_from_page(server: Server, reason: str, by: str) -> dict[str, Any]:
    text = clean_reason(reason) or "no reason given"
    return suspend(server, f"{text} (on the status page by {by})")


def resume_from_page(server: Server) -> bool:
    return resume(server)


def silence_from_page(server: Server, match: str, for_: str, reason: str, by: str) -> Silence:
    text = clean_reason(reason) or "no reason given"
    return alert_rounds.silence(server, clean_reason(match), for_.strip(), text, by)


def acknowledge_from_page(server: Server, subject: str, reason: str, by: str) -> Ack:
    text = clean_reason(reason) or "acknowledged on the status page"
    return alert_rounds.acknowledge(server, clean_reason(subject), text, by)
