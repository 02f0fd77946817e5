"""Environment drift (issue 13 item 4) in a simulated group (A Env2 PRI, B Env1 SEC1, C Env3
SEC2): the fingerprint `init` and `env record` keep in envs.toml, the sentry's WARNING when the
live system changed since (an os-release file in the system root, a version program on the
settings' checker_path), and `env confirm` recorded in the history."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from atlas_ha.lab.group import SimGroup, SimServer
from atlas_ha.sync.cycle import CycleReport
from atlas_ha.verifier.plan import plan, run_round
from atlas_ha.verifier.profile import Status

Cycle = Callable[[str], CycleReport]
SERVICES = """
[service.sentry]
kind = "sentry"

[service.web]
kind = "tcp"
version = "nginx-version"
[service.web.options]
port = 80
"""
RELEASE = 'PRETTY_NAME="Debian GNU/Linux {n} ({name})"\nNAME="Debian GNU/Linux"\nVERSION_ID="{n}"\n'


def quiet(_line: str) -> None:
    pass


def cli(sim: SimServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "atlas_ha", "--config", str(sim.config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )


def fingerprint(sim: SimServer) -> dict[str, str]:
    envs = tomllib.loads((sim.base / "esd" / "envs.toml").read_text())
    return dict(envs["env"][str(sim.env)].get("fingerprint", {}))


def nginx_version(bin_dir: Path, version: str) -> None:
    program = bin_dir / "nginx-version"
    program.write_text(f"#!/bin/sh\necho 'nginx version: nginx/{version}' >&2\n")
    program.chmod(0o755)


def sentry(sim: SimServer) -> tuple[Status, str]:
    rows = run_round(plan(sim.server(quiet), "sentry"))
    (own,) = [r for r in rows if r.target_role == "PRI"]
    return own.profile.status, own.profile.summary


@pytest.fixture
def a(group: SimGroup, tmp_path: Path, run_cycle: Cycle) -> SimServer:
    """A, with an os-release, a services file naming a version program, and that program on
    the PATH its settings name; one cycle run (the sentry's last good cycle is recent)."""
    sim = group.servers["A"]
    sim.file("/etc/os-release").write_text(RELEASE.format(n=12, name="bookworm"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    nginx_version(bin_dir, "1.22.1")
    settings = sim.config.read_text()
    sim.config.write_text(f'checker_path = "{bin_dir}:/usr/bin:/bin"\n' + settings)
    sim.file("/etc/atlas-ha").mkdir(parents=True, exist_ok=True)
    sim.file("/etc/atlas-ha/services.toml").write_text(SERVICES)
    run_cycle("A")
    return sim


def test_init_records_the_fingerprint_of_the_env(group: SimGroup) -> None:
    a, b = group.servers["A"], group.servers["B"]
    assert fingerprint(a)["os"] == "unknown (no etc/os-release)"
    assert fingerprint(a)["format nginx"] == "sites-enabled"  # A is Env2
    assert fingerprint(b)["format nginx"] == "conf.d"  # B is Env1
    assert fingerprint(b)["format accounts"] == "passwd-hash"  # no /etc/shadow


def test_a_changed_version_or_os_is_a_warning_until_confirmed(a: SimServer, tmp_path: Path) -> None:
    out = cli(a, "env", "record")
    assert out.returncode == 0, out.stderr
    recorded = fingerprint(a)
    assert recorded["service web"] == "nginx version: nginx/1.22.1"
    assert recorded["os"] == "Debian GNU/Linux 12 (bookworm)"
    assert sentry(a) == (Status.OK, "sentry PRI: consistent, last cycle in time")

    nginx_version(tmp_path / "bin", "1.24.0")  # a package upgrade
    status, summary = sentry(a)
    assert status is Status.WARNING
    assert "environment drift since Env2 was recorded" in summary
    assert "service web: 'nginx version: nginx/1.22.1' -> 'nginx version: nginx/1.24.0'" in summary
    assert "define Env3 (with its converter)" in summary and "atlas-ha env confirm" in summary
    a.file("/etc/os-release").write_text(RELEASE.format(n=13, name="trixie"))  # an OS upgrade
    status, summary = sentry(a)
    assert status is Status.WARNING and "Debian GNU/Linux 13 (trixie)" in summary
    assert sentry(a)[0] is Status.WARNING  # every round, until the operator decides

    out = cli(a, "env", "confirm")
    assert out.returncode == 0, out.stderr
    assert "confirmed os: 'Debian GNU/Linux 12 (bookworm)' -> 'Debian GNU/Linux 13" in out.stdout
    assert sentry(a)[0] is Status.OK
    assert fingerprint(a)["service web"] == "nginx version: nginx/1.24.0"
    log = subprocess.run(
        ["git", "-C", str(a.base / "unbound" / "SID_DATA"), "log", "-1", "--format=%B"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert log.startswith("env-confirm PRI/Env2 on A")
    assert "Atlas-Confirmed: " in log and "nginx/1.24.0" in log and "trixie" in log
    again = cli(a, "env", "confirm")
    assert "nothing to confirm" in again.stdout  # and no second commit
