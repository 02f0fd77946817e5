"""`serve` ends a session that receives no request for `[transport] idle` seconds, and only
then: never while it handles a request, nor while its peer's receive is in progress."""

from __future__ import annotations

import json
import os
import threading
import time
from typing import IO, Any

from atlas_ha.sync.serve import _answer_each


class Stub:
    """The part of a Session `_answer_each` uses."""

    def __init__(self, handling: float = 0.0, receiving_until: float = 0.0) -> None:
        self.handling, self.receiving_until = handling, receiving_until

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        time.sleep(self.handling)
        return {"echo": request["op"]}

    def receiving(self) -> bool:
        return time.monotonic() < self.receiving_until


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        self.lines.append(line)


class FakeServer:
    def __init__(self) -> None:
        self.log = Log()


def session_over_pipes(
    stub: Stub, idle: float, requests: list[str]
) -> tuple[float, list[str], list[str]]:
    """Run `_answer_each` in this (main) thread with its input a pipe kept open; return
    (seconds until it returned, answers written, lines logged)."""
    read_in, write_in = os.pipe()
    read_out, write_out = os.pipe()
    stdin: IO[str] = os.fdopen(read_in, "r")
    stdout: IO[str] = os.fdopen(write_out, "w")
    writer = os.fdopen(write_in, "w")
    for request in requests:
        writer.write(json.dumps({"op": request}) + "\n")
    writer.flush()  # and kept open: the partner is there, it just says nothing more
    answers: list[str] = []
    reader = threading.Thread(target=lambda: answers.extend(os.fdopen(read_out)))
    reader.start()
    server = FakeServer()
    started = time.monotonic()
    try:
        _answer_each(stub, server, "198.51.100.11", stdin, stdout, idle)  # type: ignore[arg-type]
        took = time.monotonic() - started
    finally:
        stdout.close()
        reader.join()
        stdin.close()
        writer.close()
    return took, answers, server.log.lines


def test_a_session_without_requests_ends_after_the_idle_timeout() -> None:
    took, answers, log = session_over_pipes(Stub(), 0.5, [])
    assert 0.4 < took < 3
    assert answers == []
    assert log == ["serve 198.51.100.11: no request for 0.5 s: the session ends ([transport] idle)"]


def test_handling_a_request_is_not_idle() -> None:
    took, answers, log = session_over_pipes(Stub(handling=1.5), 0.5, ["syncup"])
    assert [json.loads(a) for a in answers] == [{"ok": True, "echo": "syncup"}]
    assert took > 1.9  # the answer after 1.5 s, then 0.5 s idle
    assert len(log) == 1 and "no request for 0.5 s" in log[0]


def test_a_receive_in_progress_is_not_idle() -> None:
    stub = Stub(receiving_until=time.monotonic() + 1.6)
    took, _answers, log = session_over_pipes(stub, 0.5, ["receive-begin"])
    assert took > 1.6  # kept while the grant lived, ended at the first alarm after it
    assert len(log) == 1


def test_idle_zero_never_ends_a_session() -> None:
    read_in, write_in = os.pipe()
    closer = threading.Timer(1.5, os.close, (write_in,))  # the partner leaves after 1.5 s
    server = FakeServer()
    started = time.monotonic()
    closer.start()
    with os.fdopen(read_in) as stdin, open(os.devnull, "w") as stdout:
        _answer_each(Stub(), server, "peer", stdin, stdout, 0.0)  # type: ignore[arg-type]
    assert time.monotonic() - started > 1.4  # it waited for the end of input
    assert server.log.lines == []
