"""Real services for the verifier tests, on loopback only: nginx, servers that accept TCP and
never answer, closed ports. Every process is stopped by its own PID."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from atlas_ha.context import Server
from atlas_ha.settings import Settings
from atlas_ha.verifier.api import Context

NGINX = "/usr/sbin/nginx"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_port(host: str, port: int, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {host}:{port}")


@dataclass
class Nginx:
    host: str
    port: int
    docroot: Path
    proc: subprocess.Popen[bytes]


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Nginx]:
    """nginx serving tmp/www on 127.0.0.1:<free port>, in the foreground (its PID is ours)."""
    run = tmp_path / "nginx"
    docroot = tmp_path / "www"
    for d in (run, docroot):
        d.mkdir()
    (docroot / "index.html").write_text("<h1>atlas-ha verifier test</h1>\n")
    docroot.chmod(0o755)
    port = free_port()
    temps = "".join(
        f"    {k}_temp_path {run}/{k};\n"
        for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = run / "nginx.conf"
    conf.write_text(
        f"daemon off;\nuser root root;\nworker_processes 1;\npid {run}/nginx.pid;\n"
        f"error_log {run}/error.log;\nevents {{ worker_connections 64; }}\n"
        f"http {{\n    access_log {run}/access.log;\n{temps}"
        f"    server {{\n        listen 127.0.0.1:{port};\n        root {docroot};\n    }}\n}}\n"
    )
    proc = subprocess.Popen(
        [NGINX, "-p", f"{run}/", "-e", f"{run}/error.log", "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_port("127.0.0.1", port)
        yield Nginx("127.0.0.1", port, docroot, proc)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class Hanging:
    """A TCP server on loopback that accepts every connection and never answers."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.sock = socket.socket()
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.host, self.port = host, int(self.sock.getsockname()[1])
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def hanging() -> Iterator[Callable[[], Hanging]]:
    made: list[Hanging] = []

    def make(host: str = "127.0.0.1") -> Hanging:
        made.append(Hanging(host))
        return made[-1]

    yield make
    for h in made:
        h.close()


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    """A verify-mode Context of a server whose system root is tmp/root."""
    root = tmp_path / "root"
    root.mkdir()
    settings = Settings(
        name="T",
        system_root=root,
        esd_data=tmp_path / "esd",
        sid_data=tmp_path / "sid",
        config_file=tmp_path / "atlas-ha.toml",
    )
    return Context(Server(settings), "PRI")
