"""Log retention (ops/logs.py prune): the byte limit and the free-disk minimum each remove
the oldest finished logs; the per-run logs of a daemon's nested runs (which carry the
daemon's PID) count as finished once their run wrote its closing line, so retention applies
while the daemon runs; a log still being written is never touched."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.unit.test_ops_crashes import settings_in
from tests.unit.test_ops_logs import StepClock

from atlas_ha.layout.esd import EsdData
from atlas_ha.ops import logs
from atlas_ha.ops.run import run
from atlas_ha.settings import LogSettings

MIB = 1 << 20
CLOSING = "2026-12-01T10:00:00.000Z INFO 20261201T100000Z.{pid} exit 0 after 1.250 s\n"


@pytest.fixture
def sleeper() -> Iterator[int]:
    """The PID of a live process that is not this one (a partner's run still going)."""
    proc = subprocess.Popen(["sleep", "60"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def closed_logs(esd: EsdData, pid: int, count: int, size: int) -> list[Path]:
    """`count` finished per-run logs of `pid` of `size` bytes, oldest first by mtime."""
    esd.logs_dir.mkdir(exist_ok=True)
    now = time.time()
    paths = []
    for i in range(count):
        path = esd.run_log_file("sync-cycle", "local", now - 1000 + i, pid)
        body = CLOSING.format(pid=pid)
        path.write_bytes(os.urandom(size - len(body) - 1) + b"\n" + body.encode())
        os.utime(path, (now - 1000 + i, now - 1000 + i))
        paths.append(path)
    return paths


def test_keep_mb_removes_the_oldest_until_the_logs_fit(tmp_path: Path, sleeper: int) -> None:
    esd = EsdData(tmp_path)
    paths = closed_logs(esd, sleeper, 5, MIB - 4096)  # random bytes: gzip keeps their size
    done = logs.prune(esd, LogSettings(keep_files=100, keep_mb=3, min_free_mb=0), time.time())
    assert done.removed == [paths[0].name + ".gz", paths[1].name + ".gz"]
    left = sum(p.stat().st_size for p in esd.logs_dir.iterdir())
    assert left <= 3 * MIB


def test_min_free_mb_removes_finished_logs_but_never_a_live_one(
    tmp_path: Path, sleeper: int
) -> None:
    esd = EsdData(tmp_path)
    paths = closed_logs(esd, sleeper, 3, 4096)
    live = esd.run_log_file("serve", "remote", time.time(), sleeper)
    live.write_text("2026-12-01T10:00:00.000Z INFO x still going\n")  # no closing line
    relaxed = LogSettings(keep_files=100, keep_mb=100, min_free_mb=0)
    assert logs.prune(esd, relaxed, time.time()).removed == []
    free_mb = logs.free_bytes(esd.logs_dir) // MIB
    tight = LogSettings(keep_files=100, keep_mb=100, min_free_mb=free_mb + 1024)
    done = logs.prune(esd, tight, time.time())
    assert done.removed == [p.name + ".gz" for p in paths]
    assert [p.name for p in esd.logs_dir.iterdir()] == [live.name]


def test_a_log_without_its_closing_line_is_not_finished(tmp_path: Path, sleeper: int) -> None:
    esd = EsdData(tmp_path)
    (path,) = closed_logs(esd, sleeper, 1, 100)
    log = logs.log_files(esd)[0]
    assert logs.finished(log, time.time())
    with path.open("a") as handle:  # the same PID's next run appends (same second)
        handle.write("2026-12-01T10:00:01.000Z ERROR y Traceback\n    File x\n")
    assert not logs.finished(log, time.time())
    with path.open("a") as handle:
        handle.write(CLOSING.format(pid=sleeper) + "    a continuation line\n")
    assert logs.finished(log, time.time())


def test_retention_applies_to_the_nested_cycles_of_a_running_daemon(tmp_path: Path) -> None:
    settings = settings_in(tmp_path, logs={"destination": "file", "keep_files": 3})
    esd = EsdData(settings.esd_data)
    clock = StepClock(1_800_000_000.0, 2.0)  # every run starts in its own second
    cycle_logs = []
    with run(settings, "daemon-run", clock=clock) as daemon:
        for n in range(5):
            with run(settings, "sync-cycle", clock=clock) as cycle:
                cycle.log(f"cycle {n}")
                mine = cycle.log_file
                assert mine is not None
                logs.prune(esd, settings.logs, clock.now())  # while it runs: never its own
                assert mine.exists() and not mine.with_name(mine.name + ".gz").exists()
                cycle_logs.append(mine.name)
        names = sorted(p.name for p in esd.logs_dir.iterdir())
        daemon_log = daemon.log_file
        assert daemon_log is not None  # the daemon's own is kept; the last cycle's left as is
        assert names == sorted([daemon_log.name, cycle_logs[3] + ".gz", cycle_logs[4]])
