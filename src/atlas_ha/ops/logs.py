"""Run logs (SPEC 7.2): one file per run or per day in ESD_DATA/logs, appended, never renamed.

Every line is `<UTC timestamp> <LEVEL> <run id> <message>`. A file is opened with O_APPEND and
each line is one write(2), so several processes appending to one daily file never tear or
lose each other's lines, and no file is ever renamed while someone may write it: a daily log
changes at UTC midnight by opening the next day's name. Finished logs (a per-run log whose
run wrote its closing `exit` line or whose process is gone, a day older than yesterday) are
compressed beside themselves (gzip, written atomically, then the original removed) and
removed oldest first while the retention limits of `[logs]` (count, bytes, a minimum of free
disk) are crossed.

A log file that cannot be written (a full disk, a read-only mount) never stops the run: the
handler degrades to the console (stderr) for the rest of the run and reports it once
(`on_degraded`, an event record).
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TextIO

from atlas_ha.errors import NoLogsError
from atlas_ha.layout.atomic import atomic_write
from atlas_ha.layout.esd import LOG_NAME_RE, EsdData
from atlas_ha.layout.tempnames import alive
from atlas_ha.settings import LogSettings

MIB = 1 << 20
DAY = 86400.0
CLOSING_RE = re.compile(r"^\S+ \S+ \S+ exit -?\d+ after \d+(\.\d+)? s$")
TAIL = 8192  # bytes read from a log's end to find its last line

_open_lock = threading.Lock()
_open_here: dict[Path, int] = {}  # the per-run logs this process's runs write now


def _opened(path: Path) -> None:
    with _open_lock:
        _open_here[path] = _open_here.get(path, 0) + 1


def _closed(path: Path) -> None:
    with _open_lock:
        left = _open_here.get(path, 0) - 1
        if left > 0:
            _open_here[path] = left
        else:
            _open_here.pop(path, None)


def open_here(path: Path) -> bool:
    """A run of this process writes `path` now."""
    with _open_lock:
        return path in _open_here


class WallClock(Protocol):
    def now(self) -> float: ...


def stamp(when: float) -> str:
    """A line's UTC timestamp, to the millisecond: 2026-12-01T15:04:05.123Z."""
    whole = int(when)
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        + f".{int((when - whole) * 1000):03d}Z"
    )


class RunHandler(logging.Handler):
    """Writes a run's records to its log file (fixed, or the file of each line's UTC day) and/or
    to the console. Never raises: a file that fails degrades the handler to the console."""

    def __init__(
        self,
        esd: EsdData,
        program: str,
        origin: str,
        run_id: str,
        clock: WallClock,
        *,
        to_file: bool,
        to_console: bool,
        daily: bool,
        started: float,
        on_degraded: Callable[[str], None] = lambda _reason: None,
    ) -> None:
        super().__init__()
        self.esd, self.program, self.origin, self.run_id = esd, program, origin, run_id
        self.clock, self.to_file, self.to_console, self.daily = clock, to_file, to_console, daily
        self.started = started
        self.on_degraded = on_degraded
        self.degraded: str | None = None
        self._fd: int | None = None
        self._path: Path | None = None

    def file_for(self, when: float) -> Path:
        if self.daily:
            return self.esd.daily_log_file(self.program, self.origin, when)
        return self.esd.run_log_file(self.program, self.origin, self.started, os.getpid())

    @property
    def path(self) -> Path | None:
        """The file this run writes now (None: console or nowhere)."""
        if not self.to_file or self.degraded:
            return None
        return self._path or self.file_for(self.clock.now())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # an unformattable record: logging reports it (handleError)
            self.handleError(record)
            return
        self.write(record.levelname, message, console=getattr(record, "console", True))

    def write(self, level: str, message: str, console: bool = True) -> None:
        """The file gets `<UTC timestamp> <LEVEL> <run id> <message>`; the console the message
        as the program said it (the wrapper's own start and exit lines only in the file),
        and the whole line once the file failed (nothing is lost)."""
        line = f"{stamp(self.clock.now())} {level} {self.run_id} {message}"
        if self.to_file and not self.degraded:
            data = line.rstrip("\n").replace("\n", "\n    ") + "\n"
            try:
                self._append(data.encode("utf-8", "surrogateescape"))
            except OSError as exc:
                self._degrade(exc)
        if self.degraded:
            self._console(line)
        elif self.to_console and console:
            self._console(message)

    @staticmethod
    def _console(text: str) -> None:
        with contextlib.suppress(OSError, ValueError):  # no console left: nothing to do
            print(text, file=sys.stderr, flush=True)

    def _append(self, data: bytes) -> None:
        path = self.file_for(self.clock.now())
        if path != self._path or self._fd is None:
            self._close()
            path.parent.mkdir(exist_ok=True)  # ESD_DATA/logs, never ESD_DATA itself
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
            self._path = path
            _opened(path)
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def _degrade(self, exc: OSError) -> None:
        where = exc.filename or self._path or self.esd.logs_dir
        self.degraded = f"{where}: {exc.strerror or exc}"
        self._close()
        self._console(
            f"{stamp(self.clock.now())} WARNING {self.run_id} log file unusable ({self.degraded}):"
            " logging to the console for the rest of this run"
        )
        self.on_degraded(self.degraded)

    def _close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            if self._path is not None:
                _closed(self._path)
        self._fd = None

    def close(self) -> None:
        self._close()
        super().close()


@dataclass(frozen=True)
class LogFile:
    path: Path
    program: str
    origin: str
    pid: int | None  # per-run logs
    day: str | None  # daily logs
    compressed: bool


def log_files(esd: EsdData) -> list[LogFile]:
    """Every log in ESD_DATA/logs (other names are left alone), oldest name first."""
    try:
        names = sorted(entry.name for entry in os.scandir(esd.logs_dir))
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        match = LOG_NAME_RE.match(name)
        if match:
            found.append(
                LogFile(
                    esd.logs_dir / name,
                    match["program"],
                    match["origin"],
                    int(match["pid"]) if match["pid"] else None,
                    match["day"],
                    bool(match["gz"]),
                )
            )
    return found


def finished(log: LogFile, now: float) -> bool:
    """Nobody writes it any more. A per-run log: compressed, or its process is gone, or (a
    process running many runs: the daemon's nested SyncCycles carry its PID) no run of this
    process writes it now and its last line is a run's closing `exit` line. A daily log: its
    day is before yesterday (a line stamped 23:59:59.9 yesterday may still be on its way)."""
    if log.pid is not None:
        if log.compressed or not alive(log.pid):
            return True
        if log.pid == os.getpid() and open_here(log.path):
            return False
        return closed_by_its_run(log.path)
    return log.day is not None and log.day < time.strftime("%Y-%m-%d", time.gmtime(now - DAY))


def closed_by_its_run(path: Path) -> bool:
    """The last line of `path` (continuation lines aside) is a run's closing line."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - TAIL))
            tail = handle.read().decode("utf-8", "surrogateescape")
    except OSError:
        return False
    if not tail.endswith("\n"):
        return False  # a line still being written
    heads = [line for line in tail.splitlines() if line and not line.startswith(" ")]
    return bool(heads) and CLOSING_RE.match(heads[-1]) is not None


@dataclass
class Pruned:
    compressed: list[str]
    removed: list[str]


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def prune(esd: EsdData, limits: LogSettings, now: float, spare: Path | None = None) -> Pruned:
    """Compress finished logs, then remove the oldest finished ones while more than
    `keep_files`, more than `keep_mb` together or less than `min_free_mb` free on ESD_DATA.
    `spare`: the log of the run that just ended, left as it is for the next prune (one may
    still read it)."""
    done = Pruned([], [])
    for log in log_files(esd):
        if log.path == spare:
            continue
        if not log.compressed and finished(log, now):
            try:
                compress(log.path)
            except OSError:
                break  # no room to compress: the removals below make some
            done.compressed.append(log.path.name)
    logs = [(log, _size(log.path)) for log in log_files(esd)]
    logs.sort(key=lambda item: (_mtime(item[0].path), item[0].path.name))
    count, total = len(logs), sum(size for _log, size in logs)
    for log, size in logs:
        low = _free_or_none(esd.logs_dir)
        if not (
            count > limits.keep_files
            or total > limits.keep_mb * MIB
            or (low is not None and low < limits.min_free_mb * MIB)
        ):
            break
        if log.path == spare or not finished(log, now):
            continue
        with contextlib.suppress(FileNotFoundError):
            log.path.unlink()
            done.removed.append(log.path.name)
        count, total = count - 1, total - size
    return done


def compress(path: Path) -> Path:
    """NAME -> NAME.gz: the compressed file written atomically beside, then NAME removed."""
    target = path.with_name(path.name + ".gz")
    atomic_write(target, gzip.compress(path.read_bytes(), mtime=0), mode=0o640)
    os.utime(target, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns))
    path.unlink()
    return target


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _free_or_none(path: Path) -> int | None:
    try:
        return free_bytes(path)
    except OSError:
        return None


# --- reading (`atlas-ha logs`) ---


def select(esd: EsdData, program: str | None, run_id: str | None) -> list[LogFile]:
    """The logs of `program` (all when None) holding run `run_id` (when given), oldest first;
    not the asking process's own."""
    logs = [
        log
        for log in log_files(esd)
        if (program is None or log.program == program) and log.pid != os.getpid()
    ]
    if not logs:
        known = sorted({log.program for log in log_files(esd)})
        raise NoLogsError(
            f"{esd.logs_dir}: no log of {program or 'any program'}"
            + (f" (programs with logs: {', '.join(known)})" if known else "")
        )
    logs.sort(key=lambda log: (_mtime(log.path), log.path.name))
    if run_id is not None:
        logs = [log for log in logs if any(True for _ in lines(log.path, run_id))]
        if not logs:
            raise NoLogsError(f"{esd.logs_dir}: no line of run {run_id}")
    return logs


def lines(path: Path, run_id: str | None = None) -> Iterator[str]:
    """The lines of a log (compressed or not); only run `run_id`'s when given (its
    continuation lines included)."""
    if path.name.endswith(".gz"):
        handle: TextIO = gzip.open(path, "rt", encoding="utf-8", errors="surrogateescape")  # noqa: SIM115 (closed by the with below)
    else:
        handle = path.open(encoding="utf-8", errors="surrogateescape")
    with handle:
        keep = run_id is None
        for line in handle:
            if run_id is not None and not line.startswith(" "):
                parts = line.split(" ", 3)
                keep = len(parts) > 2 and parts[2] == run_id
            if keep:
                yield line.rstrip("\n")
