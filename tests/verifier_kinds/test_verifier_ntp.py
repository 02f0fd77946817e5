"""The ntp kind against a real chronyd on loopback, and against a hostile NTP server."""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.verifier_kinds.conftest import Daemons, free_port, service, target

from atlas_ha.system import Clock
from atlas_ha.verifier.api import Context
from atlas_ha.verifier.kinds import ntpwire
from atlas_ha.verifier.kinds.ntp import NtpVerifier, query
from atlas_ha.verifier.profile import Status

CHRONYD = shutil.which("chronyd") or "/usr/sbin/chronyd"
ADDRESS = "127.0.0.73"
HOSTILE = "127.0.0.74"


def ctx() -> Context:
    return Context(server=cast(Any, SimpleNamespace(clock=Clock())), role="PRI")


def check(host: str, port: int, timeout: float = 2.0, **options: Any) -> tuple[Status, str]:
    svc = service("ntp", timeout=timeout, port=port, **options)
    profile = NtpVerifier().verify(ctx(), svc, target(host))
    return profile.status, profile.summary


@pytest.fixture
def chronyd(daemons: Daemons, tmp_path: Path) -> int:
    """A real chronyd serving its local clock at stratum 8 on ADDRESS: it never touches the
    system clock (-x) and has no upstream server (no traffic leaves loopback)."""
    if not Path(CHRONYD).exists():
        pytest.skip("needs chrony's chronyd")
    port = free_port(ADDRESS, socket.SOCK_DGRAM)
    conf = tmp_path / "chrony.conf"
    conf.write_text(
        f"port {port}\nbindaddress {ADDRESS}\nallow 127.0.0.0/8\nlocal stratum 8\n"
        f"cmdport 0\npidfile {tmp_path}/chronyd.pid\n"
    )
    daemons.start([CHRONYD, "-d", "-x", "-u", "root", "-f", str(conf)], "chronyd.log")
    deadline = time.monotonic() + 15
    while True:  # the local reference is selected a moment after start
        try:
            if query(ADDRESS, port, 0.3, Clock()).answer.stratum == 8:
                return port
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError((tmp_path / "chronyd.log").read_text())
        time.sleep(0.2)


def test_real_chronyd_is_ok_with_its_stratum_and_offset(chronyd: int) -> None:
    svc = service("ntp", port=chronyd)
    profile = NtpVerifier().verify(ctx(), svc, target(ADDRESS))
    assert profile.status == Status.OK, profile.summary
    assert f"ntp {ADDRESS}:{chronyd}: stratum 8" in profile.summary
    measured = {m.label: m for m in profile.measurements}
    assert abs(measured["offset"].value) < 0.5  # one machine, one clock
    assert measured["stratum"].value == 8
    assert measured["root_distance"].judgement == "ok"


def test_stratum_past_the_threshold_is_critical(chronyd: int) -> None:
    status, summary = check(ADDRESS, chronyd, thresholds={"stratum": [4, 6]})
    assert status == Status.CRITICAL, summary
    assert "stratum 8" in summary and "unacceptable" in summary


def test_a_stopped_ntp_server_is_critical(daemons: Daemons, chronyd: int) -> None:
    daemons.stop_all()
    status, summary = check(ADDRESS, chronyd, timeout=1.0)
    assert status == Status.CRITICAL
    assert f"{ADDRESS}:{chronyd}" in summary


def test_an_unreachable_upstream_is_a_warning(chronyd: int) -> None:
    # the upstream is asked on the same port, where nothing listens on HOSTILE
    svc = service("ntp", timeout=1.0, port=chronyd, servers=[HOSTILE])
    profile = NtpVerifier().verify(ctx(), svc, target(ADDRESS))
    assert profile.status == Status.WARNING, profile.summary
    assert "stratum 8" in profile.summary
    assert f"upstream {HOSTILE}: Connection refused" in profile.summary  # not "[Errno 111] ..."


# -- a hostile server ------------------------------------------------------------------------


Answerer = Callable[[bytes], list[bytes]]


@contextlib.contextmanager
def hostile(answer: Answerer) -> Iterator[int]:
    """A UDP server on HOSTILE that answers each request with `answer(request)`'s packets."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((HOSTILE, 0))
    sock.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                request, peer = sock.recvfrom(1024)
            except TimeoutError:
                continue
            for packet in answer(request):
                sock.sendto(packet, peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(sock.getsockname()[1])
    finally:
        stop.set()
        thread.join()
        sock.close()


def server_answer(request: bytes, skew: float = 0.0, **changes: Any) -> bytes:
    origin = int.from_bytes(request[40:48], "big")
    now = ntpwire.to_wire(time.time() + skew)
    answer = ntpwire.Answer(
        leap=0,
        version=4,
        mode=4,
        stratum=2,
        poll=6,
        precision=-20,
        root_delay=0.01,
        root_dispersion=0.01,
        refid=bytes([192, 0, 2, 1]),
        reference=now,
        origin=origin,
        receive=now,
        transmit=now,
    )
    return ntpwire.build_answer(replace(answer, **changes))


def test_spoofed_answers_are_ignored_and_ours_is_taken() -> None:
    def answer(request: bytes) -> list[bytes]:
        return [server_answer(request, origin=12345, stratum=1), server_answer(request)]

    with hostile(answer) as port:
        status, summary = check(HOSTILE, port)
    assert status == Status.OK, summary
    assert "stratum 2 from 192.0.2.1" in summary


def test_only_spoofed_answers_time_out() -> None:
    with hostile(lambda r: [server_answer(r, origin=12345)] * 3) as port:
        status, summary = check(HOSTILE, port, timeout=0.5)
    assert status == Status.CRITICAL
    assert "no answer within 0.5 s" in summary


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"stratum": 0, "refid": b"RATE"}, "kiss-o'-death RATE"),
        ({"leap": 3}, "not synchronised (leap indicator 3, stratum 2)"),
        ({"stratum": 16}, "not synchronised (leap indicator 0, stratum 16)"),
        ({"mode": 2}, "malformed answer: mode 2"),
        ({"transmit": 0}, "malformed answer: transmit timestamp 0"),
    ],
)
def test_a_server_that_cannot_be_trusted_is_critical(
    changes: dict[str, Any], expected: str
) -> None:
    with hostile(lambda r: [server_answer(r, **changes)]) as port:
        status, summary = check(HOSTILE, port)
    assert status == Status.CRITICAL
    assert expected in summary


def test_a_clock_off_by_seconds_is_critical_and_slightly_off_a_warning() -> None:
    with hostile(lambda r: [server_answer(r, skew=-30.0)]) as port:
        status, summary = check(HOSTILE, port)
    assert status == Status.CRITICAL
    assert "offset -29.99" in summary or "offset -30.00" in summary
    with hostile(lambda r: [server_answer(r, skew=1.0)]) as port:
        status, summary = check(HOSTILE, port)
    assert status == Status.WARNING, summary
    with hostile(lambda r: [server_answer(r, skew=1.0)]) as port:
        status, summary = check(HOSTILE, port, thresholds={"offset": [2, 4]})
    assert status == Status.OK, summary


def test_a_short_packet_is_malformed() -> None:
    with hostile(lambda r: [b"\x24" * 20]) as port:
        status, summary = check(HOSTILE, port)
    assert status == Status.CRITICAL
    assert "malformed answer: 20 bytes" in summary


@pytest.mark.parametrize(
    ("options", "expected"),
    [({"port": "123"}, "options.port"), ({"servers": "a"}, "options.servers")],
)
def test_bad_options_are_unknown_naming_the_option(options: dict[str, Any], expected: str) -> None:
    svc = service("ntp", **options)
    profile = NtpVerifier().verify(ctx(), svc, target(HOSTILE))
    assert profile.status == Status.UNKNOWN
    assert expected in profile.summary and "test-ntp" in profile.summary


# -- the packet format ---------------------------------------------------------------------


@given(st.binary(max_size=120))
def test_any_bytes_parse_or_raise_the_format_error(packet: bytes) -> None:
    with contextlib.suppress(ntpwire.NtpFormatError):
        ntpwire.parse_answer(packet)


@given(st.floats(min_value=0, max_value=4_000_000_000, allow_nan=False))
def test_timestamps_round_trip_across_the_2036_era_within_a_microsecond(unix: float) -> None:
    assert abs(ntpwire.from_wire(ntpwire.to_wire(unix)) - unix) < 1e-6


@given(
    st.integers(0, 3),
    st.integers(1, 15),
    st.integers(-128, 127),
    st.integers(0, 2**64 - 1),
    st.integers(1, 2**64 - 1),
)
def test_answers_round_trip(leap: int, stratum: int, poll: int, ts: int, xmt: int) -> None:
    answer = ntpwire.Answer(
        leap=leap,
        version=4,
        mode=4,
        stratum=stratum,
        poll=poll,
        precision=-20,
        root_delay=1.5,
        root_dispersion=0.25,
        refid=b"\x7f\x00\x00\x01",
        reference=ts,
        origin=ts,
        receive=ts,
        transmit=xmt,
    )
    assert ntpwire.parse_answer(ntpwire.build_answer(answer)) == answer


def test_offset_and_delay_follow_rfc_5905() -> None:
    # the server is 10 s ahead; 0.2 s each way; it holds the request 0.1 s
    offset, delay = ntpwire.offset_and_delay(100.0, 110.2, 110.3, 100.5)
    assert offset == pytest.approx(10.0)
    assert delay == pytest.approx(0.4)
