"""The dns kind against a real dnsmasq on loopback, and its parser against hostile packets."""

from __future__ import annotations

import contextlib
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.verifier_kinds.conftest import Daemons, free_port, no_server_ctx, service, target

from atlas_ha.verifier.kinds import dnswire
from atlas_ha.verifier.kinds.dns import DnsVerifier, query
from atlas_ha.verifier.profile import Status

DNSMASQ = "/usr/sbin/dnsmasq"
Dnsmasq = tuple[Daemons, int, "subprocess.Popen[bytes]"]
ADDRESS = "127.0.0.71"


@pytest.fixture
def dnsmasq(daemons: Daemons) -> Dnsmasq:
    if not Path(DNSMASQ).exists():
        pytest.skip("needs dnsmasq")
    port = free_port(ADDRESS, socket.SOCK_DGRAM)
    proc = daemons.start(
        [
            DNSMASQ,
            "--no-daemon",
            "--conf-file=/dev/null",
            f"--listen-address={ADDRESS}",
            "--bind-interfaces",
            f"--port={port}",
            "--no-resolv",
            "--no-hosts",
            "--pid-file=",
            "--address=/web.test.lan/192.0.2.80",
            "--host-record=host.test.lan,192.0.2.81,2001:db8::81",
            "--txt-record=verify.test.lan,atlas token 42",
            "--cname=alias.test.lan,host.test.lan",
        ],
        "dnsmasq.log",
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            query(ADDRESS, port, "web.test.lan", "A", 0.2)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    return daemons, port, proc


def check(port: int, timeout: float = 2.0, **options: object) -> tuple[Status, str]:
    svc = service("dns", timeout=timeout, port=port, **options)
    profile = DnsVerifier().verify(no_server_ctx(), svc, target(ADDRESS))
    return profile.status, profile.summary


@pytest.mark.parametrize(
    ("name", "rtype", "expected"),
    [
        ("web.test.lan", "A", ["192.0.2.80"]),
        ("host.test.lan", "AAAA", ["2001:db8:0::81"]),
        ("verify.test.lan", "TXT", ["atlas token 42"]),
        ("alias.test.lan", "A", ["192.0.2.81"]),  # through the CNAME
    ],
)
def test_record_resolves_as_expected(
    dnsmasq: Dnsmasq, name: str, rtype: str, expected: list[str]
) -> None:
    _d, port, _p = dnsmasq
    svc = service("dns", port=port, name=name, type=rtype, expected=expected)
    profile = DnsVerifier().verify(no_server_ctx(), svc, target(ADDRESS))
    assert profile.status is Status.OK, profile.summary
    assert profile.measurements[0].label == "time" and profile.measurements[0].value < 2


def test_wrong_record_is_critical(dnsmasq: Dnsmasq) -> None:
    _d, port, _p = dnsmasq
    status, summary = check(port, name="web.test.lan", expected=["192.0.2.99"])
    assert status is Status.CRITICAL
    assert "resolves to ['192.0.2.80'], expected ['192.0.2.99']" in summary


def test_missing_record_is_critical(dnsmasq: Dnsmasq) -> None:
    _d, port, _p = dnsmasq
    status, summary = check(port, name="gone.test.lan", expected=["192.0.2.80"])
    assert status is Status.CRITICAL and "REFUSED" in summary  # dnsmasq without upstream


def test_stopped_service_is_critical(dnsmasq: Dnsmasq) -> None:
    daemons, port, proc = dnsmasq
    assert check(port, name="web.test.lan")[0] is Status.OK
    daemons.stop(proc)
    assert proc.poll() is not None
    status, summary = check(port, name="web.test.lan")
    assert status is Status.CRITICAL and "refused" in summary.lower()


def test_silent_server_times_out_within_the_timeout() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind((ADDRESS, 0))  # receives the query, never answers
        port = silent.getsockname()[1]
        started = time.monotonic()
        status, summary = check(port, timeout=0.5, name="web.test.lan")
        assert time.monotonic() - started < 1.0
    assert status is Status.CRITICAL and "no answer within 0.5 s" in summary


def test_bad_options_are_unknown() -> None:
    assert check(53, name="x.lan", type="MX")[0] is Status.UNKNOWN
    assert "name" in check(53)[1]


# -- the parser: anything from the network is hostile ---------------------------------------


def answer(ident: int, name: str, records: list[tuple[int, bytes]], flags: int = 0x8180) -> bytes:
    packet = struct.pack("!HHHHHH", ident, flags, 1, len(records), 0, 0)
    packet += dnswire.encode_name(name) + struct.pack("!HH", 1, 1)
    for rtype, rdata in records:
        packet += b"\xc0\x0c" + struct.pack("!HHIH", rtype, 1, 60, len(rdata)) + rdata
    return packet


def test_parses_compressed_answers() -> None:
    packet = answer(7, "web.test.lan", [(1, bytes([192, 0, 2, 80])), (16, b"\x02ab\x01c")])
    response = dnswire.parse_response(packet)
    assert response.ident == 7 and response.rcode == 0
    assert response.values("web.test.lan", 1) == ["192.0.2.80"]
    assert response.values("WEB.test.lan.", 16) == ["abc"]
    assert dnswire.question_of(packet) == ("web.test.lan", 1, 1)


@pytest.mark.parametrize(
    ("packet", "message"),
    [
        (b"\x00\x07\x81", "shorter than a DNS header"),
        (answer(7, "a.lan", [(1, b"\x01\x02\x03")]), "4 bytes, not 3"),
        (answer(7, "a.lan", [(28, b"\x00" * 4)]), "16 bytes, not 4"),
        (answer(7, "a.lan", [(16, b"\x09abc")]), "TXT string runs past"),
        (answer(7, "a.lan", [(16, b"")]), "at least one string"),
        (answer(7, "a.lan", [(1, b"\x01\x02\x03\x04")])[:-2], "runs past the end"),
        (answer(7, "a.lan", [], flags=0x0100), "not a response"),
        # a pointer to itself, and one forward
        (struct.pack("!HHHHHH", 7, 0x8180, 1, 0, 0, 0) + b"\xc0\x0c", "does not go back"),
        (struct.pack("!HHHHHH", 7, 0x8180, 1, 0, 0, 0) + b"\xc0\x20\x00", "does not go back"),
        (struct.pack("!HHHHHH", 7, 0x8180, 1, 0, 0, 0) + b"\x40abc", "unsupported label type"),
        (struct.pack("!HHHHHH", 7, 0x8180, 1, 0, 0, 0) + b"\x3fabc", "runs past the end"),
    ],
)
def test_malformed_packets_are_named(packet: bytes, message: str) -> None:
    with pytest.raises(dnswire.DnsFormatError, match=message):
        dnswire.parse_response(packet)


def test_pointer_loops_are_bounded() -> None:
    # name at 12: label "a", then a pointer back to 12: a loop that only a bound stops
    packet = struct.pack("!HHHHHH", 7, 0x8180, 1, 0, 0, 0) + b"\x01a\xc0\x0c"
    with pytest.raises(dnswire.DnsFormatError):
        dnswire.parse_response(packet)


def test_names_that_cannot_be_asked() -> None:
    for bad in ["", "a" * 64 + ".lan", ".".join(["abcdefgh"] * 40)]:
        with pytest.raises(dnswire.DnsFormatError):
            dnswire.build_query(1, bad, 1)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=600))
def test_random_packets_parse_or_raise_format_error(packet: bytes) -> None:
    with contextlib.suppress(dnswire.DnsFormatError):
        dnswire.parse_response(packet)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 0xFFFF),
    st.lists(st.from_regex(r"[a-z0-9]{1,12}", fullmatch=True), min_size=1, max_size=4),
    st.lists(st.tuples(st.integers(0, 255), st.integers(0, 255)), max_size=5),
    st.lists(st.binary(max_size=40), min_size=1, max_size=3),
    st.data(),
)
def test_valid_answers_round_trip_and_mutations_never_escape(
    ident: int,
    labels: list[str],
    addrs: list[tuple[int, int]],
    txt: list[bytes],
    data: st.DataObject,
) -> None:
    name = ".".join(labels)
    a_records = [(1, bytes([192, 0, x, y])) for x, y in addrs]
    txt_rdata = b"".join(bytes([len(t)]) + t for t in txt)
    packet = answer(ident, name, [*a_records, (16, txt_rdata)])
    response = dnswire.parse_response(packet)
    assert response.ident == ident
    assert response.values(name, 1) == [f"192.0.{x}.{y}" for x, y in addrs]
    assert response.values(name, 16) == [b"".join(txt).decode("utf-8", errors="replace")]
    # any truncation or single-byte change either parses or is a DnsFormatError
    cut = data.draw(st.integers(0, len(packet) - 1))
    where = data.draw(st.integers(0, len(packet) - 1))
    flipped = packet[:where] + bytes([data.draw(st.integers(0, 255))]) + packet[where + 1 :]
    for mutated in (packet[:cut], flipped):
        with contextlib.suppress(dnswire.DnsFormatError):
            dnswire.parse_response(mutated)


def fake_server(replies: list[Callable[[bytes], bytes]]) -> tuple[socket.socket, threading.Thread]:
    """A UDP server on loopback answering one query with each reply function, in order."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((ADDRESS, 0))
    sock.settimeout(5)

    def serve() -> None:
        query_packet, peer = sock.recvfrom(512)
        for reply in replies:
            sock.sendto(reply(query_packet), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return sock, thread


def good_reply(query_packet: bytes) -> bytes:
    ident = int.from_bytes(query_packet[:2], "big")
    return answer(ident, "web.test.lan", [(1, bytes([192, 0, 2, 80]))])


def test_answers_with_another_id_or_question_are_ignored() -> None:
    def wrong_id(q: bytes) -> bytes:
        return answer(int.from_bytes(q[:2], "big") ^ 1, "web.test.lan", [(1, b"\x0a\0\0\x01")])

    def wrong_question(q: bytes) -> bytes:
        return answer(int.from_bytes(q[:2], "big"), "evil.test.lan", [(1, b"\x0a\0\0\x01")])

    sock, thread = fake_server([wrong_id, wrong_question, good_reply])
    with sock:
        status, summary = check(sock.getsockname()[1], name="web.test.lan", expected=["192.0.2.80"])
        thread.join(5)
    assert status is Status.OK, summary  # the spoofed 10.0.0.1 answers never counted


def test_malformed_answer_with_our_id_is_critical() -> None:
    def garbage(q: bytes) -> bytes:
        return good_reply(q)[:-3]  # the A record's data cut short

    sock, thread = fake_server([garbage])
    with sock:
        status, summary = check(sock.getsockname()[1], name="web.test.lan")
        thread.join(5)
    assert status is Status.CRITICAL and "malformed answer" in summary
    assert "runs past the end" in summary
