"""Snapshot Create (SPEC 5.2): copy the role's SyncFiles and IdentFiles into (R, E).

Steps and their transaction flags:
  0. read the system and apply the guards of sync/guard.py (a missing system root or
     identity, a mass deletion): a refusal leaves the area exactly as it was;
  1. set InvalidVersions + InvalidSnapshot in (R, E), clear SnapshotEnvVersion[R]
     (a flag that cannot be written stops everything: FlagWriteError);
  2. copy every listed object (stat-based: unchanged files are neither read nor copied),
     remove from the copy what disappeared from the system;
  3. write the Manifest, record the change in git;
  4. SnapshotEnvVersion[R] = E, clear InvalidSnapshot (InvalidVersions stays until
     ConvertToOlder has rebuilt the older areas).
"""

from __future__ import annotations

from atlas_ha import hooks
from atlas_ha.context import Server
from atlas_ha.converters.transaction import write_manifest
from atlas_ha.errors import ConfigRejectedError, InvalidSnapshotError
from atlas_ha.layout import objects, validation
from atlas_ha.layout import paths as paths_mod
from atlas_ha.layout.atomic import write_if_changed
from atlas_ha.layout.manifest import Manifest
from atlas_ha.layout.scan import read_objects
from atlas_ha.layout.sid import INVALID_SNAPSHOT, INVALID_VERSIONS, Area
from atlas_ha.sync import guard

SPECIAL = "SyncFilePathsSpecial"


def create(server: Server, role: str | None = None, allow_mass_deletion: bool = False) -> Area:
    """Create snapshot (R, E) of this server's role R (or `role`) at its EnvVersion E.

    Refuses (GuardError, before anything is flagged or written) when the system root is
    missing, when the environment's identity files are missing, or when it would record a
    mass deletion the operator did not allow (`allow_mass_deletion`; see sync/guard.py)."""
    sid = server.sid
    role = role or server.role()
    env = server.env_id
    area = sid.area(role, env)
    guard.check_system_root(server, f"Create ({role},{env})")
    if not area.path.is_dir() or not (area.path / "IdentFilePaths").exists():
        _adopt_path_lists(server, role, env)
    if role == "PRI":  # site programs, then the Verifier's SetUp (SPEC 8.2) and checkers
        hooks.emit(server, hooks.Event("before_create", role))
        _refuse_rejected(server)
    # read the system first: the guards decide before the area is touched
    listed = {"SyncFiles": _sync_paths_of(area), "IdentFiles": area.ident_paths()}
    previous = area.manifest()
    root = server.settings.system_root
    found = {
        tree: list(read_objects(root, tree, paths, previous)) for tree, paths in listed.items()
    }
    entries: Manifest = {entry.key: entry for items in found.values() for entry, _ in items}
    guard.check_identity(server, area, entries, listed["IdentFiles"])
    deletion = guard.created_deletion(previous, entries, listed)
    mass = guard.refuse_mass_deletion(
        server,
        f"Create ({role},{env})",
        deletion,
        allow_mass_deletion,
        "run `atlas-ha sync create --allow-mass-deletion` once (recorded in history)",
    )
    sid.ensure()
    # the last manifest describes the copies only if the last Create completed
    trusted = area.path.is_dir() and not area.has_flag(INVALID_SNAPSHOT)
    sid.set_flag(area, INVALID_VERSIONS)
    sid.set_flag(area, INVALID_SNAPSHOT)
    sid.set_sev(role, None)
    server.faults.checkpoint("create.flagged")
    _write_sync_paths(area, listed["SyncFiles"])
    for tree, items in found.items():
        tree_dir = str(area.tree_dir(tree))
        copies = objects.tree_stats(tree_dir, objects.tops_of(tree_dir))  # one walk of the copy
        for entry, fs_path in items:
            old = previous.get(entry.key)
            known = old.sha256 if trusted and old is not None else ""
            hit = copies.get(entry.path)
            objects.place_known(
                entry,
                tree_dir + entry.path,
                hit[1] if hit else None,
                source=fs_path,
                area_copy=True,
                dest_sha=known,
            )
            server.faults.checkpoint("create.copy")
        _remove_vanished(area, tree, entries, copies)
    server.faults.checkpoint("create.copied")
    write_manifest(area, entries)
    trailers = {"Atlas-Allowed-Mass-Deletion": deletion.describe()} if mass else None
    # the area holds exactly what its new Manifest says: only what changed is staged
    server.history.record("create", role, env, [f"{role}/Env{env}"], trailers, targeted=True)
    if mass:
        guard.record_allowance(server, area, deletion)
    server.faults.checkpoint("create.recorded")
    sid.clear_flag(area, "InvalidSend")
    sid.set_sev(role, env)
    sid.clear_flag(area, INVALID_SNAPSHOT)
    server.log(f"create ({role},{env}): {len(entries)} objects; SEV[{role}]={env}")
    return area


def _refuse_rejected(server: Server) -> None:
    """With `[sync] rejected = "refuse"`: no Create of a configuration the PRI's own checkers
    rejected just now (before anything is flagged). By default it is reported and synced:
    every SEC checks it again before reloading, and keeps its last good configuration."""
    if not server.settings.refuse_rejected:
        return
    rejected = [v for v in validation.not_passed(server.esd, "PRI") if v.state == "rejected"]
    if rejected:
        found = "; ".join(f"{v.service}: {v.describe()}" for v in rejected)
        raise ConfigRejectedError(
            f'Create (PRI,{server.env_id}) refused ([sync] rejected = "refuse" in '
            f"{server.settings.config_file}): {found}"
        )


def _remove_vanished(area: Area, tree: str, entries: Manifest, copies: objects.Stats) -> None:
    """Remove from the copy every object the system no longer has (or that is no longer listed);
    `copies`: the walk of the copy made before this Create placed anything."""
    keep = {p for (t, p) in entries if t == tree}
    tops = objects.tops_of(area.tree_dir(tree))
    objects.prune(area.tree_dir(tree), tops, keep, found=copies)


def listed_paths(area: Area) -> list[str]:
    """Every path the next Create of `area` reads: its SyncFilePaths and IdentFilePaths (what
    the daemon watches for changes, daemon/watch.py); [] for an area without path lists."""
    sync = _sync_paths_of(area)
    return sync + [p for p in area.ident_paths() if p not in sync]


def _sync_paths_of(area: Area) -> list[str]:
    """SyncFilePaths = all SyncFilePathsSvc* + SyncFilePathsSpecial (SPEC 8.2), when the area
    has SyncFilePathsSpecial; else the SyncFilePaths it holds."""
    special = area.path / SPECIAL
    if not special.exists():
        return area.sync_paths()
    listed: list[str] = []
    for part in [*sorted(area.path.glob("SyncFilePathsSvc*")), special]:
        listed += [p for p in paths_mod.read(part) if p not in listed]
    return listed


def _write_sync_paths(area: Area, listed: list[str]) -> None:
    if (area.path / SPECIAL).exists():
        write_if_changed(area.path / "SyncFilePaths", paths_mod.render(listed))


def _adopt_path_lists(server: Server, role: str, env: int) -> None:
    """A first Create at Env E uses the path lists of the newest older area (from-scratch set-up
    may have placed them at any V <= E), converted up."""
    from atlas_ha.sync.convert import convert_step

    sid = server.sid
    older = [
        v
        for v in sid.envs(role)
        if v < env and (sid.area(role, v).path / "IdentFilePaths").exists()
    ]
    if not older:
        raise InvalidSnapshotError(
            f"{sid.area(role, env).path}: no IdentFilePaths for "
            f"({role},{env}) or any older area (run `atlas-ha init`)"
        )
    for v in range(max(older), env):
        convert_step(server, role, v, v + 1)
