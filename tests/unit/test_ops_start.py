"""The start handler (ops/start.py): a single-instance program's PID file, a stale one removed
and logged (also when its PID now belongs to another program), another live instance a
warning; resources below the limits a log line, an event and — only where running would be
unsafe — a refusal. The full-disk cases on a real small filesystem: test_ops_disk_limits.py."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.unit.test_ops_crashes import settings_in

from atlas_ha.errors import StartRefusedError
from atlas_ha.layout.rundir import program_pid_file
from atlas_ha.ops import start
from atlas_ha.ops.notify import read_events
from atlas_ha.ops.run import run


@pytest.fixture
def atlas_like() -> Iterator[int]:
    """A live process whose command line names atlas_ha (another instance)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "atlas_ha", "sync", "cycle"]
    )
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def lines_of(settings_esd: Path) -> str:
    return "".join(p.read_text() for p in sorted((settings_esd / "logs").glob("*.log")))


def test_a_stale_pid_file_is_removed_and_logged_and_ours_released(
    tmp_path: Path, live_pid: int
) -> None:
    settings = settings_in(tmp_path, logs={"destination": "file"})
    pid_file = program_pid_file(settings.esd_data, "sync-cycle")
    for stale in (str(live_pid), "garbage"):  # a reused PID (sleep is no atlas-ha) or junk
        pid_file.parent.mkdir(parents=True, exist_ok=True)
        pid_file.write_text(f"{stale}\n")
        with run(settings, "sync-cycle"):
            assert pid_file.read_text() == f"{os.getpid()}\n"
        assert not pid_file.exists()
    log = lines_of(settings.esd_data)
    assert f"stale PID file of pid {live_pid} (not running) removed" in log
    assert "stale PID file of pid None" in log
    assert f"WARNING {this_id(log)} start check stale-pid" in log
    events = read_events(settings)  # the run before crashed or was killed: an event each
    assert [(e["check"], e["refused"]) for e in events] == [("stale-pid", False)] * 2
    assert f"pid {live_pid} (not running)" in events[0]["text"]


def this_id(log: str) -> str:
    return log.split(" ", 3)[2]


def test_another_live_instance_is_a_warning_and_an_event(tmp_path: Path, atlas_like: int) -> None:
    settings = settings_in(tmp_path, logs={"destination": "file"})
    pid_file = program_pid_file(settings.esd_data, "sync-cycle")
    pid_file.parent.mkdir(parents=True)
    pid_file.write_text(f"{atlas_like}\n")
    with run(settings, "sync-cycle") as this:
        this.log("ran anyway")
    assert pid_file.read_text() == f"{atlas_like}\n"  # the other instance's, untouched
    log = lines_of(settings.esd_data)
    assert f"WARNING {this.run_id} start check instance: another sync-cycle runs already" in log
    assert "ran anyway" in log
    (event,) = read_events(settings)
    assert event["kind"] == "start-limit" and event["check"] == "instance"
    assert event["refused"] is False


def test_programs_not_single_instance_keep_no_pid_file(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    with run(settings, "ssh-command"):
        assert not (settings.esd_data / "run").exists()


def test_memory_and_load_limits_warn(tmp_path: Path) -> None:
    settings = settings_in(
        tmp_path,
        logs={"destination": "file"},
        limits={"min_available_memory_mb": 1 << 30, "max_load_per_cpu": 1e-9},
    )
    with run(settings, "boot"):
        pass
    checks = sorted(e["check"] for e in read_events(settings))
    load_seen = os.getloadavg()[0] > 0
    assert checks == (["load", "memory"] if load_seen else ["memory"])
    assert "memory available, below the limit" in lines_of(settings.esd_data)


def test_free_space_is_measured_on_the_nearest_existing_parent(tmp_path: Path) -> None:
    assert start.free_bytes(tmp_path / "not" / "made" / "yet") == start.free_bytes(tmp_path)


def test_a_second_daemon_is_refused(tmp_path: Path, atlas_like: int) -> None:
    """Two daemons on one server would cycle and verify against each other."""
    settings = settings_in(tmp_path, logs={"destination": "file"})
    pid_file = program_pid_file(settings.esd_data, "daemon-run")
    pid_file.parent.mkdir(parents=True)
    pid_file.write_text(f"{atlas_like}\n")
    ran = []
    with (
        pytest.raises(StartRefusedError, match="another daemon-run runs already"),
        run(settings, "daemon-run"),
    ):
        ran.append(True)
    assert ran == [] and pid_file.read_text() == f"{atlas_like}\n"  # the other's, untouched
    (event,) = read_events(settings)
    assert event["check"] == "instance" and event["refused"] is True


LIMITS = ["sid_min_free_mb", "esd_min_free_mb", "root_min_free_mb"]


@pytest.mark.parametrize("limit", LIMITS)
def test_each_free_space_limit_is_checked(tmp_path: Path, limit: str) -> None:
    settings = settings_in(tmp_path, limits={k: (1 << 30 if k == limit else 0) for k in LIMITS})
    check = limit.removesuffix("_min_free_mb") + "-free"
    found = [f for f in start.resources(settings, "sync-cycle") if f.check.endswith("-free")]
    assert [(f.check, f.refuse) for f in found] == [(check, check == "sid-free")]
    assert f"below the limit of {1 << 30} MiB ([limits] {limit})" in found[0].text


@pytest.mark.parametrize(
    ("program", "asked", "refused"),
    [
        ("ssh-command", "rsync --server --sender -logDtpre.iLsfxCIvu --numeric-ids . Env1/", False),
        ("ssh-command", "rsync --server -logDtpre.iLsfxCIvu --delete . Env1/", True),
        ("ssh-command", "atlas-ha serve", True),
        ("serve", "", True),
        ("boot", "", False),
    ],
)
def test_a_full_sid_data_refuses_only_the_runs_that_may_write_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, program: str, asked: str, refused: bool
) -> None:
    settings = settings_in(tmp_path, limits={"sid_min_free_mb": 1 << 30})
    monkeypatch.setenv("SSH_ORIGINAL_COMMAND", asked)
    (found,) = [f for f in start.resources(settings, program) if f.check == "sid-free"]
    assert found.refuse is refused
