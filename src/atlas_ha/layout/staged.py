"""Grouped durability for writes into the live system (Snapshot Install): every new file is
written under its temporary name first, then all of them are made durable at once, then
renamed into place, then the renames are made durable — two syncfs(2) instead of two fsyncs
per file.

Why not simply skip the fsyncs, as writes into an invalid snapshot area do (layout.durable)?
An area is never used while it is invalid, so a power cut that loses its data costs a
rewrite. A file of the live system is used as soon as it is renamed into place: a rename
that reaches the disk before the file's data leaves an empty or partial /etc/shadow after a
power cut. So the order stays what `atomic_write` guarantees for one file, for the whole
batch:

  1. `write`: every new file is written under `layout.tempnames.temp_name` in its target's
     directory (owner, mode and mtime set), without fsync;
  2. `publish`: one syncfs of each filesystem the temporary files lie on (their data and
     inodes are durable before any of them gets its real name), then each is renamed over
     its target in the order written;
  3. `settle`: one more syncfs per filesystem, so that the renames (and whatever the caller
     removed or chmodded meanwhile) are durable before the caller goes on (Install: after
     its removals, before the after-install hooks and before the owed reloads are cleared).

A kill or power cut before 2 leaves temporary files of a dead writer and the old system
files: the next Install's prune (or Create's sweeping walk) removes them. After the first
syncfs of 2, every rename the disk holds names a complete file: each system file is old or
new, never torn, as with one `atomic_write` each.

A small batch is not worth it: a syncfs writes out every dirty page of the filesystem,
whoever wrote it (on a busy root filesystem more than two fsyncs would), so below
`GROUP_FROM` files Install writes each file with `atomic_write` as before.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from collections.abc import Callable
from pathlib import Path

from atlas_ha.layout import durable
from atlas_ha.layout.atomic import write_temp

GROUP_FROM = 16  # files to write in one Install from which the writes are grouped


class StagedWrites:
    """Files written under temporary names, renamed into place together by `publish`."""

    def __init__(self) -> None:
        self.staged: deque[tuple[Path, Path]] = deque()  # (temporary file, target), in order
        self._devices: dict[int, Path] = {}  # filesystem -> a directory on it
        self._dirs: set[str] = set()  # directories written into (their filesystem is known)

    def write(
        self,
        path: Path,
        data: bytes,
        mode: int,
        owner: tuple[int, int] | None,
        mtime_ns: int | None,
    ) -> None:
        """Step 1: `data` under the temporary name of `path` (no fsync); `path` unchanged."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = write_temp(path, data, mode, owner, mtime_ns, fsync=False)
        parent = str(path.parent)
        if parent not in self._dirs:
            self._dirs.add(parent)
            self._devices.setdefault(path.parent.stat().st_dev, path.parent)
        self.staged.append((tmp, path))

    def publish(self, renamed: Callable[[Path], None] = lambda _path: None) -> None:
        """Step 2: syncfs, then rename each into place (`renamed(target)` after each)."""
        self._sync()
        while self.staged:
            tmp, path = self.staged[0]
            os.replace(tmp, path)
            self.staged.popleft()
            renamed(path)

    def settle(self) -> None:
        """Step 3: syncfs of every filesystem written on (nothing when nothing was)."""
        self._sync()

    def discard(self) -> None:
        """Remove the temporary files not yet renamed (a failed Install)."""
        for tmp, _path in self.staged:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        self.staged.clear()

    def _sync(self) -> None:
        """One syncfs per filesystem a temporary file was written on."""
        for directory in self._devices.values():
            durable.flush(directory)
