"""The Manifest of a snapshot area: every copied object with its metadata and checksum.

Format (text, one JSON object per line after a header line)::

    # atlas-ha manifest 1
    {"tree": "SyncFiles", "path": "/etc/hosts", "type": "file", "mode": 420, "uid": 0, ...}

`tree` is SyncFiles, IdentFiles or area (the area's own files such as SyncFilePaths);
`type` is file, dir, symlink or absent (a listed path that does not exist on the system,
recorded so that its removal propagates).

`path` and `target` are file names, any bytes: a byte that is not UTF-8 is held as its
surrogate escape (atlas_ha.text) and written, as json.dumps writes it, "\\udce9"; json.loads
reads it back to the same name, so a Manifest line stays ASCII and names round-trip exactly.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from atlas_ha.errors import FormatError
from atlas_ha.text import is_name

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


_DEFAULTS: dict[str, object] = {
    "mode": 0,
    "uid": 0,
    "gid": 0,
    "size": 0,
    "mtime_ns": 0,
    "sha256": "",
    "target": "",
}
# blake2b of a manifest text -> its entries (frozen), a few recent ones: keyed by digest, not
# by the text itself, which at 20,000 entries is 4.6 MB a Manifest kept for nothing
_CACHE: dict[bytes, Manifest] = {}
_CACHE_SIZE = 4
# Line -> its entry, and entry -> its line: an Entry is a pure function of its line, so the
# Manifests of one cycle (the areas of every EnvVersion, before and after one changed file)
# share almost all their lines and a parse or render pays JSON work only for the lines that
# changed. Two generations bound the memory: when the young one holds LINES_KEPT lines it
# becomes the old one (and the old one is dropped); a line found in the old one moves back.
LINES_KEPT = 65536
_lines_young: dict[str, Entry] = {}
_lines_old: dict[str, Entry] = {}
_rendered_young: dict[int, tuple[Entry, str]] = {}  # id(entry) -> (the entry, kept alive; line)
_rendered_old: dict[int, tuple[Entry, str]] = {}
_str = json.dumps  # a JSON string literal, exactly as json.dumps(dict) writes one


def render(entries: Iterable[Entry]) -> str:
    """One line per entry, keys sorted: what `json.dumps(vars(e), sort_keys=True)` writes."""
    rows = sorted(entries, key=lambda e: (TREES.index(e.tree), e.path))
    return HEADER + "\n" + "".join(_line_of(e) for e in rows)


def _line_of(e: Entry) -> str:
    """The line of `e` (with its newline), remembered from a parse or an earlier render."""
    known = _rendered_young.get(id(e)) or _rendered_old.get(id(e))
    if known is not None and known[0] is e:
        return known[1]
    line = _render_line(e)
    _remember(line[:-1], e, canonical=True)
    return line


def _remember(line: str, e: Entry, canonical: bool) -> None:
    """Keep `line` -> `e`; and `e` -> `line` when `line` is what render writes for `e` (a
    line parsed from another writer's Manifest may differ in spacing or key order)."""
    global _lines_young, _lines_old, _rendered_young, _rendered_old
    if len(_lines_young) >= LINES_KEPT or len(_rendered_young) >= LINES_KEPT:
        _lines_old, _lines_young = _lines_young, {}
        _rendered_old, _rendered_young = _rendered_young, {}
    _lines_young[line] = e
    if canonical:
        _rendered_young[id(e)] = (e, line + "\n")


def _known_line(line: str) -> Entry | None:
    e = _lines_young.get(line)
    if e is None:
        e = _lines_old.get(line)
        if e is not None:
            _remember(line, e, canonical=_rendered_old.get(id(e), (None,))[0] is e)
    return e


def _render_line(e: Entry) -> str:
    if not all(type(v) is int for v in (e.gid, e.mode, e.mtime_ns, e.size, e.uid)):
        return json.dumps(vars(e), sort_keys=True) + "\n"
    return (
        f'{{"gid": {e.gid}, "mode": {e.mode}, "mtime_ns": {e.mtime_ns}, "path": {_str(e.path)}, '
        f'"sha256": {_str(e.sha256)}, "size": {e.size}, "target": {_str(e.target)}, '
        f'"tree": {_str(e.tree)}, "type": {_str(e.type)}, "uid": {e.uid}}}\n'
    )


def parse(text: str, where: Path | str) -> Manifest:
    """The entries of a manifest text (a fresh dict; the entries are immutable and shared
    with earlier parses of the same text)."""
    key = hashlib.blake2b(text.encode("utf-8", "surrogatepass")).digest()
    cached = _CACHE.get(key)
    if cached is None:
        cached = _parse(text, where)
        if len(_CACHE) >= _CACHE_SIZE:
            del _CACHE[next(iter(_CACHE))]
        _CACHE[key] = cached
    return dict(cached)


def parse_piece(text: str, where: Path | str) -> Manifest:
    """`parse` of a text not worth keeping (a few lines of a Manifest): the whole-text cache
    keeps the Manifests of the cycle."""
    return _parse(text, where)


def _parse(text: str, where: Path | str) -> Manifest:
    lines = text.split("\n")
    if not lines or lines[0] != HEADER:
        raise FormatError(where, 1, f"the header line {HEADER!r}")
    result: Manifest = {}
    for number, line in enumerate(lines[1:], start=2):
        if not line:
            continue
        entry = _known_line(line)
        if entry is None:
            entry = _parse_line(line, where, number)
            _remember(line, entry, canonical=_render_line(entry) == line + "\n")
        key = (entry.tree, entry.path)
        if key in result:
            raise FormatError(where, number, f"each object once; {entry.path} repeats")
        result[key] = entry
    return result


def _parse_line(line: str, where: Path | str, number: int) -> Entry:
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        raise FormatError(where, number, f"one JSON object per line ({exc.msg})") from exc
    if not isinstance(raw, dict):
        raise FormatError(where, number, "a JSON object")
    if not raw.keys() <= _DEFAULTS.keys() | {"tree", "path", "type"} or not (
        "tree" in raw and "path" in raw and "type" in raw
    ):
        try:
            Entry(**raw)  # for its message naming the unexpected or missing field
        except TypeError as exc:
            raise FormatError(where, number, f"the fields of a manifest entry ({exc})") from exc
    # the dataclass __init__ of a frozen class costs one object.__setattr__ per field: fill
    # the instance directly, then check every field as __init__ would not
    entry = object.__new__(Entry)
    entry.__dict__.update(_DEFAULTS)
    entry.__dict__.update(raw)
    _check(entry, where, number)
    return entry


def _check(e: Entry, where: Path | str, number: int) -> None:
    ints = (e.mode, e.uid, e.gid, e.size, e.mtime_ns)
    if not all(type(v) is int and v >= 0 for v in ints):
        raise FormatError(where, number, "non-negative integers for mode, uid, gid, size, mtime_ns")
    if not all(type(v) is str for v in (e.tree, e.path, e.type, e.sha256, e.target)):
        raise FormatError(where, number, "strings for tree, path, type, sha256, target")
    if e.tree not in TREES or e.type not in TYPES:
        raise FormatError(where, number, f"tree in {TREES} and type in {TYPES}")
    if e.tree != "area" and not e.path.startswith("/"):
        raise FormatError(where, number, f"an absolute path, got {e.path!r}")
    if not (is_name(e.path) and is_name(e.target)):
        raise FormatError(
            where, number, f"path and target: file names (bytes), got {e.path!r} -> {e.target!r}"
        )
    if e.mode > 0o7777:
        raise FormatError(where, number, f"permission bits (<= 0o7777), got {e.mode:o}")
    if e.type == "file" and len(e.sha256) != 64:
        raise FormatError(where, number, f"a sha256 hex digest for file {e.path}")
