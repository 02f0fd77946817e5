"""Processes of one lab server: an anchor holding its mount and UTS namespaces (inside its
network namespace), and the daemons started in them. Everything is tracked by PID.

The anchor bind-mounts the server's plugged disk on the lab's common mount point, so that
configuration synced between servers (an nginx document root, a database directory) names
the same path everywhere and each server sees its own Unbound Data there.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from atlas_ha.errors import ServerStateError

ANCHOR = 'mount --bind "$1" "$2" && hostname "$3" && exec sleep infinity'


def start_anchor(netns: str, disk: Path, mountpoint: Path, hostname: str, log: Path) -> int:
    mountpoint.mkdir(parents=True, exist_ok=True)
    argv = ["ip", "netns", "exec", netns, "unshare", "--mount", "--uts", "--propagation"]
    argv += ["private", "--", "sh", "-c", ANCHOR, "anchor", str(disk), str(mountpoint), hostname]
    proc = start_daemon(argv, log)
    deadline = time.monotonic() + 10
    while str(mountpoint) not in _mounts(proc.pid):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise ServerStateError(f"the namespace anchor of {netns} did not start (see {log})")
        time.sleep(0.01)
    return proc.pid


def start_daemon(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    """The one way the lab starts a process that outlives the command starting it: in a
    session of its own, stdin /dev/null, stdout and stderr appended to its own `log`, never
    the caller's descriptors (`atlas-ha lab up | cat` ends when the command does)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _mounts(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/mountinfo").read_text()
    except OSError:
        return ""


def enter(anchor: int | None) -> list[str]:
    """The argv prefix that runs a command in the anchor's namespaces (none: on the host)."""
    return [] if anchor is None else ["nsenter", "-t", str(anchor), "-m", "-u", "-n", "--"]


def spawn(
    anchor: int | None, argv: list[str], log: Path, ready: bytes | None = None, what: str = "daemon"
) -> int:
    """Start a daemon in the anchor's namespaces; wait until `ready` appears in its log."""
    log.touch()
    offset = log.stat().st_size
    proc = start_daemon([*enter(anchor), *argv], log)
    deadline = time.monotonic() + 15
    while ready is not None and ready not in log.read_bytes()[offset:]:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise ServerStateError(f"{what} did not start (see {log})")
        time.sleep(0.02)
    return proc.pid


def stop(pid: int | None, timeout: float = 5.0) -> None:
    """SIGTERM, wait, SIGKILL: by PID, never by name. Then the rest of the process group we
    started it in (nginx workers outlive their master for a moment), and the sessions its
    descendants started: sshd's per-connection processes leave its group (setsid) and outlive
    it, with whatever a partner runs there (a kept SyncCycle session), as does an ssh
    ControlMaster gone to the background: a server that is shut down keeps none of them."""
    if not pid:
        return
    sessions = [p for p in descendants(pid) if _pgid(p) == p]
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        _stop_group(pid, timeout)
        return
    deadline = time.monotonic() + timeout
    while not _gone(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + timeout
        time.sleep(0.01)
    _stop_group(pid, timeout)
    for leader in sessions:
        _stop_group(leader, timeout)


def descendants(pid: int) -> list[int]:
    """The PIDs below `pid` in the process tree (from /proc), children first."""
    parent = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            parent[int(entry.name)] = _stat(int(entry.name))[0]
    found, level = [], [pid]
    while level:
        level = [p for p, pp in parent.items() if pp in level and p not in found]
        found += level
    return found


def _pgid(pid: int) -> int:
    return _stat(pid)[1]


def _stat(pid: int) -> tuple[int, int]:
    """(parent PID, process group) of `pid`; (0, 0) once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return (0, 0)
    return (int(fields[1]), int(fields[2]))


def _stop_group(pgid: int, timeout: float) -> None:
    """Every process left in the session/process group `pgid` (we started it as leader)."""
    deadline, sig = time.monotonic() + timeout, signal.SIGTERM
    while True:
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.02)
        if time.monotonic() > deadline:
            sig = signal.SIGKILL


def _gone(pid: int) -> bool:
    try:
        done, _status = os.waitpid(pid, os.WNOHANG)
        return done == pid
    except ChildProcessError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
