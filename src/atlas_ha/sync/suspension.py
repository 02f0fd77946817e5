"""Suspend and resume the Synchronizer (SPEC 5.10).

`suspend` returns only once no SyncCycle is in progress (it takes the cycle lock, which a
cycle holds until its report is recorded and its after-cycle hooks are done, so it waits for a
running cycle to finish), then writes SID_DATA/.results/suspended.json; no cycle starts
until `resume` removes it. On a SEC the same flag makes SyncUp and Install refuse (an operator
suspends a server to work on it): the PRI reports "SEC1 suspended by <who>: <reason>" and goes
on with the other SECs. The flag is on the Unbound Data: a suspended group stays suspended
when the PRI's disk moves to another server. While suspended, the Verifier's sentry check
reports it on every round, so a suspension is never forgotten.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from atlas_ha.context import Server
from atlas_ha.errors import SuspendedError
from atlas_ha.layout.atomic import atomic_write


def flag_path(server: Server) -> Path:
    return server.sid.suspended_file


def suspended(server: Server) -> dict[str, Any] | None:
    """{"since", "by", "reason"} when suspended, else None (a damaged flag still suspends)."""
    path = flag_path(server)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"since": 0.0, "by": "?", "reason": f"{path}: unreadable flag (still suspended)"}
    return data if isinstance(data, dict) else {"since": 0.0, "by": "?", "reason": str(data)}


def suspend(server: Server, reason: str) -> dict[str, Any]:
    """Wait until no cycle runs, then suspend; idempotent (keeps the first suspension)."""
    with server.sid.lock("cycle"):
        current = suspended(server)
        if current is not None:
            return current
        flag = {"since": server.clock.now(), "by": server.name, "reason": reason}
        path = flag_path(server)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write(path, json.dumps(flag), mode=0o600)
        return flag


def resume(server: Server) -> bool:
    """Remove the suspension; False when there was none."""
    path = flag_path(server)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def check_not_suspended(server: Server, what: str = "SyncCycle") -> None:
    """Refuse `what` while suspended (the SyncCycle calls it holding the cycle lock; a SEC's
    SyncUp and Install too)."""
    flag = suspended(server)
    if flag is None:
        return
    by, reason = flag.get("by"), flag.get("reason")
    if what == "SyncCycle":
        raise SuspendedError(
            f"the Synchronizer is suspended (by {by}: {reason}); `atlas-ha sync resume` to go on"
        )
    raise SuspendedError(
        f"{server.role()} suspended by {by}: {reason} ({what} refused; "
        f"`atlas-ha sync resume` on {server.name} to go on)"
    )
