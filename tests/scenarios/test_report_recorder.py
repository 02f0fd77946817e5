"""The event recorder (report/recorder.py) on a simulated group with real SyncCycles and real
Verifier rounds: state changes, cycles, suspend/resume and role changes land in the event log
once each, the results are folded into the roll-ups, and the daemon records after its turns."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from atlas_ha.lab.group import SimGroup
from atlas_ha.report import events
from atlas_ha.report.recorder import record
from atlas_ha.report.rollups import DAY, HOUR, Rollups
from atlas_ha.sync.cycle import cycle
from atlas_ha.sync.suspension import resume, suspend
from atlas_ha.verifier.plan import plan, run_round
from atlas_ha.verifier.profile import Status
from atlas_ha.verifier.services import SERVICES_PATH

ADDRESSES = {"PRI": "127.79.0.11", "SEC1": "127.79.0.12", "SEC2": "127.79.0.13"}


def quiet(_line: str) -> None:
    pass


@pytest.fixture
def verified(tmp_path: Path) -> Iterator[SimGroup]:
    """A (PRI), B (SEC1), C (SEC2) booted; A's service `port` answers on SEC1 only."""
    g = SimGroup(tmp_path / "g", addresses=ADDRESSES)
    g.build({"A": (2, "PRI"), "B": (1, "SEC1"), "C": (3, "SEC2")})
    for name in g.servers:
        g.boot(name)
    sock = socket.socket()
    sock.bind((ADDRESSES["SEC1"], 0))
    sock.listen(8)
    port = sock.getsockname()[1]
    path = g.servers["A"].file(SERVICES_PATH)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'[service.port]\nkind = "tcp"\ntimeout = 2\n[service.port.options]\nport = {port}\n'
    )
    yield g
    sock.close()


def kinds(found: list[dict[str, object]]) -> list[str]:
    return [str(e["type"]) for e in found]


def test_changes_are_recorded_once_and_results_folded(verified: SimGroup) -> None:
    a = verified.servers["A"].server(quiet)
    assert cycle(a).all_equal
    rows = run_round(plan(a))
    assert [(r.target_role, r.profile.status) for r in rows] == [
        ("SEC1", Status.OK),
        ("SEC2", Status.CRITICAL),
    ]
    first = record(a)
    assert first.folded == 2
    assert kinds(first.events)[:2] == ["role", "cycle"]
    (cycle_event,) = [e for e in first.events if e["type"] == "cycle"]
    assert cycle_event["secs"] == {"SEC1": "equal", "SEC2": "equal"} and cycle_event["all_equal"]
    states = {
        (e["scope"], e.get("service")): e["now"] for e in first.events if e["type"] == "state"
    }
    assert states[("SEC2", "port")] == "CRITICAL" and states[("SEC1", "port")] == "OK"
    assert states[("group", None)] == "CRITICAL"

    again = record(a)  # nothing changed: nothing recorded, nothing folded twice
    assert again.events == [] and again.folded == 0

    suspend(a, "disk swap")
    suspended = record(a)
    assert kinds(suspended.events) == ["suspend", "state"]
    assert suspended.events[0]["reason"] == "disk swap"
    assert suspended.events[1]["scope"] == "PRI" and suspended.events[1]["now"] == "WARNING"
    resume(a)
    assert kinds(record(a).events) == ["resume", "state"]

    verified.shutdown("B")
    cycle(a)
    closed = socket.socket()
    closed.bind((ADDRESSES["SEC1"], 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now: SEC1's `port` check fails
    services = verified.servers["A"].file(SERVICES_PATH)
    services.write_text(services.read_text().replace("port = ", f"port = {port}\n#"))
    run_round(plan(a))
    later = record(a)
    (c2,) = [e for e in later.events if e["type"] == "cycle"]
    assert c2["secs"]["SEC1"] == "stale" and not c2["all_equal"]
    sec1 = {
        e.get("service"): e for e in later.events if e["type"] == "state" and e["scope"] == "SEC1"
    }
    assert sec1["sync"]["was"] == "OK" and sec1["sync"]["now"] == "CRITICAL"
    assert sec1["port"]["was"] == "OK" and sec1["port"]["now"] == "CRITICAL"
    assert later.folded == 2

    log = events.read(a.sid, "PRI")
    assert log.damaged == []
    assert kinds(log.events).count("cycle") == 2 and kinds(log.events).count("suspend") == 1
    with Rollups(a.sid.rollups_file("PRI")) as rollups:
        hourly = rollups.strips(HOUR, 24, a.clock.now())
        daily = rollups.strips(DAY, 90, a.clock.now())
    assert sum(b.total for b in hourly[("SEC1", "port")]) == 2
    assert hourly[("SEC1", "port")][-1].worst == Status.CRITICAL  # OK then CRITICAL
    assert daily[("SEC2", "port")][-1].counts == (0, 0, 2, 0)


def test_a_disk_moved_to_another_server_is_a_role_change(verified: SimGroup) -> None:
    a = verified.servers["A"].server(quiet)
    record(a)
    # A's disk (the PRI's) moves into B: the PRI role is now on server B
    verified.shutdown("A", "B")
    disk_a = verified.unplug("A")
    verified.unplug("B")
    verified.plug(disk_a, "B")
    verified.boot("B")
    moved = record(verified.servers["B"].server(quiet))
    (role,) = [e for e in moved.events if e["type"] == "role"]
    assert role["server"] == "B" and role["role"] == "PRI"
    assert role["was"] == {"server": "A", "role": "PRI", "current_role": "PRI"}


def cli(group: SimGroup, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "atlas_ha", "--config", str(group.servers[name].config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_daemon_records_after_its_turns(verified: SimGroup) -> None:
    a = verified.servers["A"].server(quiet)
    started = cli(verified, "A", "daemon", "start", "--interval", "0.5")
    assert started.returncode == 0, started.stderr
    try:
        deadline = time.monotonic() + 60
        while "cycle" not in kinds(events.read(a.sid, "PRI").events):
            assert time.monotonic() < deadline, "no cycle event recorded by the daemon"
            time.sleep(0.2)
    finally:
        assert cli(verified, "A", "daemon", "stop").returncode == 0
