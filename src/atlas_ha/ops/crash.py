"""The crash handler (SPEC 7.3, seed [P402-P406]): uncaught exceptions of Sentry programs
(the main thread and every other thread: `install_hooks`) and new core files of services
(`scan_cores`: systemd-coredump's `coredumpctl --json=short` where present, else
`[crashes] core_dir`), each recorded in the crash store under its signature; an alert only
for a new signature, or one recurring in a version at or after the one it was marked fixed
in.

The run wrapper scans for cores before each run, so a core is taken into the store before a
later crash can overwrite it; a core in `core_dir` is removed once stored (`remove_cores`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from atlas_ha import __version__
from atlas_ha.errors import AtlasError
from atlas_ha.layout.atomic import read_text_or_none
from atlas_ha.layout.esd import EsdData
from atlas_ha.ops import signature
from atlas_ha.ops.crashstore import NEW, RECURRING, CrashStore, Occurrence
from atlas_ha.ops.notify import emit_alert
from atlas_ha.settings import Settings
from atlas_ha.system import Runner

MIB = 1 << 20
SETTLE = 2.0  # s: a core younger than this may still be being written; the next run takes it
SCAN_EVERY = 60.0  # s: the run wrapper scans for new cores at most this often per server
RECORDED = "_atlas_ha_crash_recorded"  # set on an exception once recorded (no second record)


@dataclass(frozen=True)
class RunInfo:
    """What an occurrence records of the run that saw it."""

    program: str | None
    log_file: str | None


def role_of(settings: Settings) -> str | None:
    with contextlib.suppress(AtlasError, OSError):
        text = read_text_or_none(EsdData(settings.esd_data).current_role_file)
        return text.strip() or None if text else None
    return None


def store_for(settings: Settings) -> CrashStore:
    return CrashStore(EsdData(settings.esd_data).crash_store_file)


def _record(
    settings: Settings,
    crash: signature.Crash,
    kind: str,
    run: RunInfo,
    core: bytes | None = None,
    *,
    when: float | None = None,
    program: str | None = None,
) -> str:
    """`when`, `program`: a core's own time and crashed executable (not the scanning run's)."""
    seen = Occurrence(
        time.time() if when is None else when,
        settings.name,
        role_of(settings),
        program or run.program,
        __version__,
        run.log_file,
    )
    store = store_for(settings)
    try:
        outcome = store.record(crash, kind, seen, core)
    finally:
        store.close()
    if outcome in (NEW, RECURRING):
        emit_alert(
            settings,
            "crash-new" if outcome == NEW else "crash-recurring",
            f"{'new crash' if outcome == NEW else 'crash recurring after its fix'}: {crash.title}",
            signature=crash.signature,
            program=run.program,
            log_file=run.log_file,
        )
    return outcome


def record_exception(settings: Settings, exc: BaseException, run: RunInfo) -> str | None:
    """Record an uncaught exception once (None: recorded already, or the store failed — said
    on stderr: the crash handler never hides the crash it handles)."""
    if getattr(exc, RECORDED, False):
        return None
    with contextlib.suppress(AttributeError, TypeError):
        setattr(exc, RECORDED, True)
    try:
        return _record(settings, signature.of_exception(exc), "exception", run)
    except Exception as err:  # a failing store must not mask the crash it records
        print(f"atlas-ha: crash not recorded in the store: {err}", file=sys.stderr)
        return None


def install_hooks(
    settings: Settings, run: Callable[[], RunInfo], log: Callable[[str], None]
) -> Callable[[], None]:
    """sys.excepthook and threading.excepthook record uncaught exceptions (then do what they
    did before); the function returned puts the previous hooks back."""
    before, before_thread = sys.excepthook, threading.excepthook

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if not isinstance(exc, KeyboardInterrupt | SystemExit):
            outcome = record_exception(settings, exc, run())
            if outcome:
                log(f"uncaught {kind.__name__}: crash recorded ({outcome})")
        before(kind, exc, tb)

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None and not isinstance(args.exc_value, SystemExit):
            outcome = record_exception(settings, args.exc_value, run())
            name = args.thread.name if args.thread else "?"
            log(f"uncaught {args.exc_type.__name__} in thread {name}: crash recorded ({outcome})")
        before_thread(args)

    sys.excepthook, threading.excepthook = hook, thread_hook

    def restore() -> None:
        sys.excepthook, threading.excepthook = before, before_thread

    return restore


# --- core files ---


@dataclass(frozen=True)
class CoreInfo:
    program: str  # the executable (NT_FILE's first mapping) or its short name (NT_PRPSINFO)
    signal_name: str


def read_core_info(path: Path) -> CoreInfo:
    """The program and signal of an ELF core (x86-64/aarch64 little-endian 64-bit layout),
    from its notes; "unknown" where the core does not say."""
    fname, exe, sig = "unknown", None, 0
    with path.open("rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
            return CoreInfo("unknown", "unknown")
        (e_type,) = struct.unpack_from("<H", head, 16)
        (phoff,) = struct.unpack_from("<Q", head, 32)
        phentsize, phnum = struct.unpack_from("<HH", head, 54)
        if e_type != 4:  # ET_CORE
            return CoreInfo("unknown", "unknown")
        for i in range(min(phnum, 4096)):
            f.seek(phoff + i * phentsize)
            p_type, _flags, offset, _va, _pa, filesz = struct.unpack("<IIQQQQ", f.read(40))
            if p_type != 4 or filesz > 64 * MIB:  # PT_NOTE
                continue
            f.seek(offset)
            notes = f.read(filesz)
            pos = 0
            while pos + 12 <= len(notes):
                namesz, descsz, ntype = struct.unpack_from("<III", notes, pos)
                pos += 12 + ((namesz + 3) & ~3)
                desc = notes[pos : pos + descsz]
                pos += (descsz + 3) & ~3
                if ntype == 1 and len(desc) >= 14 and not sig:  # NT_PRSTATUS: pr_cursig
                    (sig,) = struct.unpack_from("<h", desc, 12)
                elif ntype == 3 and len(desc) >= 56:  # NT_PRPSINFO: pr_fname
                    fname = desc[40:56].split(b"\0")[0].decode(errors="replace") or fname
                elif ntype == 0x46494C45 and len(desc) >= 16 and exe is None:  # NT_FILE
                    (count,) = struct.unpack_from("<Q", desc, 0)
                    names = desc[16 + 24 * count :].split(b"\0")
                    exe = names[0].decode(errors="replace") if names and names[0] else None
    try:
        name = signal.Signals(sig).name
    except ValueError:
        name = f"signal {sig}" if sig else "unknown"
    return CoreInfo(exe or fname, name)


def backtrace(runner: Runner, program: str, core: Path) -> str:
    """gdb's backtrace of the core (empty without gdb, or if it fails)."""
    gdb = shutil.which("gdb")
    if gdb is None or not program.startswith("/") or not Path(program).exists():
        return ""
    with contextlib.suppress(AtlasError):
        done = runner.run(
            [gdb, "-batch", "-nx", "-ex", "bt 40", program, str(core)],
            timeout=120,
            check=False,
            errors="replace",
        )
        return "\n".join(line for line in done.stdout.splitlines() if line.startswith("#"))
    return ""


def core_files(core_dir: Path, settle: float, now: float) -> list[Path]:
    try:
        entries = sorted(os.scandir(core_dir), key=lambda e: e.name)
    except FileNotFoundError:
        return []
    return [
        Path(e.path)
        for e in entries
        if (e.name == "core" or e.name.startswith("core."))
        and e.is_file(follow_symlinks=False)
        and now - e.stat().st_mtime >= settle
    ]


def scan_cores(
    settings: Settings,
    log: Callable[[str], None],
    run: RunInfo,
    runner: Runner | None = None,
    settle: float = SETTLE,
) -> list[tuple[str, str]]:
    """Take every new core into the store: (signature, outcome) of each."""
    runner = runner or Runner()
    crashes = settings.crashes
    use_coredumpctl = crashes.coredumpctl == "yes" or (
        crashes.coredumpctl == "auto" and shutil.which("coredumpctl") is not None
    )
    found: list[tuple[str, str]] = []
    if use_coredumpctl:
        found += _scan_coredumpctl(settings, log, run, runner)
    if crashes.core_dir is not None:
        store = store_for(settings)
        try:
            for core in core_files(crashes.core_dir, settle, time.time()):
                st = core.stat()
                key = f"file:{core}:{st.st_ino}:{st.st_mtime_ns}:{st.st_size}"
                if store.core_seen(key):
                    continue
                found.append(_take_core(settings, core, run, runner, log))
                store.mark_core_seen(key)
                if crashes.remove_cores:
                    core.unlink(missing_ok=True)
        finally:
            store.close()
    return found


def _take_core(
    settings: Settings,
    core: Path,
    run: RunInfo,
    runner: Runner,
    log: Callable[[str], None],
    when: float | None = None,
    exe: str | None = None,
    signal_name: str | None = None,
) -> tuple[str, str]:
    """Record `core`; its occurrence has the core's time (`when`, else the file's mtime) and
    the crashed executable (`exe`, else what the core's notes say); `exe` and `signal_name`
    (coredumpctl's) stand in for what the core's notes do not say."""
    info = read_core_info(core)
    info = CoreInfo(
        exe if exe and info.program == "unknown" else info.program,
        signal_name if signal_name and info.signal_name == "unknown" else info.signal_name,
    )
    crash = signature.of_core(info.program, info.signal_name, backtrace(runner, info.program, core))
    st = core.stat()
    data = core.read_bytes() if st.st_size <= settings.crashes.max_core_mb * MIB else None
    size = st.st_size
    outcome = _record(
        settings,
        crash,
        "core",
        run,
        data,
        when=st.st_mtime if when is None else when,
        program=exe or info.program,
    )
    kept = "stored compressed" if data is not None else f"not stored ({size} bytes > max_core_mb)"
    what = f"{info.program} ({info.signal_name})"
    log(f"core {core} of {what}: {crash.signature[:12]} {outcome}, {kept}")
    return crash.signature, outcome


def parse_coredumpctl(text: str) -> list[dict[str, object]]:
    """`coredumpctl --json=short list`: a JSON array of objects (time in µs, pid, sig, exe,
    corefile "present"|"missing"|...); entries without pid/time are dropped."""
    try:
        data = json.loads(text)
    except ValueError:
        return []
    if not isinstance(data, list):
        return []
    return [
        e for e in data if isinstance(e, dict) and isinstance(e.get("pid"), int) and "time" in e
    ]


def _time_and_exe(entry: dict[str, object]) -> tuple[float | None, str | None, str | None]:
    """A coredumpctl entry's time (µs since the epoch -> s), executable and signal name."""
    stamp, exe, sig = entry.get("time"), entry.get("exe"), entry.get("sig")
    when = stamp / 1e6 if isinstance(stamp, int | float) and not isinstance(stamp, bool) else None
    name = None
    if isinstance(sig, int) and not isinstance(sig, bool):
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
    return when, exe if isinstance(exe, str) and exe else None, name


def scan_due(settings: Settings, now: float, every: float | None = None) -> bool:
    """Whether this run scans for cores: at most once every `every` (SCAN_EVERY) seconds per
    server (the stamp file's mtime; one in the future, a clock set back, does not count).
    Taking the turn touches the stamp; a stamp that cannot be written lets the scan run."""
    every = SCAN_EVERY if every is None else every
    stamp = EsdData(settings.esd_data).core_scan_stamp_file
    try:
        last = stamp.stat().st_mtime
    except OSError:
        last = None
    if last is not None and 0 <= now - last < every:
        return False
    with contextlib.suppress(OSError):
        stamp.parent.mkdir(mode=0o700, exist_ok=True)
        stamp.touch()
        os.utime(stamp, (now, now))
    return True


def _scan_coredumpctl(
    settings: Settings, log: Callable[[str], None], run: RunInfo, runner: Runner
) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    try:
        listed = runner.run(
            ["coredumpctl", "--json=short", "--no-pager", "list"], check=False, timeout=60
        )
    except AtlasError as exc:
        log(f"coredumpctl: {exc}")
        return found
    store = store_for(settings)
    try:
        for entry in parse_coredumpctl(listed.stdout):
            key = f"coredumpctl:{entry['pid']}:{entry['time']}"
            if store.core_seen(key) or entry.get("corefile") != "present":
                continue
            with tempfile.TemporaryDirectory(prefix="atlas-ha-core.") as tmp:
                out = Path(tmp) / "core"
                try:
                    runner.run(
                        ["coredumpctl", "dump", str(entry["pid"]), "-o", str(out)], timeout=300
                    )
                except AtlasError as exc:
                    log(f"coredumpctl dump {entry['pid']}: {exc}")
                    continue
                found.append(_take_core(settings, out, run, runner, log, *_time_and_exe(entry)))
            store.mark_core_seen(key)
    finally:
        store.close()
    return found
