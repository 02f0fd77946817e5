"""The Manifest of a snapshot area: every copied object with its metadata and checksum.

Format (text, one JSON object per line after a header line)::

    # atlas-ha manifest 1
    {"tree": "SyncFiles", "path": "/etc/hosts", "type": "file", "mode": 420, "uid": 0, ...}

`tree` is SyncFiles, IdentFiles or area (the area's own files such as SyncFilePaths);
`type` is file, dir, symlink or absent (a listed path that does not exist on the system,
recorded so that its removal propagates).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from atlas_ha.errors import FormatError

HEADER = "# atlas-ha manifest 1"
TREES = ("SyncFiles", "IdentFiles", "area")
TYPES = ("file", "dir", "symlink", "absent")


@dataclass(frozen=True)
class Entry:
    tree: str
    path: str
    type: str
    mode: int = 0
    uid: int = 0
    gid: int = 0
    size: int = 0
    mtime_ns: int = 0
    sha256: str = ""
    target: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.tree, self.path)

    def same_object(self, other: Entry) -> bool:
        """Equal in meaning (type, content, mode, owner, group, link target; not mtime)."""
        return (self.type, self.mode, self.uid, self.gid, self.sha256, self.target) == (
            other.type,
            other.mode,
            other.uid,
            other.gid,
            other.sha256,
            other.target,
        )


Manifest = dict[tuple[str, str], Entry]


def render(entries: Iterable[Entry]) -> str:
    rows = sorted(entries, key=lambda e: (TREES.index(e.tree), e.path))
    # vars() rather than dataclasses.asdict: asdict deep-copies every field, 10x slower
    return HEADER + "\n" + "".join(json.dumps(vars(e), sort_keys=True) + "\n" for e in rows)


def parse(text: str, where: Path | str) -> Manifest:
    lines = text.split("\n")
    if not lines or lines[0] != HEADER:
        raise FormatError(where, 1, f"the header line {HEADER!r}")
    result: Manifest = {}
    for number, line in enumerate(lines[1:], start=2):
        if not line:
            continue
        entry = _parse_line(line, where, number)
        if entry.key in result:
            raise FormatError(where, number, f"each object once; {entry.path} repeats")
        result[entry.key] = entry
    return result


def _parse_line(line: str, where: Path | str, number: int) -> Entry:
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        raise FormatError(where, number, f"one JSON object per line ({exc.msg})") from exc
    if not isinstance(raw, dict):
        raise FormatError(where, number, "a JSON object")
    try:
        entry = Entry(**raw)
    except TypeError as exc:
        raise FormatError(where, number, f"the fields of a manifest entry ({exc})") from exc
    _check(entry, where, number)
    return entry


def _check(e: Entry, where: Path | str, number: int) -> None:
    ints = (e.mode, e.uid, e.gid, e.size, e.mtime_ns)
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in ints):
        raise FormatError(where, number, "non-negative integers for mode, uid, gid, size, mtime_ns")
    if not all(isinstance(v, str) for v in (e.tree, e.path, e.type, e.sha256, e.target)):
        raise FormatError(where, number, "strings for tree, path, type, sha256, target")
    if e.tree not in TREES or e.type not in TYPES:
        raise FormatError(where, number, f"tree in {TREES} and type in {TYPES}")
    if e.tree != "area" and not e.path.startswith("/"):
        raise FormatError(where, number, f"an absolute path, got {e.path!r}")
    if e.mode > 0o7777:
        raise FormatError(where, number, f"permission bits (<= 0o7777), got {e.mode:o}")
    if e.type == "file" and len(e.sha256) != 64:
        raise FormatError(where, number, f"a sha256 hex digest for file {e.path}")
