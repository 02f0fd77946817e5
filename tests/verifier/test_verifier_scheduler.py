"""VerifierControl: checks run concurrently, a hung service delays only itself, a hung check
is abandoned at its timeout and not started again while it hangs; errors become UNKNOWN."""

from __future__ import annotations

import itertools
import socket
import sqlite3
import threading
import time
from collections.abc import Callable

import pytest
from tests.verifier.conftest import Hanging, Nginx

from atlas_ha.errors import FormatError
from atlas_ha.system import Clock
from atlas_ha.verifier.api import Context, Target, Verifier
from atlas_ha.verifier.control import Check, Outcome, VerifierControl
from atlas_ha.verifier.kinds.tcp import TcpVerifier
from atlas_ha.verifier.profile import Profile, Status
from atlas_ha.verifier.services import ServiceDef
from atlas_ha.verifier.targets import checks_for


class BlockingVerifier(Verifier):
    """A badly written verifier: connects and reads without any timeout."""

    kind = "blocking"

    def verify(self, ctx: Context, service: ServiceDef, target: Target) -> Profile:
        sock = socket.create_connection((target.address, int(service.options["port"])))
        with sock:
            sock.recv(1)  # a hanging service never answers: blocks until the test closes it
        return Profile(Status.OK, "answered")


class RaisingVerifier(Verifier):
    kind = "raising"

    def verify(self, ctx: Context, service: ServiceDef, target: Target) -> Profile:
        raise RuntimeError("the plugin exploded")


class MisconfiguredVerifier(Verifier):
    kind = "misconfigured"

    def verify(self, ctx: Context, service: ServiceDef, target: Target) -> Profile:
        raise FormatError("/etc/atlas-ha/secret", 1, "expected a password")


def tcp_check(name: str, port: int, timeout: float, interval: float = 60.0) -> Check:
    service = ServiceDef(name, "tcp", interval=interval, timeout=timeout, options={"port": port})
    return Check(service, Target("SEC1", "127.0.0.1"), TcpVerifier())


def blocking_check(name: str, port: int, timeout: float, interval: float = 60.0) -> Check:
    service = ServiceDef(
        name, "blocking", interval=interval, timeout=timeout, options={"port": port}
    )
    return Check(service, Target("SEC1", "127.0.0.1"), BlockingVerifier())


def test_one_round_with_hanging_services(
    ctx: Context, nginx: Nginx, hanging: Callable[[], Hanging]
) -> None:
    servers = [hanging() for _ in range(3)]
    fast = [tcp_check(f"fast{i}", nginx.port, timeout=1.0) for i in range(10)]
    hung = [blocking_check(f"hung{i}", s.port, timeout=1.0) for i, s in enumerate(servers)]
    recorded: list[list[Outcome]] = []
    control = VerifierControl(ctx, [*hung, *fast], Clock(), recorded.append)
    started = time.monotonic()
    outcomes = control.run_once()
    took = time.monotonic() - started
    assert 1.0 <= took < 1.5, took  # the timeout plus small slack, not 3 x the timeout
    by_key = {o.check.key: o for o in outcomes}
    assert len(by_key) == 13 and recorded == [outcomes]
    for check in fast:
        o = by_key[check.key]
        assert o.profile.status == Status.OK, o.profile
        assert o.duration < 0.3  # not delayed by the hung checks started before them
    for check, server in zip(hung, servers, strict=True):
        o = by_key[check.key]
        assert o.profile.status == Status.CRITICAL
        assert o.profile.summary == "no answer within 1 s"
        assert 1.0 <= o.duration < 1.5
        assert len(server.accepted) == 1  # the fault happened: it connected and waited


def test_hung_check_is_not_started_again_and_fast_checks_keep_their_interval(
    ctx: Context, nginx: Nginx, hanging: Callable[[], Hanging]
) -> None:
    server = hanging()
    fast = tcp_check("fast", nginx.port, timeout=1.0, interval=0.2)
    hung = blocking_check("hung", server.port, timeout=0.5, interval=0.5)
    seen: list[Outcome] = []
    control = VerifierControl(ctx, [hung, fast], Clock(), seen.extend)
    stop = threading.Event()
    loop = threading.Thread(target=control.run_forever, args=(stop,))
    loop.start()
    time.sleep(2.1)
    stop.set()
    loop.join(timeout=2)
    assert not loop.is_alive()
    fast_runs = [o for o in seen if o.check.key == "fast@SEC1"]
    hung_runs = [o.profile.summary for o in seen if o.check.key == "hung@SEC1"]
    assert 9 <= len(fast_runs) <= 12, len(fast_runs)  # every 0.2 s, as if nothing hung
    assert all(o.profile.status == Status.OK and o.duration < 0.3 for o in fast_runs)
    starts = [o.started for o in fast_runs]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert max(gaps) < 0.35, gaps
    assert hung_runs[0] == "no answer within 0.5 s"
    assert len(hung_runs) >= 3
    assert all(s.startswith("still hanging: no answer for ") for s in hung_runs[1:])
    assert len(server.accepted) == 1  # started once, never again while it hangs


def test_released_hung_check_runs_again(ctx: Context, hanging: Callable[[], Hanging]) -> None:
    server = hanging()
    hung = blocking_check("hung", server.port, timeout=0.3, interval=0.1)
    control = VerifierControl(ctx, [hung], Clock())
    assert control.run_once()[0].profile.summary == "no answer within 0.3 s"
    assert control.run_once()[0].profile.summary.startswith("still hanging")
    for conn in list(server.accepted):
        conn.close()  # the service finally answers (EOF): the thread returns
    deadline = time.monotonic() + 2
    while control.running["hung@SEC1"].done.is_set() is False and time.monotonic() < deadline:
        time.sleep(0.01)
    # the late answer of the abandoned run is discarded; the next round starts a new run
    again = control.run_once()
    assert len(server.accepted) == 2
    assert again[0].profile.summary == "no answer within 0.3 s"


def test_raising_verifier_and_unknown_kind_are_unknown(ctx: Context) -> None:
    raising = Check(ServiceDef("boom", "raising"), Target("SEC1", "127.0.0.1"), RaisingVerifier())
    services = [ServiceDef("odd", "no-such-kind")]
    (unknown,) = checks_for(
        services,
        {"tcp": TcpVerifier},
        master("PRI", {"SEC1": "127.0.0.1"}),
        "127.0.0.2",
        2,
        lambda _r: None,
    )
    outcomes = {
        o.check.key: o.profile for o in VerifierControl(ctx, [raising, unknown], Clock()).run_once()
    }
    assert outcomes["boom@SEC1"].status == Status.UNKNOWN
    assert (
        outcomes["boom@SEC1"].summary
        == "raising verifier failed: RuntimeError: the plugin exploded"
    )
    assert "RuntimeError" in outcomes["boom@SEC1"].details
    assert outcomes["odd@SEC1"].status == Status.UNKNOWN
    assert (
        "no verifier of kind 'no-such-kind' is installed (installed: tcp)"
        in outcomes["odd@SEC1"].summary
    )


def test_a_check_whose_configuration_is_wrong_is_unknown_with_that_reason_alone(
    ctx: Context,
) -> None:
    check = Check(
        ServiceDef("db", "misconfigured"), Target("SEC1", "127.0.0.1"), MisconfiguredVerifier()
    )
    (outcome,) = VerifierControl(ctx, [check], Clock()).run_once()
    assert outcome.profile.status == Status.UNKNOWN
    assert outcome.profile.summary == "misconfigured: /etc/atlas-ha/secret:1: expected a password"
    assert "Traceback" not in outcome.profile.details


class FakeClock(Clock):
    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> float:
        return 1_700_000_000.0 + self.t

    def monotonic(self) -> float:
        return self.t


class Instant(Verifier):
    kind = "instant"

    def verify(self, ctx: Context, service: ServiceDef, target: Target) -> Profile:
        return Profile(Status.OK, "fine")


def test_tick_follows_each_interval_on_a_fake_clock(ctx: Context) -> None:
    clock = FakeClock()
    a = Check(ServiceDef("a", "instant", interval=10, timeout=5), Target("SEC1", "x"), Instant())
    b = Check(ServiceDef("b", "instant", interval=30, timeout=5), Target("SEC1", "x"), Instant())
    control = VerifierControl(ctx, [a, b], clock)

    def settle() -> list[str]:
        for run in list(control.running.values()):
            assert run.done.wait(2)
        return sorted(o.check.key for o in control.tick())

    assert control.tick() == []  # both started, none finished yet at this instant
    assert settle() == ["a@SEC1", "b@SEC1"]
    assert control.next_wake() == 1010.0
    clock.t = 1009.9
    assert settle() == []
    clock.t = 1010.0
    control.tick()
    assert settle() == ["a@SEC1"]
    clock.t = 1030.0
    control.tick()
    assert settle() == ["a@SEC1", "b@SEC1"]


def test_duplicate_checks_are_refused(ctx: Context) -> None:
    a = Check(ServiceDef("a", "instant"), Target("SEC1", "x"), Instant())
    with pytest.raises(Exception, match="same service and target"):
        VerifierControl(ctx, [a, a], Clock())


def master(role: str, partners: dict[str, str]):  # type: ignore[no-untyped-def]
    from atlas_ha.model import MasterConfig, Partner

    return MasterConfig("g", role, {r: Partner(a) for r, a in partners.items()})


def test_the_loop_survives_a_results_database_that_cannot_be_written(ctx: Context) -> None:
    logged: list[str] = []
    ctx.server.log = logged.append
    check = Check(
        ServiceDef("a", "instant", interval=0.05, timeout=1), Target("SEC1", "x"), Instant()
    )
    stored: list[Outcome] = []

    def record(outcomes: list[Outcome]) -> None:
        if not logged:
            raise sqlite3.OperationalError("database or disk is full")
        stored.extend(outcomes)

    control = VerifierControl(ctx, [check], Clock(), record)
    stop = threading.Event()
    loop = threading.Thread(target=control.run_forever, args=(stop,))
    loop.start()
    deadline = time.monotonic() + 3
    while len(stored) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    loop.join(timeout=2)
    assert logged == ["ALERT verifier results not stored (1): database or disk is full"]
    assert len(stored) >= 3
