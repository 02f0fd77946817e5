"""Gather the status model's inputs from a server (the only I/O of the model): its
MasterConfig and identity, the newest Verifier result of every check, the last SyncCycle
report, the suspension, the daemon's heartbeat, the EnvVersions of the SECs and what the
event recorder remembers (when each SEC was last equal)."""

from __future__ import annotations

import json
from typing import Any

from atlas_ha.context import Server
from atlas_ha.errors import AtlasError, FormatError
from atlas_ha.report.model import CheckInput, CycleInput, Inputs, SecCycle, Suspension
from atlas_ha.sync.address import own_address
from atlas_ha.sync.cycle import last_cycle
from atlas_ha.sync.identity import current_role
from atlas_ha.sync.suspension import suspended
from atlas_ha.verifier.results import VerifierResults
from atlas_ha.verifier.targets import received_env, safe_sev


def gather(server: Server, now: float | None = None) -> Inputs:
    sid = server.sid
    master = server.master()
    role = master.role
    env = server.env_id
    checks = latest_checks(server, role)
    cycle = cycle_input(server) if master.is_pri else None
    flag = suspended(server)
    heartbeat, stopped = _heartbeat(server)
    secs = [r for r in master.partners if r != "PRI"] if master.is_pri else []
    sec_envs = received_envs(server, secs)
    pri_validity = {v: sid.validity("PRI", v) for v in {e for e in sec_envs.values() if e}}
    try:
        address: str | None = own_address(server)
    except AtlasError:
        address = None
    return Inputs(
        now=server.clock.now() if now is None else now,
        server=server.name,
        role=role,
        group=master.group,
        partners={r: p.address for r, p in master.partners.items()},
        env=env,
        current_role=current_role(server),
        own_address=address,
        checks=checks,
        cycle=cycle,
        suspension=None
        if flag is None
        else Suspension(_float(flag.get("since")), str(flag.get("by")), str(flag.get("reason"))),
        heartbeat=heartbeat,
        daemon_stopped=stopped,
        last_synced=last_synced(server, role, cycle),
        sec_envs=sec_envs,
        known_envs=frozenset(server.envs),
        pri_validity=pri_validity,
        sec_validity={sec: sid.validity(sec, env) for sec in secs},
        settings=server.settings.report,
    )


# the EnvVersion each SEC last sent, by SID_DATA, while the history's tip is the same (the
# page asks every time it renders: two git runs per SEC otherwise)
_RECEIVED: dict[str, tuple[tuple[object, ...], dict[str, int | None]]] = {}


def received_envs(server: Server, secs: list[str]) -> dict[str, int | None]:
    """The EnvVersion of each SEC: what it last sent (the history), else its
    SnapshotEnvVersion on this disk."""
    stamp = server.history.stamp()
    key = str(server.sid.root)
    cached = _RECEIVED.get(key)
    if cached is None or cached[0] != stamp or not stamp:
        cached = _RECEIVED[key] = (stamp, {})
    sent = received_env(server.history, lambda _role: None)
    fallback = safe_sev(server.sid.sev)
    found: dict[str, int | None] = {}
    for sec in secs:
        if sec not in cached[1]:
            cached[1][sec] = sent(sec)
        env = cached[1][sec]
        found[sec] = env if env is not None else fallback(sec)
    return found


def latest_checks(server: Server, role: str) -> tuple[CheckInput, ...]:
    path = server.sid.verifier_results_file(role)
    if not path.exists():
        return ()
    with VerifierResults(path) as results:
        rows = results.newest()
    return tuple(
        CheckInput(
            r.service,
            r.target_role,
            r.profile.status,
            r.profile.summary,
            r.started,
            r.kind,
            r.duration,
            r.target_address,
        )
        for r in rows
    )


def cycle_input(server: Server) -> CycleInput | None:
    raw = last_cycle(server)
    if raw is None:
        return None
    path = server.sid.last_cycle_file
    try:
        outcomes = {s["sec"]: s for s in raw.get("secs", [])}
        secs = []
        for c in raw.get("compare", []):
            o = outcomes.get(c["sec"], {})
            secs.append(
                SecCycle(
                    sec=str(c["sec"]),
                    reached=bool(o.get("reached", False)),
                    state=str(c["state"]),
                    env=int(c["env"]),
                    note=str(c.get("note", "")),
                    paths=tuple(str(d["path"]) for d in c.get("differences", [])),
                    cause=str(o.get("cause", "")),
                    error=str(o.get("error", "")),
                    rejected=tuple(str(line) for line in c.get("rejected", [])),
                )
            )
        return CycleInput(
            float(raw["started"]), float(raw["finished"]), int(raw["env"]), tuple(secs)
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise FormatError(path, None, f"a SyncCycle report ({exc!r})") from exc


def _heartbeat(server: Server) -> tuple[float | None, bool]:
    try:
        data = json.loads(server.sid.heartbeat_file.read_text())
    except (OSError, ValueError):
        return None, False
    if not isinstance(data, dict) or not isinstance(data.get("heartbeat"), int | float):
        return None, False
    return float(data["heartbeat"]), data.get("sentence") == "stopped"


def _float(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def memory(server: Server, role: str) -> dict[str, Any]:
    """What the event recorder saw last ({} before it first ran, or when unreadable)."""
    try:
        data = json.loads(server.sid.report_memory_file(role).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def last_synced(server: Server, role: str, cycle: CycleInput | None) -> dict[str, float]:
    """When each SEC was last equal: the recorder's memory, and the last cycle itself."""
    known = memory(server, role).get("last_synced", {})
    found = {str(k): float(v) for k, v in known.items() if isinstance(v, int | float)}
    if cycle is not None:
        for s in cycle.secs:
            if s.reached and s.state == "equal":
                found[s.sec] = max(found.get(s.sec, 0.0), cycle.finished)
    return found


def last_good_cycle(server: Server, role: str, cycle: CycleInput | None) -> float | None:
    """When the last SyncCycle that found every SEC equal ended: the last cycle itself when
    it did, else what the event recorder remembers (None: none seen)."""
    if cycle is not None and cycle.secs and all(s.state == "equal" for s in cycle.secs):
        return cycle.finished
    known = memory(server, role).get("last_good_cycle")
    return float(known) if isinstance(known, int | float) else None
