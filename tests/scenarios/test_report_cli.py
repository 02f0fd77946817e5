"""`atlas-ha status` (the top view: banner, grid, readiness, last cycle; plain unless a
terminal, --json) and `atlas-ha events [--since] [--json]` on a simulated group with real
cycles and Verifier rounds."""

from __future__ import annotations

import json
import os
import pty
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from atlas_ha.lab.group import SimGroup
from atlas_ha.report.recorder import record
from atlas_ha.sync.cycle import cycle
from atlas_ha.verifier.plan import plan, run_round
from atlas_ha.verifier.services import SERVICES_PATH

ADDRESSES = {"PRI": "127.80.0.11", "SEC1": "127.80.0.12", "SEC2": "127.80.0.13"}


def quiet(_line: str) -> None:
    pass


@pytest.fixture
def checked(tmp_path: Path) -> Iterator[SimGroup]:
    """A (PRI), B (SEC1), C (SEC2) after a cycle and a Verifier round: `port` answers on
    SEC1 only; the event recorder has run once."""
    g = SimGroup(tmp_path / "g", addresses=ADDRESSES)
    g.build({"A": (2, "PRI"), "B": (1, "SEC1"), "C": (3, "SEC2")})
    for name in g.servers:
        g.boot(name)
    sock = socket.socket()
    sock.bind((ADDRESSES["SEC1"], 0))
    sock.listen(8)
    path = g.servers["A"].file(SERVICES_PATH)
    path.parent.mkdir(parents=True, exist_ok=True)
    port = sock.getsockname()[1]
    path.write_text(
        f'[service.port]\nkind = "tcp"\ntimeout = 2\n[service.port.options]\nport = {port}\n'
    )
    a = g.servers["A"].server(quiet)
    cycle(a)
    run_round(plan(a))
    record(a)
    yield g
    sock.close()


def atlas(group: SimGroup, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    return subprocess.run(
        [sys.executable, "-m", "atlas_ha", "--config", str(group.servers[name].config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def test_status_shows_banner_grid_readiness_and_last_cycle(checked: SimGroup) -> None:
    done = atlas(checked, "A", "status")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "A: Env2, role PRI of acme-office"  # what status printed before
    assert lines[1].startswith("NO-GO (CRITICAL): SEC2 port: ")
    assert "\x1b[" not in done.stdout  # not a terminal: plain
    assert lines[2].split() == ["port", "sync", "atlas"]
    assert lines[3].split() == ["PRI", "*", "-", "OK", "UNKN"]
    assert lines[4].split() == ["SEC1", "OK", "OK", "-"]
    assert lines[5].split() == ["SEC2", "CRIT", "OK", "-"]
    text = done.stdout
    assert "readiness (moving the PRI's disk into the server of):\n  SEC1  READY\n" in text
    assert "  SEC2  NOT READY: service port CRITICAL: " in text
    assert "last SyncCycle: " in text and "SEC1 equal, SEC2 equal" in text
    assert "  PRI: SnapshotEnvVersion=2  Env1 valid, Env2 valid" in text  # the detail stays
    assert "  last compare SEC1: equal" in text


def test_status_json_keeps_the_old_keys_and_adds_the_model(checked: SimGroup) -> None:
    done = atlas(checked, "A", "status", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["role"] == "PRI" and data["roles"]["PRI"]["sev"] == 2
    report = data["report"]
    assert report["status"] == "CRITICAL" and report["go"] is False
    assert report["services"] == ["port", "sync", "atlas"]
    ready = {r["sec"]: r for r in report["readiness"]}
    assert ready["SEC1"] == {"sec": "SEC1", "ready": True, "reasons": []}
    assert ready["SEC2"]["reasons"][0].startswith("service port CRITICAL")
    assert report["cycle"]["secs"] == {"SEC1": "equal", "SEC2": "equal"}


def test_status_is_coloured_on_a_terminal(checked: SimGroup) -> None:
    parent, child = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    argv = [sys.executable, "-m", "atlas_ha", "--config", str(checked.servers["A"].config)]
    proc = subprocess.Popen([*argv, "status"], stdout=child, stderr=subprocess.DEVNULL, env=env)
    os.close(child)
    out = b""
    while True:
        try:
            chunk = os.read(parent, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(parent)
    assert proc.wait(timeout=60) == 0
    assert b"\x1b[31;1mNO-GO (CRITICAL)" in out  # the banner, red and bold
    assert b"\x1b[32mREADY\x1b[0m" in out


def test_events_lists_the_log_and_filters_by_since(checked: SimGroup) -> None:
    done = atlas(checked, "A", "events")
    assert done.returncode == 0, done.stderr
    assert " role    PRI on server A\n" in done.stdout
    assert " cycle   Env2: all equal (SEC1 equal, SEC2 equal)" in done.stdout
    assert " state   SEC2/port (first seen) -> CRITICAL: " in done.stdout
    as_json = json.loads(atlas(checked, "A", "events", "--json", "--since", "1h").stdout)
    assert {e["type"] for e in as_json["events"]} == {"role", "cycle", "state"}
    assert as_json["damaged"] == []
    future = atlas(checked, "A", "events", "--json", "--since", "2999-01-01T00:00")
    assert json.loads(future.stdout)["events"] == []
    bad = atlas(checked, "A", "events", "--since", "yesterday")
    assert bad.returncode == 2 and "expected a duration (90s, 30m, 12h, 7d, 2w)" in bad.stderr
