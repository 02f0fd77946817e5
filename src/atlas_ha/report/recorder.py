"""The event recorder: called by the daemon after every turn (and usable by any command),
it compares the status model with what it saw last (Report/memory.json) and appends what
changed to the event log (state changes of the group, each server and each cell;
suspend/resume; the role or its server changing; each new SyncCycle), folds the Verifier
results stored since into the roll-ups, and applies the retention. One recorder at a time
(the `report` lock)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from atlas_ha.context import Server
from atlas_ha.errors import AtlasError
from atlas_ha.layout.atomic import atomic_write
from atlas_ha.report import events, loader
from atlas_ha.report.model import GroupStatus, Inputs, build
from atlas_ha.report.rollups import DAY, Rollups
from atlas_ha.verifier.profile import Status
from atlas_ha.verifier.results import VerifierResults


@dataclass
class Recorded:
    status: GroupStatus
    events: list[dict[str, Any]] = field(default_factory=list)
    folded: int = 0


def states_of(status: GroupStatus) -> dict[str, tuple[str, str]]:
    """Every state of the model by key: "group", "ROLE", "ROLE/SERVICE" -> (state, reason)."""
    found = {"group": (status.status.name if status.cells else "UNKNOWN", status.reason)}
    for row in status.servers:
        found[row.role] = (row.status.name, row.reason)
        for cell in row.cells:
            found[f"{row.role}/{cell.service}"] = (cell.status.name, cell.reason)
    return found


def record(server: Server) -> Recorded:
    """Record what changed since the last call (see the module doc)."""
    role = server.role()
    with server.sid.lock("report"):
        inputs = loader.gather(server)
        status = build(inputs)
        seen = loader.memory(server, role)
        now = inputs.now
        new = _changes(inputs, status, seen)
        for event in new:
            events.append(server.sid, role, event)
        folded, last_id = fold(server, role, int(seen.get("folded_id", 0)))
        keep = server.settings.report.events_keep_days
        events.prune(server.sid, role, now, keep)
        if server.sid.rollups_file(role).exists():
            with Rollups(server.sid.rollups_file(role)) as rollups:
                rollups.prune(now - keep * DAY)
        remembered = {
            "states": {k: v[0] for k, v in states_of(status).items()},
            "suspended": inputs.suspension is not None,
            "identity": _identity(inputs),
            "cycle_finished": inputs.cycle.finished if inputs.cycle else None,
            "last_synced": inputs.last_synced,
            "last_good_cycle": loader.last_good_cycle(server, role, inputs.cycle),
            "folded_id": last_id,
        }
        path = server.sid.report_memory_file(role)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write(path, json.dumps(remembered, sort_keys=True), mode=0o600)
    return Recorded(status, new, folded)


def record_after_turn(server: Server, log: Callable[[str], None]) -> None:
    """`record` for the daemon, after each turn: a failure is logged (ALERT), never fatal."""
    try:
        record(server)
    except (AtlasError, OSError) as exc:
        log(f"ALERT report: event log not recorded: {exc}")


def _identity(inputs: Inputs) -> dict[str, Any]:
    return {"server": inputs.server, "role": inputs.role, "current_role": inputs.current_role}


def _changes(inputs: Inputs, status: GroupStatus, seen: dict[str, Any]) -> list[dict[str, Any]]:
    now, found = inputs.now, []
    identity, was_identity = _identity(inputs), seen.get("identity")
    if identity != was_identity:
        found.append({"t": now, "type": "role", **identity, "was": was_identity})
    was_suspended = bool(seen.get("suspended", False))
    if inputs.suspension is not None and not was_suspended:
        s = inputs.suspension
        found.append({"t": now, "type": "suspend", "by": s.by, "reason": s.reason})
    elif inputs.suspension is None and was_suspended:
        found.append({"t": now, "type": "resume"})
    c = inputs.cycle
    if c is not None and c.finished != seen.get("cycle_finished"):
        secs = {s.sec: s.state for s in c.secs}
        found.append(
            {
                "t": c.finished,
                "type": "cycle",
                "started": c.started,
                "finished": c.finished,
                "env": c.env,
                "secs": secs,
                "all_equal": all(v == "equal" for v in secs.values()),
            }
        )
    before = seen.get("states", {})
    for key, (state, reason) in states_of(status).items():
        if before.get(key) != state:
            scope, _, service = key.partition("/")
            event = {"t": now, "type": "state", "scope": scope, "was": before.get(key)}
            found.append(
                {
                    **event,
                    **({"service": service} if service else {}),
                    "now": state,
                    "reason": reason,
                }
            )
    return found


def fold(server: Server, role: str, after_id: int) -> tuple[int, int]:
    """Fold the results stored after row `after_id` into the roll-ups: (rows, last id). A
    results database started anew (its ids below `after_id`) is folded from its start."""
    path = server.sid.verifier_results_file(role)
    if not path.exists():
        return 0, 0
    with VerifierResults(path) as results:
        if results.max_id() < after_id:
            after_id = 0
        rows = results.statuses_after(after_id)
    if not rows:
        return 0, after_id
    with Rollups(server.sid.rollups_file(role)) as rollups:
        n = rollups.fold((t, s, started, Status[st]) for _i, s, t, started, st in rows)
    return n, rows[-1][0]
