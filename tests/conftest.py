"""Shared fixtures: a simulated group of servers on this machine (local transport)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from atlas_ha.converters import identity
from atlas_ha.lab.group import SimGroup
from atlas_ha.sync.cycle import CycleReport, cycle


def _quiet(_line: str) -> None:
    pass


def dead_pid() -> int:
    """The PID of a process that has ended (its number is not reused this soon)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A private directory with a short path (/tmp/ah-XXXX): what a unix socket path needs,
    wherever pytest keeps its own temporary directories."""
    path = Path(tempfile.mkdtemp(prefix="ah-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def live_pid() -> Iterator[int]:
    """The PID of a process that is alive for the test."""
    proc = subprocess.Popen(["sleep", "120"])
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def group(tmp_path: Path) -> SimGroup:
    """FIG 8: A Env2 PRI, B Env1 SEC1, C Env3 SEC2, set up from scratch and booted."""
    g = SimGroup(tmp_path / "group")
    g.build({"A": (2, "PRI"), "B": (1, "SEC1"), "C": (3, "SEC2")})
    for name in g.servers:
        g.boot(name)
    return g


@pytest.fixture
def run_cycle(group: SimGroup) -> Callable[[str], CycleReport]:
    def run(name: str) -> CycleReport:
        return cycle(group.servers[name].server(_quiet))

    return run


@pytest.fixture
def pushes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every whole-area push (rsync) of the local transport, as (partner role, area)."""
    from atlas_ha.transport.local import LocalConnection

    pushed: list[tuple[str, str]] = []
    real = LocalConnection.push

    def counting(self: LocalConnection, source: Path, dest: str) -> None:
        pushed.append((self.role, source.name))
        real(self, source, dest)

    monkeypatch.setattr(LocalConnection, "push", counting)
    return pushed


def sevs(group: SimGroup, name: str) -> dict[str, int | None]:
    sid = group.servers[name].server(_quiet).sid
    return {role: sid.sev(role) for role in sid.roles()}


def valid(group: SimGroup, name: str, role: str) -> list[int]:
    sid = group.servers[name].server(_quiet).sid
    return [v for v in sid.envs(role) if sid.is_valid(role, v)]


def installed_identity(group: SimGroup, name: str) -> identity.Identity:
    """The identity in server `name`'s OS, read in its own environment's format."""
    return group.installed_identity(name)


def states(report: CycleReport) -> dict[str, str]:
    return {c.sec: c.state for c in report.compare}
