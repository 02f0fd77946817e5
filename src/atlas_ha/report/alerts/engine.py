"""The alert engine, pure: (rules, previous state, observations, now) -> (state, notifications).

Per check or reachability subject, each observation, oldest first (observe.py gives every
Verifier result stored since the last round, not one per round; state.py has the vocabulary):
1. its raw state is alerting when the subject's policy lists it in `states`; count the
   consecutive alerting (`fails`) and non-alerting (`oks`) results;
2. hard state: OK -> the raw state after `failures` alerting results in a row; a problem
   state -> another problem state at once; -> OK after `successes` results in a row;
3. flapping (flapping.py) over the last 21 raw states: "flapping started" once, "flapping
   stopped" once, and nothing per flip in between;
4. a notification is due when the hard state differs from what was last sent (PROBLEM, or
   RESOLVED when `send_resolved`), or as REPEAT every `repeat` seconds while failing. It is
   held back (and sent once nothing holds it any more, if still due) by a silence, a
   maintenance window, inhibition (the subject's server is unreachable) or flapping; a
   REPEAT also by an acknowledgement of that problem (which ends when the hard state
   changes: resolved, or another problem, announced as usual).
Suspension reminders go out every round and are never held back (SPEC 5.10); a crash
signature and a rules error go out once per signature; an operation's alert (ops/, raid/:
through the ops_alert event) when its signature is first seen, then at most once per
`repeat` (never again with repeat 0) while it recurs, if its state alerts.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from datetime import datetime

from atlas_ha.report.alerts import flapping as flap
from atlas_ha.report.alerts.model import (
    CHECK,
    CRASH,
    FLAPPING_START,
    FLAPPING_STOP,
    NEW_CRASH,
    OK,
    OPERATION,
    OPERATION_ALERT,
    PROBLEM,
    REACHABILITY,
    REMINDER,
    REPEAT,
    RESOLVED,
    RULES,
    RULES_ERROR,
    SUSPENDED,
    Alert,
    Notification,
    Observation,
    utc,
)
from atlas_ha.report.alerts.rules import Policy, Rules
from atlas_ha.report.alerts.state import STALE, EngineState, SubjectState

Routed = tuple[Alert, tuple[str, ...]]  # an alert and the channels it goes to (empty: all)


def evaluate(
    rules: Rules, previous: EngineState, observations: Iterable[Observation], now: datetime
) -> tuple[EngineState, list[Notification]]:
    state = copy.deepcopy(previous)
    t = now.timestamp()
    state.silences = [s for s in state.silences if s.until > t]
    ordered = sorted(observations, key=lambda o: (o.kind != REACHABILITY, o.at, o.subject))
    unreachable = {
        o.server
        for o in ordered
        if o.kind == REACHABILITY and o.state in rules.policy(o.subject).states
    }
    routed: list[Routed] = []
    rules_seen = False
    for obs in ordered:
        policy = rules.policy(obs.subject)
        if obs.kind in (CHECK, REACHABILITY):
            routed += _check(rules, state, obs, policy, unreachable, now)
        elif obs.kind == SUSPENDED:
            _track(state, obs, t).hard = obs.state
            if obs.state != OK:
                routed.append((_alert(REMINDER, obs, now), policy.channels))
        elif obs.kind in (CRASH, RULES):
            rules_seen = rules_seen or obs.kind == RULES
            key = f"{obs.kind}:{obs.signature or obs.reason}"
            if key not in state.once:
                state.once[key] = t
                event = NEW_CRASH if obs.kind == CRASH else RULES_ERROR
                routed.append((_alert(event, obs, now), policy.channels))
        elif obs.kind == OPERATION and obs.state in policy.states:
            key = f"{obs.kind}:{obs.signature or obs.reason}"
            last = state.once.get(key)
            if last is None or (policy.repeat > 0 and t - last >= policy.repeat):
                state.once[key] = t
                routed.append((_alert(OPERATION_ALERT, obs, now), policy.channels))
    if not rules_seen:  # the rules file is fine again: a new error is alerted again
        state.once = {k: v for k, v in state.once.items() if not k.startswith(f"{RULES}:")}
    state.subjects = {k: v for k, v in state.subjects.items() if t - v.seen < STALE}
    return state, group(routed, rules.group_by_server)


def _track(state: EngineState, obs: Observation, t: float) -> SubjectState:
    sub = state.subjects.get(obs.subject)
    if sub is None:
        sub = state.subjects[obs.subject] = SubjectState(server=obs.server, kind=obs.kind, since=t)
    sub.state, sub.reason, sub.seen, sub.server = obs.state, obs.reason, t, obs.server
    return sub


def _check(
    rules: Rules,
    state: EngineState,
    obs: Observation,
    policy: Policy,
    unreachable: set[str],
    now: datetime,
) -> list[Routed]:
    t = now.timestamp()
    sub = _track(state, obs, t)
    alerting = obs.state in policy.states
    if alerting:
        sub.fails, sub.oks = sub.fails + 1, 0
    else:
        sub.fails, sub.oks = 0, sub.oks + 1
    # hard state transitions (Nagios soft/hard)
    if sub.hard == OK and alerting and sub.fails >= policy.failures:
        sub.hard, sub.since = obs.state, t
    elif sub.hard != OK and alerting and obs.state != sub.hard:
        sub.hard, sub.since = obs.state, t  # a problem state to another: hard at once
    elif sub.hard != OK and not alerting and sub.oks >= policy.successes:
        sub.hard, sub.since = OK, t
    # flapping
    sub.history = [*sub.history, obs.state][-flap.HISTORY :]
    sub.percent = flap.percent_state_change(sub.history)
    was = sub.flapping
    sub.flapping = policy.flapping and flap.flapping(
        was, sub.percent, policy.flap_low, policy.flap_high
    )
    hold = _held(rules, state, obs, unreachable, t, now)
    out: list[Routed] = []
    if sub.flapping != was and not hold:
        event = FLAPPING_START if sub.flapping else FLAPPING_STOP
        reason = f"{sub.percent:.1f} % state change over the last {len(sub.history)} results"
        out.append((_alert(event, obs, now, reason), policy.channels))
    if sub.flapping:
        hold = hold or f"flapping ({sub.percent:.1f} % state change)"
    # what is due
    ack = state.acks.get(obs.subject)
    if ack is not None and ack.hard != sub.hard:
        del state.acks[obs.subject]  # another state than the one acknowledged
        ack = None
    due = ""
    if sub.hard != sub.sent:
        due = PROBLEM if sub.hard != OK else RESOLVED
    elif sub.hard != OK and policy.repeat > 0 and t - sub.last_sent >= policy.repeat:
        due = REPEAT
    if due == REPEAT and ack is not None and not hold:
        hold = f"acknowledged by {ack.by}: {ack.reason}"
    sub.held = hold if due else ""
    if not due or hold:
        return out
    announced = sub.sent
    sub.sent, sub.last_sent = sub.hard, t
    if due == RESOLVED and (not policy.send_resolved or announced == OK):
        return out
    out.append((_alert(due, obs, now, state_=sub.hard), policy.channels))
    return out


def _held(
    rules: Rules,
    state: EngineState,
    obs: Observation,
    unreachable: set[str],
    t: float,
    now: datetime,
) -> str:
    """Why alerts of `obs.subject` are held back now ("" = they are not)."""
    silence = next((s for s in state.silences if s.covers(obs.subject, t)), None)
    if silence is not None:
        until = utc(silence.until).isoformat(timespec="minutes")
        return f"silenced by {silence.by} until {until}: {silence.reason}"
    window = rules.window(obs.subject, now)
    if window is not None:
        return f"maintenance window: {window.reason}"
    if rules.inhibit and obs.kind == CHECK and obs.server in unreachable:
        return f"inhibited: {obs.server} is unreachable"
    return ""


def _alert(
    event: str, obs: Observation, now: datetime, reason: str = "", state_: str = ""
) -> Alert:
    return Alert(event, obs.subject, obs.server, state_ or obs.state, reason or obs.reason, now)


def group(routed: list[Routed], by_server: bool) -> list[Notification]:
    """One notification per server and channel set (grouping), or one per alert."""
    if not by_server:
        return [Notification(a.server, (a,), channels) for a, channels in routed]
    groups: dict[tuple[str, tuple[str, ...]], list[Alert]] = {}
    for alert, channels in routed:
        groups.setdefault((alert.server, channels), []).append(alert)
    return [Notification(s, tuple(alerts), ch) for (s, ch), alerts in groups.items()]
