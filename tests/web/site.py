"""Helpers of the web tests: a simulated group whose PRI verifies a real TCP service on
every server (loopback listeners this test owns), and the PRI's status page served by
uvicorn on a free loopback port; users alice (operator) and bob (viewer)."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from base64 import b64encode
from dataclasses import dataclass, field

from atlas_ha.context import Server
from atlas_ha.lab.group import SimGroup
from atlas_ha.report.web.auth import hash_password
from atlas_ha.report.web.server import Background, start_background
from atlas_ha.settings import load
from atlas_ha.verifier.plan import plan, run_round
from atlas_ha.verifier.results import ResultRow

PASSWORDS = {"alice": "alice-operator-pw", "bob": "bob-viewer-pw"}
# cheap hashes for tests (the default costs ~0.1 s per verification)
HASHES = {name: hash_password(pw, log2_n=10) for name, pw in PASSWORDS.items()}


def quiet(_line: str) -> None:
    pass


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class Listener:
    """A TCP service on one address: accepts and closes; `stop()` is the service going down."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(16)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.close()

    def stop(self) -> None:
        if self.sock.fileno() < 0:
            return
        self.sock.shutdown(socket.SHUT_RDWR)  # wakes accept() (close alone does not)
        self.sock.close()
        self.thread.join(5)


def web_section(listen: str, users: dict[str, str] | None = None) -> str:
    text = f'\n[report]\nlisten = "{listen}"\n'
    for name, role in (users or {}).items():
        text += f'[report.auth.users.{name}]\nrole = "{role}"\npassword = "{HASHES[name]}"\n'
    return text


@dataclass
class Site:
    group: SimGroup
    port: int  # the verified service's port on every server
    listeners: dict[str, Listener] = field(default_factory=dict)

    def pri(self) -> Server:
        return self.group.servers["A"].server(quiet)

    def verify(self) -> list[ResultRow]:
        return run_round(plan(self.pri()))

    def beat(self, sentence: str = "idle") -> None:
        """The PRI's daemon heartbeat, as a running daemon writes it after its turn."""
        path = self.pri().sid.heartbeat_file
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        beat = {"pid": 0, "server": "A", "heartbeat": time.time(), "sentence": sentence}
        path.write_text(json.dumps(beat))

    def configure(self, section: str) -> Server:
        """Append a [report] section to the PRI's settings; the reloaded server."""
        config = self.group.servers["A"].config
        config.write_text(config.read_text() + section)
        return Server(load(config), log=quiet)


@dataclass
class Served:
    url: str
    server: Server
    background: Background

    def get(
        self, path: str, user: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, str, dict[str, str]]:
        request = urllib.request.Request(self.url + path, headers=dict(headers or {}))
        if user is not None:
            request.add_header("Authorization", basic(user))
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, answer.read().decode(), dict(answer.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(), dict(exc.headers)

    def json(self, path: str, user: str | None = None) -> object:
        code, body, _ = self.get(path, user)
        assert code == 200, body
        return json.loads(body)


def basic(user: str) -> str:
    return "Basic " + b64encode(f"{user}:{PASSWORDS[user]}".encode()).decode()


def serve(server: Server) -> Served:
    background = start_background(server)
    host, port = server.settings.web.host, server.settings.web.port
    return Served(f"http://{host}:{port}", server, background)


def wait_for(predicate: object, timeout: float = 10.0) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
