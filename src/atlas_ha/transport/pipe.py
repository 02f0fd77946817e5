"""A connection that talks JSON lines to a partner's `atlas-ha serve` over a child process's
stdin/stdout (a local subprocess, or ssh running the partner's forced command).

A connection that ends before its answer is reported with its cause: what the partner (or
ssh) said last, and when nothing was said, that nothing was, with the request that was
waiting for its answer and for how long (`ended_report`)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from atlas_ha.errors import AtlasError, TransportError
from atlas_ha.transport.base import Connection, Handler, decode_answer

STDERR_TAIL = 400


def ended_report(
    who: str, waiting: str, seconds: float, code: int | None, said: str, by: str
) -> str:
    """The report of a connection that ended before the answer to `waiting` came: its cause
    is what `by` said last, or that it said nothing; never an empty message."""
    cause = said.strip() or f"no message from {by}"
    return (
        f"{who}: the connection ended after {seconds:.0f} s without an answer to {waiting} "
        f"(exit {code}): {cause}"
    )


class PipeConnection(Connection):
    def __init__(self, role: str, address: str, argv: Sequence[str]) -> None:
        super().__init__(role, address)
        self.closed = False
        self.waiting, self.since = "the first request", time.monotonic()  # see `expect`
        # stderr goes to a file: a chatty partner can never fill a pipe and stall the session
        # (what a partner says is shown, never trusted to be UTF-8)
        self.errors = tempfile.TemporaryFile(mode="w+", errors="replace")  # noqa: SIM115
        try:
            self.proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self.errors,
                text=True,
                errors="surrogateescape",  # bytes that are not UTF-8: a malformed answer
            )
        except OSError as exc:
            raise TransportError(f"{role} at {address}: cannot start {argv[0]}: {exc}") from exc

    def stderr_tail(self) -> str:
        self.errors.seek(0)
        return self.errors.read().strip()[-STDERR_TAIL:]

    def said(self) -> str:
        """What the other side said on its way out (the partner's stderr)."""
        return self.stderr_tail()

    def transport_said(self) -> str:
        """What the transport program itself said (ssh's own log); none for a subprocess."""
        return ""

    def expect(self, request: dict[str, Any]) -> None:
        """Remember the request now waiting for its answer, and since when."""
        self.waiting, self.since = str(request.get("op", "a request")), time.monotonic()

    def exit_code(self) -> int | None:
        """The child's exit status; a child whose pipe just broke is given a moment."""
        try:
            return self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return None

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        self.expect(request)
        self._write(request)
        return self.raise_for(self._read())

    def call_serving(self, request: dict[str, Any], handler: Handler) -> dict[str, Any]:
        self.expect(request)
        self._write(request)
        while True:
            message = self._read()
            callback = message.get("callback")
            if callback is None:
                return self.raise_for(message)
            try:
                if not isinstance(callback, dict):
                    raise TransportError("a callback is a JSON object")
                answer: dict[str, Any] = {"ok": True, **handler(callback)}
            except AtlasError as exc:
                answer = {"ok": False, "class": type(exc).__name__, "error": str(exc)}
            self._write(answer)

    def _write(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(message) + "\n")
            self.proc.stdin.flush()
        except OSError as exc:
            code = self.exit_code()
            raise TransportError(
                f"{self.role} at {self.address}: connection lost while sending "
                f"{self.waiting}: {exc} (exit {code}): "
                f"{self.said() or 'no message from the partner'}"
            ) from exc

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        try:
            line = self.proc.stdout.readline()
        except OSError as exc:
            raise TransportError(f"{self.role} at {self.address}: connection lost: {exc}") from exc
        if not line:
            self.proc.wait()
            raise TransportError(self.ended("the partner"))
        return decode_answer(line, f"{self.role} at {self.address}")

    def ended(self, by: str) -> str:
        """`ended_report` for this connection, now."""
        seconds = time.monotonic() - self.since
        who = f"{self.role} at {self.address}"
        return ended_report(who, self.waiting, seconds, self.proc.returncode, self.said(), by)

    def run_rsync(self, argv: Sequence[str]) -> None:
        proc = subprocess.run(list(argv), capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            said = proc.stderr.strip()[-STDERR_TAIL:] or "no message from rsync"
            transport = self.transport_said()
            raise TransportError(
                f"{self.role} at {self.address}: rsync exit {proc.returncode}: {said}"
                + (f" (ssh: {transport})" if transport else "")
            )

    def alive(self) -> bool:
        return not self.closed and self.proc.poll() is None

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.proc.stdin:
            # a partner that went away leaves our unsent request buffered: closing would
            # flush it into a broken pipe
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        self.errors.close()
