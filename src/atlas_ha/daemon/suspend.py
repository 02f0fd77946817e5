"""Suspend and resume the Synchronizer (SPEC 5.10).

`suspend` returns only once no SyncCycle is in progress (it takes the cycle lock, so it waits
for a running cycle to finish), then writes SID_DATA/.results/suspended.json; no cycle starts
until `resume` removes it. The flag is on the Unbound Data: a suspended group stays suspended
when the PRI's disk moves to another server. While suspended, the Verifier's sentry check
reports it on every round, so a suspension is never forgotten.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from atlas_ha.errors import AtlasError
from atlas_ha.layout.atomic import atomic_write
from atlas_ha.sync.context import Server

FILE = "suspended.json"


class SuspendedError(AtlasError):
    """A SyncCycle was asked for while the Synchronizer is suspended."""

    exit_code = 15


def flag_path(server: Server) -> Path:
    return server.sid.root / ".results" / FILE


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


def check_not_suspended(server: Server) -> None:
    """Called by the SyncCycle while it holds the cycle lock."""
    flag = suspended(server)
    if flag is not None:
        raise SuspendedError(
            f"the Synchronizer is suspended (by {flag.get('by')}: {flag.get('reason')}); "
            "`atlas-ha sync resume` to go on"
        )
