"""Observations for the alert engine, taken from the status model (report/model.py over the
inputs report/loader.py gathers) and from the Verifier's results themselves: the alerts
judge what the page, `atlas-ha status` and `atlas-ha check` show, and every result behind it.

- a Verifier check of a server (`group/ROLE/service`): every result the Verifier stored since
  the last round, oldest first (the VerifierResults store read from a cursor, the id of the
  newest result observed, kept in the alert state: a restarted daemon neither replays nor
  drops one), so failure thresholds and flap detection count results, as Nagios does, not
  rounds. Without a cursor (the first round, or a results database started anew) only the
  newest result of each check, as the model shows it. A check the model judged from time
  alone (its newest result too old to be believed: stale) is observed every round while it
  is so, as the model's UNKNOWN;
- the other cells of the model, once per thing they show (when its time is newer than the
  last one observed): a SEC's compare on the PRI and the PRI's SyncCycle age once per
  SyncCycle (the daemon alerts after each turn, and a turn runs at most one cycle: every
  cycle of the daemon is observed), every round while the cycle is stale. A cell with
  nothing behind it yet (no result, no cycle: pending) is not observed;
- the daemon's own cell (`atlas`: its heartbeat, the installed identity against the disk's
  role) every round once the daemon has beaten: a turn that outlived `heartbeat_stale`, or
  an identity of another role, alerts like any other state;
- a `connectivity` check of a partner is that partner's reachability (it inhibits the
  partner's other alerts), and so is whether the last SyncCycle reached each SEC (once per
  cycle);
- the suspension: a reminder every round (SPEC 5.10).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from atlas_ha.context import Server
from atlas_ha.report import loader
from atlas_ha.report.alerts.model import (
    CHECK,
    CRITICAL,
    OK,
    REACHABILITY,
    STATES,
    SUSPENDED,
    Observation,
    utc,
)
from atlas_ha.report.model import ATLAS, SYNC, Cell, Inputs, build, cycle_stale
from atlas_ha.verifier.results import VerifierResults

CELL = "cell:"  # the prefix of a cell's mark in the alert state's marks
RESULTS = "results"  # the mark of the newest Verifier result observed (its id)
PAGE = 10_000  # results read at a time


@dataclass(frozen=True)
class Result:
    """One stored Verifier result: its id, the check (service, target role), its state."""

    id: int
    service: str
    target: str
    started: float
    status: str
    summary: str


@dataclass(frozen=True)
class _Subject:
    subject: str
    server: str
    kind: str

    def saw(self, state: str, reason: str, at: datetime) -> Observation:
        return Observation(self.subject, self.server, state, reason, at, self.kind)


@dataclass
class Watermarks:
    cells: dict[str, float] = field(default_factory=dict)  # subject -> the newest observed
    cycle: float = 0.0  # the finish time of the last SyncCycle observed (its reachability)
    results: int | None = None  # the id of the newest Verifier result observed (None: none)

    @classmethod
    def from_marks(cls, marks: dict[str, float]) -> Watermarks:
        cells = {k[len(CELL) :]: v for k, v in marks.items() if k.startswith(CELL)}
        newest = marks.get(RESULTS)
        return cls(cells, marks.get("cycle", 0.0), None if newest is None else int(newest))

    def as_marks(self) -> dict[str, float]:
        marks = {"cycle": self.cycle, **{CELL + k: v for k, v in self.cells.items()}}
        if self.results is not None:
            marks[RESULTS] = float(self.results)
        return marks


def observe(server: Server, marks: Watermarks, now: datetime) -> list[Observation]:
    """This round's observations; advances `marks` past what they cover."""
    stored = new_results(server, server.master().role, marks)  # before the model: never newer
    inputs = loader.gather(server, now.timestamp())
    return observations(inputs, marks, now, stored)


def new_results(server: Server, role: str, marks: Watermarks) -> list[Result] | None:
    """The results stored after `marks.results`, oldest first (O(new results): by id), and
    the cursor moved past them; None without a cursor (the first round, or a database whose
    ids went below it: started anew), the cursor then set to its newest result."""
    path = server.sid.verifier_results_file(role)
    if not path.exists():  # no result yet: all the database will hold is new
        marks.results = 0
        return []
    with VerifierResults(path) as db:
        newest = db.max_id()
        if marks.results is None or newest < marks.results:
            marks.results = newest
            return None
        found: list[Result] = []
        while True:
            page = db.results_after(marks.results, PAGE)
            found += [Result(*row) for row in page]
            if page:
                marks.results = page[-1][0]
            if len(page) < PAGE:
                return found


def observations(
    inputs: Inputs, marks: Watermarks, now: datetime, stored: Sequence[Result] | None = None
) -> list[Observation]:
    """The observations of one status model and the results `stored` since the last round
    (None: only the newest of each check, the model's cell); pure: `marks` is the only
    thing changed."""
    group, role = inputs.group, inputs.role
    kinds = {(c.target, c.service): c.kind for c in inputs.checks}
    by_check: dict[tuple[str, str], list[Result]] = {}
    for r in stored or ():
        by_check.setdefault((r.target, r.service), []).append(r)
    found: list[Observation] = []
    seen: dict[str, float] = {}
    for row in build(inputs).servers:
        for cell in row.cells:
            if cell.service == SYNC and row.own and inputs.suspension:
                continue  # a suspension is reminded below
            subject = f"{group}/{row.role}/{cell.service}"
            last = marks.cells.get(subject, 0.0)
            if cell.when is not None:
                seen[subject] = max(last, cell.when)
            check = (row.role, cell.service)
            partner = kinds.get(check) == "connectivity" and row.role != role
            one = _Subject(subject, row.role, REACHABILITY if partner else CHECK)
            if check in kinds and stored is not None:  # every result since the last round
                found += [
                    one.saw(r.status, r.summary, utc(r.started))
                    for r in by_check.get(check, ())
                    if r.status in STATES
                ]
            if cell.service == ATLAS:  # judged from the time: every round, once it beat
                if inputs.heartbeat is not None:
                    found.append(one.saw(cell.status.name, cell.reason, now))
            elif _stale(inputs, row.role, cell):  # the model's UNKNOWN, every round
                found.append(one.saw(cell.status.name, cell.reason, now))
            elif (check not in kinds or stored is None) and (cell.when or 0.0) > last:
                found.append(one.saw(cell.status.name, cell.reason, utc(cell.when or 0.0)))
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
