"""Full disks on a real small filesystem (a tmpfs mounted by the test; needs root):
a SyncCycle into a SID_DATA below its free-space limit is refused by the start handler
(exit 40, a log line, an event) and writes nothing, while a run that does not write SID_DATA
only warns; a full log disk never stops a cycle: the wrapper degrades to the console and the
event record says so; a full ESD_DATA as a whole (PID files, events, logs) neither."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.faults.test_disk_full import fill, small_filesystem

from atlas_ha.errors import StartRefusedError
from atlas_ha.lab.group import SimGroup
from atlas_ha.ops.logs import lines
from atlas_ha.ops.notify import read_events
from atlas_ha.ops.run import run

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("mount") is None, reason="needs root to mount a tmpfs"
)


def cli(group: SimGroup, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "atlas_ha", "--config", str(group.servers[name].config), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def pair(tmp_path: Path) -> SimGroup:
    g = SimGroup(tmp_path / "group")
    g.build({"A": (2, "PRI"), "B": (1, "SEC1")})
    for name in g.servers:
        g.boot(name)
    return g


def test_a_cycle_into_a_full_sid_data_is_refused_and_a_boot_only_warned(pair: SimGroup) -> None:
    a = pair.servers["A"].server()
    sid = a.settings.sid_data
    with small_filesystem(sid, "4m"):
        filler = fill(sid)
        before = sorted(str(p.relative_to(sid)) for p in sid.rglob("*"))
        done = cli(pair, "A", "sync", "cycle")
        assert done.returncode == StartRefusedError.exit_code, done.stderr
        assert "sync-cycle refused by the start handler" in done.stderr
        assert f"{sid}: 0.0 MiB free, below the limit of 32 MiB" in done.stderr
        after = sorted(str(p.relative_to(sid)) for p in sid.rglob("*"))
        assert after == before  # nothing written
        with run(a.settings, "boot") as booting:  # not a SID_DATA writer: a warning
            booting.log("booted anyway")
        filler.unlink()
    events = [e for e in read_events(a.settings) if e["check"] == "sid-free"]
    assert [(e["program"], e["refused"]) for e in events] == [("sync-cycle", True), ("boot", False)]
    cycle_logs = sorted((a.settings.esd_data / "logs").glob("sync-cycle.*"))
    log = "\n".join(line for p in cycle_logs for line in lines(p))  # compressed once done
    assert "ERROR" in log and "start check sid-free" in log and "(refusing to run)" in log
    assert log.rstrip().endswith("exit 40 after " + log.rstrip().rsplit("after ", 1)[1])
    assert cli(pair, "A", "sync", "cycle").returncode == 0  # space again: cycles again


def test_a_full_log_disk_never_stops_a_cycle(pair: SimGroup) -> None:
    a = pair.servers["A"].server()
    logs = a.settings.esd_data / "logs"
    logs.mkdir(exist_ok=True)
    with small_filesystem(logs, "1m"):
        fill(logs)
        done = cli(pair, "A", "sync", "cycle")
        assert done.returncode == 0, done.stderr
        assert "log file unusable" in done.stderr and "No space left on device" in done.stderr
        assert "SEC1: equal" in done.stdout
        assert " INFO " in done.stderr and "create (PRI,2)" in done.stderr  # lines kept
    degraded = [e for e in read_events(a.settings) if e["kind"] == "log-degraded"]
    (event,) = [e for e in degraded if e["program"] == "sync-cycle"]
    assert "No space left on device" in event["text"] and event["run"] in done.stderr


def test_a_full_esd_data_never_stops_a_cycle(pair: SimGroup) -> None:
    """Not only logs/: the whole ESD_DATA full (PID files, events, crash store, logs)."""
    a = pair.servers["A"].server()
    esd = a.settings.esd_data
    with small_filesystem(esd, "4m"):
        fill(esd)
        done = cli(pair, "A", "sync", "cycle")
        assert done.returncode == 0, done.stderr
        assert "SEC1: equal" in done.stdout
        assert "log file unusable" in done.stderr and "No space left on device" in done.stderr
        assert "start check esd-free" in done.stderr  # the start handler saw it too
        assert "start check pid-file" in done.stderr and "(running anyway)" in done.stderr
        assert "ALERT log-degraded" in done.stderr  # no room for the event: said on stderr
        assert " INFO " in done.stderr and "create (PRI,2)" in done.stderr  # lines kept
        assert re.search(r" exit 0 after \d+\.\d{3} s", done.stderr), done.stderr
