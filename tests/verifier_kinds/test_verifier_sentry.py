"""The sentry kind on a simulated group (local transport): itself and its partners."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from atlas_ha.lab.group import SimGroup
from atlas_ha.model import MasterConfig, Partner
from atlas_ha.sync.cycle import CycleReport
from atlas_ha.sync.suspension import resume, suspend
from atlas_ha.transport.local import registry_of
from atlas_ha.verifier.api import Context, Target
from atlas_ha.verifier.kinds.sentry import SentryVerifier
from atlas_ha.verifier.profile import Profile, Status
from atlas_ha.verifier.services import ServiceDef

ROLES = {"A": "PRI", "B": "SEC1", "C": "SEC2"}


def quiet(_line: str) -> None:
    pass


def sentry(
    group: SimGroup, name: str, target: str | None = None, timeout: float = 10.0, **options: object
) -> Profile:
    """Server `name` runs the sentry check on itself (target None) or on the role `target`."""
    server = group.servers[name].server(quiet)
    master = server.master()
    ctx = Context(server, master.role, state_dir=server.settings.sid_data / ".results/verifier")
    svc = ServiceDef(name="sentry", kind="sentry", timeout=timeout, options=dict(options))
    if target is None:
        tgt = Target(role=master.role, address=group.addresses[master.role], own=True)
    else:
        tgt = Target(role=target, address=master.partners[target].address)
    return SentryVerifier().verify(ctx, svc, tgt)


def report_file(group: SimGroup) -> Path:
    return group.disk("disk-A") / "SID_DATA/.results/last-cycle.json"


def edit_report(group: SimGroup, change: Callable[[dict[str, object]], None]) -> None:
    data = json.loads(report_file(group).read_text())
    change(data)
    report_file(group).write_text(json.dumps(data))


def test_healthy_group_is_ok(group: SimGroup, run_cycle: Callable[[str], CycleReport]) -> None:
    assert run_cycle("A").all_equal
    for name, target in [("A", None), ("A", "SEC1"), ("A", "SEC2"), ("B", None), ("B", "PRI")]:
        profile = sentry(group, name, target)
        assert profile.status is Status.OK, (name, target, profile.summary, profile.details)
    own = sentry(group, "A")
    assert [m.label for m in own.measurements] == ["cycle_age"]
    assert own.data["compare"] == {"SEC1": "equal", "SEC2": "equal"}
    partner = sentry(group, "A", "SEC2")
    assert partner.data["answered_role"] == "SEC2"
    assert partner.measurements[0].label == "session"


def test_the_sentry_asks_who_answers_with_the_role_request(
    group: SimGroup, run_cycle: Callable[[str], CycleReport]
) -> None:
    """`role` (answered before hello, a record of the wire protocol) is what names the group:
    the hello answer does not."""
    run_cycle("A")
    partner = sentry(group, "A", "SEC2")
    assert partner.data["answered_role"] == "SEC2"
    assert partner.data["answered_group"] == "acme-office"


def test_stale_cycle_report_is_critical(
    group: SimGroup, run_cycle: Callable[[str], CycleReport]
) -> None:
    run_cycle("A")
    assert sentry(group, "A").status is Status.OK
    edit_report(group, lambda r: r.update(finished=time.time() - 7200))
    assert json.loads(report_file(group).read_text())["finished"] < time.time() - 7000
    # a good cycle, but two hours old
    profile = sentry(group, "A")
    assert profile.status is Status.CRITICAL
    assert "last good SyncCycle 720" in profile.summary and "unacceptable" in profile.summary


def test_unreachable_sec_is_stale_and_critical(
    group: SimGroup, run_cycle: Callable[[str], CycleReport]
) -> None:
    group.shutdown("C")
    report = run_cycle("A")
    assert {c.sec: c.state for c in report.compare}["SEC2"] == "stale"
    profile = sentry(group, "A")
    assert profile.status is Status.CRITICAL and "SEC2: STALE (unreachable" in profile.summary
    partner = sentry(group, "A", "SEC2")
    assert partner.status is Status.CRITICAL and "unreachable" in partner.summary


def test_different_sec_is_a_warning(
    group: SimGroup, run_cycle: Callable[[str], CycleReport]
) -> None:
    run_cycle("A")
    assert sentry(group, "A").status is Status.OK  # the sentry saw this good cycle

    def differ(report: dict[str, object]) -> None:
        compare = report["compare"]
        assert isinstance(compare, list)
        compare[0].update(state="different", differences=[{"path": "/etc/app/app.conf"}])

    edit_report(group, differ)
    profile = sentry(group, "A")
    assert profile.status is Status.WARNING
    assert "SEC1: DIFFERENT (/etc/app/app.conf)" in profile.summary


def test_no_cycle_yet_is_critical(group: SimGroup) -> None:
    assert not report_file(group).exists()
    profile = sentry(group, "A")
    assert profile.status is Status.CRITICAL and "no good SyncCycle recorded" in profile.summary
    # a SEC that never received a PRI snapshot says so too
    assert "no PRI snapshot received recorded" in sentry(group, "B").summary


def test_two_servers_claiming_pri_is_critical(
    group: SimGroup, run_cycle: Callable[[str], CycleReport]
) -> None:
    run_cycle("A")
    # B's disk now claims PRI too (a copied or mislabelled disk); B still answers SEC1's address
    b_sid = group.servers["B"].server(quiet).sid
    secs = {r: Partner(a) for r, a in group.addresses.items() if r != "PRI"}
    b_sid.write_master_config(MasterConfig("acme-office", "PRI", secs))
    assert b_sid.master_config().role == "PRI"
    profile = sentry(group, "A", "SEC1")
    assert profile.status is Status.CRITICAL
    assert "two servers claim PRI" in profile.summary
    assert "refuses our hello" in profile.details and "PRI itself" in profile.details
    own = sentry(group, "B")
    assert own.status is Status.CRITICAL
    assert "booted as SEC1 but its disk holds PRI" in own.summary
    assert "answers 127.0.2.12, which MasterConfig gives SEC1" in own.summary
    assert sentry(group, "A", "SEC2").status is Status.OK  # the other partner is unaffected


def test_address_answered_by_another_role_is_critical(
    group: SimGroup, run_cycle: Callable[[str], CycleReport]
) -> None:
    run_cycle("A")
    group.shutdown("C")
    registry = registry_of(group.servers["B"].server(quiet).settings)
    registry.register(group.addresses["SEC2"], group.servers["B"].config.resolve())
    profile = sentry(group, "A", "SEC2")
    assert profile.status is Status.CRITICAL
    assert "127.0.2.13 (SEC2's address) is answered by a server holding SEC1" in profile.summary


def test_installed_identity_not_the_roles_is_critical(
    group: SimGroup, run_cycle: Callable[[str], CycleReport]
) -> None:
    run_cycle("A")  # (PRI, 2) now holds the PRI identity
    interfaces = group.servers["A"].file("/etc/network/interfaces")
    interfaces.write_text(interfaces.read_text().replace("127.0.2.11", "127.0.2.99"))
    profile = sentry(group, "A")
    assert profile.status is Status.CRITICAL
    assert "installed identity address 127.0.2.99 is not PRI's (127.0.2.11" in profile.summary


def test_suspended_is_a_warning_every_round(
    group: SimGroup, run_cycle: Callable[[str], CycleReport]
) -> None:
    run_cycle("A")
    server = group.servers["A"].server(lambda _line: None)
    suspend(server, "disk replacement")
    for _round in range(2):
        profile = sentry(group, "A")
        assert profile.status is Status.WARNING
        assert "suspended (by A: disk replacement)" in profile.summary
    resume(server)
    assert sentry(group, "A").status is Status.OK


def test_daemon_pid_file(group: SimGroup, run_cycle: Callable[[str], CycleReport]) -> None:
    run_cycle("A")
    pid_file = group.servers["A"].base / "esd/daemon.pid"
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "atlas-ha"])
    try:
        pid_file.write_text(f"{proc.pid}\n")
        assert sentry(group, "A").status is Status.OK
    finally:
        proc.terminate()
        proc.wait()
    profile = sentry(group, "A")
    assert profile.status is Status.CRITICAL
    assert f"daemon not running (PID {proc.pid} in {pid_file} is gone)" in profile.summary


def test_hung_partner_is_critical_within_the_timeout(
    group: SimGroup,
    run_cycle: Callable[[str], CycleReport],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A partner whose session starts and never answers: the local transport runs
    `python -m atlas_ha --config CFG serve`, and a sitecustomize makes that process sleep."""
    run_cycle("A")
    (tmp_path / "sitecustomize.py").write_text(
        "import sys, time\nif 'serve' in sys.argv: time.sleep(60)\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    started = time.monotonic()
    profile = sentry(group, "A", "SEC1", timeout=1.5)
    elapsed = time.monotonic() - started
    assert profile.status is Status.CRITICAL and "no answer within 1.5 s" in profile.summary
    assert elapsed < 3.0


def test_partner_with_a_broken_master_config_is_critical(
    group: SimGroup, run_cycle: Callable[[str], CycleReport]
) -> None:
    run_cycle("A")
    master = group.disk("disk-C") / "SID_DATA/MasterConfig"
    master.write_text('group = "acme-office"\nrole = "SEC2"\nbogus = 1\n')
    profile = sentry(group, "A", "SEC2")
    assert profile.status is Status.CRITICAL
    assert "MasterConfig" in profile.summary and "unreachable" not in profile.summary
