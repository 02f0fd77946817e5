"""The alert engine (report/alerts/engine.py), pure: thresholds (soft/hard), flapping,
inhibition, silences, maintenance windows, repeat interval, send-on-resolved, suspension
reminders, crash signatures once; hypothesis over sequences of results."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from atlas_ha.report.alerts.engine import evaluate
from atlas_ha.report.alerts.model import (
    CRASH,
    CRITICAL,
    FLAPPING_START,
    FLAPPING_STOP,
    NEW_CRASH,
    OK,
    PROBLEM,
    REACHABILITY,
    REMINDER,
    REPEAT,
    RESOLVED,
    SUSPENDED,
    WARNING,
    Alert,
    Observation,
)
from atlas_ha.report.alerts.rules import Policy, Rules, Window
from atlas_ha.report.alerts.state import Ack, EngineState, Silence

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # a Tuesday
STEP = timedelta(minutes=1)
WEB = "acme/SEC1/web"


def obs(state: str, at: datetime, subject: str = WEB, kind: str = "check") -> Observation:
    server = subject.split("/")[1]
    return Observation(subject, server, state, f"{subject} is {state}", at, kind)


def run(
    rules: Rules, states: list[str], state: EngineState | None = None, start: datetime = T0
) -> tuple[list[list[Alert]], EngineState]:
    """One round per state; the alerts sent in each round."""
    state = state or EngineState()
    rounds = []
    for i, s in enumerate(states):
        now = start + i * STEP
        state, notes = evaluate(rules, state, [obs(s, now)], now)
        rounds.append([a for n in notes for a in n.alerts])
    return rounds, state


def events(rounds: list[list[Alert]]) -> list[tuple[int, str]]:
    return [(i, a.event) for i, r in enumerate(rounds) for a in r]


states_seq = st.lists(st.sampled_from([OK, CRITICAL]), min_size=1, max_size=60)


@settings(max_examples=200, deadline=None)
@given(states_seq, st.integers(1, 5), st.integers(1, 4))
def test_a_problem_only_after_n_failures_and_resolved_only_after_m_successes(
    states: list[str], failures: int, successes: int
) -> None:
    rules = Rules(Policy(failures=failures, successes=successes, repeat=0, flapping=False))
    rounds, _ = run(rules, states)
    for i, event in events(rounds):
        window = states[: i + 1]
        if event == PROBLEM:
            assert window[-failures:] == [CRITICAL] * failures
        if event == RESOLVED:
            assert window[-successes:] == [OK] * successes
    # and an unbroken run of N failures does alert (the thresholds are not just a mute)
    run_ = 0
    for i, s in enumerate(states):
        run_ = run_ + 1 if s == CRITICAL else 0
        if run_ == failures and not any(
            e == PROBLEM for j, e in events(rounds) if j <= i
        ):  # no problem sent yet although N failures in a row: must be the first one
            assert any(e == PROBLEM for j, e in events(rounds) if j == i), (i, states)


@settings(max_examples=100, deadline=None)
@given(states_seq)
def test_problems_and_resolutions_alternate(states: list[str]) -> None:
    rules = Rules(Policy(failures=2, successes=2, repeat=0, flapping=False))
    rounds, _ = run(rules, states)
    kinds = [e for _, e in events(rounds) if e in (PROBLEM, RESOLVED)]
    assert all(a != b for a, b in itertools.pairwise(kinds))
    assert not kinds or kinds[0] == PROBLEM


def test_soft_failures_then_hard_problem_then_resolved() -> None:
    rules = Rules(Policy(failures=3, successes=2, repeat=0))
    rounds, state = run(rules, [CRITICAL, CRITICAL, OK, CRITICAL, CRITICAL, CRITICAL, OK, OK])
    assert events(rounds) == [(5, PROBLEM), (7, RESOLVED)]
    assert state.subjects[WEB].hard == OK


def test_no_resolved_message_when_send_resolved_is_off() -> None:
    rules = Rules(Policy(failures=1, send_resolved=False, repeat=0, flapping=False))
    rounds, _ = run(rules, [CRITICAL, OK, OK])
    assert events(rounds) == [(0, PROBLEM)]


def test_a_warning_turning_critical_is_announced_at_once() -> None:
    rules = Rules(Policy(failures=2, repeat=0, flapping=False))
    rounds, _ = run(rules, [WARNING, WARNING, CRITICAL])
    assert [(i, a.event, a.state) for i, r in enumerate(rounds) for a in r] == [
        (1, PROBLEM, WARNING),
        (2, PROBLEM, CRITICAL),
    ]


def test_states_not_listed_do_not_alert() -> None:
    rules = Rules(Policy(states=frozenset({CRITICAL}), failures=1, repeat=0))
    rounds, _ = run(rules, [WARNING] * 5)
    assert events(rounds) == []


@settings(max_examples=50, deadline=None)
@given(st.integers(25, 80))
def test_a_flapping_subject_sends_one_flapping_started_and_nothing_per_flip(n: int) -> None:
    rules = Rules(Policy(failures=1, successes=1, repeat=0))
    flips = [CRITICAL if i % 2 == 0 else OK for i in range(n)]
    rounds, state = run(rules, flips)
    ev = events(rounds)
    started = [i for i, e in ev if e == FLAPPING_START]
    assert len(started) == 1
    assert not [e for i, e in ev if i > started[0]]  # nothing per flip once it flaps
    assert state.subjects[WEB].flapping
    # it calms down: flapping stopped, once, and the final state announced after it
    calm, state = run(rules, [OK] * 25, state, T0 + n * STEP)
    ev2 = [e for _, e in events(calm)]
    assert ev2.count(FLAPPING_STOP) == 1
    assert not state.subjects[WEB].flapping


def test_flapping_holds_the_problem_until_it_stops() -> None:
    rules = Rules(Policy(failures=1, successes=1, repeat=0))
    flips = [CRITICAL if i % 2 == 0 else OK for i in range(12)]
    rounds, state = run(rules, [*flips, *[CRITICAL] * 30])
    ev = [e for _, e in events(rounds)]
    assert ev.count(FLAPPING_START) == 1 and ev.count(FLAPPING_STOP) == 1
    stop = ev.index(FLAPPING_STOP)
    assert PROBLEM in ev[stop:] or state.subjects[WEB].sent == CRITICAL


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from([OK, CRITICAL, WARNING]), min_size=1, max_size=30))
def test_an_unreachable_server_inhibits_its_service_alerts(states: list[str]) -> None:
    rules = Rules(Policy(failures=1, repeat=0, flapping=False))
    state = EngineState()
    sent: list[Alert] = []
    for i, s in enumerate(states):
        now = T0 + i * STEP
        round_ = [obs(CRITICAL, now, "acme/SEC1", REACHABILITY), obs(s, now)]
        state, notes = evaluate(rules, state, round_, now)
        sent += [a for n in notes for a in n.alerts]
    assert [a.subject for a in sent] == ["acme/SEC1"]  # the server's, never the service's
    assert state.subjects[WEB].held.startswith("inhibited") or states[-1] == OK


def test_after_the_server_is_reachable_again_a_still_failing_service_alerts() -> None:
    rules = Rules(Policy(failures=1, repeat=0, flapping=False))
    state, notes = evaluate(
        rules, EngineState(), [obs(CRITICAL, T0, "acme/SEC1", REACHABILITY), obs(CRITICAL, T0)], T0
    )
    assert [a.subject for n in notes for a in n.alerts] == ["acme/SEC1"]
    now = T0 + STEP
    state, notes = evaluate(
        rules, state, [obs(OK, now, "acme/SEC1", REACHABILITY), obs(CRITICAL, now)], now
    )
    assert sorted((a.subject, a.event) for n in notes for a in n.alerts) == [
        ("acme/SEC1", RESOLVED),
        (WEB, PROBLEM),
    ]


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 30), st.integers(0, 20))
def test_nothing_is_sent_inside_a_silence_and_it_is_sent_after_expiry_if_still_failing(
    minutes: int, extra: int
) -> None:
    rules = Rules(Policy(failures=1, repeat=0, flapping=False))
    silence = Silence(WEB.replace("web", "*"), (T0 + minutes * STEP).timestamp(), "work", "ops", 0)
    state = EngineState(silences=[silence])
    rounds, state = run(rules, [CRITICAL] * (minutes + 1 + extra), state)
    ev = events(rounds)
    assert ev == [(minutes, PROBLEM)]  # the first round after expiry, not before
    assert state.silences == []  # expired silences are dropped


def test_a_problem_resolved_inside_the_silence_is_never_sent() -> None:
    rules = Rules(Policy(failures=1, repeat=0, flapping=False))
    silence = Silence("*", (T0 + 5 * STEP).timestamp(), "work", "ops", 0)
    rounds, _ = run(
        rules, [CRITICAL, CRITICAL, OK, OK, OK, OK, OK, OK], EngineState(silences=[silence])
    )
    assert events(rounds) == []


def test_a_maintenance_window_recurs_on_its_days() -> None:
    window = Window("acme/SEC1/*", frozenset({1}), 12 * 60, 12 * 60 + 10, "backup")  # Tue
    rules = Rules(Policy(failures=1, repeat=0, flapping=False), windows=(window,))
    rounds, _ = run(rules, [CRITICAL] * 12)
    assert events(rounds) == [(10, PROBLEM)]
    wednesday = T0 + timedelta(days=1)
    rounds, _ = run(rules, [CRITICAL], start=wednesday)
    assert events(rounds) == [(0, PROBLEM)]


def test_a_window_past_midnight_covers_the_next_morning() -> None:
    window = Window("*", frozenset({0}), 23 * 60, 60)  # Monday 23:00 - Tuesday 01:00
    assert window.active("x", datetime(2026, 12, 1, 0, 30, tzinfo=UTC))  # Tuesday 00:30
    assert not window.active("x", datetime(2026, 12, 1, 1, 30, tzinfo=UTC))
    assert not window.active("x", datetime(2026, 12, 2, 0, 30, tzinfo=UTC))  # Wednesday


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 15), st.integers(10, 60))
def test_repeats_are_spaced_by_the_repeat_interval(repeat_min: int, n: int) -> None:
    rules = Rules(Policy(failures=1, repeat=repeat_min * 60.0, flapping=False))
    rounds, _ = run(rules, [CRITICAL] * n)
    sent = [i for i, e in events(rounds) if e in (PROBLEM, REPEAT)]
    assert sent == list(range(0, n, repeat_min))


def test_a_suspension_is_reminded_every_round_even_silenced() -> None:
    rules = Rules(Policy(failures=3))
    state = EngineState(silences=[Silence("*", (T0 + 99 * STEP).timestamp(), "x", "ops", 0)])
    for i in range(3):
        now = T0 + i * STEP
        o = Observation("acme/PRI/suspended", "PRI", CRITICAL, "suspended", now, SUSPENDED)
        state, notes = evaluate(rules, state, [o], now)
        assert [a.event for n in notes for a in n.alerts] == [REMINDER]


def test_a_crash_signature_is_alerted_once() -> None:
    rules = Rules()
    state = EngineState()
    sent = []
    for i, sig in enumerate(["abc", "abc", "def", "abc"]):
        now = T0 + i * STEP
        o = Observation("acme/PRI/crash", "PRI", CRITICAL, f"crash {sig}", now, CRASH, sig)
        state, notes = evaluate(rules, state, [o], now)
        sent += [a.reason for n in notes for a in n.alerts if a.event == NEW_CRASH]
    assert sent == ["crash abc", "crash def"]


def test_alerts_of_one_server_in_one_round_are_one_message() -> None:
    rules = Rules(Policy(failures=1, repeat=0))
    round_ = [obs(CRITICAL, T0, f"acme/SEC1/{s}") for s in ("web", "db", "dns")]
    round_.append(obs(CRITICAL, T0, "acme/SEC2/web"))
    _, notes = evaluate(rules, EngineState(), round_, T0)
    assert sorted((n.server, len(n.alerts)) for n in notes) == [("SEC1", 3), ("SEC2", 1)]
    _, notes = evaluate(Rules(Policy(failures=1), group_by_server=False), EngineState(), round_, T0)
    assert len(notes) == 4


def test_the_engine_does_not_change_the_state_it_was_given() -> None:
    rules = Rules(Policy(failures=1))
    before = EngineState()
    evaluate(rules, before, [obs(CRITICAL, T0)], T0)
    assert before.subjects == {}


def test_an_acknowledgement_holds_the_repeats_of_its_problem_until_the_state_changes() -> None:
    rules = Rules(Policy(failures=1, repeat=120, flapping=False))
    rounds, state = run(rules, [CRITICAL, CRITICAL, CRITICAL])  # repeat due at minute 2
    assert events(rounds) == [(0, PROBLEM), (2, REPEAT)]
    state.acks[WEB] = Ack(CRITICAL, "disk ordered", "alice", T0.timestamp())
    start = T0 + 3 * STEP
    rounds, state = run(rules, [CRITICAL] * 5, state, start)
    assert events(rounds) == []  # no repeat while acknowledged
    assert state.subjects[WEB].held == "acknowledged by alice: disk ordered"
    # another problem state: announced at once, the acknowledgement ends
    rounds, state = run(rules, [WARNING, WARNING, WARNING], state, start + 5 * STEP)
    assert events(rounds) == [(0, PROBLEM), (2, REPEAT)] and WEB not in state.acks
