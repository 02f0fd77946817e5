"""The git paths of an area that differ between two of its Manifests (layout/history.py).

A Manifest names every object of its area: the copies under SyncFiles/ and IdentFiles/
(files, symlinks, directories, absent paths) and the area's own path lists, each with its
type, checksum, mode, owner and link target. Git tracks files and symlinks only, by content,
link target and the executable bit. So the objects whose Manifest entries differ (a line of
one Manifest the other lacks: an entry is a pure function of its line) are a superset of the
paths at which git's view of the area differs; every other path is the same in both.

A directory needs no path of its own: git tracks nothing but the files and symlinks under it,
and the Manifest lists each of them (a directory that became a file, a symlink or absent
loses its listed children, which are removals here; one that became a directory gains its
children).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from atlas_ha.layout import manifest as manifest_mod

TRACKED = ("file", "symlink")  # the types git keeps


@dataclass(frozen=True)
class Staging:
    """What to stage for one area: `present` paths (files and symlinks now: added or
    modified) and `gone` ones (tracked before, not a file or symlink now); relative to
    SID_DATA. The area's Manifest is in `present` whenever anything changed."""

    present: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.present or self.gone)


def git_path(area: str, tree: str, path: str) -> str:
    """The path (relative to SID_DATA) of object (tree, path) of `area` ("ROLE/EnvN")."""
    if tree == "area":
        return f"{area}/{path}"
    return f"{area}/{tree}{path}"


def staging(area: str, old_text: str, new_text: str) -> Staging:
    """The paths of `area` to stage when its Manifest changes from `old_text` to `new_text`
    (both whole Manifest texts; only the lines that differ are parsed)."""
    old_lines = set(old_text.split("\n")[1:])
    new_lines = set(new_text.split("\n")[1:])
    old = _entries(old_lines - new_lines, f"{area}/Manifest (recorded)")
    new = _entries(new_lines - old_lines, f"{area}/Manifest")
    if not old and not new and old_text == new_text:
        return Staging()
    present, gone = [f"{area}/Manifest"], []
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key), new.get(key)
        if after is not None and after.type in TRACKED:
            present.append(git_path(area, *key))
        elif before is not None and before.type in TRACKED:
            gone.append(git_path(area, *key))
    return Staging(present, gone)


def _entries(lines: set[str], where: str) -> manifest_mod.Manifest:
    """The entries of some lines of one Manifest, by key."""
    rows = sorted(line for line in lines if line)
    if not rows:
        return {}
    return manifest_mod.parse_piece(manifest_mod.HEADER + "\n" + "\n".join(rows) + "\n", where)
