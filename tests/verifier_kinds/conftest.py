"""Helpers for the verifier kinds' tests: real daemons on loopback, stopped by PID."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import pytest

from atlas_ha.verifier.api import Context, Target
from atlas_ha.verifier.profile import Threshold
from atlas_ha.verifier.services import ServiceDef


def free_port(address: str, kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


def wait_tcp(address: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex((address, port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {address}:{port}")


def wait_refused(address: str, port: int, timeout: float = 10.0) -> None:
    """Until nothing accepts on address:port any more (children of a stopped daemon may hold
    its listening socket for a moment)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex((address, port)) != 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{address}:{port} still accepts connections")


class Daemons:
    """Starts real daemons and stops each by its PID at the end of the test."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, argv: Sequence[str], log_name: str) -> subprocess.Popen[bytes]:
        log = (self.tmp / log_name).open("wb")
        proc = subprocess.Popen(list(argv), stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop_all(self) -> None:
        for proc in self.procs:
            self.stop(proc)


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[Daemons]:
    d = Daemons(tmp_path)
    try:
        yield d
    finally:
        d.stop_all()


def no_server_ctx() -> Context:
    """A context for kinds that use nothing of the verifying server (dns, smtp)."""
    return Context(server=cast(Any, None), role="PRI")


def service(kind: str, timeout: float = 3.0, **options: Any) -> ServiceDef:
    thresholds = options.pop("thresholds", {})
    return ServiceDef(
        name=f"test-{kind}",
        kind=kind,
        timeout=timeout,
        options=options,
        thresholds={k: Threshold(*v) for k, v in thresholds.items()},
    )


def target(address: str, role: str = "SEC1") -> Target:
    return Target(role=role, address=address)
