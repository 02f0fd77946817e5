"""Durability by grouping: a write into an invalid snapshot area skips its own fsyncs; no
area becomes valid before one syncfs(2) of its filesystem.

An fsync per copied file and per directory entry made a first full copy of 2,000 files cost
seconds of journal commits (and each conversion step as many again); one syncfs after the
last write costs one. The ordering, for every area (validity: layout.sid, SPEC 3.2):

  1. An area is written only while it is invalid: Create and receive-begin flag it first
     (`SidData.set_flag`, the flag itself written with its fsyncs), a conversion writes areas
     made invalid by the InvalidVersions flag of the SEV area (ConvertToOlder) or newer than
     SnapshotEnvVersion (ConvertToNewer).
  2. A write by this process (`atomic_write`, `AreaWriter`) into an existing area that is
     invalid at that moment (`deferred`: the SID_DATA holding it registered how to tell,
     `register`) skips its fsyncs; writers of other processes (a partner's rsync) never
     fsync anyway. A write anywhere else, or into a valid area, is durable as before.
     The answer is remembered per area until this process next changes a flag or a
     SnapshotEnvVersion (`changed`, called once the change is made: `epoch`), so a
     conversion writing 2,000 files looks at the area's flags once, not 2,000 times. An
     answer remembered before the change is dropped by that call; one taken after it is
     already right.
  3. Every change that can make an area valid first calls `flush` (a syncfs of the
     filesystem holding the SID_DATA: every dirty page and inode of it is written, whichever
     process wrote it, and an error of any write since is reported): `SidData.clear_flag`
     before it unlinks a flag, `SidData.set_sev` before it writes a SnapshotEnvVersion.
     A flag cleared or a SnapshotEnvVersion written is therefore never durable before the
     data it vouches for.

A kill (or power loss) between 2 and 3 leaves the flag on disk (or SnapshotEnvVersion not
yet raised): the area is invalid, never used, and the next cycle's Create or Send rewrites
it. The fault point "durable.flush" (faults.py) is after the data was written and before
the syncfs: the transaction tests kill there too. syncfs is Linux's; elsewhere `os.sync`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Callable
from pathlib import Path

# SID_DATA root (no trailing /) -> is the area holding this path (relative to it) invalid?
_roots: dict[str, Callable[[str], bool]] = {}
_epoch = [0]  # bumped by every change of validity state this process makes (`changed`)


def changed() -> None:
    """This process set or cleared a flag or wrote a SnapshotEnvVersion: every answer of
    step 2 remembered so far may be wrong now (`epoch`)."""
    _epoch[0] += 1


def epoch() -> int:
    """The count of `changed` calls: an answer of step 2 remembered at this count holds for
    as long as it stays the same. Only this process changes the validity of an area it
    writes into (it flagged it, or holds the lock of the operation that made it invalid), so
    another process's changes cannot make a remembered "invalid" wrong; a flag another
    process sets meanwhile only makes a remembered "valid" cost an fsync too many."""
    return _epoch[0]


def register(root: str, invalid_area: Callable[[str], bool]) -> None:
    """Let writes under `root` skip fsync where `invalid_area(relative path)` says so."""
    _roots[root.rstrip("/")] = invalid_area


def deferred(path: str) -> bool:
    """Step 2: True when `path` lies in an existing area that is invalid right now."""
    for root, invalid_area in list(_roots.items()):
        if path.startswith(root + "/"):
            return invalid_area(path[len(root) + 1 :])
    return False


def flush(directory: Path) -> None:
    """Step 3: make everything written on the filesystem of `directory` durable (the
    nearest existing directory above it, while it does not exist yet)."""
    while not directory.is_dir() and directory.parent != directory:
        directory = directory.parent
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        syncfs(fd)
    finally:
        os.close(fd)


def _libc_syncfs() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        return getattr(libc, "syncfs", None)
    except OSError:
        return None


_SYNCFS = _libc_syncfs()


def syncfs(fd: int) -> None:
    """syncfs(2) of the filesystem holding `fd` (OSError on failure); os.sync where the C
    library has no syncfs."""
    if _SYNCFS is None:
        os.sync()
        return
    if _SYNCFS(fd) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"syncfs: {os.strerror(err)}")
