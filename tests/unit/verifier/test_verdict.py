"""Go/no-go (verifier/verdict.py) and the library behind `verify run|list|results`
(verifier/control.py): a round recorded and ordered, the plan described, the stored results
viewed by server and service."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from atlas_ha import errors
from atlas_ha.lab.group import SimGroup
from atlas_ha.verifier.control import Outcome
from atlas_ha.verifier.plan import open_results, plan, results_view, rows_of, run_round
from atlas_ha.verifier.profile import Profile, Status
from atlas_ha.verifier.results import ResultRow
from atlas_ha.verifier.services import SERVICES_PATH
from atlas_ha.verifier.verdict import (
    by_service,
    by_target,
    exit_code,
    is_go,
    verdict,
    worst_of,
)

ADDRESSES = {"PRI": "127.78.0.11", "SEC1": "127.78.0.12", "SEC2": "127.78.0.13"}
OK, WARNING, CRITICAL, UNKNOWN = Status.OK, Status.WARNING, Status.CRITICAL, Status.UNKNOWN


def row(service: str, target: str, status: Status, started: float = 1000.0) -> ResultRow:
    return ResultRow(
        "A", "PRI", service, "tcp", target, ADDRESSES[target], started, 0.01, Profile(status, "s")
    )


def test_ok_and_warning_are_go_critical_and_unknown_no_go() -> None:
    assert [is_go(s) for s in (OK, WARNING, CRITICAL, UNKNOWN)] == [True, True, False, False]
    assert [verdict(s) for s in (OK, WARNING, CRITICAL, UNKNOWN)] == [
        "GO",
        "GO (WARNING)",
        "NO-GO (CRITICAL)",
        "NO-GO (UNKNOWN)",
    ]


def test_exit_codes_are_20_plus_the_status_from_errors_py() -> None:
    assert exit_code(OK) == 0
    for status, named in (
        (WARNING, errors.EXIT_VERIFY_WARNING),
        (CRITICAL, errors.EXIT_VERIFY_CRITICAL),
        (UNKNOWN, errors.EXIT_VERIFY_UNKNOWN),
    ):
        assert exit_code(status) == named == errors.EXIT_VERIFY_BASE + int(status)
    assert (errors.EXIT_VERIFY_WARNING, errors.EXIT_VERIFY_UNKNOWN) == (21, 23)


def test_worst_by_server_and_by_service() -> None:
    rows = [
        row("web", "SEC1", OK),
        row("web", "SEC2", CRITICAL),
        row("db", "SEC1", WARNING),
        row("db", "SEC2", UNKNOWN),
    ]
    assert by_target(rows) == {
        f"SEC1 {ADDRESSES['SEC1']}": WARNING,
        f"SEC2 {ADDRESSES['SEC2']}": CRITICAL,
    }
    # a check that could not run outranks a WARNING: not a go
    assert by_service(rows) == {"db": UNKNOWN, "web": CRITICAL}
    assert worst_of(rows) == CRITICAL
    assert worst_of([]) == UNKNOWN  # nothing checked is not a go
    assert worst_of([row("db", "SEC1", WARNING), row("db", "SEC2", UNKNOWN)]) == UNKNOWN


@pytest.fixture
def pri(tmp_path: Path) -> SimGroup:
    g = SimGroup(tmp_path / "g", addresses=ADDRESSES)
    g.build({"A": (2, "PRI"), "B": (1, "SEC1"), "C": (3, "SEC2")})
    g.boot("A")
    return g


@pytest.fixture
def sec1_port() -> Iterator[int]:
    """A port that accepts on SEC1's address; on SEC2's address it is closed."""
    sock = socket.socket()
    sock.bind((ADDRESSES["SEC1"], 0))
    sock.listen(8)
    yield int(sock.getsockname()[1])
    sock.close()


def services(g: SimGroup, text: str) -> None:
    path = g.servers["A"].file(SERVICES_PATH)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_a_round_is_recorded_ordered_and_viewed_by_server_and_service(
    pri: SimGroup, sec1_port: int
) -> None:
    services(
        pri,
        f'[service.port]\nkind = "tcp"\ntimeout = 2\n[service.port.options]\nport = {sec1_port}\n'
        '[service.ghost]\nkind = "no-such-kind"\n',
    )
    server = pri.servers["A"].server(lambda _l: None)
    the_plan = plan(server)
    described = {e["service"]: e for e in the_plan.describe()}
    assert described["port"]["installed"] and not described["ghost"]["installed"]
    assert [(c["target"], c["address"]) for c in described["port"]["checks"]] == [
        ("SEC1", ADDRESSES["SEC1"]),
        ("SEC2", ADDRESSES["SEC2"]),
    ]
    assert described["port"]["targets"] == "partners" and described["port"]["timeout"] == 2
    assert the_plan.services_file == pri.servers["A"].file(SERVICES_PATH)

    rows = run_round(the_plan)
    got = [(r.service, r.target_role, r.profile.status) for r in rows]
    assert got == [
        ("ghost", "SEC1", UNKNOWN),
        ("ghost", "SEC2", UNKNOWN),
        ("port", "SEC1", OK),
        ("port", "SEC2", CRITICAL),
    ]
    run_round(the_plan)
    # a batch of the loop comes in the order its checks finished: shown ordered
    batch = [Outcome(c, 0.0, 0.0, Profile(OK, "s")) for c in reversed(the_plan.checks)]
    assert [r.check for r in rows_of(the_plan, batch)] == [
        "ghost@SEC1",
        "ghost@SEC2",
        "port@SEC1",
        "port@SEC2",
    ]

    view = results_view(server)
    assert view.role == "PRI" and len(view.latest) == 4 and view.history == {}
    assert view.servers == {
        f"SEC1 {ADDRESSES['SEC1']}": UNKNOWN,
        f"SEC2 {ADDRESSES['SEC2']}": CRITICAL,
    }
    assert view.services == {"ghost": UNKNOWN, "port": CRITICAL}
    one = results_view(server, "port", history=5)
    assert [r.check for r in one.latest] == ["port@SEC1", "port@SEC2"]
    assert {k: len(v) for k, v in one.history.items()} == {"port@SEC1": 2, "port@SEC2": 2}


def test_results_view_of_a_role_without_results(pri: SimGroup) -> None:
    server = pri.servers["A"].server(lambda _l: None)
    with open_results(server, "PRI") as results:
        results.add([row("web", "SEC1", OK, 10.0)], 10.0)
    view = results_view(server, history=3)
    assert [r.check for r in view.latest] == ["web@SEC1"]
    assert view.servers == {f"SEC1 {ADDRESSES['SEC1']}": OK}
    assert results_view(server, "db").latest == []


def test_verify_run_with_nothing_to_check_is_unknown_not_go(
    pri: SimGroup, capsys: pytest.CaptureFixture[str]
) -> None:
    from atlas_ha.cli.main import main

    code = main(["--config", str(pri.servers["A"].config), "verify", "run"])
    out = capsys.readouterr()
    assert out.out.strip() == "UNKNOWN: 0 checks (nothing verified is not a go)"
    assert code == errors.EXIT_VERIFY_UNKNOWN
