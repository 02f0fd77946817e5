"""Observations for the alert engine from what this server recorded (the adapter; the status
model of report/ will produce the same Observations once it lands):

- every Verifier result since the last round (VerifierResults of this disk's role), oldest
  first, as `group/ROLE/service` of the role checked; a `connectivity` check of a partner is
  that partner's reachability (it inhibits the partner's other alerts);
- a SyncCycle report not seen before (SidData.last_cycle_file, on the PRI): per SEC
  `group/SECn/sync`, CRITICAL when it was not synced or its snapshot differs, and its
  reachability when the cycle could not reach it;
- the suspension (sync/suspension.py): a reminder every round (SPEC 5.10).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from atlas_ha.context import Server
from atlas_ha.errors import FormatError
from atlas_ha.report.alerts.model import (
    CHECK,
    CRITICAL,
    OK,
    REACHABILITY,
    SUSPENDED,
    Observation,
    utc,
)
from atlas_ha.sync.cycle import last_cycle
from atlas_ha.sync.suspension import suspended
from atlas_ha.verifier.results import VerifierResults

PER_CHECK = 21  # results of one check read per round at most (the flapping window)


@dataclass
class Watermarks:
    results: float = 0.0  # the newest Verifier result already observed (its start time)
    cycle: float = 0.0  # the finish time of the last SyncCycle report observed


def observe(server: Server, marks: Watermarks, now: datetime) -> list[Observation]:
    """This round's observations; advances `marks` past what they cover."""
    master = server.master()
    group, role = master.group, master.role
    found = _verifier(server, group, role, marks)
    if role == "PRI":
        found += _cycle(server, group, marks)
    flag = suspended(server)
    if flag is not None:
        why = f"the Synchronizer is suspended by {flag.get('by')}: {flag.get('reason')}"
        found.append(Observation(f"{group}/{role}/suspended", role, CRITICAL, why, now, SUSPENDED))
    return found


def _verifier(server: Server, group: str, role: str, marks: Watermarks) -> list[Observation]:
    path = server.sid.verifier_results_file(role)
    if not path.exists():
        return []
    try:
        return _read_results(path, group, role, marks)
    except sqlite3.Error as exc:  # the one boundary of the results database, for the alerts
        raise FormatError(path, None, f"a readable VerifierResults database ({exc})") from exc


def _read_results(path: Path, group: str, role: str, marks: Watermarks) -> list[Observation]:
    found: list[Observation] = []
    newest = marks.results
    with VerifierResults(path) as results:
        for latest in results.latest():
            if latest.started <= marks.results:
                continue
            rows = results.history(latest.service, latest.target_role, PER_CHECK)
            for row in reversed(rows):
                if row.started <= marks.results:
                    continue
                newest = max(newest, row.started)
                partner = row.kind == "connectivity" and row.target_role != role
                found.append(
                    Observation(
                        subject=f"{group}/{row.target_role}/{row.service}",
                        server=row.target_role,
                        state=row.profile.status.name,
                        reason=row.profile.summary,
                        at=utc(row.started),
                        kind=REACHABILITY if partner else CHECK,
                    )
                )
    marks.results = newest
    return sorted(found, key=lambda o: o.at)


def _cycle(server: Server, group: str, marks: Watermarks) -> list[Observation]:
    report = last_cycle(server)
    if report is None:
        return []
    try:
        finished = float(report.get("finished") or 0.0)
        at = utc(finished)
        compare = {c["sec"]: c for c in report.get("compare", [])}
        found = []
        if finished <= marks.cycle:
            return []
        marks.cycle = finished
        for sec in report.get("secs", []):
            name = str(sec["sec"])
            if not sec.get("reached", False):
                why = f"not synced ({sec.get('cause') or 'failed'}): {sec.get('error', '')}"
                found.append(Observation(f"{group}/{name}/sync", name, CRITICAL, why, at))
                if sec.get("cause") == "unreachable":
                    reach = f"the SyncCycle could not reach {name}: {sec.get('error', '')}"
                    found.append(
                        Observation(f"{group}/{name}", name, CRITICAL, reach, at, REACHABILITY)
                    )
                continue
            result = compare.get(name, {})
            state = str(result.get("state", "missing"))
            paths = [d.get("path", "?") for d in result.get("differences", [])][:5]
            why = f"compare: {state}" + (f" ({', '.join(paths)})" if paths else "")
            level = OK if state == "equal" else CRITICAL
            found.append(Observation(f"{group}/{name}/sync", name, level, why, at, CHECK))
            found.append(
                Observation(
                    f"{group}/{name}", name, OK, "reached by the SyncCycle", at, REACHABILITY
                )
            )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # a damaged report
        raise FormatError(server.sid.last_cycle_file, None, f"a SyncCycle report ({exc})") from exc
    return found
