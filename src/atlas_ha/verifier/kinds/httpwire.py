"""A small HTTP/1.1 client on raw sockets for the verifier: one keep-alive connection per
(address, port, TLS, Host) for all probes of one check, a deadline over everything, and
nothing more than a check needs (GET, status, body up to a bound).

Why not http.client: a check is a few GETs to one server; reusing the connection and
skipping the generic header parser keeps the CPU per check small (bench/http_verifier_bench).
"""

from __future__ import annotations

import re
import socket
import ssl
import time

MAX_HEADER = 1 << 14
STATUS_RE = re.compile(r"^[0-9]{3}$")
DIGITS_RE = re.compile(r"^[0-9]{1,18}$")
HEX_RE = re.compile(rb"^[0-9A-Fa-f]{1,15}$")
MAX_BODY = 1 << 20  # a test page is small; anything bigger is not what a check wants


class HttpError(OSError):
    """The server answered something that is not HTTP/1.x. Internal to the verifier: the
    http kind reports it as a failed probe (an OSError, like a refused connection)."""


class Connection:
    def __init__(
        self,
        address: str,
        port: int,
        deadline: float,
        context: ssl.SSLContext | None = None,
        server_name: str = "",
    ) -> None:
        self.address, self.port, self.deadline = address, port, deadline
        self.context, self.server_name = context, server_name
        self.sock: socket.socket | None = None
        self.buffer = b""
        self.peer_cert: dict[str, object] | None = None

    def _remaining(self) -> float:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("timed out")
        return remaining

    def _open(self) -> socket.socket:
        sock = socket.create_connection((self.address, self.port), timeout=self._remaining())
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.context is not None:
            sock = self.context.wrap_socket(sock, server_hostname=self.server_name or None)
            cert = sock.getpeercert()
            self.peer_cert = dict(cert) if cert else None
        self.buffer = b""
        return sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def get(self, url: str, headers: dict[str, str]) -> tuple[int, bytes]:
        """GET `url`; a kept-alive connection the server closed meanwhile is reopened once."""
        request = f"GET {url} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        data = (request + "\r\n").encode("latin-1")
        reused = self.sock is not None
        try:
            return self._exchange(data)
        except (ConnectionError, HttpError):
            self.close()
            if not reused:
                raise
            return self._exchange(data)

    def _exchange(self, data: bytes) -> tuple[int, bytes]:
        if self.sock is None:
            self.sock = self._open()
        self.sock.settimeout(self._remaining())
        self.sock.sendall(data)
        head = self._until(b"\r\n\r\n")
        status, length, chunked, close = _parse_head(head)
        if status in (204, 304) or 100 <= status < 200:
            length, chunked = 0, False
        body = self._chunked() if chunked else self._exactly(length) if length >= 0 else b""
        if length < 0 and not chunked:
            body = self._rest()
            close = True
        if close:
            self.close()
        return status, body

    def _recv(self) -> bytes:
        assert self.sock is not None
        self.sock.settimeout(self._remaining())
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionResetError("connection closed by the server")
        return chunk

    def _until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            if len(self.buffer) > MAX_HEADER:
                raise HttpError("header too long")
            self.buffer += self._recv()
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def _exactly(self, n: int) -> bytes:
        if n > MAX_BODY:
            raise HttpError(f"a body of {n} bytes (more than {MAX_BODY})")
        while len(self.buffer) < n:
            self.buffer += self._recv()
        body, self.buffer = self.buffer[:n], self.buffer[n:]
        return body

    def _chunked(self) -> bytes:
        body = b""
        while True:
            size_line = self._until(b"\r\n").split(b";")[0].strip()
            if not HEX_RE.match(size_line):  # int() would take "-5", "0x5", "1_0"
                raise HttpError(f"bad chunk size {size_line[:40]!r}")
            size = int(size_line, 16)
            if size == 0:
                self._until(b"\r\n")
                return body
            body += self._exactly(size)
            if len(body) > MAX_BODY:
                raise HttpError(f"a body of more than {MAX_BODY} bytes")
            self._until(b"\r\n")

    def _rest(self) -> bytes:
        body = self.buffer
        try:
            while len(body) <= MAX_BODY:
                body += self._recv()
        except ConnectionResetError:
            return body
        raise HttpError(f"a body of more than {MAX_BODY} bytes")


def _parse_head(head: bytes) -> tuple[int, int, bool, bool]:
    """(status, content length or -1, chunked, connection closes)."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not STATUS_RE.match(parts[1]):
        raise HttpError(f"not an HTTP/1.x status line: {lines[0][:60]!r}")
    length, chunked, close = -1, False, parts[0] == "HTTP/1.0"
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == "content-length":
            if not DIGITS_RE.match(value):  # str.isdigit() takes "\xb2" (latin-1 superscript)
                raise HttpError(f"Content-Length {value[:40]!r} is not a number")
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value:
            chunked = True
        elif name == "connection":
            close = value == "close" or (close and value != "keep-alive")
    return int(parts[1]), length, chunked, close
