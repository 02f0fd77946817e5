"""Filesystem objects with their metadata: read into manifest entries, place, prune.

`place` is the one primitive every operation uses to put an object somewhere (system root
-> area in Create, area -> area in conversions, area -> system root in Install). It is
stat-based: an existing regular file with the same size, mtime, mode and owner is left
alone without being read, so an unchanged steady state costs one lstat per object.

Whole-tree passes (`walk`, `tree_stats`) use os.scandir and plain strings: pathlib objects
are built only where something is written or read.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path

from atlas_ha.errors import FormatError
from atlas_ha.layout import tempnames
from atlas_ha.layout.atomic import atomic_write
from atlas_ha.layout.manifest import Entry
from atlas_ha.layout.staged import StagedWrites

CHUNK = 1 << 20
IS_ROOT = os.geteuid() == 0


def hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


StrPath = str | Path
Stats = dict[str, tuple[str, os.stat_result]]


def entry_of(
    tree: str, path: str, fs_path: StrPath, st: os.stat_result | None, sha256: str = ""
) -> Entry:
    """The manifest entry of the object at `fs_path` (lstat result `st`; None = absent)."""
    if st is None:
        return Entry(tree=tree, path=path, type="absent")
    base = Entry(tree, path, "dir", stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
    if stat.S_ISLNK(st.st_mode):
        return replace(base, type="symlink", target=os.readlink(fs_path))
    if stat.S_ISDIR(st.st_mode):
        return base
    if stat.S_ISREG(st.st_mode):
        return replace(
            base,
            type="file",
            size=st.st_size,
            mtime_ns=st.st_mtime_ns,
            sha256=sha256 or hash_file(Path(fs_path)),
        )
    raise FormatError(
        fs_path,
        None,
        f"a regular file, directory or symlink at {path} "
        f"(sockets, fifos and devices are not synced)",
    )


def object_type(st: os.stat_result) -> str:
    """The manifest type of an lstat result ("other" for sockets, fifos, devices)."""
    if stat.S_ISREG(st.st_mode):
        return "file"
    if stat.S_ISDIR(st.st_mode):
        return "dir"
    return "symlink" if stat.S_ISLNK(st.st_mode) else "other"


def lstat_or_none(path: StrPath) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def stat_matches(entry: Entry, st: os.stat_result | None) -> bool:
    """True when the regular file `st` carries exactly `entry`'s size, mtime, mode and owner."""
    return (
        st is not None
        and stat.S_ISREG(st.st_mode)
        and entry.type == "file"
        and st.st_size == entry.size
        and st.st_mtime_ns == entry.mtime_ns
        and stat.S_IMODE(st.st_mode) == entry.mode
        and (not IS_ROOT or (st.st_uid, st.st_gid) == (entry.uid, entry.gid))
    )


def shared(st: os.stat_result | None) -> bool:
    """Whether `st` is a regular file with more than one name (a conversion's hard link: its
    content, mode, owner and mtime belong to every area naming it)."""
    return st is not None and stat.S_ISREG(st.st_mode) and st.st_nlink > 1


def unshare(tree_dir: StrPath) -> int:
    """Give every regular file under `tree_dir` that has more than one name a copy of its
    own (same content, mode, owner and mtime; copied under a temporary name, then renamed;
    never through a symlink); return how many. For an area rsync is about to write
    (sync/receive.begin): rsync sets a changed mode or owner on the existing inode, which
    would reach every area sharing it. No fsync here: the area is invalid, and the caller's
    syncfs (`SidData.unshared`) comes before anything can vouch for it."""
    count = 0
    for top in tops_of(tree_dir):
        for _path, fs, st in walk(tree_dir, top):
            if st is None or not shared(st):
                continue

            def copy(tmp: Path, fs: str = fs, st: os.stat_result = st) -> None:
                shutil.copyfile(fs, tmp, follow_symlinks=False)
                if IS_ROOT:
                    os.chown(tmp, st.st_uid, st.st_gid)
                os.chmod(tmp, stat.S_IMODE(st.st_mode))
                os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))

            _replace_via_temp(Path(fs), st, copy)
            count += 1
    return count


def remove_object(path: StrPath) -> None:
    st = lstat_or_none(path)
    if st is None:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        Path(path).unlink()


def _chown(path: Path, entry: Entry) -> None:
    if IS_ROOT:
        os.lchown(path, entry.uid, entry.gid)


def place(
    entry: Entry,
    dest: StrPath,
    source: StrPath | None = None,
    content: bytes | None = None,
    area_copy: bool = False,
    dest_sha: str | None = None,
) -> bool:
    """Make `dest` be `entry` (content from `source` or `content`); True if anything changed.

    `area_copy`: dest is inside SID_DATA, where directories stay writable for the owner.
    `dest_sha`: the checksum `dest` is known to hold (saves reading it); "" = unknown, copy.
    """
    return place_known(entry, dest, lstat_or_none(dest), source, content, area_copy, dest_sha)


def place_known(
    entry: Entry,
    dest_str: StrPath,
    st: os.stat_result | None,
    source: StrPath | None = None,
    content: bytes | None = None,
    area_copy: bool = False,
    dest_sha: str | None = None,
    staged: StagedWrites | None = None,
) -> bool:
    """`place` with `st`, the lstat of `dest_str` taken by the caller's walk (None = absent).

    `staged`: a new file's content goes there (its temporary name, renamed into place by
    `staged.publish`) instead of through its own `atomic_write` (layout.staged)."""
    if entry.type == "file" and stat_matches(entry, st):
        return False  # the steady state: nothing built, nothing read
    dest = Path(dest_str)
    if entry.type == "absent":
        remove_object(dest)
        return st is not None
    if entry.type == "dir":
        return _place_dir(entry, dest, st, area_copy)
    if entry.type == "symlink":
        return _place_symlink(entry, dest, st)
    if stat_matches(entry, st):
        return False
    if (
        st is not None
        and stat.S_ISREG(st.st_mode)
        and st.st_size == entry.size
        and not (area_copy and shared(st))  # shared with another area: copied below
        and (hash_file(dest) if dest_sha is None else dest_sha) == entry.sha256
    ):
        return _fix_metadata(entry, dest, st)
    if st is not None and not stat.S_ISREG(st.st_mode):
        remove_object(dest)
    if content is None:
        assert source is not None
        with open(source, "rb") as handle:
            content = handle.read()
    owner = (entry.uid, entry.gid) if IS_ROOT else None
    if staged is not None:
        staged.write(dest, content, entry.mode, owner, entry.mtime_ns)
    else:
        atomic_write(dest, content, entry.mode, owner, entry.mtime_ns, sweep=False)
    return True


def link_unchanged(entry: Entry, source: str, dest: str, st: os.stat_result | None) -> bool:
    """Make the area copy `dest` a hard link to the area copy `source` when `source` is
    exactly `entry` (same content, mode, owner, mtime): a conversion step that changes nothing
    for a file costs no copy. True when `dest` is that link now; False when it cannot be
    (another filesystem, another entry, too many links): the caller copies instead.

    Safe only where nothing changes either copy in place (the caller decides: the server's
    own role, `sync.convert._may_share`): a content change always replaces a file by
    rename, and a mode, owner or mtime change of a shared copy (`place_known` with
    `area_copy`, `AreaWriter.set_file_meta`) makes it a copy of its own first. rsync is
    never given such an area: it sets a changed mode or owner of an existing file in place.
    The new directory entry is not yet durable: the caller fsyncs each directory it linked
    into once, before the area can be valid."""
    try:
        src_st = os.lstat(source)
    except FileNotFoundError:
        return False
    if not stat_matches(entry, src_st):
        return False
    if st is not None and (st.st_ino, st.st_dev) == (src_st.st_ino, src_st.st_dev):
        return True
    try:
        if st is None:
            Path(dest).parent.mkdir(parents=True, exist_ok=True)  # as atomic_write does
            os.link(source, dest, follow_symlinks=False)
        else:
            _replace_via_temp(
                Path(dest), st, lambda tmp: os.link(source, tmp, follow_symlinks=False)
            )
    except OSError as exc:
        if exc.errno in (errno.EXDEV, errno.EMLINK, errno.EPERM, errno.EOPNOTSUPP):
            return False
        raise
    return True


def _fix_metadata(entry: Entry, dest: Path, st: os.stat_result) -> bool:
    """Same content: set mode, owner and mtime; True only if mode or owner changed."""
    changed = stat.S_IMODE(st.st_mode) != entry.mode
    if changed:
        os.chmod(dest, entry.mode)
    if IS_ROOT and (st.st_uid, st.st_gid) != (entry.uid, entry.gid):
        _chown(dest, entry)
        changed = True
    os.utime(dest, ns=(entry.mtime_ns, entry.mtime_ns), follow_symlinks=False)
    return changed


def _place_dir(entry: Entry, dest: Path, st: os.stat_result | None, area_copy: bool) -> bool:
    mode = entry.mode | 0o700 if area_copy else entry.mode
    changed = False
    if st is not None and not stat.S_ISDIR(st.st_mode):
        dest.unlink()
        st = None
    if st is None:
        dest.mkdir(parents=True)
        changed = True
        st = dest.lstat()
    if stat.S_IMODE(st.st_mode) != mode:
        os.chmod(dest, mode)
        changed = True
    if IS_ROOT and (st.st_uid, st.st_gid) != (entry.uid, entry.gid):
        _chown(dest, entry)
        changed = True
    return changed


def _place_symlink(entry: Entry, dest: Path, st: os.stat_result | None) -> bool:
    if st is not None and stat.S_ISLNK(st.st_mode) and os.readlink(dest) == entry.target:
        if not IS_ROOT or (st.st_uid, st.st_gid) == (entry.uid, entry.gid):
            return False
        _chown(dest, entry)
        return True
    dest.parent.mkdir(parents=True, exist_ok=True)

    def make(tmp: Path) -> None:
        os.symlink(entry.target, tmp)
        _chown(tmp, entry)

    _replace_via_temp(dest, st, make)
    return True


def _replace_via_temp(dest: Path, st: os.stat_result | None, make: Callable[[Path], None]) -> None:
    """Put a new object at `dest` by rename: `make` creates it under a temporary name beside
    `dest` (a stale one of an earlier kill is removed first); a directory at `dest` (`st`) is
    removed just before the rename."""
    tmp = dest.parent / tempnames.temp_name(dest.name)
    tmp.unlink(missing_ok=True)
    make(tmp)
    if st is not None and stat.S_ISDIR(st.st_mode):
        shutil.rmtree(dest)
    os.replace(tmp, dest)


def may_change(entry: Entry, dest: StrPath, st: os.stat_result | None) -> bool:
    """Whether `place_known(entry, dest, st, ...)` may change `dest` (False only when it
    certainly will not): what an Install records as owed before it writes."""
    if st is None:
        return entry.type != "absent"
    if entry.type == "absent":
        return True
    if entry.type == "file":
        return not stat_matches(entry, st)
    if object_type(st) != entry.type:
        return True
    if IS_ROOT and (st.st_uid, st.st_gid) != (entry.uid, entry.gid):
        return True
    if entry.type == "symlink":
        return os.readlink(dest) != entry.target
    return stat.S_IMODE(st.st_mode) != entry.mode


def walk(
    base: StrPath, system_path: str, sweep: bool = False
) -> Iterator[tuple[str, str, os.stat_result | None]]:
    """Yield (system path, fs path, lstat) for `system_path` under `base` and, for a directory,
    everything inside it (sorted, parents first). A missing top object yields st=None.

    `sweep` (Create's read of the system root): atlas-ha's own temporary files inside the
    directories (`layout.tempnames`) are not yielded, and removed when their writer is dead."""
    fs_path = os.fspath(base).rstrip("/") + system_path
    st = lstat_or_none(fs_path)
    yield system_path, fs_path, st
    if st is not None and stat.S_ISDIR(st.st_mode):
        yield from _walk_dir(fs_path, system_path, sweep)


def _walk_dir(
    fs_dir: str, system_dir: str, sweep: bool = False
) -> Iterator[tuple[str, str, os.stat_result | None]]:
    with os.scandir(fs_dir) as it:
        children = sorted(it, key=lambda e: e.name)
    for child in children:
        if sweep and tempnames.is_temp(child.name):
            tempnames.remove_if_stale(child.path, child.name)
            continue
        system_path = f"{system_dir}/{child.name}"
        try:
            st: os.stat_result | None = child.stat(follow_symlinks=False)
        except FileNotFoundError:
            st = None
        yield system_path, child.path, st
        if st is not None and stat.S_ISDIR(st.st_mode):
            yield from _walk_dir(child.path, system_path, sweep)


def tops_of(tree_dir: StrPath) -> list[str]:
    """The system paths of the objects directly in an area's tree directory ("/etc", ...)."""
    try:
        with os.scandir(tree_dir) as it:
            return sorted("/" + e.name for e in it)
    except FileNotFoundError:
        return []


def tree_stats(base: StrPath, tops: Iterable[str]) -> Stats:
    """{system path: (fs path, lstat)} of everything under `tops` below `base` (one walk)."""
    return {p: (fs, st) for top in tops for p, fs, st in walk(base, top) if st is not None}


def prune(
    base: StrPath,
    listed: list[str],
    keep: set[str],
    found: Stats | None = None,
    dry_run: bool = False,
) -> list[str]:
    """Remove objects under the listed directories of `base` whose system path is neither in
    `keep` nor a parent directory of something kept; return the removed system paths.

    `found`: a walk of `base` over `listed` the caller already made (`tree_stats`); objects
    created since are in `keep`, objects removed since are skipped. `dry_run`: remove nothing,
    return what would be removed."""
    keep = keep | {
        "/" + "/".join(parts[:i])
        for p in keep
        if (parts := p.strip("/").split("/"))
        for i in range(1, len(parts))
    }
    if found is None:
        found = tree_stats(base, listed)
    real_base = _real_dir(os.fspath(base))
    removed: list[str] = []
    for system_path, (fs_path, _st) in found.items():
        if system_path in keep or not covered(system_path, listed):
            continue
        if any(system_path.startswith(r + "/") for r in removed):
            continue
        # never through a parent that became a symlink (or a file) since the walk
        parent = system_path.rpartition("/")[0]
        if _real_dir(fs_path.rpartition("/")[0]) != real_base + parent:
            continue
        if not dry_run:
            remove_object(fs_path)
        removed.append(system_path)
    return removed


def _real_dir(path: str) -> str:
    """The resolved directory `path` ("" = "/"), without a trailing slash."""
    return os.path.realpath(path or "/").rstrip("/")


def covered(path: str, listed: Iterable[str]) -> bool:
    return any(path == p or path.startswith(p + "/") for p in listed)
