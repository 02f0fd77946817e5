"""The verifier's raw-socket HTTP/1.1 client against scripted loopback servers: keep-alive,
chunked bodies, HTTP/1.0 close, a kept-alive connection closed by the server, garbage, a
server that never answers (deadline), and the status-line/header parser (hypothesis)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from atlas_ha.verifier.kinds.httpwire import Connection, HttpError, _parse_head

Handler = Callable[[socket.socket, int], bool]  # (conn, request number) -> keep open
Serve = Callable[[Handler], tuple[int, list[int]]]


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return data
        data += chunk
    return data


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start a loopback server running `handler` per request; returns (port, accepts)."""
    stops: list[socket.socket] = []

    def start(handler: Handler) -> tuple[int, list[int]]:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        stops.append(listener)
        accepts: list[int] = []

        def loop() -> None:
            n = 0
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                accepts.append(1)
                with conn:
                    while read_request(conn):
                        n += 1
                        if not handler(conn, n):
                            break

        threading.Thread(target=loop, daemon=True).start()
        return listener.getsockname()[1], accepts

    yield start
    for listener in stops:
        listener.close()


def reply(body: bytes, extra: str = "", status: str = "200 OK") -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


def test_keep_alive_serves_several_requests_on_one_connection(serve: Serve) -> None:
    port, accepts = serve(lambda c, n: c.sendall(reply(f"r{n}".encode())) or True)
    conn = Connection("127.0.0.1", port, time.monotonic() + 5)
    assert [conn.get("/", {"Host": "x"}) for _ in range(3)] == [
        (200, b"r1"),
        (200, b"r2"),
        (200, b"r3"),
    ]
    conn.close()
    assert len(accepts) == 1


def test_chunked_body_and_401_without_body(serve: Serve) -> None:
    def handler(c: socket.socket, n: int) -> bool:
        if n == 1:
            c.sendall(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n"
            )
        else:
            c.sendall(reply(b"", status="401 Unauthorized"))
        return True

    port, _ = serve(handler)
    conn = Connection("127.0.0.1", port, time.monotonic() + 5)
    assert conn.get("/", {}) == (200, b"hello world")
    assert conn.get("/p", {}) == (401, b"")


def test_http10_reply_read_to_close_and_server_closing_a_kept_connection(serve: Serve) -> None:
    def handler(c: socket.socket, n: int) -> bool:
        if n % 2:
            c.sendall(b"HTTP/1.0 200 OK\r\n\r\nold style")
            return False
        c.sendall(reply(b"new"))
        return False  # closes although it did not say so: the client reopens once

    port, accepts = serve(handler)
    conn = Connection("127.0.0.1", port, time.monotonic() + 5)
    assert conn.get("/", {}) == (200, b"old style")
    assert conn.get("/", {}) == (200, b"new")
    assert conn.get("/", {}) == (200, b"old style")  # the kept one was closed: reopened
    assert len(accepts) == 3


def test_not_http_is_an_error(serve: Serve) -> None:
    port, _ = serve(lambda c, n: c.sendall(b"SSH-2.0-OpenSSH_9.2\r\n\r\n") or False)
    with pytest.raises(HttpError, match=r"not an HTTP/1\.x status line"):
        Connection("127.0.0.1", port, time.monotonic() + 5).get("/", {})


def test_a_server_that_never_answers_ends_at_the_deadline(serve: Serve) -> None:
    port, _ = serve(lambda c, n: time.sleep(3) or False)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        Connection("127.0.0.1", port, time.monotonic() + 0.5).get("/", {})
    assert time.monotonic() - started < 1.0


def test_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
        with pytest.raises(ConnectionRefusedError):
            Connection("127.0.0.1", port, time.monotonic() + 2).get("/", {})


@given(
    st.integers(100, 599),
    st.one_of(st.none(), st.integers(0, 10**9)),
    st.booleans(),
    st.sampled_from(["HTTP/1.1", "HTTP/1.0"]),
    st.sampled_from(["", "close", "keep-alive", "Keep-Alive"]),
)
def test_head_parser(
    status: int, length: int | None, chunked: bool, version: str, connection: str
) -> None:
    lines = [f"{version} {status} Whatever Reason", "Server: test"]
    if length is not None:
        lines.append(f"content-LENGTH:  {length}")
    if chunked:
        lines.append("Transfer-Encoding: gzip, chunked")
    if connection:
        lines.append(f"Connection: {connection}")
    parsed = _parse_head("\r\n".join(lines).encode())
    closes = connection == "close" or (version == "HTTP/1.0" and connection.lower() != "keep-alive")
    assert parsed == (status, -1 if length is None else length, chunked, closes)
