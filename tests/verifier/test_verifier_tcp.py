"""Kind `tcp`: port open, banner expected, connect time judged, hanging and closed ports."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.verifier.conftest import Hanging, free_port

from atlas_ha.verifier.api import Context, Target
from atlas_ha.verifier.kinds.tcp import TcpVerifier
from atlas_ha.verifier.profile import Status, Threshold
from atlas_ha.verifier.services import ServiceDef

TARGET = Target("SEC1", "127.0.0.1")


@pytest.fixture
def banner_server() -> Iterator[tuple[int, list[bytes]]]:
    """Answers '220 ready' to every connection and records what the client sent."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    got: list[bytes] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"220 ready\r\n")
                conn.settimeout(0.5)
                try:
                    got.append(conn.recv(100))
                except OSError:
                    got.append(b"")

    threading.Thread(target=serve, daemon=True).start()
    yield int(sock.getsockname()[1]), got
    sock.close()


def svc(port: int, timeout: float = 2.0, **options: Any) -> ServiceDef:
    return ServiceDef("port", "tcp", timeout=timeout, options={"port": port, **options})


def test_open_port_with_banner_and_send(
    ctx: Context, banner_server: tuple[int, list[bytes]]
) -> None:
    port, got = banner_server
    profile = TcpVerifier().verify(ctx, svc(port, expect="220 ", send="QUIT\r\n"), TARGET)
    assert profile.status == Status.OK, profile
    assert profile.summary == f"127.0.0.1:{port} accepts connections, answers '220 '"
    assert {m.label for m in profile.measurements} == {"connect", "time"}
    assert profile.details == "220 ready\r\n"
    deadline = time.monotonic() + 2
    while not got and time.monotonic() < deadline:
        time.sleep(0.01)
    assert got == [b"QUIT\r\n"]


def test_wrong_banner_is_critical(ctx: Context, banner_server: tuple[int, list[bytes]]) -> None:
    port, _ = banner_server
    profile = TcpVerifier().verify(ctx, svc(port, expect="SSH-2.0"), TARGET)
    assert profile.status == Status.CRITICAL
    assert "expected 'SSH-2.0', got '220 ready\\r\\n'" in profile.summary


def test_closed_port_is_critical(ctx: Context) -> None:
    port = free_port()
    profile = TcpVerifier().verify(ctx, svc(port), TARGET)
    assert profile.status == Status.CRITICAL
    assert profile.summary == f"127.0.0.1:{port}: Connection refused"


def test_hanging_service_is_critical_within_the_timeout(
    ctx: Context, hanging: Callable[[], Hanging]
) -> None:
    server = hanging()
    started = time.monotonic()
    profile = TcpVerifier().verify(ctx, svc(server.port, timeout=0.5, expect="220"), TARGET)
    took = time.monotonic() - started
    assert profile.status == Status.CRITICAL
    assert profile.summary == f"127.0.0.1:{server.port}: no answer within 0.5 s"
    assert 0.45 < took < 1.0
    assert len(server.accepted) == 1  # it did connect: the service accepts, never answers


def test_connect_time_judged_by_thresholds(
    ctx: Context, banner_server: tuple[int, list[bytes]]
) -> None:
    port, _ = banner_server
    service = ServiceDef(
        "port", "tcp", options={"port": port}, thresholds={"connect": Threshold(0.0, 30.0)}
    )
    profile = TcpVerifier().verify(ctx, service, TARGET)
    assert profile.status == Status.WARNING
    assert "(connect " in profile.summary and "s slow)" in profile.summary


def test_port_option_is_required(ctx: Context) -> None:
    with pytest.raises(Exception, match=r"options.port = 1..65535"):
        TcpVerifier().verify(ctx, ServiceDef("port", "tcp"), TARGET)
