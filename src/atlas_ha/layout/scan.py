"""Reading objects into manifest entries, hashing only what changed since the last manifest."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from atlas_ha.layout import objects
from atlas_ha.layout.manifest import Entry, Manifest
from atlas_ha.layout.sid import Area


def read_objects(
    base: Path, tree: str, listed: list[str], previous: Manifest
) -> Iterator[tuple[Entry, str]]:
    """Yield (entry, fs path) for every object the listed paths name below `base`.

    A regular file whose size, mtime, mode and owner equal its previous entry keeps that
    entry's checksum without being read (the steady state reads no file content). atlas-ha's
    own temporary files are never read into a snapshot; those of dead writers are removed.
    """
    for path in listed:
        for system_path, fs_path, st in objects.walk(base, path, sweep=True):
            old = previous.get((tree, system_path))
            if old is not None and objects.stat_matches(old, st):
                yield old, fs_path
                continue
            yield objects.entry_of(tree, system_path, fs_path, st), fs_path


def scan_area(area: Area, previous: Manifest) -> Manifest:
    """Re-read an area's trees (after a site converter changed them) into a manifest."""
    result: Manifest = {}
    for tree, listed in (("SyncFiles", area.sync_paths()), ("IdentFiles", area.ident_paths())):
        for entry, _ in read_objects(area.tree_dir(tree), tree, listed, previous):
            result[entry.key] = entry
    return result
