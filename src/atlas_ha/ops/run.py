"""The run wrapper (SPEC 7.2, 7.3; seed [P397-P406]): every Sentry program runs through `run`.

    with run(settings, "sync-cycle") as current:   # the start handler first (ops/start.py)
        ...                                       # `log_line` / server.log -> its log
        current.exit_code = 20                    # the closing line says so

A run has an id (`<UTC yyyymmddThhmmssZ>.<pid>`, `-<n>` for the n-th nested run of a
process), an origin (`local`, or `remote` for the runs a partner requests: `ssh-command`,
`serve`) and a destination from `[logs]` (console, file, both, none: the console is stderr,
never stdout, which the partner protocol and the commands' output own). Its log is one file
per run or per day (`[logs] daily`), see ops/logs.py. The first run of a process installs
the crash hooks (sys.excepthook, threading.excepthook), and every run first takes the new
core files into the crash store. Its last line says its exit code and duration; a
partner's rsync runs as its child (`run_child`), so its exit code and duration are logged.

Lines logged from a thread that opened no run of its own go to the process's first run
(the daemon's Verifier thread writes into the daemon's log).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atlas_ha import __version__
from atlas_ha.errors import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERRUPTED,
    EXIT_SYSTEM,
    AtlasError,
    SettingsError,
)
from atlas_ha.layout.esd import EsdData
from atlas_ha.ops import crash, logs, start
from atlas_ha.ops.notify import emit_alert
from atlas_ha.settings import Settings, load, locate
from atlas_ha.system import Clock

REMOTE_PROGRAMS = frozenset({"ssh-command", "serve"})
LEVELS = {
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
}

_local = threading.local()
_lock = threading.Lock()
_root: list[Run] = []  # the process's first run, while it lasts
_sequence = itertools.count()
_hooks: list[Callable[[], None]] = []


def exit_code_of(exc: BaseException) -> int:
    """The exit code the CLI gives an exception (cli/main.py), 1 for one it does not expect."""
    if isinstance(exc, AtlasError):
        return exc.exit_code
    if isinstance(exc, BrokenPipeError):
        return EXIT_BROKEN_PIPE
    if isinstance(exc, OSError):
        return EXIT_SYSTEM
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, SystemExit):
        return exc.code if isinstance(exc.code, int) else 1
    return 1


def expected(exc: BaseException) -> bool:
    """An exception the CLI reports as an error line, not a crash."""
    return isinstance(exc, AtlasError | OSError | KeyboardInterrupt | SystemExit)


@dataclass
class Run:
    program: str
    origin: str
    run_id: str
    settings: Settings | None
    logger: logging.Logger
    handler: logs.RunHandler | None
    started: float
    exit_code: int = 0
    degraded: str | None = None
    notes: list[str] = field(default_factory=list)

    def log(self, text: str, level: str = "INFO", console: bool = True) -> None:
        self.logger.log(LEVELS.get(level, logging.INFO), text, extra={"console": console})

    @property
    def log_file(self) -> Path | None:
        return self.handler.path if self.handler is not None else None

    def info(self) -> crash.RunInfo:
        path = self.log_file
        return crash.RunInfo(self.program, str(path) if path else None)


def current() -> Run | None:
    """The run of this thread (its innermost), else the process's first run."""
    stack: list[Run] = getattr(_local, "stack", [])
    if stack:
        return stack[-1]
    return _root[0] if _root else None


def log_line(text: str) -> None:
    """What `server.log` calls: a line into the current run's log (stderr without a run)."""
    run_ = current()
    if run_ is None:
        print(text, file=sys.stderr, flush=True)
        return
    level = "WARNING" if text.startswith(("ALERT", "WARNING")) else "INFO"
    run_.log(text, level)


def destination(settings: Settings | None, origin: str) -> tuple[bool, bool]:
    """(to_file, to_console) of a run."""
    if settings is None:
        return False, True
    where = settings.logs.remote_destination if origin == "remote" else settings.logs.destination
    return where in ("file", "both"), where in ("console", "both")


def _make_run(settings: Settings | None, program: str, origin: str, clock: Clock) -> Run:
    started = clock.now()
    n = next(_sequence)
    run_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started)) + f".{os.getpid()}"
    run_id += f"-{n}" if n else ""
    logger = logging.getLogger(f"atlas_ha.run.{run_id}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    to_file, to_console = destination(settings, origin)
    if to_file and settings is not None and not settings.esd_data.is_dir():
        to_file, to_console = False, True  # no ESD_DATA yet (init) or not mounted: not made
    handler = None
    run_ = Run(program, origin, run_id, settings, logger, None, started)
    if to_file or to_console:
        esd = EsdData(settings.esd_data) if settings is not None else EsdData(Path("/nonexistent"))

        def degraded(reason: str) -> None:
            run_.degraded = reason
            if settings is not None:
                emit_alert(
                    settings,
                    "log-degraded",
                    f"{program}: log file unusable ({reason}); this run logs to the console",
                    program=program,
                    run=run_id,
                )

        handler = logs.RunHandler(
            esd,
            program,
            origin,
            run_id,
            clock,
            to_file=to_file,
            to_console=to_console,
            daily=settings is not None and program in settings.logs.daily,
            started=started,
            on_degraded=degraded,
        )
        logger.addHandler(handler)
        run_.handler = handler
    return run_


@contextlib.contextmanager
def run(
    settings: Settings | None,
    program: str,
    *,
    origin: str | None = None,
    clock: Clock | None = None,
    argv: list[str] | None = None,
) -> Iterator[Run]:
    """Run `program` under the wrapper: start checks, core scan, log, crash hooks, closing
    line. `settings` None (none could be loaded): console only, no checks."""
    origin = origin or ("remote" if program in REMOTE_PROGRAMS else "local")
    clock = clock or Clock()
    run_ = _make_run(settings, program, origin, clock)
    began = clock.monotonic()
    stack: list[Run] = _local.__dict__.setdefault("stack", [])
    first = False
    with _lock:
        if not _root:
            _root.append(run_)
            first = True
    stack.append(run_)
    shown = " ".join(argv) if argv else program
    run_.log(f"start {shown} ({origin}; atlas-ha {__version__}; pid {os.getpid()})", console=False)
    claim: start.PidClaim | None = None
    try:
        if settings is not None:
            if first:
                _hooks.append(crash.install_hooks(settings, lambda: _info(), log_line))
            _scan(settings, run_)
            claim = start.check(settings, program, origin, lambda lvl, text: run_.log(text, lvl))
        yield run_
    except BaseException as exc:
        run_.exit_code = exit_code_of(exc)
        if not expected(exc):
            run_.log(f"uncaught {type(exc).__name__}: {exc}", "ERROR")
            if settings is not None:
                outcome = crash.record_exception(settings, exc, run_.info())
                run_.log(f"crash recorded ({outcome or 'already recorded'})", "ERROR")
        raise
    finally:
        if claim is not None:
            claim.release()
        level = "INFO" if run_.exit_code == 0 else "WARNING"
        took = clock.monotonic() - began
        run_.log(f"exit {run_.exit_code} after {took:.3f} s", level, console=False)
        stack.pop()
        _finish(settings, run_, first, clock)


def _info() -> crash.RunInfo:
    run_ = current()
    return run_.info() if run_ is not None else crash.RunInfo(None, None)


def _scan(settings: Settings, run_: Run) -> None:
    if not settings.esd_data.is_dir() or not crash.scan_due(settings, time.time()):
        return  # no ESD_DATA (never made here), or scanned less than a minute ago
    try:
        crash.scan_cores(settings, run_.log, run_.info())
    except AtlasError as exc:  # a broken store or core never stops the run
        run_.log(f"core scan: {exc}", "WARNING")
    except OSError as exc:
        run_.log(f"core scan: {exc.filename or ''}: {exc.strerror or exc}", "WARNING")


def _finish(settings: Settings | None, run_: Run, first: bool, clock: Clock) -> None:
    own = run_.log_file
    if run_.handler is not None:
        run_.logger.removeHandler(run_.handler)
        run_.handler.close()
    logging.Logger.manager.loggerDict.pop(run_.logger.name, None)  # a daemon runs many
    if first:
        with _lock:
            _root.clear()
        while _hooks:
            _hooks.pop()()
    if settings is not None and run_.handler is not None and run_.handler.to_file:
        with contextlib.suppress(OSError):  # retention never fails a run
            logs.prune(EsdData(settings.esd_data), settings.logs, clock.now(), spare=own)


FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


def run_child(argv: list[str], cwd: Path, what: str) -> int:
    """Run `argv` (a partner's checked rsync) as this run's child in `cwd`, on this process's
    stdin/stdout (the ssh channel), and wait: its exit code and duration go to the run's
    log, and the run's closing line carries its code. SIGTERM, SIGHUP and SIGINT reaching
    this process are passed on to the child (sshd ending the session ends the rsync), and
    the child is killed if this process fails while it runs. A child killed by signal N
    gives 128 + N, as a shell would."""
    current_run = current()

    def say(text: str, level: str = "INFO") -> None:
        if current_run is not None:
            current_run.log(text, level, console=False)

    began = time.monotonic()
    proc = subprocess.Popen(argv, cwd=cwd, close_fds=True)
    say(f"{what}: {argv[0]} pid {proc.pid} in {cwd}")
    before: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in FORWARDED:
            before[signum] = signal.signal(signum, lambda n, _f: proc.send_signal(n))
    try:
        code = proc.wait()
    finally:
        for number, handler in before.items():
            signal.signal(number, handler)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    code = 128 - code if code < 0 else code
    took = time.monotonic() - began
    level = "INFO" if code == 0 else "WARNING"
    say(f"{what}: {Path(argv[0]).name} exit {code} after {took:.3f} s", level)
    return code


def program_of(args: Mapping[str, Any]) -> str:
    """The program name of a parsed command line: its command and subcommand words
    (`sync cycle` -> sync-cycle, `daemon run` -> daemon-run, `boot` -> boot)."""
    command = str(args.get("command") or "atlas-ha")
    sub = args.get(f"{command.replace('-', '_')}_command")
    return f"{command}-{sub}" if isinstance(sub, str) else command


def run_command(config: Path | None, program: str, call: Callable[[], int], argv: list[str]) -> int:
    """The CLI's wrapper: load the settings (when they do not load, the command runs with a
    console-only run and reports that itself), run `call` under `run`, return its code."""
    try:
        settings: Settings | None = load(locate(config))
    except SettingsError:
        settings = None
    with run(settings, program, argv=argv) as current_run:
        code = call()
        current_run.exit_code = code
    return code
