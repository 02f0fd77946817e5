"""What `atlas-ha status` shows: this server's role and group, every role on its Unbound Data
(SnapshotEnvVersion, each area's validity, what the receive policy flagged in its last
receive) and the last SyncCycle's compare."""

from __future__ import annotations

from typing import Any

from atlas_ha.context import Server
from atlas_ha.sync.cycle import last_cycle
from atlas_ha.sync.identity import current_role
from atlas_ha.sync.receive import read_flagged


def server_status(server: Server) -> dict[str, Any]:
    """The status of `server`, JSON-ready:

    server, env_id, role (the disk's MasterConfig), current_role (the last Role/Identity
    Install's, None before the first boot), group, partners {ROLE: address},
    roles {ROLE: {sev, areas {EnvN: "valid" | the reason it is not}, flagged [...]}},
    last_cycle (the last SyncCycle's report, None before the first), last_cycle_age (seconds
    since it finished, None without one)."""
    sid = server.sid
    master = sid.master_config()
    roles = {
        role: {
            "sev": sid.sev(role),
            "areas": {f"Env{v}": sid.validity(role, v) or "valid" for v in sid.envs(role)},
            "flagged": read_flagged(server, role),
        }
        for role in sid.roles()
    }
    cycle = last_cycle(server)
    finished = cycle.get("finished") if cycle else None
    age = server.clock.now() - finished if isinstance(finished, (int, float)) else None
    return {
        "server": server.name,
        "env_id": server.env_id,
        "role": master.role,
        "current_role": current_role(server),
        "group": master.group,
        "partners": {k: p.address for k, p in master.partners.items()},
        "roles": roles,
        "last_cycle": cycle,
        "last_cycle_age": age,
    }


def area_state(env_name: str, validity: str) -> str:
    """`Env2 valid`, or `Env2 invalid: <reason>` without repeating the EnvVersion the reason
    may start with (`Env2 is newer than ...`)."""
    if validity == "valid":
        return f"{env_name} valid"
    return f"{env_name} invalid: {validity.removeprefix(env_name + ' ')}"


def age_text(seconds: float) -> str:
    """A short age: 42 s, 5 min, 3 h, 2 d."""
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"
