"""A killed writer's leftovers in the trees atlas-ha writes are removed by the next cycle,
never copied into a snapshot, and never removed while their writer lives; a partner session
with no requests ends by itself."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable

from tests.conftest import dead_pid

from atlas_ha.lab.group import SimGroup
from atlas_ha.sync.cycle import CycleReport


def test_a_cycle_removes_dead_writers_temp_files_and_syncs_none(
    group: SimGroup, run_cycle: Callable[[str], CycleReport], live_pid: int
) -> None:
    a = group.servers["A"]
    app = a.file("/etc/app")
    app.mkdir(parents=True, exist_ok=True)
    dead = app / f".app.conf.atlas-tmp.{dead_pid()}"  # a SetUp/hook killed mid-write
    live = app / f".app.conf.atlas-tmp.{live_pid}"  # a write in progress
    results = a.server().sid.root / ".results"
    results.mkdir(parents=True, exist_ok=True)
    stale_record = results / f".last-cycle.json.atlas-tmp.{dead_pid()}"
    for path in (dead, live, stale_record):
        path.write_text("half a file")
    report = run_cycle("A")
    assert report.all_equal
    assert not dead.exists()  # Create's walk of the synced tree removed it
    assert live.exists()  # its writer is alive
    assert not stale_record.exists()  # the next write of last-cycle.json removed it
    manifests = "".join(p.read_text() for p in group.base.glob("disks/*/SID_DATA/*/Env*/Manifest"))
    assert "atlas-tmp" not in manifests  # in no snapshot of any server
    for name in ("B", "C"):
        assert not list(group.servers[name].file("/etc/app").glob(".*atlas-tmp*"))


def test_serve_ends_a_session_that_gets_no_request(group: SimGroup) -> None:
    b = group.servers["B"]
    b.config.write_text(
        b.config.read_text().replace('kind = "local"', 'kind = "local"\nidle = "1"')
    )
    argv = [sys.executable, "-m", "atlas_ha", "--config", str(b.config), "serve"]
    started = time.monotonic()
    proc = subprocess.Popen(
        [*argv, "--peer-address", "127.0.2.11"],
        stdin=subprocess.PIPE,  # kept open: the partner is there and says nothing
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        proc.wait(timeout=30)  # not communicate(): that would close the session's input
        assert proc.stderr is not None
        err = proc.stderr.read()
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == 0
    assert time.monotonic() - started < 20
    assert "serve 127.0.2.11: no request for 1 s: the session ends" in err


def test_a_bad_idle_setting_is_refused_naming_the_file(group: SimGroup) -> None:
    b = group.servers["B"]
    b.config.write_text(
        b.config.read_text().replace('kind = "local"', 'kind = "local"\nidle = "soon"')
    )
    argv = [sys.executable, "-m", "atlas_ha", "--config", str(b.config), "serve"]
    done = subprocess.run(
        [*argv, "--peer-address", "127.0.2.11"],
        input="",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert f"{b.config}: [transport] idle = 'soon': expected seconds" in done.stderr
