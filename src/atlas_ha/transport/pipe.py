"""A connection that talks JSON lines to a partner's `atlas-ha serve` over a child process's
stdin/stdout (a local subprocess, or ssh running the partner's forced command)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import tempfile
from collections.abc import Sequence
from typing import Any

from atlas_ha.errors import AtlasError, TransportError
from atlas_ha.transport.base import Connection, Handler, decode_answer

STDERR_TAIL = 400


class PipeConnection(Connection):
    def __init__(self, role: str, address: str, argv: Sequence[str]) -> None:
        super().__init__(role, address)
        self.closed = False
        # stderr goes to a file: a chatty partner can never fill a pipe and stall the session
        self.errors = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in close())
        try:
            self.proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self.errors,
                text=True,
            )
        except OSError as exc:
            raise TransportError(f"{role} at {address}: cannot start {argv[0]}: {exc}") from exc

    def stderr_tail(self) -> str:
        self.errors.seek(0)
        return self.errors.read().strip()[-STDERR_TAIL:]

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        self._write(request)
        return self.raise_for(self._read())

    def call_serving(self, request: dict[str, Any], handler: Handler) -> dict[str, Any]:
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
            raise TransportError(f"{self.role} at {self.address}: connection lost: {exc}") from exc

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        try:
            line = self.proc.stdout.readline()
        except OSError as exc:
            raise TransportError(f"{self.role} at {self.address}: connection lost: {exc}") from exc
        if not line:
            self.proc.wait()
            raise TransportError(
                f"{self.role} at {self.address}: the connection ended without "
                f"an answer (exit {self.proc.returncode}): {self.stderr_tail()}"
            )
        return decode_answer(line, f"{self.role} at {self.address}")

    def run_rsync(self, argv: Sequence[str]) -> None:
        proc = subprocess.run(list(argv), capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise TransportError(
                f"{self.role} at {self.address}: rsync exit {proc.returncode}: "
                f"{proc.stderr.strip()[-STDERR_TAIL:]}"
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
