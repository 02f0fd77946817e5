"""The daemon (SPEC 7.1) and suspend/resume (SPEC 5.10) on a simulated group."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from atlas_ha.daemon import control
from atlas_ha.daemon.loop import Daemon, read_heartbeat
from atlas_ha.errors import StartRefusedError, SuspendedError
from atlas_ha.lab.group import SimGroup
from atlas_ha.sync.cycle import cycle
from atlas_ha.sync.suspension import resume, suspend, suspended
from atlas_ha.system import console_script


def quiet(_line: str) -> None:
    pass


def test_suspend_waits_for_the_running_cycle_then_blocks_cycles(group: SimGroup) -> None:
    a = group.servers["A"].server(quiet)
    returned = threading.Event()
    with a.sid.lock("cycle"):  # a cycle in progress holds this lock
        worker = threading.Thread(target=lambda: (suspend(a, "disk change"), returned.set()))
        worker.start()
        assert not returned.wait(0.5)  # suspend did not return while the cycle ran
        assert suspended(a) is None
    assert returned.wait(10)
    worker.join()
    flag = suspended(a)
    assert flag is not None and flag["reason"] == "disk change"
    with pytest.raises(SuspendedError, match=r"suspended .*disk change"):
        cycle(a)
    out = cli(group, "A", "sync", "cycle")
    assert out.returncode == 15 and "suspended" in out.stderr
    assert resume(a) and not resume(a)
    assert cycle(a).all_equal


def test_each_turn_says_what_it_decided(group: SimGroup) -> None:
    a, b = group.servers["A"].server(quiet), group.servers["B"].server(quiet)
    assert Daemon(b, 60).turn() == "SEC1: standing by (the PRI drives SyncCycles)"
    said = Daemon(a, 60).turn()
    assert said.startswith("SyncCycle done") and "all equal (SEC1 equal, SEC2 equal)" in said
    suspend(a, "maintenance")
    assert Daemon(a, 60).turn() == f"suspended by {a.name} (maintenance): no SyncCycle"
    group.shutdown("B")
    resume(a)
    said = Daemon(a, 60).turn()
    assert "NOT all equal" in said and "SEC1 stale" in said


def cli(group: SimGroup, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "atlas_ha", "--config", str(group.servers[name].config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_daemon_start_status_stop(group: SimGroup) -> None:
    a = group.servers["A"].server(quiet)
    assert cli(group, "A", "daemon", "status").returncode == 3  # not running
    started = cli(group, "A", "daemon", "start", "--interval", "0.5")
    assert started.returncode == 0, started.stderr
    pid = control.running_pid(a)
    assert pid is not None and f"pid {pid}" in started.stdout
    deadline = time.monotonic() + 60
    while "SyncCycle done" not in str((read_heartbeat(a) or {}).get("sentence")):
        assert time.monotonic() < deadline, read_heartbeat(a)
        time.sleep(0.1)
    state = json.loads(cli(group, "A", "daemon", "status", "--json").stdout)
    assert state["running"] and state["pid"] == pid and state["heartbeat_age"] < 10
    second = cli(group, "A", "daemon", "run")  # a second instance refuses to run
    assert second.returncode == StartRefusedError.exit_code, second.stderr  # the start handler
    assert f"another daemon-run runs already (pid {pid}" in second.stderr
    stopped = cli(group, "A", "daemon", "stop")
    assert stopped.returncode == 0 and f"daemon {pid} stopped" in stopped.stdout
    assert not control.process_alive(pid)  # the process itself, not only its PID file
    assert (read_heartbeat(a) or {}).get("sentence") == "stopped"
    log = (a.settings.esd_data / "logs" / "daemon.log").read_text()
    assert "started; first SyncCycle decision in 0.5 s" in log and "SyncCycle done" in log


def test_a_stale_pid_file_never_gets_another_program_signalled(group: SimGroup) -> None:
    a = group.servers["A"].server(quiet)
    control.pid_file(a).write_text(f"{os.getpid()}\n")  # this pytest process: not a daemon
    assert control.running_pid(a) is None
    assert control.stop(a) is None  # and we are still here
    assert not control.pid_file(a).exists()


def test_units_are_shipped() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "atlas_ha", "daemon", "units"], capture_output=True, text=True
    )
    program = console_script()  # the installed program, not a hard-coded /usr/local/bin
    assert f"ExecStart={program} boot" in out.stdout
    assert "Before=network-pre.target" in out.stdout
    assert f"ExecStart={program} daemon run" in out.stdout


def test_the_daemon_runs_the_verifier_schedule(group: SimGroup) -> None:
    """A service declared in the (synced) services file is verified by the daemon without
    a restart, and its profiles land in the role's results database."""
    from atlas_ha.verifier.results import VerifierResults, results_file

    a = group.servers["A"].server(quiet)
    started = cli(group, "A", "daemon", "start", "--interval", "600", "--replan", "1")
    assert started.returncode == 0, started.stderr
    try:
        services = group.servers["A"].file("/etc/atlas-ha/services.toml")
        services.parent.mkdir(parents=True, exist_ok=True)
        services.write_text('[service.host]\nkind = "health"\ninterval = 0.5\n')
        db = results_file(a.settings.sid_data, "PRI")
        deadline = time.monotonic() + 60
        rows: list[object] = []
        while not rows:
            assert time.monotonic() < deadline, "no verifier result recorded"
            if db.exists():
                with VerifierResults(db) as results:
                    rows = list(results.latest("host"))
            time.sleep(0.2)
    finally:
        assert cli(group, "A", "daemon", "stop").returncode == 0
