"""Run logs (ops/logs.py, ops/run.py): names per run and per day, every line stamped with the
UTC time, level and run id, a closing line with exit code and duration; two processes
appending to one daily log across (a faked) midnight lose no line; finished logs are
compressed beside themselves and removed oldest first by the retention limits."""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.unit.test_ops_crashes import settings_in

from atlas_ha.layout.esd import LOG_NAME_RE, EsdData
from atlas_ha.ops import logs
from atlas_ha.ops.run import program_of, run
from atlas_ha.settings import LogSettings

SRC = Path(__file__).resolve().parents[2] / "src"
LINE_RE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (INFO|WARNING|ERROR) \d{8}T\d{6}Z\.\d+(-\d+)? .+$"
)
MIDNIGHT = 1_798_761_600.0  # 2027-01-01T00:00:00Z


class StepClock:
    """A clock that starts at `start` and moves `step` seconds at every reading."""

    def __init__(self, start: float, step: float) -> None:
        self.t, self.step = start, step

    def now(self) -> float:
        self.t += self.step
        return self.t

    def monotonic(self) -> float:
        return self.t


def test_a_run_logs_every_line_stamped_and_closes_with_exit_code_and_duration(
    tmp_path: Path,
) -> None:
    settings = settings_in(tmp_path, logs={"destination": "file"})
    with run(settings, "sync-cycle", argv=["sync", "cycle"]) as this:
        this.log("create (PRI,2): 14 objects")
        this.exit_code = 20
    (path,) = (settings.esd_data / "logs").iterdir()
    match = LOG_NAME_RE.match(path.name)
    assert match and match["program"] == "sync-cycle" and match["origin"] == "local"
    assert match["pid"] == str(os.getpid())
    lines = path.read_text().splitlines()
    assert all(LINE_RE.match(line) for line in lines), lines
    assert {line.split(" ")[2] for line in lines} == {this.run_id}
    assert "start sync cycle (local;" in lines[0] and lines[1].endswith("14 objects")
    assert re.search(r"WARNING \S+ exit 20 after \d+\.\d{3} s$", lines[-1])


def test_partner_runs_are_kept_apart_from_local_ones(tmp_path: Path) -> None:
    settings = settings_in(tmp_path, logs={"destination": "file", "remote_destination": "file"})
    for program in ("serve", "ssh-command", "boot"):
        with run(settings, program):
            pass
    origins = {
        m["program"]: m["origin"]
        for m in (LOG_NAME_RE.match(p.name) for p in (settings.esd_data / "logs").iterdir())
        if m
    }
    assert origins == {"serve": "remote", "ssh-command": "remote", "boot": "local"}


def test_destination_none_writes_nothing_and_program_names(tmp_path: Path) -> None:
    settings = settings_in(tmp_path, logs={"destination": "none"})
    with run(settings, "boot") as this:
        this.log("quiet")
    assert not (settings.esd_data / "logs").exists()
    assert program_of({"command": "sync", "sync_command": "cycle"}) == "sync-cycle"
    assert program_of({"command": "ssh-command", "role": "SEC1"}) == "ssh-command"


WRITER = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, {src!r})
    from atlas_ha.layout.esd import EsdData
    from atlas_ha.ops.logs import RunHandler

    class Clock:
        t = {start!r}
        def now(self):
            self.t += {step!r}
            return self.t

    handler = RunHandler(EsdData(__import__("pathlib").Path({esd!r})), "daemon-run", "local",
                         "w" + sys.argv[1], Clock(), to_file=True, to_console=False,
                         daily=True, started=0.0)
    for n in range({count}):
        handler.write("INFO", "writer %s line %05d %s" % (sys.argv[1], n, "x" * 200))
    """
)


def test_two_writers_across_midnight_lose_no_line(tmp_path: Path) -> None:
    esd = tmp_path / "esd"
    esd.mkdir()
    count, step = 3000, 0.001  # 3 s of faked time each, midnight in the middle
    script = WRITER.format(src=str(SRC), esd=str(esd), start=MIDNIGHT - 1.5, step=step, count=count)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(n)]) for n in (1, 2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    before = esd / "logs" / "daemon-run.2026-12-31.local.log"
    after = esd / "logs" / "daemon-run.2027-01-01.local.log"
    assert sorted(p.name for p in (esd / "logs").iterdir()) == [before.name, after.name]
    seen: dict[str, list[int]] = {"w1": [], "w2": []}
    for path, day in ((before, "2026-12-31"), (after, "2027-01-01")):
        for line in path.read_text().splitlines():
            stamp, _level, run_id, message = line.split(" ", 3)
            assert stamp.startswith(day), line  # each line in its own day's file, whole
            assert message.endswith("x" * 200), line
            seen[run_id].append(int(message.split()[3]))
    for numbers in seen.values():
        assert sorted(numbers) == list(range(count))  # none lost, none twice


def test_finished_logs_are_compressed_beside_and_the_oldest_removed(tmp_path: Path) -> None:
    esd = EsdData(tmp_path)
    esd.logs_dir.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    now = time.time()
    names = [esd.run_log_file("sync-cycle", "local", now - 300 + i, dead.pid) for i in range(4)]
    for i, path in enumerate(names):
        path.write_text(f"line {i}\n" * 100)
        os.utime(path, (now - 300 + i, now - 300 + i))
    mine = esd.run_log_file("sync-cycle", "local", now, os.getpid())  # a live run's
    mine.write_text("running\n")
    old_day = esd.daily_log_file("daemon-run", "local", now - 3 * 86400)
    yesterday = esd.daily_log_file("daemon-run", "local", now - 86400)
    old_day.write_text("old\n")
    yesterday.write_text("yesterday: may still get a line\n")
    os.utime(old_day, (now - 400, now - 400))
    done = logs.prune(esd, LogSettings(keep_files=5, keep_mb=100, min_free_mb=0), now)
    assert sorted(done.compressed) == sorted(p.name for p in [*names, old_day])
    assert done.removed == [old_day.name + ".gz", names[0].name + ".gz"]  # oldest first
    left = sorted(p.name for p in esd.logs_dir.iterdir())
    assert left == sorted([*(n.name + ".gz" for n in names[1:]), mine.name, yesterday.name])
    assert gzip.decompress((esd.logs_dir / (names[3].name + ".gz")).read_bytes()) == (
        b"line 3\n" * 100
    )
    assert not [n for n in left if ".atlas-tmp." in n]  # written atomically, nothing left over
    assert next(logs.lines(esd.logs_dir / (names[1].name + ".gz"))) == "line 1"


def test_a_missing_esd_data_is_never_made_by_a_run(tmp_path: Path) -> None:
    settings = settings_in(tmp_path, logs={"destination": "file"})
    settings.esd_data.rmdir()  # not set up yet, or its disk not mounted
    with run(settings, "boot") as this:
        this.log("to the console")
    assert not settings.esd_data.exists()
