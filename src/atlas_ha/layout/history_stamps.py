"""What the history knows it has recorded (layout/history.py), kept in GIT_DIR.

For each area, the sha256 of the Manifest its last completed record staged, and the stat of
git's index file after the last completed record. Together they stand for one invariant:

    an area's stamp is there  =>  git's index holds exactly that area as the Manifest with
    that sha256 describes it (and HEAD holds the same: every record commits the index).

It is kept true by the order of every record: the stamps of the areas it is about to stage
are removed (an atomic write) before git touches the index, and written again only after the
commit. A record killed anywhere in between leaves those areas without a stamp, so the next
record stages them whole. The index's identity (its stat and the checksum git ends it with)
catches a writer of the index that is not a record (an operator's `git rm --cached` or `git
reset` in SID_DATA): when it differs from the one saved, every stamp is forgotten
(`forget_all`), and each area is staged whole at its next record.

A new repository starts without the file; it is never synced (GIT_DIR is not part of SID_DATA's
areas).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from atlas_ha.layout.atomic import atomic_write

RECORDED = "atlas-recorded.json"
TRAILER = 32  # the index's checksum: 20 bytes (SHA-1) or 32 (SHA-256); the last 32 cover both
INDEX_KEY = "index"  # the index file's stat; never an area name ("ROLE/EnvN")


class Stamps:
    def __init__(self, git_dir: Path) -> None:
        self.file = git_dir / RECORDED
        self.index = git_dir / "index"

    def read(self) -> dict[str, str]:
        try:
            data = json.loads(self.file.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}

    def index_stat(self) -> str:
        """The index file's identity ("" when there is none): its inode, mtime and size, and
        the checksum git ends it with (over its whole content), so that two writes within
        one mtime tick, of one size, onto a reused inode still differ."""
        try:
            with self.index.open("rb") as handle:
                st = os.fstat(handle.fileno())
                handle.seek(max(0, st.st_size - TRAILER))
                trailer = handle.read(TRAILER)
        except FileNotFoundError:
            return ""
        return f"{st.st_ino}:{st.st_mtime_ns}:{st.st_size}:{trailer.hex()}"

    def index_unchanged(self, known: dict[str, str]) -> bool:
        """Whether the index is the one the last completed record left."""
        saved = known.get(INDEX_KEY)
        return saved is not None and saved == self.index_stat() != ""

    def forget(self, areas: Iterable[str], known: dict[str, str]) -> dict[str, str]:
        """Remove the stamps of `areas` (before the index is touched); return what is left."""
        dropped = set(areas)
        left = {k: v for k, v in known.items() if k not in dropped}
        if left != known:
            self._write(left)
        return left

    def forget_all(self) -> dict[str, str]:
        """No stamp is trusted any more (the index changed under them); return {}."""
        if self.file.exists():
            self._write({})
        return {}

    def save(self, known: dict[str, str], stamps: dict[str, str]) -> None:
        """After a completed record: the stamps `known` (as `read` and `forget` left them),
        its areas' `stamps` and the index's stat."""
        self._write({**known, **stamps, INDEX_KEY: self.index_stat()})

    def _write(self, data: dict[str, str]) -> None:
        atomic_write(self.file, json.dumps(data, sort_keys=True), mode=0o600)
