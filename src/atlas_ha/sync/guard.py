"""The guards that keep a lost system root from propagating as deletion (SPEC 5.2, 5.6).

A Create that cannot see the system (a `system_root` typo, a root not mounted yet, a synced
filesystem that failed to mount) would record every listed path as absent, and the next
SyncCycle would remove those files from every SEC. So, before anything is flagged or written:

  * Create refuses when the system root does not exist or is not a directory (checked before
    the before-create hooks and the Verifier's SetUp, which write into it);
  * Create refuses when any identity file of its own environment (IdentFilePaths) is missing;
  * Create refuses when it would record as absent (or drop from a listed directory) more
    than `[sync] mass_deletion_percent` % of the objects its previous snapshot held, when
    that is at least `[sync] mass_deletion_min` objects;
  * Install on a SEC applies the same share to what it would remove from its system root,
    and never removes the accounts files (/etc/passwd, /etc/shadow, /etc/group).

An operator allows one mass deletion with `atlas-ha sync create --allow-mass-deletion` (or
`sync cycle --allow-mass-deletion`); the Create records the allowance in its history commit
and in SID_DATA/.results/mass-deletion-allowed.json, and the PRI's cycles pass it on to the
SECs for as long as (PRI, E) is the very snapshot that Create made.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from atlas_ha.context import Server
from atlas_ha.errors import GuardError
from atlas_ha.layout.atomic import atomic_write
from atlas_ha.layout.manifest import Manifest
from atlas_ha.layout.paths import covered
from atlas_ha.layout.sid import Area
from atlas_ha.settings import DeletionGuard

ACCOUNTS_FILES = ("/etc/passwd", "/etc/shadow", "/etc/group")
ALLOW_HINT = "--allow-mass-deletion"
SHOWN = 5


def _refuse(server: Server, message: str) -> GuardError:
    """The GuardError to raise, alerted first."""
    server.log(f"ALERT {message}")
    return GuardError(message)


def check_system_root(server: Server, operation: str) -> None:
    root = server.settings.system_root
    if not root.is_dir():
        what = "does not exist" if not root.exists() else "is not a directory"
        raise _refuse(
            server,
            f"{operation} refused: the system root {root} {what} (system_root in "
            f"{server.settings.config_file}; a typo, or a root not mounted yet?); nothing "
            "was recorded",
        )


def check_identity(server: Server, area: Area, entries: Manifest, listed: list[str]) -> None:
    """Refuse a Create whose own environment's identity files are missing from the system."""
    missing = [p for p in listed if _absent(entries, "IdentFiles", p)]
    root = server.settings.system_root
    if missing:
        raise _refuse(
            server,
            f"Create {area.ref} refused: the identity files of Env{area.ref.env} are missing "
            f"from the system root {root}: {', '.join(missing)} (IdentFilePaths; the OS "
            "identity must be there); nothing was recorded",
        )


def _absent(entries: Manifest, tree: str, path: str) -> bool:
    entry = entries.get((tree, path))
    return entry is None or entry.type == "absent"


@dataclass(frozen=True)
class Deletion:
    """What an operation would remove: `removed` of the `held` objects."""

    removed: list[str]
    held: int

    def exceeds(self, guard: DeletionGuard) -> bool:
        return guard.exceeded(len(self.removed), self.held)

    def describe(self) -> str:
        shown = ", ".join(self.removed[:SHOWN])
        more = f" and {len(self.removed) - SHOWN} more" if len(self.removed) > SHOWN else ""
        return f"{len(self.removed)} of {self.held} objects ({shown}{more})"


def created_deletion(
    previous: Manifest, entries: Manifest, listed: dict[str, list[str]]
) -> Deletion:
    """What a Create would record as gone: objects the previous snapshot held that are now
    recorded absent, or no longer found inside a listed directory (what a SEC's Install then
    removes). A path no longer listed at all is not a deletion: Install leaves it alone."""
    held = [key for key, e in previous.items() if e.type != "absent" and key[0] != "area"]
    removed = {
        path
        for tree, path in held
        if covered(path, listed.get(tree, [])) and _absent(entries, tree, path)
    }
    return Deletion(sorted(removed), len(held))


def refuse_mass_deletion(
    server: Server, what: str, deletion: Deletion, allowed: bool, where: str
) -> bool:
    """Raise GuardError when `deletion` exceeds the settings' share and is not `allowed`;
    return whether it exceeds it (an allowed mass deletion is recorded by the caller)."""
    guard = server.settings.deletion_guard
    if not deletion.exceeds(guard):
        return False
    if allowed:
        server.log(f"ALERT {what}: mass deletion allowed by the operator: {deletion.describe()}")
        return True
    raise _refuse(
        server,
        f"{what} refused: it would remove {deletion.describe()}, more than "
        f"{guard.percent} % (at least {guard.minimum} objects; [sync] in "
        f"{server.settings.config_file}); a lost mount or a typo must not propagate as "
        f"deletion. If the deletion is intended: {where}",
    )


def protected(paths: Iterable[str]) -> list[str]:
    """The accounts files among `paths` (Install never removes them)."""
    return [p for p in paths if p in ACCOUNTS_FILES]


# -- the operator's allowance, carried to the SECs -----------------------------------------
def _digest(area: Area) -> str:
    try:
        return hashlib.sha256(area.manifest_file.read_bytes()).hexdigest()
    except FileNotFoundError:
        return ""


def record_allowance(server: Server, area: Area, deletion: Deletion) -> None:
    """Remember that the operator allowed the mass deletion that made `area` (its Manifest as
    written now): the cycles pass the allowance on to the SECs while it is that snapshot."""
    allowance = {
        "area": str(area.ref),
        "manifest": _digest(area),
        "removed": len(deletion.removed),
        "held": deletion.held,
        "by": server.name,
        "at": server.clock.now(),
    }
    path = server.sid.allowance_file
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    atomic_write(path, json.dumps(allowance), mode=0o600)


def allowance_holds(server: Server, area: Area) -> bool:
    """Whether the recorded allowance is for `area` as it is now (its Manifest unchanged)."""
    try:
        allowance = json.loads(server.sid.allowance_file.read_text())
    except (FileNotFoundError, ValueError):
        return False
    return isinstance(allowance, dict) and allowance.get("manifest") == _digest(area) != ""
