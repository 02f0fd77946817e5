"""The doctor's hello to every partner (doctor/checks.py): all at once, each in its own
thread, all of them bounded by one timeout, so that partners that are down or unreachable
delay the doctor (and the daemon's start, which runs it) by that timeout at most, however
many there are. A hello still running at the deadline is abandoned: its connection's process
is killed, so no ssh is left waiting on an unreachable address."""

from __future__ import annotations

import contextlib
import threading
import time

from atlas_ha.context import Server
from atlas_ha.errors import AtlasError
from atlas_ha.model import Partner
from atlas_ha.sync.address import own_address
from atlas_ha.transport import make_transport
from atlas_ha.transport.base import Connection
from atlas_ha.transport.pipe import PipeConnection
from atlas_ha.transport.protocol import Hello, HelloAnswer


class PartnerHello:
    """One partner's hello, in its own thread; `abandon` ends it from outside (its
    connection's process is killed, so no ssh is left waiting on an unreachable address)."""

    def __init__(self, server: Server, role: str, partner: Partner) -> None:
        self.server, self.role, self.partner = server, role, partner
        self.answer: HelloAnswer | None = None
        self.error: AtlasError | None = None
        self.conn: Connection | None = None
        self.abandoned = threading.Event()
        self.lock = threading.Lock()
        self.late = False
        self.timeout = 0.0
        self.thread = threading.Thread(target=self.run, name=f"doctor-hello-{role}", daemon=True)

    def run(self) -> None:
        master = self.server.master()
        try:
            transport = make_transport(self.server.settings)
            conn = transport.connect(self.role, self.partner, own_address(self.server))
            with self.lock:
                self.conn = conn
            try:
                if not self.abandoned.is_set():
                    self.answer = conn.request(Hello.offer(master.render()))
            finally:
                conn.close()
        except AtlasError as exc:
            self.error = exc
        except Exception as exc:  # a check's own failure is its FAIL line
            self.error = AtlasError(f"{type(exc).__name__}: {exc}")

    def problem(self) -> str:
        if self.late:
            return f"no answer within {self.timeout:g} s"
        return str(self.error)

    def abandon(self) -> None:
        self.late = True
        self.abandoned.set()
        with self.lock:
            conn = self.conn
        if isinstance(conn, PipeConnection):
            with contextlib.suppress(OSError):
                conn.proc.kill()


def hello_all(server: Server, timeout: float) -> list[PartnerHello]:
    """The hello to every partner of this server's role, in the order of their roles; each
    has its `answer`, or its `problem()` (`no answer within TIMEOUT s` when it was late)."""
    partners = sorted(server.master().partners.items())
    hellos = [PartnerHello(server, role, partner) for role, partner in partners]
    deadline = time.monotonic() + timeout
    for hello in hellos:
        hello.timeout = timeout
        hello.thread.start()
    for hello in hellos:
        hello.thread.join(max(0.0, deadline - time.monotonic()))
    late = [h for h in hellos if h.thread.is_alive()]
    for hello in late:
        hello.abandon()
    for hello in late:
        hello.thread.join(5)  # its process was killed: the thread ends at once
    return hellos
