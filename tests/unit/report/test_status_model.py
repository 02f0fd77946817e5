"""The status model (report/model.py) and failover readiness (report/readiness.py): pure
functions of their inputs, so every combination of states is generated (hypothesis)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from atlas_ha.report.model import (
    ATLAS,
    SYNC,
    CheckInput,
    CycleInput,
    Inputs,
    SecCycle,
    Suspension,
    build,
)
from atlas_ha.settings import ReportSettings
from atlas_ha.verifier.profile import Status

NOW = 1_800_000_000.0
OK, WARNING, CRITICAL, UNKNOWN = Status.OK, Status.WARNING, Status.CRITICAL, Status.UNKNOWN
SECS = ("SEC1", "SEC2")


def base(**changes: object) -> Inputs:
    """A PRI (Env2) whose two SECs are equal, fresh and verified OK."""
    cycle = CycleInput(NOW - 70, NOW - 60, 2, tuple(SecCycle(s, True, "equal", 2) for s in SECS))
    inputs = Inputs(
        now=NOW,
        server="A",
        role="PRI",
        group="acme",
        partners={"SEC1": "10.0.0.2", "SEC2": "10.0.0.3"},
        env=2,
        current_role="PRI",
        own_address="10.0.0.1",
        checks=tuple(CheckInput("web", s, OK, "HTTP OK", NOW - 30) for s in SECS),
        cycle=cycle,
        heartbeat=NOW - 5,
        sec_envs={"SEC1": 1, "SEC2": 3},
        known_envs=frozenset({1, 2, 3}),
        pri_validity={1: None},
        sec_validity={"SEC1": None, "SEC2": None},
    )
    return replace(inputs, **changes)  # type: ignore[arg-type]


def test_a_healthy_group_is_go_and_every_sec_ready() -> None:
    status = build(base())
    assert status.go and status.status == OK
    assert status.banner.startswith("GO: ")
    assert status.services() == ["web", SYNC, ATLAS]
    assert [r.role for r in status.servers] == ["PRI", "SEC1", "SEC2"]
    assert [(r.sec, r.ready) for r in status.readiness] == [("SEC1", True), ("SEC2", True)]
    sec1 = status.row("SEC1")
    assert sec1 is not None and sec1.cell(SYNC) is not None
    assert sec1.cell(SYNC).reason == "equal at Env2"  # type: ignore[union-attr]


def test_nothing_checked_is_unknown_never_go() -> None:
    status = build(base(role="SEC1", partners={}, checks=(), heartbeat=None, current_role=None))
    # only the atlas cell: no daemon heartbeat = UNKNOWN
    assert not status.go and status.status == UNKNOWN
    empty = replace(status, servers=())
    assert empty.banner == "UNKNOWN: 0 checks" and not empty.go


def test_warning_beside_unknown_is_no_go() -> None:
    checks = (
        CheckInput("web", "SEC1", WARNING, "slow", NOW - 30),
        CheckInput("db", "SEC1", UNKNOWN, "could not run", NOW - 30),
    )
    status = build(base(checks=checks))
    assert status.status == UNKNOWN and not status.go
    assert status.banner == "NO-GO (UNKNOWN): SEC1 db: could not run"


def test_stale_result_is_unknown_with_its_age() -> None:
    old = (CheckInput("web", "SEC1", OK, "HTTP OK", NOW - 1000),)
    status = build(base(checks=old))
    cell = status.row("SEC1").cell("web")  # type: ignore[union-attr]
    assert cell is not None and cell.status == UNKNOWN
    assert cell.reason == "stale: last result 17 min ago (was OK: HTTP OK)"
    (sec1, _sec2) = status.readiness
    assert "service web UNKNOWN: stale: last result 17 min ago (was OK: HTTP OK)" in sec1.reasons


def test_readiness_reasons_name_what_is_wrong() -> None:
    cycle = CycleInput(
        NOW - 70,
        NOW - 60,
        2,
        (
            SecCycle(
                "SEC1",
                True,
                "different",
                2,
                paths=("/etc/a", "/etc/b"),
                rejected=("web: installed but rejected by nginx -t on SEC1 (Env1): x",),
            ),
            SecCycle("SEC2", False, "stale", 2, cause="unreachable", error="no route"),
        ),
    )
    status = build(
        base(
            cycle=cycle,
            last_synced={"SEC2": 1_799_990_000.0},
            sec_envs={"SEC1": 1, "SEC2": 4},
            sec_validity={"SEC1": None, "SEC2": "flagged InvalidSnapshot"},
            checks=(CheckInput("web", "SEC1", CRITICAL, "HTTP 500", NOW - 30),),
            suspension=Suspension(NOW - 100, "alice", "disk swap"),
        )
    )
    sec1, sec2 = status.readiness
    assert sec1.reasons == (
        "suspended by alice since 2027-01-15 07:58:20Z: disk swap",
        "compare differs in paths /etc/a, /etc/b",
        "web: installed but rejected by nginx -t on SEC1 (Env1): x",
        "service web CRITICAL: HTTP 500",
    )
    assert sec2.reasons == (
        "suspended by alice since 2027-01-15 07:58:20Z: disk swap",
        "not synced since 2027-01-15 05:13:20Z (last SyncCycle 2027-01-15 07:59:00Z: "
        "unreachable: no route)",
        "missing converter for Env4 -> Env2 on SEC2's server ((SEC2, Env2) is not valid: "
        "flagged InvalidSnapshot)",
    )
    assert status.row("PRI").cell(SYNC).status == WARNING  # type: ignore[union-attr]


def test_a_stale_cycle_and_an_invalid_older_area() -> None:
    old = CycleInput(NOW - 4000, NOW - 3600, 2, tuple(SecCycle(s, True, "equal", 2) for s in SECS))
    status = build(base(cycle=old, pri_validity={1: "flagged InvalidSnapshot"}))
    sec1, _ = status.readiness
    assert sec1.reasons[0].startswith("stale: the last SyncCycle ended 60 min ago")
    assert sec1.reasons[1] == "(PRI, Env1) for SEC1 is not valid: flagged InvalidSnapshot"
    pri_sync = status.row("PRI").cell(SYNC)  # type: ignore[union-attr]
    assert pri_sync is not None and pri_sync.status == CRITICAL
    assert pri_sync.reason == "last SyncCycle 60 min ago (stale after 30 min)"
    assert status.row("SEC1").cell(SYNC).status == UNKNOWN  # type: ignore[union-attr]


def test_no_cycle_report_never_synced() -> None:
    status = build(base(cycle=None))
    assert all(r.reasons[0] == "never synced (no SyncCycle report)" for r in status.readiness)


def test_daemon_and_identity_on_the_own_row() -> None:
    stale = build(base(heartbeat=NOW - 600)).row("PRI").cell(ATLAS)  # type: ignore[union-attr]
    assert stale is not None and stale.status == CRITICAL
    assert stale.reason == "daemon heartbeat 10 min old (not alive)"
    wrong = build(base(current_role="SEC1")).row("PRI").cell(ATLAS)  # type: ignore[union-attr]
    assert wrong is not None and wrong.status == CRITICAL
    assert wrong.reason == "installed identity is SEC1's, the disk holds PRI"


def test_a_sec_sees_no_readiness_and_no_compare() -> None:
    status = build(base(role="SEC1", partners={"PRI": "10.0.0.1"}, cycle=None))
    assert status.readiness == () and "judged on the PRI" in status.readiness_note
    assert status.row("PRI").cell(SYNC) is None  # type: ignore[union-attr]


# -- every combination ----------------------------------------------------------------------
statuses = st.sampled_from([OK, WARNING, CRITICAL, UNKNOWN])
compare_states = st.sampled_from(["equal", "different", "missing", "invalid"])


@st.composite
def group_inputs(draw: st.DrawFn) -> Inputs:
    secs = []
    for sec in SECS:
        reached = draw(st.booleans())
        state = draw(compare_states) if reached else "stale"
        secs.append(SecCycle(sec, reached, state, 2, paths=("/etc/x",), cause="unreachable"))
    checks = tuple(
        CheckInput(service, sec, draw(statuses), "s", NOW - draw(st.sampled_from([10, 5000])))
        for service in ("web", "db")
        for sec in SECS
        if draw(st.booleans())
    )
    cycle_age = draw(st.sampled_from([60.0, 4000.0]))
    cycle = draw(st.none() | st.just(CycleInput(NOW - cycle_age, NOW - cycle_age, 2, tuple(secs))))
    suspension = draw(st.none() | st.just(Suspension(NOW - 5, "bob", "work")))
    sec_envs = {s: draw(st.sampled_from([None, 0, 1, 2, 3, 5])) for s in SECS}
    sec_validity = {s: draw(st.sampled_from([None, "flagged InvalidSnapshot"])) for s in SECS}
    return base(
        sec_validity=sec_validity,
        known_envs=frozenset(draw(st.sets(st.sampled_from([0, 1, 2, 3])))),
        pri_validity={v: draw(st.sampled_from([None, "flagged InvalidSend"])) for v in (0, 1)},
        checks=checks,
        cycle=cycle,
        suspension=suspension,
        sec_envs=sec_envs,
        heartbeat=draw(st.sampled_from([None, NOW - 5, NOW - 500])),
        current_role=draw(st.sampled_from([None, "PRI", "SEC2"])),
        settings=ReportSettings(),
    )


def expected_ready(inputs: Inputs, sec: str) -> bool:
    c = inputs.cycle
    one = c.of(sec) if c else None
    fresh = c is not None and NOW - c.finished <= inputs.settings.cycle_stale
    checks_go = all(
        k.status in (OK, WARNING) and NOW - k.started <= inputs.settings.results_stale
        for k in inputs.checks
        if k.target == sec
    )
    env = inputs.sec_envs[sec]
    if env is None:
        converters = False
    elif env > inputs.env:  # the SEC converted down: its (SEC, E) is valid
        converters = inputs.sec_validity[sec] is None
    else:  # this PRI converts down: every step known, (PRI, env) valid
        steps = all(v in inputs.known_envs for v in range(env, inputs.env + 1))
        converters = steps and (env == inputs.env or inputs.pri_validity[env] is None)
    return (
        inputs.suspension is None
        and one is not None
        and fresh
        and one.reached
        and one.state == "equal"
        and checks_go
        and converters
    )


@given(group_inputs())
def test_readiness_holds_exactly_when_nothing_prevents_it(inputs: Inputs) -> None:
    status = build(inputs)
    for r in status.readiness:
        assert r.ready == expected_ready(inputs, r.sec), r
        assert r.ready or all(reason.strip() for reason in r.reasons)


@given(group_inputs())
def test_the_banner_is_go_exactly_when_every_cell_is_ok_or_warning(inputs: Inputs) -> None:
    status = build(inputs)
    cells = [c for _r, c in status.cells]
    assert status.go == (bool(cells) and all(c.status in (OK, WARNING) for c in cells))
    assert status.banner.startswith("GO") == status.go
    for row in status.servers:  # a server is as bad as its worst cell, UNKNOWN above WARNING
        worst = {c.status for c in row.cells}
        for state in (CRITICAL, UNKNOWN, WARNING, OK):
            if state in worst:
                assert row.status == state
                break


@given(group_inputs(), st.sampled_from(SECS))
def test_a_critical_check_makes_the_group_no_go_and_its_sec_not_ready(
    inputs: Inputs, sec: str
) -> None:
    broken = replace(inputs, checks=(*inputs.checks, CheckInput("dns", sec, CRITICAL, "x", NOW)))
    status = build(broken)
    assert status.status == CRITICAL and not status.go
    assert not next(r for r in status.readiness if r.sec == sec).ready
