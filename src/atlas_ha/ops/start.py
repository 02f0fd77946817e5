"""The start handler (SPEC 7.3, seed [P403]): before each run, the process profile and the
system resources against `[limits]`.

  * process profile: a program of `single_instance` keeps its PID in
    `ESD_DATA/run/<program>.pid` while it runs; another live instance is a warning (a
    refusal for `REFUSE_SECOND`: a second daemon), a PID file whose process is gone (or is
    no atlas-ha program: a reused PID) is removed, logged and recorded as an event (the run
    before crashed or was killed);
  * resources: free space on ESD_DATA, SID_DATA and the system root, MemAvailable, the
    1-minute load per CPU.

A limit crossed is a log line and an event record (`notify.emit_alert`), and a refusal
(StartRefusedError) where running would be unsafe: a program that writes SID_DATA
(`SID_WRITERS`, `writes_sid`) with SID_DATA below `sid_min_free_mb`, a second daemon.
Otherwise a warning, and the run goes on.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from atlas_ha.errors import StartRefusedError
from atlas_ha.layout.rundir import program_pid_file
from atlas_ha.layout.tempnames import alive
from atlas_ha.ops.notify import emit_alert
from atlas_ha.settings import Settings

MIB = 1 << 20
# the runs that write SID_DATA: a SyncCycle, Create, conversions, Install, a partner's
# receive (its session and its rsync)
SID_WRITERS = frozenset(
    {
        "sync-cycle",
        "sync-create",
        "sync-convert-older",
        "sync-convert-newer",
        "sync-install",
        "sync-send",
        "serve",
        "ssh-command",
    }
)

# a second live instance of these is refused, not only warned: two daemons on one server
# would drive SyncCycles and Verifier rounds against each other
REFUSE_SECOND = frozenset({"daemon-run"})


def writes_sid(program: str, environ: Mapping[str, str] | None = None) -> bool:
    """Whether a run of `program` may write SID_DATA. A forced-command session that asks for
    the reading side of an rsync (`rsync --server --sender`: a partner pulls a snapshot)
    only reads it; every other partner session may receive."""
    if program not in SID_WRITERS:
        return False
    if program == "ssh-command":
        asked = (os.environ if environ is None else environ).get("SSH_ORIGINAL_COMMAND", "")
        return asked.split()[:3] != ["rsync", "--server", "--sender"]
    return True


@dataclass(frozen=True)
class Finding:
    check: str  # "sid-free", "esd-free", "root-free", "memory", "load", "instance", "stale-pid",
    # "pid-file"
    text: str
    refuse: bool = False


def free_bytes(path: Path) -> int:
    """Free space (for unprivileged users) on the filesystem of `path` or of its nearest
    existing parent (a SID_DATA not made yet)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    st = os.statvfs(probe)
    return st.f_bavail * st.f_frsize


def available_memory() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def resources(settings: Settings, program: str) -> list[Finding]:
    limits = settings.limits
    found: list[Finding] = []
    for check, path, limit_mb, refuse in (
        ("sid-free", settings.sid_data, limits.sid_min_free_mb, writes_sid(program)),
        ("esd-free", settings.esd_data, limits.esd_min_free_mb, False),
        ("root-free", settings.system_root, limits.root_min_free_mb, False),
    ):
        try:
            free = free_bytes(path)
        except OSError as exc:
            found.append(Finding(check, f"{path}: cannot measure free space: {exc.strerror}"))
            continue
        if free < limit_mb * MIB:
            found.append(
                Finding(
                    check,
                    f"{path}: {free / MIB:.1f} MiB free, below the limit of {limit_mb} MiB "
                    f"([limits] {check.replace('-free', '')}_min_free_mb)",
                    refuse,
                )
            )
    memory = available_memory()
    if memory is not None and memory < limits.min_available_memory_mb * MIB:
        found.append(
            Finding(
                "memory",
                f"{memory / MIB:.0f} MiB memory available, below the limit of "
                f"{limits.min_available_memory_mb} MiB ([limits] min_available_memory_mb)",
            )
        )
    with contextlib.suppress(OSError):
        load = os.getloadavg()[0] / (os.cpu_count() or 1)
        if load > limits.max_load_per_cpu:
            found.append(
                Finding(
                    "load",
                    f"load {load:.2f} per CPU, above the limit of {limits.max_load_per_cpu:g} "
                    "([limits] max_load_per_cpu)",
                )
            )
    return found


def is_atlas_process(pid: int) -> bool:
    """Whether `pid` lives and is an atlas-ha program (not a reused PID of another program)."""
    if not alive(pid):
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc: alive is all we know
    return b"atlas_ha" in argv or b"atlas-ha" in argv


@dataclass
class PidClaim:
    """This process's claim of a program's PID file (None: another instance holds it)."""

    path: Path | None

    def release(self) -> None:
        if self.path is None:
            return
        with contextlib.suppress(OSError, ValueError):
            if int(self.path.read_text().strip()) == os.getpid():
                self.path.unlink()


def claim(settings: Settings, program: str) -> tuple[PidClaim, list[Finding]]:
    """Claim `program`'s PID file if it is a single-instance program."""
    if program not in settings.limits.single_instance:
        return PidClaim(None), []
    if not settings.esd_data.is_dir():
        return PidClaim(None), []  # no ESD_DATA (not set up, not mounted): never made here
    path = program_pid_file(settings.esd_data, program)
    found: list[Finding] = []
    for _attempt in range(3):
        try:
            path.parent.mkdir(mode=0o700, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            pid = _read_pid(path)
            if pid == os.getpid():
                return PidClaim(None), found  # a nested run of the same program
            if pid is not None and is_atlas_process(pid):
                found.append(
                    Finding(
                        "instance",
                        f"another {program} runs already (pid {pid}, {path})",
                        program in REFUSE_SECOND,
                    )
                )
                return PidClaim(None), found
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            found.append(
                Finding("stale-pid", f"{path}: stale PID file of pid {pid} (not running) removed")
            )
            continue
        except OSError as exc:  # a full ESD_DATA (no room for run/): unclaimed, said
            found.append(Finding("pid-file", f"{path}: cannot make the PID file ({exc})"))
            return PidClaim(None), found
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(f"{os.getpid()}\n")
        except OSError as exc:  # a full ESD_DATA: the run goes on unclaimed, and says so
            with contextlib.suppress(OSError):
                path.unlink()
            found.append(
                Finding("pid-file", f"{path}: cannot write the PID file ({exc.strerror or exc})")
            )
            return PidClaim(None), found
        return PidClaim(path), found
    return PidClaim(None), found


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def check(
    settings: Settings, program: str, origin: str, log: Callable[[str, str], None]
) -> PidClaim:
    """The start checks of one run: every finding logged (`log(level, text)`) and recorded
    as an event; StartRefusedError when one makes running unsafe (the PID file released)."""
    held, found = claim(settings, program)
    found += resources(settings, program)
    for finding in found:
        level = "ERROR" if finding.refuse else "WARNING"
        verdict = "refusing to run" if finding.refuse else "running anyway"
        log(level, f"start check {finding.check}: {finding.text} ({verdict})")
        emit_alert(  # a stale PID file too: the run before crashed or was killed
            settings,
            "start-limit",
            f"{program}: {finding.text}",
            check=finding.check,
            program=program,
            origin=origin,
            refused=finding.refuse,
        )
    refusals = [f for f in found if f.refuse]
    if refusals:
        held.release()
        raise StartRefusedError(
            f"{program} refused by the start handler: " + "; ".join(f.text for f in refusals)
        )
    return held
