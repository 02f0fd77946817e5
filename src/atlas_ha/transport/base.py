"""The transport interface: one connection per partner per cycle, requests and area pushes.

A backend implements `Transport.connect` and the two I/O methods of `Connection`: `call`
(one JSON request, one JSON answer, to the partner's `atlas-ha serve`) and `push` (copy a
snapshot area into a directory the partner named). Everything else (role verification,
validation of what arrives) happens on the receiving side, identically for every backend.

Callers send typed records (`transport.protocol`) with `request`: rendered for the version
the partner speaks (learnt from its answer to hello), the answer checked. A connection
started before it is needed (its handshake overlapping other work) is held by a `Pending`,
which raises what prevented it only where the connection is used.
"""

from __future__ import annotations

import contextlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from atlas_ha.errors import (
    AtlasError,
    GuardError,
    ReceiveError,
    RefusedError,
    SuspendedError,
    TransportError,
)
from atlas_ha.model import Partner
from atlas_ha.settings import Settings
from atlas_ha.transport.protocol import PROTOCOL_VERSION, UNVERSIONED, Answer, HelloAnswer, Request

ERRORS: dict[str, type[AtlasError]] = {
    "RefusedError": RefusedError,
    "ReceiveError": ReceiveError,
    "TransportError": TransportError,
    "SuspendedError": SuspendedError,
    "GuardError": GuardError,
}


# answers a request the partner makes back while we wait for its answer (see call_serving)
Handler = Callable[[dict[str, Any]], dict[str, Any]]
A = TypeVar("A", bound=Answer)


class Connection(ABC):
    # whether `pull` and `call_serving` work: the partner can then send back over this
    # connection (a SEC's snapshot, pulled by the PRI) instead of logging in to us
    can_pull = False

    def __init__(self, role: str, address: str) -> None:
        self.role = role
        self.address = address
        self.protocol = UNVERSIONED  # the version the partner speaks: set by its hello answer

    def request(self, record: Request[A]) -> A:
        """Send one request record; return its answer, checked, or raise the partner's error."""
        return self._answered(record, self.call(self._rendered(record)))

    def request_serving(self, record: Request[A], handler: Handler) -> A:
        """`request`, answering the partner's callbacks meanwhile (see `call_serving`)."""
        return self._answered(record, self.call_serving(self._rendered(record), handler))

    def _rendered(self, record: Request[Any]) -> dict[str, Any]:
        return record.render(PROTOCOL_VERSION if record.NEGOTIATES else self.protocol)

    def _answered(self, record: Request[A], raw: dict[str, Any]) -> A:
        speaks = PROTOCOL_VERSION if record.NEGOTIATES else self.protocol
        answer = record.read_answer(raw, f"{self.role} at {self.address}", speaks)
        if isinstance(answer, HelloAnswer):
            self.protocol = answer.protocol  # from now on both sides speak this
        return answer

    @abstractmethod
    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send one request; return the answer, or raise the partner's error."""

    # whether `push` may run in several threads at once (each an rsync of its own); a
    # connection whose pushes share one channel (sync.backchannel) says no
    parallel_pushes = True

    @abstractmethod
    def push(self, source: Path, dest: str) -> None:
        """Make the partner's directory `dest` an exact copy of `source` (with metadata)."""

    def pull(self, source: str, dest: Path) -> None:
        """Make our directory `dest` an exact copy of the partner's `source` (a directory the
        partner's own session granted, named relative to its role area)."""
        raise TransportError(f"{self.role} at {self.address}: this transport cannot pull")

    def call_serving(self, request: dict[str, Any], handler: Handler) -> dict[str, Any]:
        """Like `call`, but while the answer is pending, the partner's requests (lines
        `{"callback": {...}}`) are answered with `handler` (which raises AtlasError to
        refuse)."""
        raise TransportError(f"{self.role} at {self.address}: this transport cannot call back")

    def alive(self) -> bool:
        """Whether the connection may still carry a request (a kept one is reused only then)."""
        return False

    def close(self) -> None:  # noqa: B027 (optional hook: backends with no resources skip it)
        """Release the connection (a second close does nothing)."""

    def __enter__(self) -> Connection:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def raise_for(self, answer: dict[str, Any]) -> dict[str, Any]:
        if answer.get("ok"):
            return answer
        cls = ERRORS.get(str(answer.get("class")), AtlasError)
        raise cls(f"{self.role} at {self.address}: {answer.get('error', 'failed')}")


class Transport(ABC):
    @classmethod
    @abstractmethod
    def from_settings(cls, settings: Settings) -> Transport:
        """The transport as this server's settings configure it."""

    @abstractmethod
    def connect(self, role: str, partner: Partner, own_address: str) -> Connection:
        """Open a connection to the partner holding `role` at `partner.address`."""


def decode_answer(line: str, who: str) -> dict[str, Any]:
    """One JSON-object line from `who` ("ROLE at ADDRESS"), or TransportError."""
    try:
        answer = json.loads(line)
    except json.JSONDecodeError as exc:
        raise TransportError(f"{who}: malformed answer") from exc
    if not isinstance(answer, dict):
        raise TransportError(f"{who}: malformed answer")
    return answer


class Pending:
    """A connection started early, so that its handshake overlaps other work, or what
    prevented it: `get` returns the connection, or raises that error, where it is needed."""

    def __init__(self, start: Callable[[], Connection]) -> None:
        self.connection: Connection | None = None  # None: it could not be started
        self._error: AtlasError | None = None
        try:
            self.connection = start()
        except AtlasError as exc:
            self._error = exc

    @classmethod
    def of(cls, conn: Connection) -> Pending:
        """A connection already there (kept, or carried by the session itself)."""
        return cls(lambda: conn)

    def get(self) -> Connection:
        if self.connection is None:
            assert self._error is not None
            raise self._error
        return self.connection

    def close(self) -> None:
        """Close the connection, if it was started (quietly: a partner may be gone)."""
        if self.connection is not None:
            close_quietly(self.connection)


def close_quietly(conn: Connection) -> None:
    """Close `conn`, ignoring what a partner that went away makes closing raise."""
    with contextlib.suppress(Exception):
        conn.close()
