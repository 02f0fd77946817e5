"""Role/Identity Install (SPEC 5.1), at boot before the network starts.

Installs only the IdentFiles of (R, E); never SyncFiles. With no snapshot of R at all (a new
group, SPEC 5.12) nothing is installed and the identity configured in the OS stays.
"""

from __future__ import annotations

from dataclasses import dataclass

from atlas_ha import hooks
from atlas_ha.context import Server
from atlas_ha.errors import InvalidSnapshotError
from atlas_ha.layout import objects
from atlas_ha.layout.atomic import atomic_write, read_text_or_none
from atlas_ha.sync.convert import convert_to_newer


@dataclass(frozen=True)
class IdentityResult:
    role: str
    env: int
    installed: list[str]
    converted: list[int]
    note: str
    convert_seconds: float = 0.0


def identity_install(server: Server) -> IdentityResult:
    """Install the IdentFiles of (R, E), converting R up to E first where only an older
    snapshot is valid. Holds the cycle lock, as SyncUp and the SyncCycle do for the same
    areas: a partner's SyncUp arriving while this server boots (sshd already answering)
    waits instead of rewriting the areas being converted or read."""
    role = server.role()
    with server.sid.lock("cycle"):
        result, from_snapshot = _install(server, role)
    _record_role(server, role)
    if from_snapshot:  # outside the lock: a hook may run atlas-ha itself
        hooks.emit(server, hooks.Event("after_identity_install", role))
    return result


def _install(server: Server, role: str) -> tuple[IdentityResult, bool]:
    """The result, and whether it was installed from a snapshot."""
    sid, env = server.sid, server.env_id
    converted: list[int] = []
    convert_seconds = 0.0
    reason = sid.validity(role, env)
    if reason is not None:
        sev = sid.sev(role)
        if sev is None:
            note = (
                f"no valid snapshot of {role} ({reason}): identity not installed, "
                "the OS identity stays"
            )
            if sid.envs(role):
                server.log(f"ALERT {note}")
            return IdentityResult(role, env, [], [], note), False
        if sev < env:
            started = server.clock.monotonic()
            converted = convert_to_newer(server, role, env)
            convert_seconds = server.clock.monotonic() - started
        else:
            raise InvalidSnapshotError(
                f"snapshot ({role},{env}) is not valid ({reason}); identity not installed"
            )
    area = sid.require_valid(role, env)
    installed = []
    for (tree, path), entry in sorted(area.manifest().items()):
        if tree != "IdentFiles":
            continue
        dest = server.settings.system_root / path.lstrip("/")
        if objects.place(entry, dest, source=area.copy_path(tree, path)):
            installed.append(path)
    note = f"installed the {role} identity from ({role},{env})"
    return IdentityResult(role, env, installed, converted, note, convert_seconds), True


def _record_role(server: Server, role: str) -> None:
    """Record the role this server now holds, for every other component."""
    atomic_write(server.esd.current_role_file, f"{role}\n")


def current_role(server: Server) -> str | None:
    text = read_text_or_none(server.esd.current_role_file)
    return text.strip() if text else None
