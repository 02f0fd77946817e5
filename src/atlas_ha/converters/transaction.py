"""One conversion step (R, V) -> (R, V') as a staged change that is materialised at the end.

The step starts as an unchanged copy of the source snapshot: every manifest entry, the
path lists. Per-service converters read files and stage renames, replacements and removals;
`materialise` then writes the target area, touching only objects that differ (stat-based),
so a steady-state conversion of an unchanged snapshot copies nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

from atlas_ha.errors import ConversionError
from atlas_ha.layout import manifest as manifest_mod
from atlas_ha.layout import objects
from atlas_ha.layout import paths as paths_mod
from atlas_ha.layout.atomic import fsync_dir, write_if_changed
from atlas_ha.layout.manifest import Entry, Manifest
from atlas_ha.layout.sid import Area


class ConversionTx:
    def __init__(self, source: Area, entries: Manifest | None = None) -> None:
        """`entries`: the source's Manifest without its area entries, when the caller holds
        it (the step before in a chain wrote it); read from the source otherwise."""
        self.source = source
        known = source.manifest() if entries is None else entries
        self.entries: Manifest = {k: e for k, e in known.items() if k[0] != "area"}
        self.contents: dict[tuple[str, str], bytes] = {}
        self.lists: dict[str, list[str]] = {
            "SyncFilePaths": source.sync_paths(),
            "IdentFilePaths": source.ident_paths(),
        }
        # SyncFilePathsSpecial / SyncFilePathsSvc* lists are kept and converted like the rest.
        for extra in sorted(source.path.glob("SyncFilePaths?*")):
            self.lists[extra.name] = paths_mod.read(extra)

    # -- reading --------------------------------------------------------------------------------
    def entry(self, tree: str, path: str) -> Entry | None:
        return self.entries.get((tree, path))

    def read(self, tree: str, path: str) -> bytes:
        key = (tree, path)
        if key in self.contents:
            return self.contents[key]
        entry = self.entries.get(key)
        if entry is None or entry.type != "file":
            raise ConversionError(path, None, f"a regular file in the snapshot's {tree}")
        return self.source.copy_path(tree, path).read_bytes()

    def under(self, tree: str, top: str) -> list[Entry]:
        return [
            e
            for (t, p), e in sorted(self.entries.items())
            if t == tree and (p == top or p.startswith(top + "/"))
        ]

    # -- staging --------------------------------------------------------------------------------
    def write(self, tree: str, path: str, content: bytes, like: Entry) -> None:
        """Stage `path` with `content`, metadata (mode, owner, mtime) taken from `like`."""
        entry = replace(
            like,
            tree=tree,
            path=path,
            type="file",
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            target="",
        )
        self.entries[(tree, path)] = entry
        self.contents[(tree, path)] = content

    def mkdir(self, tree: str, path: str, like: Entry, mode: int = 0o755) -> None:
        """Stage an empty directory `path` (owner and mtime from `like`)."""
        self.entries[(tree, path)] = replace(
            like, tree=tree, path=path, type="dir", mode=mode, size=0, sha256="", target=""
        )

    def absent(self, tree: str, path: str, like: Entry) -> None:
        """Stage `path` as listed but absent (as Create records a listed path the system
        lacks), unless the snapshot holds something there."""
        if (tree, path) not in self.entries:
            self.entries[(tree, path)] = replace(
                like, tree=tree, path=path, type="absent", mode=0, size=0, sha256="", target=""
            )

    def remove(self, tree: str, path: str) -> None:
        self.entries.pop((tree, path), None)
        self.contents.pop((tree, path), None)

    def rename(self, tree: str, old: str, new: str) -> None:
        key = (tree, old)
        entry = self.entries.pop(key)
        self.entries[(tree, new)] = replace(entry, path=new)
        if key in self.contents:
            self.contents[(tree, new)] = self.contents.pop(key)
        elif entry.type == "file":
            self.contents[(tree, new)] = self.source.copy_path(tree, old).read_bytes()

    def replace_listed(self, old: tuple[str, ...], new: tuple[str, ...]) -> None:
        """In every path list, put the paths `new` where the first of `old` was; drop the rest."""
        for name, listed in self.lists.items():
            if not any(p in listed for p in old):
                continue
            at = min(listed.index(p) for p in old if p in listed)
            kept = [p for p in listed if p not in old and p not in new]
            at = min(at, len(kept))
            self.lists[name] = kept[:at] + list(new) + kept[at:]

    # -- materialising --------------------------------------------------------------------------
    def materialise(self, target: Area, link: bool = False) -> Manifest:
        """Write the staged snapshot into `target`; return its manifest (without area entries).

        `link`: an object the step left as it was (same content and metadata as in the
        source) becomes a hard link to the source's copy instead of a copy (no read, no
        write, no fsync per file; each directory linked into is fsynced once at the end).
        Only where nothing writes either area's files in place (`convert._may_share`).
        Without it, a copy in `target` that shares its inode is replaced by one of its own."""
        target.path.mkdir(parents=True, exist_ok=True)
        trees = ("SyncFiles", "IdentFiles")
        sources = {t: str(self.source.tree_dir(t)) for t in trees}
        dests = {t: str(target.tree_dir(t)) for t in trees}
        # one walk of the target: objects are placed with its lstat, pruned from the same walk
        found = {t: objects.tree_stats(dests[t], objects.tops_of(dests[t])) for t in trees}
        linked: set[str] = set()  # directories that gained a hard link
        for key in sorted(self.entries, key=lambda k: k[1]):
            tree, path = key
            entry, hit = self.entries[key], found[tree].get(path)
            st = hit[1] if hit else None
            dest = dests[tree] + path
            if not link and entry.type == "file" and objects.shared(st):
                st = None  # replaced (atomically) by a copy of its own below
            if key in self.contents:
                content = self.contents[key]
                objects.place_known(entry, dest, st, content=content, area_copy=True)
                continue
            source = sources[tree] + path
            unchanged = link and entry.type == "file" and not objects.stat_matches(entry, st)
            if unchanged and objects.link_unchanged(entry, source, dest, st):
                linked.add(dest.rpartition("/")[0])
                continue
            objects.place_known(entry, dest, st, source=source, area_copy=True)
        for directory in sorted(linked):
            fsync_dir(Path(directory))
        for tree in trees:
            keep = {p for (t, p) in self.entries if t == tree}
            tops = objects.tops_of(dests[tree])
            objects.prune(target.tree_dir(tree), tops, keep, found=found[tree])
        for name, listed in self.lists.items():
            write_if_changed(target.path / name, paths_mod.render(listed))
        for stale in target.path.glob("SyncFilePaths?*"):
            if stale.name not in self.lists:
                stale.unlink()
        return dict(self.entries)


def area_entries(area: Area) -> list[Entry]:
    """Manifest entries for the area's own files (path lists), to be checked on receive."""
    result = []
    for path in sorted(area.path.glob("*FilePaths*")):
        st = path.lstat()
        result.append(replace(objects.entry_of("area", path.name, path, st), mtime_ns=0))
    return result


def write_manifest(area: Area, entries: Manifest) -> None:
    rows = [e for k, e in entries.items() if k[0] != "area"] + area_entries(area)
    write_if_changed(area.manifest_file, manifest_mod.render(rows))
