"""Restore of a path or a whole snapshot area to an earlier revision (SPEC 5.11).

`restore_path` / `restore_snapshot` put a copy (or a whole area) back as it was at an earlier
revision -- content from git, metadata from that revision's Manifest -- and record the
restore as a commit of its own (operation "restore"). A restore writes only the area; the
system root is changed only by `restore_path(..., install=True)` on the PRI.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from atlas_ha.converters.transaction import write_manifest
from atlas_ha.errors import HistoryError, RoleError
from atlas_ha.layout import manifest as manifest_mod
from atlas_ha.layout import objects
from atlas_ha.layout.manifest import Manifest
from atlas_ha.layout.sid import FLAGS, INVALID_SNAPSHOT, Area

if TYPE_CHECKING:
    from atlas_ha.context import Server

from atlas_ha.layout.history import FILE_TREES, History


@dataclass(frozen=True)
class Restored:
    """What a restore did: the area, the revision restored, the commit recording it (None when
    the area already was as at that revision) and the system paths placed by --install."""

    area: str
    rev: str
    commit: str | None
    installed: list[str]


def restore_path(
    server: Server,
    system_path: str,
    rev: str,
    role: str | None = None,
    env: int | None = None,
    install: bool = False,
) -> Restored:
    """Restore the copy of `system_path` (a file, symlink or directory tree) in area (role,
    env) -- by default this server's own role and EnvID -- to its content and metadata at
    `rev`; with `install` (PRI only, its own area) also place it into the system root. An
    object the area did not hold at `rev` is removed."""
    role = role or server.role()
    env = env or server.env_id
    _check_system_path(system_path)
    history = server.history
    commit = history.verify(rev)
    area = server.sid.area(role, env)
    if install:
        _check_install(server, role, env)
    then = _under(_manifest_at(history, commit, rev, area), system_path)
    with _writing(server, role):
        now = _under(area.manifest(), system_path)
        if not then and not now:
            raise HistoryError(f"{system_path} is in {_rel(area)} neither at {rev!r} nor now")
        with _flagged(server, area):
            history.restore_paths(commit, _tracked_roots(area, system_path, then, now))
            _apply(area, then, rev)
            for tree in {t for (t, _p) in then | now}:
                keep = {p for (t, p) in then if t == tree}
                objects.prune(area.tree_dir(tree), [system_path], keep)
            merged = {k: e for k, e in area.manifest().items() if k not in now} | then
            write_manifest(area, merged)
        installed = _install(server, area, then, system_path) if install else []
        trailers = {"Atlas-Restored-From": commit, "Atlas-Restored-Path": system_path}
        new = history.record("restore", role, env, [_rel(area)], trailers)
    return Restored(_rel(area), commit, new, installed)


def restore_snapshot(server: Server, role: str, env: int, rev: str) -> Restored:
    """Restore the whole area (role, env) -- every tracked file, the Manifest and the path
    lists -- to `rev`, with the metadata of the Manifest at `rev`; files added since are
    removed. Flags and SnapshotEnvVersion are state, not history: they are left as they are."""
    history = server.history
    commit = history.verify(rev)
    area = server.sid.area(role, env)
    then = _manifest_at(history, commit, rev, area)
    with _writing(server, role):
        with _flagged(server, area):
            history.restore_paths(commit, [_rel(area)])
            _apply(area, then, rev)
            for tree in FILE_TREES:
                keep = {p for (t, p) in then if t == tree}
                tops = sorted({"/" + p.name for p in area.tree_dir(tree).glob("*")})
                objects.prune(area.tree_dir(tree), tops, keep)
            _fix_area_files(area, then)
        trailers = {"Atlas-Restored-From": commit}
        new = history.record("restore", role, env, [_rel(area)], trailers)
    return Restored(_rel(area), commit, new, [])


def _check_system_path(system_path: str) -> None:
    """A normalised absolute path below / (the whole root is restored with restore_snapshot)."""
    if (
        not system_path.startswith("/")
        or system_path == "/"
        or posixpath.normpath(system_path) != system_path
    ):
        raise HistoryError(f"a system path such as /etc/hosts is needed, got {system_path!r}")


def _rel(area: Area) -> str:
    return f"{area.ref.role}/Env{area.ref.env}"


def _manifest_at(history: History, commit: str, rev: str, area: Area) -> Manifest:
    """The Manifest of `area` at `commit` (HistoryError when the area had none then)."""
    relpath = f"{_rel(area)}/Manifest"
    if history.git("cat-file", "-e", f"{commit}:{relpath}", check=False).returncode != 0:
        raise HistoryError(f"{_rel(area)} has no Manifest at revision {rev!r}")
    text = history.show(commit, relpath).decode(errors="replace")
    return manifest_mod.parse(text, f"{rev}:{relpath}")


def _under(manifest: Manifest, system_path: str) -> Manifest:
    """The entries of the object trees at or below `system_path`."""
    return {
        (t, p): e
        for (t, p), e in manifest.items()
        if t in FILE_TREES and (p == system_path or p.startswith(system_path + "/"))
    }


def _tracked_roots(area: Area, system_path: str, then: Manifest, now: Manifest) -> list[str]:
    """The git paths to restore: `system_path` in each tree where it holds files or symlinks
    (git tracks nothing else) at `rev` or now."""
    trees = {t for (t, _p), e in (then | now).items() if e.type in ("file", "symlink")}
    return [f"{_rel(area)}/{tree}{system_path}" for tree in sorted(trees)]


def _apply(area: Area, entries: Manifest, rev: str) -> None:
    """Give the restored copies the metadata of `entries` (parents first); create the
    directories git does not keep, remove what the entries mark absent."""
    for (tree, path), entry in sorted(entries.items(), key=lambda kv: kv[0][1]):
        if tree not in FILE_TREES:
            continue
        dest = area.copy_path(tree, path)
        if entry.type == "file" and objects.lstat_or_none(dest) is None:
            raise HistoryError(f"{tree}{path}: in the Manifest at {rev!r} but not in git")
        objects.place(entry, dest, source=dest, area_copy=True)


def _fix_area_files(area: Area, manifest: Manifest) -> None:
    """Mode and owner of the area's own files as git restored them: the path lists as in the
    Manifest, anything else (the Manifest itself) 0600 like every file the tool writes."""
    for child in area.path.iterdir():
        if child.name in FLAGS or not stat.S_ISREG(child.lstat().st_mode):
            continue
        entry = manifest.get(("area", child.name))
        os.chmod(child, entry.mode if entry else 0o600)
        if entry and objects.IS_ROOT:
            os.chown(child, entry.uid, entry.gid)


def _install(server: Server, area: Area, entries: Manifest, system_path: str) -> list[str]:
    """Place the restored objects into the system root (parents first) with their metadata;
    remove what the area no longer holds below `system_path`. Returns changed system paths."""
    root = server.settings.system_root
    changed = []
    for (tree, path), entry in sorted(entries.items(), key=lambda kv: kv[0][1]):
        if objects.place(entry, root / path.lstrip("/"), source=area.copy_path(tree, path)):
            changed.append(path)
    changed += objects.prune(root, [system_path], {p for (_t, p) in entries})
    server.log(f"restore: installed {len(changed)} object(s) below {system_path}")
    return changed


def _check_install(server: Server, role: str, env: int) -> None:
    """--install is for the PRI's own area: the object goes into the PRI's own system root."""
    if server.role() != "PRI":
        raise RoleError(
            f"restore --install runs on the PRI only; this server holds {server.role()} "
            "(on a SEC the next Snapshot Install puts the PRI's version in place)"
        )
    if (role, env) != ("PRI", server.env_id):
        raise RoleError(
            f"restore --install needs the PRI's own area PRI/Env{server.env_id}, "
            f"not {role}/Env{env}"
        )


@contextlib.contextmanager
def _writing(server: Server, role: str) -> Iterator[None]:
    """Exclusive use of the role's areas (also against a SyncCycle's Create and conversions)."""
    with server.sid.lock("cycle"), server.sid.lock(f"area-{role}"):
        yield


@contextlib.contextmanager
def _flagged(server: Server, area: Area) -> Iterator[None]:
    """InvalidSnapshot while the area is being rewritten; cleared only on success and only if
    the area was not flagged before (a restore does not make an invalid snapshot valid)."""
    was_flagged = area.has_flag(INVALID_SNAPSHOT)
    server.sid.set_flag(area, INVALID_SNAPSHOT)
    yield
    if not was_flagged:
        server.sid.clear_flag(area, INVALID_SNAPSHOT)
