"""Atomic file writes: temp file in the same directory, fsync, os.replace, fsync of the dir.

The temporary name is `layout.tempnames.temp_name` (`.NAME.atlas-tmp.PID`); a write first
removes what a killed earlier writer of the same NAME left there. Inside an area this
process flagged invalid the two fsyncs are left to the one syncfs that precedes the flag's
removal (layout.durable: grouped durability)."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from atlas_ha.layout import durable as durable_mod
from atlas_ha.layout import tempnames
from atlas_ha.text import encode_name, utf8


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(
    path: Path,
    data: bytes | str,
    mode: int = 0o644,
    owner: tuple[int, int] | None = None,
    mtime_ns: int | None = None,
    sweep: bool = True,
    durable: bool | None = None,
) -> None:
    """Replace `path` with `data` so that readers see the old or the new file, never a mix.

    `sweep`: first remove what a killed earlier writer of `path` left next to it. Copies of
    snapshot objects (`objects.place`) do not: a temp-named object an older PRI copied into
    a snapshot is an object of that snapshot there, which only Create stops producing.
    `durable`: fsync the file and its directory (None: unless `path` lies in an area flagged
    invalid by this process, whose flag is cleared only after a syncfs: layout.durable)."""
    if isinstance(data, str):
        data = encode_name(data)  # text naming files: their bytes, whatever they are
    path.parent.mkdir(parents=True, exist_ok=True)
    if sweep:
        tempnames.sweep(path.parent, path.name)
    if durable is None:
        durable = not durable_mod.deferred(str(path))
    tmp = write_temp(path, data, mode, owner, mtime_ns, fsync=durable)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    if durable:
        fsync_dir(path.parent)


def write_temp(
    path: Path,
    data: bytes,
    mode: int,
    owner: tuple[int, int] | None,
    mtime_ns: int | None,
    fsync: bool,
) -> Path:
    """Write `data` under the temporary name of `path` in its directory (owner, mode, mtime
    set; fsynced if `fsync`) and return that name; `path` itself is not touched. Nothing is
    left behind when this fails."""
    tmp = path.parent / tempnames.temp_name(path.name)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if owner is not None:
                os.fchown(handle.fileno(), *owner)
            os.fchmod(handle.fileno(), mode)
            if fsync:
                os.fsync(handle.fileno())
        if mtime_ns is not None:
            os.utime(tmp, ns=(mtime_ns, mtime_ns))
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return tmp


def write_if_changed(path: Path, data: bytes | str, mode: int = 0o600) -> bool:
    """Atomically write `data` unless `path` already holds exactly it; True if written."""
    raw = encode_name(data) if isinstance(data, str) else data
    try:
        if path.read_bytes() == raw:
            return False
    except FileNotFoundError:
        pass
    atomic_write(path, raw, mode=mode)
    return True


def read_text_or_none(path: Path) -> str | None:
    """The UTF-8 text of `path` (None if absent); FormatError naming the line of a byte that
    is not UTF-8."""
    try:
        return utf8(path.read_bytes(), path)
    except FileNotFoundError:
        return None


def remove(path: Path) -> bool:
    """Remove a file if present; True if something was removed."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive flock on `path` (created 0600, parent 0700) for the block."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
