"""Observations for the alert engine, taken from the status model (report/model.py over the
inputs report/loader.py gathers): the alerts judge what the page, `atlas-ha status` and
`atlas-ha check` show, not a reading of their own.

- every cell of the model (a Verifier check of a server, a SEC's compare on the PRI, the
  PRI's SyncCycle age) as `group/ROLE/service`, once per result: when the time of what it
  shows is newer than the last one observed. A cell the model judged from time alone (a
  result or a cycle too old to be believed: stale) is observed every round while it is so.
  A cell with nothing behind it yet (no result, no cycle: pending) is not observed. The
  daemon's own cell (`atlas`) is not: the daemon that alerts is the one it describes;
- a `connectivity` check of a partner is that partner's reachability (it inhibits the
  partner's other alerts), and so is whether the last SyncCycle reached each SEC (once per
  cycle);
- the suspension: a reminder every round (SPEC 5.10).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from atlas_ha.context import Server
from atlas_ha.report import loader
from atlas_ha.report.alerts.model import (
    CHECK,
    CRITICAL,
    OK,
    REACHABILITY,
    SUSPENDED,
    Observation,
    utc,
)
from atlas_ha.report.model import ATLAS, SYNC, Cell, Inputs, build, cycle_stale

CELL = "cell:"  # the prefix of a cell's mark in the alert state's marks


@dataclass
class Watermarks:
    cells: dict[str, float] = field(default_factory=dict)  # subject -> the newest observed
    cycle: float = 0.0  # the finish time of the last SyncCycle observed (its reachability)

    @classmethod
    def from_marks(cls, marks: dict[str, float]) -> Watermarks:
        cells = {k[len(CELL) :]: v for k, v in marks.items() if k.startswith(CELL)}
        return cls(cells, marks.get("cycle", 0.0))

    def as_marks(self) -> dict[str, float]:
        return {"cycle": self.cycle, **{CELL + k: v for k, v in self.cells.items()}}


def observe(server: Server, marks: Watermarks, now: datetime) -> list[Observation]:
    """This round's observations; advances `marks` past what they cover."""
    inputs = loader.gather(server, now.timestamp())
    return observations(inputs, marks, now)


def observations(inputs: Inputs, marks: Watermarks, now: datetime) -> list[Observation]:
    """The observations of one status model (pure: `marks` is the only thing changed)."""
    group, role = inputs.group, inputs.role
    kinds = {(c.target, c.service): c.kind for c in inputs.checks}
    found: list[Observation] = []
    seen: dict[str, float] = {}
    for row in build(inputs).servers:
        for cell in row.cells:
            if cell.service == ATLAS or (cell.service == SYNC and row.own and inputs.suspension):
                continue  # the daemon itself; a suspension is reminded below
            subject = f"{group}/{row.role}/{cell.service}"
            last = marks.cells.get(subject, 0.0)
            stale = _stale(inputs, row.role, cell)
            if cell.when is not None:
                seen[subject] = max(last, cell.when)
            if not stale and (cell.when is None or cell.when <= last):
                continue  # pending, or this result observed already
            partner = kinds.get((row.role, cell.service)) == "connectivity" and row.role != role
            found.append(
                Observation(
                    subject=subject,
                    server=row.role,
                    state=cell.status.name,
                    reason=cell.reason,
                    at=now if stale or cell.when is None else utc(cell.when),
                    kind=REACHABILITY if partner else CHECK,
                )
            )
    marks.cells = seen  # the subjects of this model only (a removed service is forgotten)
    found += _reached(inputs, marks)
    s = inputs.suspension
    if s is not None:
        why = f"the Synchronizer is suspended by {s.by}: {s.reason}"
        found.append(Observation(f"{group}/{role}/suspended", role, CRITICAL, why, now, SUSPENDED))
    return sorted(found, key=lambda o: o.at)


def _stale(inputs: Inputs, role: str, cell: Cell) -> bool:
    """Whether the model judged `cell` from time alone (what it shows is too old)."""
    if cell.service == SYNC:
        return cycle_stale(inputs)
    check = next((c for c in inputs.checks if (c.target, c.service) == (role, cell.service)), None)
    return check is not None and inputs.now - check.started > inputs.settings.results_stale


def _reached(inputs: Inputs, marks: Watermarks) -> list[Observation]:
    """Whether the last SyncCycle (not observed before) reached each SEC: its reachability."""
    c = inputs.cycle
    if c is None or c.finished <= marks.cycle:
        return []
    marks.cycle = c.finished
    found = []
    for sec in c.secs:
        subject = f"{inputs.group}/{sec.sec}"
        at = utc(c.finished)
        if sec.reached:
            found.append(
                Observation(subject, sec.sec, OK, "reached by the SyncCycle", at, REACHABILITY)
            )
        elif sec.cause == "unreachable":
            why = f"the SyncCycle could not reach {sec.sec}: {sec.error}"
            found.append(Observation(subject, sec.sec, CRITICAL, why, at, REACHABILITY))
    return found
