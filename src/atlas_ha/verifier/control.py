"""VerifierControl (SPEC 8.5): every check at its own interval, none waiting for another.

A check is one (service, target) pair. Each run of a check is a thread of its own, so a service
that accepts TCP and never answers delays nothing but itself. States of one check:

    idle ──due──▶ running ──verify returned──▶ idle         the verifier's profile
                  running ──verify raised────▶ idle         UNKNOWN, the exception text
                  running ──timeout passed───▶ hanging      CRITICAL "no answer within N s";
                                                            the thread is abandoned
    hanging ──due──▶ hanging                                CRITICAL "still hanging", not
                                                            started again
    hanging ──the thread returned──▶ idle                   its late profile is discarded

A check whose kind is not installed is UNKNOWN naming the kind, every time it is due.
The clock (atlas_ha.system.Clock) is passed in: `tick(now)` is the whole scheduling decision,
`run_once` and `run_forever` only wait between ticks.
"""

from __future__ import annotations

import sqlite3
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from atlas_ha.errors import AtlasError
from atlas_ha.system import Clock
from atlas_ha.verifier.api import Context, Target, Verifier
from atlas_ha.verifier.profile import Profile, Status
from atlas_ha.verifier.services import ServiceDef

MAX_WAIT = 0.25  # run_forever looks at its stop event at least this often


@dataclass(frozen=True)
class Check:
    service: ServiceDef
    target: Target
    verifier: Verifier | None  # None: the kind is not installed (problem says so)
    problem: str = ""

    @property
    def key(self) -> str:
        return f"{self.service.name}@{self.target.role}"


@dataclass(frozen=True)
class Outcome:
    check: Check
    started: float  # unix seconds
    duration: float
    profile: Profile


@dataclass
class _Run:
    """One run of a check in its own thread."""

    check: Check
    started: float  # unix
    started_mono: float
    deadline: float  # monotonic
    done: threading.Event = field(default_factory=threading.Event)
    profile: Profile | None = None
    duration: float = 0.0
    abandoned: bool = False


class VerifierControl:
    def __init__(
        self,
        ctx: Context,
        checks: list[Check],
        clock: Clock,
        record: Callable[[list[Outcome]], None] | None = None,
    ) -> None:
        keys = [c.key for c in checks]
        if len(set(keys)) != len(keys):
            raise AtlasError(f"two checks with the same service and target: {sorted(keys)}")
        self.ctx = ctx
        self.checks = {c.key: c for c in checks}
        self.clock = clock
        self.record = record or (lambda _outcomes: None)
        self.running: dict[str, _Run] = {}
        self.due: dict[str, float] = {}
        self._wake = threading.Event()

    # -- one scheduling decision ----------------------------------------------------------
    def tick(self, now: float | None = None) -> list[Outcome]:
        """Start every due check, collect finished and overdue ones; what to record now."""
        now = self.clock.monotonic() if now is None else now
        outcomes = self._harvest(now)
        for key, check in self.checks.items():
            if self.due.setdefault(key, now) > now:
                continue
            self.due[key] = now + check.service.interval
            outcome = self._start(check, now)
            if outcome is not None:
                outcomes.append(outcome)
        return outcomes

    def next_wake(self) -> float:
        """The monotonic time of the next due check or deadline."""
        deadlines = [r.deadline for r in self.running.values() if not r.abandoned]
        return min([*self.due.values(), *deadlines], default=self.clock.monotonic() + 1.0)

    def _start(self, check: Check, now: float) -> Outcome | None:
        """Start a run of `check`; an Outcome right away when it cannot run."""
        wall = self.clock.now()
        if check.verifier is None:
            return Outcome(check, wall, 0.0, Profile(Status.UNKNOWN, check.problem))
        previous = self.running.get(check.key)
        if previous is not None:  # abandoned and still running
            hung = now - previous.started_mono
            summary = (
                f"still hanging: no answer for {hung:.0f} s "
                f"(timeout {check.service.timeout:g} s), not started again"
            )
            return Outcome(check, wall, 0.0, Profile(Status.CRITICAL, summary))
        run = _Run(check, wall, now, now + check.service.timeout)
        self.running[check.key] = run
        thread = threading.Thread(
            target=self._work, args=(run,), name=f"verify {check.key}", daemon=True
        )
        thread.start()
        return None

    def _work(self, run: _Run) -> None:
        check = run.check
        assert check.verifier is not None
        try:
            profile = check.verifier.verify(self.ctx, check.service, check.target)
            if not isinstance(profile, Profile):
                profile = Profile(
                    Status.UNKNOWN,
                    f"{check.service.kind} verifier returned {type(profile).__name__}, "
                    "not a Profile",
                )
        except AtlasError as exc:  # a check's configuration (a file, a setting) is wrong:
            # its message names the file and what was expected; a traceback adds nothing
            profile = Profile(Status.UNKNOWN, f"{check.service.kind}: {exc}")
        except Exception as exc:  # a verifier's bug must not stop the others
            profile = Profile(
                Status.UNKNOWN,
                f"{check.service.kind} verifier failed: {type(exc).__name__}: {exc}",
                details=traceback.format_exc(limit=8),
            )
        run.duration = self.clock.monotonic() - run.started_mono
        run.profile = profile
        run.done.set()
        self._wake.set()

    def _harvest(self, now: float) -> list[Outcome]:
        outcomes = []
        for key, run in list(self.running.items()):
            if run.done.is_set():
                del self.running[key]
                if not run.abandoned:
                    assert run.profile is not None
                    outcomes.append(Outcome(run.check, run.started, run.duration, run.profile))
            elif not run.abandoned and now >= run.deadline:
                run.abandoned = True
                timeout = run.check.service.timeout
                profile = Profile(
                    Status.CRITICAL,
                    f"no answer within {timeout:g} s",
                    details="the check was abandoned; it is not started again while it runs",
                )
                outcomes.append(Outcome(run.check, run.started, now - run.started_mono, profile))
        return outcomes

    # -- loops ------------------------------------------------------------------------------
    def run_once(self) -> list[Outcome]:
        """Run every check now and return when each has answered or timed out."""
        for key in self.checks:
            self.due[key] = self.clock.monotonic()
        outcomes = self.tick()
        pending = {c.key for c in self.checks.values()} - {o.check.key for o in outcomes}
        while pending:
            deadlines = [r.deadline for r in self.running.values() if not r.abandoned]
            self._wait(min(deadlines, default=self.clock.monotonic()) - self.clock.monotonic())
            self._wake.clear()
            got = self._harvest(self.clock.monotonic())
            outcomes += got
            pending -= {o.check.key for o in got}
        self.record(outcomes)
        return outcomes

    def run_forever(self, stop: threading.Event) -> None:
        """Run every check at its interval until `stop` is set; record each outcome."""
        while not stop.is_set():
            self._wake.clear()
            outcomes = self.tick()
            if outcomes:
                self._record_or_alert(outcomes)
            self._wait(min(MAX_WAIT, self.next_wake() - self.clock.monotonic()))

    def _record_or_alert(self, outcomes: list[Outcome]) -> None:
        """Record; a results database that cannot be written (full disk) does not stop the
        schedule: the failure is logged and the next outcomes are tried again."""
        try:
            self.record(outcomes)
        except (AtlasError, OSError, sqlite3.Error) as exc:
            self.ctx.server.log(f"ALERT verifier results not stored ({len(outcomes)}): {exc}")

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self._wake.wait(seconds)
