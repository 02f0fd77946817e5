"""`atlas-ha check ...` judged by Nagios' own contract: run as a program by the Verifier's
`nagios` kind (exit code = status, first line = summary, perfdata parsed), on a simulated
group with real cycles and Verifier rounds."""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from atlas_ha.context import Server
from atlas_ha.lab.group import SimGroup
from atlas_ha.settings import Settings
from atlas_ha.sync.cycle import cycle
from atlas_ha.sync.suspension import suspend
from atlas_ha.verifier.api import Context, Target
from atlas_ha.verifier.kinds.nagios import NagiosVerifier
from atlas_ha.verifier.plan import plan, run_round
from atlas_ha.verifier.profile import Profile, Status
from atlas_ha.verifier.services import SERVICES_PATH, ServiceDef

ADDRESSES = {"PRI": "127.81.0.11", "SEC1": "127.81.0.12", "SEC2": "127.81.0.13"}


def quiet(_line: str) -> None:
    pass


@pytest.fixture
def group(tmp_path: Path) -> Iterator[SimGroup]:
    """A (PRI), B (SEC1), C (SEC2) after a cycle and a Verifier round on A: `port` answers
    on SEC1 only (SEC2's check CRITICAL)."""
    g = SimGroup(tmp_path / "g", addresses=ADDRESSES)
    g.build({"A": (2, "PRI"), "B": (1, "SEC1"), "C": (3, "SEC2")})
    for name in g.servers:
        g.boot(name)
    sock = socket.socket()
    sock.bind((ADDRESSES["SEC1"], 0))
    sock.listen(8)
    port = sock.getsockname()[1]
    path = g.servers["A"].file(SERVICES_PATH)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'[service.port]\nkind = "tcp"\ntimeout = 2\n[service.port.options]\nport = {port}\n'
    )
    a = g.servers["A"].server(quiet)
    cycle(a)
    run_round(plan(a))
    yield g
    sock.close()


def plugin(config: Path | str, *args: str, timeout: float = 10.0) -> Profile:
    """`atlas-ha check ARGS` run as a Nagios plugin by the nagios verifier kind."""
    command = [sys.executable, "-m", "atlas_ha", "--config", str(config), "check", *args]
    service = ServiceDef("atlas", "nagios", timeout=timeout, options={"command": command})
    return NagiosVerifier().verify(MONITOR, service, Target("PRI", "127.0.0.1"))


# the monitoring server running the plugin: only its runner is used
MONITOR = Context(
    Server(
        Settings(
            name="monitor",
            system_root=Path("/nonexistent"),
            esd_data=Path("/nonexistent"),
            sid_data=Path("/nonexistent"),
            config_file=Path("/nonexistent/atlas-ha.toml"),
        ),
        log=quiet,
    ),
    "PRI",
)


def measured(profile: Profile) -> dict[str, float]:
    return {m.label: m.value for m in profile.measurements}


def test_compare_cycle_age_and_readiness(group: SimGroup) -> None:
    a = group.servers["A"].config
    compare = plugin(a, "compare")
    assert compare.status == Status.OK, compare
    assert compare.summary == "ATLAS COMPARE OK - SEC1 equal, SEC2 equal"
    assert measured(compare) == {"not_equal": 0}
    age = plugin(a, "cycle-age")
    assert age.status == Status.OK and age.summary.startswith("ATLAS CYCLE-AGE OK - last SyncCycle")
    assert 0 <= measured(age)["age"] < 60
    # the ranges: ~:0 alerts above 0 s (WARNING); @0:100000 alerts inside (CRITICAL first)
    assert plugin(a, "cycle-age", "-w", "~:0", "-c", "1000000").status == Status.WARNING
    assert plugin(a, "cycle-age", "-w", "~:0", "-c", "@0:100000").status == Status.CRITICAL
    ready = plugin(a, "readiness")
    assert ready.status == Status.CRITICAL
    assert ready.summary.startswith(
        "ATLAS READINESS CRITICAL - SEC2 NOT READY: service port CRITICAL"
    )
    assert measured(ready) == {"not_ready": 1}
    # on a SEC, what only the PRI knows is UNKNOWN, with the reason
    b = plugin(group.servers["B"].config, "cycle-age")
    assert b.status == Status.UNKNOWN and "SyncCycles are run by the PRI; this is SEC1" in b.summary


def test_verifier_worst_result_and_suspension(group: SimGroup) -> None:
    a = group.servers["A"].config
    verifier = plugin(a, "verifier")
    assert verifier.status == Status.CRITICAL
    assert verifier.summary.startswith("ATLAS VERIFIER CRITICAL - SEC2 port: ")
    assert measured(verifier) == {"ok": 1, "warning": 0, "critical": 1, "unknown": 0}
    assert plugin(a, "suspended").status == Status.OK
    suspend(group.servers["A"].server(quiet), "disk swap")
    held = plugin(a, "suspended")
    assert held.status == Status.WARNING and "disk swap" in held.summary
    assert plugin(a, "suspended", "-c", "0").status == Status.CRITICAL  # suspended > 0 s


def test_pri_answers_on_its_address(group: SimGroup) -> None:
    b = group.servers["B"].config  # a SEC: the PRI is its partner
    listener = socket.socket()
    listener.bind((ADDRESSES["PRI"], 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    try:
        ok = plugin(b, "pri", "-p", str(port))
        assert ok.status == Status.OK, ok
        assert ok.summary.startswith(
            f"ATLAS PRI OK - PRI of acme-office answers at {ADDRESSES['PRI']}:{port}"
        )
        assert 0 <= measured(ok)["time"] < 2
    finally:
        listener.close()
    refused = plugin(b, "pri", "-p", str(port))
    assert refused.status == Status.CRITICAL and "Connection refused" in refused.summary


def test_a_pri_that_never_answers_is_critical_within_the_timeout(group: SimGroup) -> None:
    """A listener whose backlog is full drops new SYNs: the connect hangs until -t."""
    listener = socket.socket()
    listener.bind((ADDRESSES["PRI"], 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            f = socket.socket()
            f.setblocking(False)
            f.connect_ex((ADDRESSES["PRI"], port))
            fillers.append(f)
        time.sleep(0.2)
        started = time.monotonic()
        hung = plugin(group.servers["B"].config, "pri", "-p", str(port), "-t", "1")
        took = time.monotonic() - started
        assert hung.status == Status.CRITICAL, hung
        assert hung.summary.endswith(f"{ADDRESSES['PRI']}:{port}: no answer within 0.8 s")
        assert took < 5
    finally:
        for f in fillers:
            f.close()
        listener.close()


def test_unreadable_server_and_usage_errors_are_unknown(tmp_path: Path) -> None:
    missing = plugin(tmp_path / "none.toml", "verifier")
    assert missing.status == Status.UNKNOWN
    assert missing.summary.startswith("ATLAS VERIFIER UNKNOWN - cannot read the server: ")
    assert plugin(tmp_path / "none.toml", "nonsense").status == Status.UNKNOWN
    bad = plugin(tmp_path / "none.toml", "cycle-age", "-w", "10:5")
    assert bad.status == Status.UNKNOWN and "start 10 is above end 5" in bad.summary
