"""`atlas-ha logs --follow` (ops/logfollow.py), read while a writer thread appends: it moves
on to the program's next per-run log and to the next UTC day's daily log, finishes a log that
retention compresses under it from the compressed copy (no line lost, none twice), and with a
run id keeps that run's continuation lines (a traceback)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from tests.unit.test_ops_logs import MIDNIGHT, StepClock

from atlas_ha.layout.esd import EsdData
from atlas_ha.ops import logfollow, logs
from atlas_ha.ops.logs import RunHandler

PID = 1  # init: alive, never this process; the logs count as written by another program


def follow_while(
    esd: EsdData, program: str, run_id: str | None, write: Callable[[], int]
) -> list[str]:
    """Follow while `write` (in a thread) writes; `write` returns how many lines to expect."""
    got: list[str] = []
    done = threading.Event()
    expected: list[int] = []

    def writer() -> None:
        expected.append(write())

    def stop() -> bool:
        return done.is_set()

    def reader() -> None:
        for line in logfollow.show(esd, program, run_id, follow=True, stop=stop, poll=0.01):
            got.append(line)

    reading = threading.Thread(target=reader)
    reading.start()
    writing = threading.Thread(target=writer)
    writing.start()
    writing.join(timeout=60)
    deadline = time.monotonic() + 30
    while (not expected or len(got) < expected[0]) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # a line too many would arrive now
    done.set()
    reading.join(timeout=10)
    return got


def append(path: Path, *lines: str) -> None:
    with path.open("a") as handle:
        handle.write("".join(line + "\n" for line in lines))


def test_follow_moves_to_the_next_run_log_and_survives_compression(tmp_path: Path) -> None:
    esd = EsdData(tmp_path)
    esd.logs_dir.mkdir()
    first = esd.run_log_file("sync-cycle", "local", MIDNIGHT, PID)
    second = esd.run_log_file("sync-cycle", "local", MIDNIGHT + 60, PID)
    other = esd.run_log_file("serve", "remote", MIDNIGHT + 30, PID)
    append(first, "T INFO r1 start sync cycle")

    def write() -> int:
        time.sleep(0.1)
        append(first, *(f"T INFO r1 line {n}" for n in range(50)))
        time.sleep(0.1)
        append(first, "T INFO r1 last line before prune", "T INFO r1 exit 0 after 1.000 s")
        logs.compress(first)  # at once: the reader has not seen the last lines yet
        append(other, "T INFO s1 another program's")
        for n in range(20):
            append(second, f"T INFO r2 line {n}")
            time.sleep(0.01)
        return 1 + 50 + 2 + 20

    got = follow_while(esd, "sync-cycle", None, write)
    assert got == [
        "T INFO r1 start sync cycle",
        *(f"T INFO r1 line {n}" for n in range(50)),
        "T INFO r1 last line before prune",
        "T INFO r1 exit 0 after 1.000 s",
        *(f"T INFO r2 line {n}" for n in range(20)),
    ]


def test_follow_a_run_across_midnight_with_its_traceback(tmp_path: Path) -> None:
    esd = EsdData(tmp_path)
    clock = StepClock(MIDNIGHT - 0.5, 0.01)

    def handler(run_id: str) -> RunHandler:
        return RunHandler(
            esd, "daemon-run", "local", run_id, clock,
            to_file=True, to_console=False, daily=True, started=0.0,
        )  # fmt: skip

    mine, theirs = handler("20261231T235959Z.7"), handler("20261231T235959Z.7-1")
    mine.write("INFO", "start daemon run")

    def write() -> int:
        for n in range(100):  # 100 x 2 readings x 0.01 s: midnight in the middle
            mine.write("INFO", f"mine {n}")
            theirs.write("INFO", f"theirs {n}")
        mine.write("ERROR", "Traceback (most recent call last):\n  File x\nValueError: boom")
        theirs.write("ERROR", "theirs too\n  continued")
        mine.write("INFO", "exit 1 after 2.000 s")
        return 1 + 100 + 3 + 1

    got = follow_while(esd, "daemon-run", "20261231T235959Z.7", write)
    assert sorted(p.name for p in esd.logs_dir.iterdir()) == [
        "daemon-run.2026-12-31.local.log",
        "daemon-run.2027-01-01.local.log",
    ]
    messages = [line.split(" ", 3)[3] if not line.startswith(" ") else line for line in got]
    assert messages == [
        "start daemon run",
        *(f"mine {n}" for n in range(100)),
        "Traceback (most recent call last):",
        "      File x",
        "    ValueError: boom",
        "exit 1 after 2.000 s",
    ]
