"""The daemon loop (SPEC 7.1): the SyncCycle loop on the PRI and the Verifier schedule.

Each turn decides one thing and returns it as one sentence; that sentence is what the log
shows and what `atlas-ha daemon status` reports. The first SyncCycle runs one interval after
start (a booting server does not cycle at once). Between turns the loop wakes every few
seconds to write its heartbeat (SID_DATA/.results/daemon.json: pid, started, heartbeat, the
last sentence), which is how its liveness is verified. With a change watcher (daemon/watch.py,
`[daemon] watch`) the PRI also cycles soon after a synced path changes; the sentence of a
SyncCycle says what started it (a change, the period, a request).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atlas_ha.context import Server
from atlas_ha.daemon.watch import ChangeWatch
from atlas_ha.errors import EXIT_DIFFERENCES, AtlasError
from atlas_ha.layout.atomic import atomic_write
from atlas_ha.ops.run import run as wrapped_run
from atlas_ha.report.alerts.round import AlertRounds
from atlas_ha.report.recorder import record_after_turn
from atlas_ha.report.web.actions import take_cycle_request
from atlas_ha.sync.cycle import cycle
from atlas_ha.sync.suspension import suspended
from atlas_ha.transport.keep import KeptConnections

TICK = 5.0  # seconds between heartbeats
REPLAN = 300.0  # seconds: the Verifier re-reads the (synced) services file this often
RESTART = 10.0  # seconds: the Verifier starts again this long after a round crashed
VERIFY_ROUND = "verify-round"  # the run (ops/run.py) of one planning period of the Verifier


def heartbeat_path(server: Server) -> Path:
    return server.sid.heartbeat_file


def read_heartbeat(server: Server) -> dict[str, Any] | None:
    try:
        data = json.loads(heartbeat_path(server).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@dataclass
class Daemon:
    server: Server
    interval: float  # seconds between two SyncCycles (PRI)
    verifier: Callable[[threading.Event], None] | None = None  # the Verifier schedule
    log: Callable[[str], None] = print
    started: float = 0.0
    sentence: str = "starting"
    next_cycle: float = field(default=0.0)
    keep: KeptConnections | None = None  # the SECs' connections, kept between SyncCycles
    alerts: AlertRounds = field(default_factory=AlertRounds)  # a round after every turn
    watch: ChangeWatch | None = None  # change-triggered SyncCycles (PRI)

    def turn(self, why: str = "") -> str:
        """One decision: cycle now, or why not; `why`: what started this cycle."""
        server = self.server
        try:
            role = server.role()
        except AtlasError as exc:
            return f"no role: {exc}"
        if role != "PRI":
            if self.keep is not None:
                self.keep.close_all()
            return f"{role}: standing by (the PRI drives SyncCycles)"
        flag = suspended(server)
        if flag is not None:
            return f"suspended by {flag.get('by')} ({flag.get('reason')}): no SyncCycle"
        try:
            with wrapped_run(server.settings, "sync-cycle", clock=server.clock) as this_run:
                report = cycle(server, self.keep)
                this_run.exit_code = 0 if report.all_equal else EXIT_DIFFERENCES
        except AtlasError as exc:
            return f"SyncCycle failed: {exc}"
        states = ", ".join(f"{c.sec} {c.state}" for c in report.compare) or "no SECs"
        verdict = "all equal" if report.all_equal else "NOT all equal"
        took = f"SyncCycle done in {report.finished - report.started:.1f} s"
        return f"{took}{f', started by {why}' if why else ''}: {verdict} ({states})"

    def beat(self) -> None:
        path = heartbeat_path(self.server)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        data = {
            "pid": os.getpid(),
            "server": self.server.name,
            "started": self.started,
            "heartbeat": self.server.clock.now(),
            "interval": self.interval,
            "sentence": self.sentence,
        }
        atomic_write(path, json.dumps(data), mode=0o600)

    def run(self, stop: threading.Event) -> None:
        clock = self.server.clock
        self.started = clock.now()
        self.next_cycle = clock.monotonic() + self.interval
        verifier = None
        if self.verifier is not None:
            verifier = threading.Thread(target=self.verifier, args=(stop,), daemon=True)
            verifier.start()
        self.sentence = f"started; first SyncCycle decision in {self.interval:g} s"
        self.log(self.sentence)
        self.beat()
        if self.watch is not None:
            self.watch.start(stop)
        while not self._wait(stop):
            why = f"the period ({self.interval:g} s)"
            if (asked := take_cycle_request(self.server)) is not None:  # the status page's
                self.log(f"SyncCycle requested by {asked.get('by')}")
                self.next_cycle = clock.monotonic()
                why = f"a request of {asked.get('by')}"
            due = self.watch.due() if self.watch is not None else None
            if self.watch is not None and due is not None and clock.monotonic() >= due:
                self.next_cycle, why = clock.monotonic(), self.watch.take()
            if clock.monotonic() >= self.next_cycle:
                self.sentence = self.alerts.after(self.server, self.turn(why))
                self.log(self.sentence)
                record_after_turn(self.server, self.log)  # the event log (report/)
                self.next_cycle = clock.monotonic() + self.interval
                if self.watch is not None:
                    self.watch.refresh()  # the cycle may have changed the path lists
            self.beat()
        if self.keep is not None:
            self.keep.close_all()
        self.sentence = "stopped"
        self.log(self.sentence)
        self.beat()
        if verifier is not None:
            verifier.join(timeout=TICK)
        if self.watch is not None:
            self.watch.join(timeout=TICK)

    def _wait(self, stop: threading.Event) -> bool:
        """Sleep until the next heartbeat, cycle or due change (or `stop`); True: stopped."""
        now = self.server.clock.monotonic()
        until = min(TICK, max(0.0, self.next_cycle - now))
        due = self.watch.due() if self.watch is not None else None
        if due is not None:
            until = min(until, max(0.0, due - now))
        if self.watch is None or self.watch.off is not None:
            return stop.wait(until)
        self.watch.wake.wait(until)  # the watcher also sets it when `stop` is set
        self.watch.wake.clear()
        return stop.is_set()


def verifier_schedule(
    server: Server, log: Callable[[str], None], replan: float = REPLAN
) -> Callable[[threading.Event], None]:
    """The Verifier schedule for the daemon: this server's checks, recorded in its results
    database; re-planned every `replan` seconds so services added by a SyncCycle (a synced
    services file) are verified without a restart. Each planning period is one run of the
    wrapper (`verify-round`: its run id, start checks, closing line); a round that crashes
    is recorded as a crash and the schedule starts again after RESTART seconds."""
    from atlas_ha.verifier.plan import control_for, open_results, plan

    def one_round(stop: threading.Event) -> None:
        period = threading.Event()
        deadline = server.clock.monotonic() + replan
        relay = threading.Thread(target=_relay, args=(stop, period, deadline, server))
        relay.start()
        try:
            with wrapped_run(server.settings, VERIFY_ROUND, clock=server.clock):
                the_plan = plan(server)
                with open_results(server, the_plan.role) as results:
                    control_for(the_plan, results).run_forever(period)
        except AtlasError as exc:
            log(f"ALERT verifier: {exc}")
            period.wait()
        finally:
            period.set()
            relay.join()

    def run(stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                one_round(stop)
            except Exception as exc:  # recorded by the wrapper: the Verifier goes on
                log(f"ALERT verifier round crashed ({type(exc).__name__}: {exc}); restarting")
                stop.wait(RESTART)

    return run


def _relay(stop: threading.Event, period: threading.Event, deadline: float, server: Server) -> None:
    """End one planning period at `deadline` or at `stop`, whichever comes first."""
    while not stop.wait(min(1.0, max(0.0, deadline - server.clock.monotonic()))):
        if period.is_set() or server.clock.monotonic() >= deadline:
            break
    period.set()
