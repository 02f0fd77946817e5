"""Temporary names of atlas-ha's own writes, and the removal of those a dead writer left.

Every atomic write goes through `.NAME.atlas-tmp.PID` in the target's directory (PID: the
writing process), renamed over NAME once complete. A writer killed in between (SIGKILL, a
power cut) leaves that file behind. It is removed

  * by the next atomic write of the same NAME (`sweep(directory, NAME)` in `atomic_write`),
  * by Create's walk of the synced paths on the PRI (`objects.walk(..., sweep=True)`), which
    also never copies such a file into a snapshot,

and only when no process with that PID is alive (in this PID namespace): the temporary file
of a live writer is never touched, nor is anything that is not a regular file or a symlink.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

TEMP_RE = re.compile(r"^\.(?P<name>.+)\.atlas-tmp\.(?P<pid>[1-9][0-9]*)$")


def temp_name(name: str) -> str:
    """The temporary name this process writes `name` under (in the same directory)."""
    return f".{name}.atlas-tmp.{os.getpid()}"


def owner(name: str) -> int | None:
    """The PID that wrote the temporary file `name`; None if `name` is not one."""
    match = TEMP_RE.match(name)
    return int(match["pid"]) if match else None


def alive(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie (a zombie writes nothing more)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc: kill(0) said it exists
    return state != "Z"


def stale(name: str) -> bool:
    """`name` is a temporary file of a writer that is no longer alive."""
    pid = owner(name)
    return pid is not None and pid != os.getpid() and not alive(pid)


def sweep(directory: Path | str, name: str | None = None) -> list[str]:
    """Remove the temporary files dead writers left in `directory` (only those of `name`
    when given); return the names removed. A missing directory holds none."""
    removed: list[str] = []
    try:
        entries = os.scandir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return removed
    with entries:
        for entry in entries:
            match = TEMP_RE.match(entry.name)
            if not match or (name is not None and match["name"] != name):
                continue
            if remove_if_stale(entry.path, entry.name):
                removed.append(entry.name)
    return removed


def remove_if_stale(path: str, name: str) -> bool:
    """Remove the file or symlink `path` (basename `name`) if a dead writer left it."""
    if not stale(name):
        return False
    try:
        if stat.S_ISDIR(os.lstat(path).st_mode):
            return False
        Path(path).unlink()
    except FileNotFoundError:
        return False
    return True


def is_temp(name: str) -> bool:
    return TEMP_RE.match(name) is not None
