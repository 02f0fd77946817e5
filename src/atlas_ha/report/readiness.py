"""Failover readiness (SPEC 7.4): would moving the PRI's disk into the server holding SEC<n>
work now? Judged on the PRI from the status model's inputs; pure.

Ready when nothing below holds; otherwise every reason that holds, in this order:

    suspended               the Synchronizer is suspended (no cycle keeps the SEC current)
    never synced            no SyncCycle report, or the SEC was in none
    stale                   the last SyncCycle is older than `[report] cycle_stale`
    not synced since T      the last cycle did not reach the SEC (its cause and error)
    compare differs         in paths X, Y (or missing / invalid, with the reason)
    installed but rejected  the SEC's own checker refused what it installed (or could not
                            check it), as its answer to the last SyncCycle said
    a service not go        a check on that server CRITICAL or UNKNOWN (stale included)
    converters              the SEC's EnvVersion is unknown; older than the PRI's: missing
                            in this server's envs.toml (no converter for EnvN) or (PRI, EnvN)
                            not valid; newer: its converted-down (SEC, E) is not valid
"""

from __future__ import annotations

from atlas_ha.report.model import (
    Inputs,
    Readiness,
    age,
    check_cell,
    cycle_stale,
    shown_paths,
    when,
)
from atlas_ha.verifier.profile import Status


def readiness(inputs: Inputs, sec: str) -> Readiness:
    reasons: list[str] = []
    s = inputs.suspension
    if s is not None:
        reasons.append(f"suspended by {s.by} since {when(s.since)}: {s.reason}")
    reasons += _sync_reasons(inputs, sec)
    for check in inputs.checks:
        if check.target != sec:
            continue
        cell = check_cell(check, inputs)
        if cell.status in (Status.CRITICAL, Status.UNKNOWN):
            reasons.append(f"service {cell.service} {cell.status.name}: {cell.reason}")
    reasons += _env_reasons(inputs, sec)
    return Readiness(sec, tuple(reasons))


def _since(inputs: Inputs, sec: str) -> str:
    last = inputs.last_synced.get(sec)
    return f"not synced since {when(last)}" if last is not None else "never synced"


def _sync_reasons(inputs: Inputs, sec: str) -> list[str]:
    c = inputs.cycle
    if c is None:
        return ["never synced (no SyncCycle report)"]
    one = c.of(sec)
    if one is None:
        return [f"{_since(inputs, sec)} (not in the last SyncCycle, {when(c.finished)})"]
    found = []
    if cycle_stale(inputs):
        limit = age(inputs.settings.cycle_stale)
        found.append(
            f"stale: the last SyncCycle ended {age(inputs.now - c.finished)} ago "
            f"({when(c.finished)}; stale after {limit})"
        )
    if not one.reached:
        cause = f"{one.cause}: {one.error}" if one.cause else one.error
        found.append(f"{_since(inputs, sec)} (last SyncCycle {when(c.finished)}: {cause})")
    elif one.state == "different":
        found.append(f"compare differs in paths {shown_paths(one.paths)}")
    elif one.state != "equal":
        found.append(f"compare {one.state}: {one.note}" if one.note else f"compare {one.state}")
    found += one.rejected  # "web: installed but rejected by nginx -t on SEC1 (Env1): ..."
    return found


def _env_reasons(inputs: Inputs, sec: str) -> list[str]:
    """An older SEC needs (PRI, its EnvN), made by this PRI's ConvertToOlder with the
    converters of this server's envs.toml; a newer SEC converts (PRI, E) up with its own
    converters, which its sending back a valid (SEC, E) proves."""
    env, own = inputs.sec_envs.get(sec), inputs.env
    if env is None:
        return [f"EnvVersion of {sec} unknown (nothing received from it)"]
    if env > own:
        down = inputs.sec_validity.get(sec, "nothing received")
        if down is None:
            return []
        return [
            f"missing converter for Env{env} -> Env{own} on {sec}'s server "
            f"(({sec}, Env{own}) is not valid: {down})"
        ]
    missing = [v for v in range(env, own + 1) if v not in inputs.known_envs]
    if missing:
        return [f"missing converter for Env{v} (not in this server's envs.toml)" for v in missing]
    invalid = inputs.pri_validity.get(env, "the area does not exist") if env < own else None
    if invalid is not None:
        return [f"(PRI, Env{env}) for {sec} is not valid: {invalid}"]
    return []
