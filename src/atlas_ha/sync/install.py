"""Snapshot Install (SPEC 5.6) — SECs only: the PRI's SyncFiles at the SEC's own EnvVersion.

Every object is placed atomically with its metadata (stat-based: unchanged files are left
alone); objects the Manifest marks absent, and objects inside a synced directory that the
snapshot does not hold, are removed. IdentFiles are never installed here. The PRI's path
lists are copied into the SEC's own area so that its next Create covers the same paths.
"""

from __future__ import annotations

from atlas_ha.errors import RoleError
from atlas_ha.layout import objects
from atlas_ha.layout.atomic import write_if_changed
from atlas_ha.sync.context import Server


def install(server: Server) -> list[str]:
    """Install (PRI, E) into the system root; return the changed system paths."""
    sid, env, role = server.sid, server.env_id, server.role()
    if role == "PRI":
        raise RoleError("Snapshot Install runs on SECs only; this server holds PRI")
    area = sid.require_valid("PRI", env)
    root = server.settings.system_root
    manifest = area.manifest()
    listed = area.sync_paths()
    found = objects.tree_stats(root, listed)  # one walk of what the system holds now
    base, copies = str(root).rstrip("/"), str(area.tree_dir("SyncFiles"))
    changed: list[str] = []
    dirs: list[str] = []
    for (tree, path), entry in sorted(manifest.items(), key=lambda kv: kv[0][1]):
        if tree != "SyncFiles":
            continue
        hit = found.get(path)
        st = hit[1] if hit else None
        if hit is None and not objects.covered(path, listed):
            st = objects.lstat_or_none(base + path)
        if objects.place_known(entry, base + path, st, source=copies + path):
            changed.append(path)
            server.faults.checkpoint("install.file")
        if entry.type == "dir":
            dirs.append(path)
    keep = {p for (t, p) in manifest if t == "SyncFiles"}
    changed += objects.prune(root, [d for d in listed if d in dirs], keep, found=found)
    own = sid.area(role, env)
    own.path.mkdir(parents=True, exist_ok=True)
    lists = sorted(area.path.glob("SyncFilePaths*"))
    for source in lists:
        write_if_changed(own.path / source.name, source.read_bytes())
    for stale in own.path.glob("SyncFilePathsSvc*"):  # a service the PRI no longer has
        if stale.name not in {s.name for s in lists}:
            stale.unlink()
    server.faults.checkpoint("install.done")
    server.log(f"install (PRI,{env}) on {role}: {len(changed)} changed")
    if changed:
        server.run_hooks(
            "after_install",
            role,
            {"ATLAS_HA_CHANGED": "\n".join(changed)},
            stdin="".join(p + "\n" for p in changed),
        )
    from atlas_ha.verifier.setup import after_install_quietly  # verifier data, reloads

    after_install_quietly(server, changed)
    return changed
