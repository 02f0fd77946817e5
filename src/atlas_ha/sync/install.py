"""Snapshot Install (SPEC 5.6) — SECs only: the PRI's SyncFiles at the SEC's own EnvVersion.

Every object is placed atomically with its metadata (stat-based: unchanged files are left
alone); objects the Manifest marks absent, and objects inside a synced directory that the
snapshot does not hold, are removed. IdentFiles are never installed here. The PRI's path
lists are copied into the SEC's own area so that its next Create covers the same paths.

Before anything is written:
  * a suspended SEC refuses (an operator is working on it: SPEC 5.10);
  * the guards of sync/guard.py: the system root must exist, a mass removal needs the PRI
    operator's allowance, and the accounts files (/etc/passwd, /etc/shadow, /etc/group) are
    never removed;
  * the paths the Install may change are added to the owed after-install work
    (ESD_DATA/owed-reloads.json). The after-install hooks and service reloads run for the
    paths that changed plus what an earlier Install left owed, and only then is the record
    removed: an Install killed before its reloads has them done by the next Install.
    A configuration its service's own checker rejected is not reloaded (verifier/validate.py):
    its changed paths stay owed (layout/validation.py) until a later Install passes the check.

Durability: each file is replaced atomically and durably (old or new after a power cut,
never torn). From `GROUP_FROM` files on, by two syncfs for all of them instead of two fsyncs
each (layout/staged.py: all written under temporary names, synced, renamed, synced again
before the hooks); fewer are written one `atomic_write` each.
"""

from __future__ import annotations

import json
import os

from atlas_ha import hooks
from atlas_ha.context import Server
from atlas_ha.errors import RoleError
from atlas_ha.layout import objects, validation
from atlas_ha.layout.atomic import atomic_write, write_if_changed
from atlas_ha.layout.manifest import Entry
from atlas_ha.layout.sid import Area
from atlas_ha.layout.staged import GROUP_FROM, StagedWrites
from atlas_ha.sync import guard
from atlas_ha.sync.suspension import check_not_suspended

Planned = list[tuple[str, Entry, os.stat_result | None]]


def install(server: Server, allow_mass_deletion: bool = False) -> list[str]:
    """Install (PRI, E) into the system root; return the changed system paths.

    `allow_mass_deletion`: the PRI's operator allowed the mass deletion this snapshot holds."""
    sid, env, role = server.sid, server.env_id, server.role()
    if role == "PRI":
        raise RoleError("Snapshot Install runs on SECs only; this server holds PRI")
    what = f"Install (PRI,{env}) on {role}"
    check_not_suspended(server, what)
    guard.check_system_root(server, what)
    area = sid.require_valid("PRI", env)
    root = server.settings.system_root
    manifest = area.manifest()
    listed = area.sync_paths()
    found = objects.tree_stats(root, listed)  # one walk of what the system holds now
    base, copies = str(root).rstrip("/"), str(area.tree_dir("SyncFiles"))
    planned: Planned = []
    for (tree, path), entry in sorted(manifest.items(), key=lambda kv: kv[0][1]):
        if tree != "SyncFiles":
            continue
        hit = found.get(path)
        st = hit[1] if hit else None
        if hit is None and not objects.covered(path, listed):
            st = objects.lstat_or_none(base + path)
        planned.append((path, entry, st))
    keep = {p for (t, p) in manifest if t == "SyncFiles"}
    dir_entries = {p for p, e, _ in planned if e.type == "dir"}
    dirs = [d for d in listed if d in dir_entries]
    removals = [p for p, e, st in planned if e.type == "absent" and st is not None]
    removals += objects.prune(root, dirs, keep, found=found, dry_run=True)
    held = len(found) + sum(1 for p, _, st in planned if st is not None and p not in found)
    guard.refuse_mass_deletion(
        server,
        what,
        guard.Deletion(sorted(removals), held),
        allow_mass_deletion,
        "run `atlas-ha sync cycle --allow-mass-deletion` on the PRI",
    )
    spared = guard.protected(removals)
    for path in spared:
        server.log(f"ALERT {what}: {path} is not removed (accounts files never are)")
    owed = owed_paths(server)  # left by an Install that did not get to its hooks
    changing = [(p, e) for p, e, st in planned if objects.may_change(e, base + p, st)]
    _owe(server, owed, [p for p, _e in changing])
    writes = sum(1 for _p, e in changing if e.type == "file")
    staged = StagedWrites() if writes >= GROUP_FROM else None
    changed: list[str] = []
    try:
        for path, entry, st in planned:
            if entry.type == "absent" and path in spared:
                continue
            if objects.place_known(entry, base + path, st, source=copies + path, staged=staged):
                changed.append(path)
                if staged is None:
                    server.faults.checkpoint("install.file")
        if staged is not None:  # every new file written, none renamed into place yet
            server.faults.checkpoint("install.staged")
            staged.publish(lambda _path: server.faults.checkpoint("install.file"))
    except BaseException:
        if staged is not None:
            staged.discard()
        raise
    changed += objects.prune(root, dirs, keep | set(spared), found=found)
    if staged is not None:
        staged.settle()  # the renames and removals durable before any hook or reload
    _adopt_lists(server, area, role, env)
    server.faults.checkpoint("install.done")
    server.log(f"install (PRI,{env}) on {role}: {len(changed)} changed")
    _after_install(server, role, sorted(set(changed) | set(owed)))
    return changed


def _adopt_lists(server: Server, area: Area, role: str, env: int) -> None:
    """Copy the PRI's path lists into this SEC's own area (its next Create covers them)."""
    own = server.sid.area(role, env)
    own.path.mkdir(parents=True, exist_ok=True)
    lists = sorted(area.path.glob("SyncFilePaths*"))
    for source in lists:
        write_if_changed(own.path / source.name, source.read_bytes())
    for stale in own.path.glob("SyncFilePathsSvc*"):  # a service the PRI no longer has
        if stale.name not in {s.name for s in lists}:
            stale.unlink()


def _owe(server: Server, owed: list[str], paths: list[str]) -> None:
    """Add `paths` (what this Install may change) to the after-install work this server owes,
    durably, before any of them is written. Only a killed Install leaves them owed: the paths
    that did not change after all then get one reload too many, never one too few."""
    if paths and not set(paths) <= set(owed):
        record = {"paths": sorted(set(owed) | set(paths))}
        atomic_write(server.esd.owed_reloads_file, json.dumps(record), mode=0o600)


def owed_paths(server: Server) -> list[str]:
    """The system paths whose after-install work (hooks, reloads) is still owed."""
    try:
        data = json.loads(server.esd.owed_reloads_file.read_text())
    except FileNotFoundError:
        return []
    except ValueError:
        return []  # a torn record cannot be: atomic_write; unreadable means nothing to redo
    paths = data.get("paths") if isinstance(data, dict) else None
    return [p for p in paths if isinstance(p, str)] if isinstance(paths, list) else []


def _after_install(server: Server, role: str, paths: list[str]) -> None:
    """The after-install hooks (site programs, then the Verifier's data and the service
    reloads) for `paths`, then the debt is paid, but for the reloads a rejected configuration
    holds back."""
    hooks.emit(server, hooks.Event("after_install", role, tuple(paths)))
    server.faults.checkpoint("install.reloaded")
    held = validation.still_owed(server.esd, role)
    if held:
        atomic_write(server.esd.owed_reloads_file, json.dumps({"paths": held}), mode=0o600)
    else:
        server.esd.owed_reloads_file.unlink(missing_ok=True)
