"""The ssh transport: a cycle over OpenSSH + rsync, and what a partner's key cannot do."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from tests.lab.conftest import ADDR, ssh_argv, ssh_as

from atlas_ha.lab.group import SimGroup
from atlas_ha.sync.cycle import cycle

pytestmark = pytest.mark.lab


def quiet(_line: str) -> None:
    pass


def test_cycle_over_ssh(ssh_group: SimGroup) -> None:
    report = cycle(ssh_group.servers["A"].server(quiet))
    assert {c.sec: c.state for c in report.compare} == {"SEC1": "equal", "SEC2": "equal"}, [
        s.error for s in report.secs
    ]
    b = ssh_group.servers["B"].server(quiet).sid
    assert (b.sev("PRI"), b.sev("SEC1")) == (2, 1)
    assert ssh_group.servers["B"].file("/etc/nginx/conf.d/www.conf").exists()
    # one login per partner per cycle: the session, both area pushes and the SEC's send back
    # (pulled by the PRI) share the PRI's connection; no SEC logs in to the PRI
    b_log = (ssh_group.servers["B"].base / "sshd.log").read_text()
    assert b_log.count("Accepted publickey for root from 127.0.0.11") == 1
    a_log = (ssh_group.servers["A"].base / "sshd.log").read_text()
    assert "Accepted publickey" not in a_log
    a = ssh_group.servers["A"].server(quiet).sid
    assert a.is_valid("SEC1", 1) and a.is_valid("SEC2", 3)  # as each SEC sent them back
    assert not list((ssh_group.disk("disk-B") / "SID_DATA/.locks").glob("send-*"))


@pytest.mark.parametrize(
    "command",
    [("id",), ("sh", "-c", "id"), (), ("atlas-ha", "serve;", "id"), ("rsync", "--version")],
)
def test_partner_key_cannot_run_anything_else(
    ssh_group: SimGroup, command: tuple[str, ...]
) -> None:
    proc = ssh_as(ssh_group, "B", "PRI", *command)
    assert proc.returncode != 0
    assert "uid=" not in proc.stdout and "rsync  version" not in proc.stdout
    assert "refused" in proc.stderr


def test_rsync_without_a_receive_in_progress_is_refused(
    ssh_group: SimGroup, tmp_path: Path
) -> None:
    (tmp_path / "evil").mkdir()
    (tmp_path / "evil/x").write_text("x\n")
    proc = rsync_as(ssh_group, "B", "PRI", f"{tmp_path}/evil/", "Env1/")
    assert proc.returncode != 0 and "no receive in progress" in proc.stderr
    assert not (ssh_group.disk("disk-A") / "SID_DATA/SEC1/Env1/x").exists()


def rsync_as(
    g: SimGroup, name: str, role_to: str, src: str, dest: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    shell = " ".join(ssh_argv(g, name, role_to))
    return subprocess.run(
        ["rsync", "-a", *extra, "-e", shell, src, f"root@{ADDR[role_to]}:{dest}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def rsync_from(
    g: SimGroup, name: str, role_from: str, src: str, dest: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    shell = " ".join(ssh_argv(g, name, role_from))
    return subprocess.run(
        ["rsync", "-a", *extra, "-e", shell, f"root@{ADDR[role_from]}:{src}", f"{dest}/"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def open_receive(g: SimGroup) -> subprocess.Popen[str]:
    """B (SEC1) opens a real session on A and starts a receive, as a sending SEC would."""
    from atlas_ha.lab.group import MasterConfig, Partner

    argv = [*ssh_argv(g, "B", "PRI"), f"root@{ADDR['PRI']}", "atlas-ha", "serve"]
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    mc = MasterConfig("acme-office", "SEC1", {"PRI": Partner(ADDR["PRI"])})
    for request in (
        {"op": "hello", "master_config": mc.render()},
        {"op": "receive-begin", "role": "SEC1", "sev": 1, "envs": [1]},
    ):
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(request) + "\n")
        proc.stdin.flush()
        answer = json.loads(proc.stdout.readline())
        assert answer["ok"], answer
    return proc


def test_rsync_is_confined_to_the_senders_own_role_area(
    ssh_group: SimGroup, tmp_path: Path
) -> None:
    cycle(ssh_group.servers["A"].server(quiet))
    a_sid = ssh_group.disk("disk-A") / "SID_DATA"
    pri_manifest = (a_sid / "PRI/Env2/Manifest").read_bytes()
    session = open_receive(ssh_group)
    try:
        src = tmp_path / "payload"
        src.mkdir()
        (src / "planted").write_text("owned\n")
        # into its own area: allowed
        ok = rsync_as(ssh_group, "B", "PRI", f"{src}/", "Env1/")
        assert ok.returncode == 0, ok.stderr
        assert (a_sid / "SEC1/Env1/planted").exists()
        # another role's area, outside SID_DATA, an absolute path, a detour: all refused
        for dest in (
            "../PRI/Env2/",
            "../../",
            "/etc/atlas-planted/",
            "Env1/../../PRI/Env2/",
            "Env1/sub/",
        ):
            refused = rsync_as(ssh_group, "B", "PRI", f"{src}/", dest)
            assert refused.returncode != 0 and "refused rsync" in refused.stderr, dest
        # options our sender never uses (e.g. keeping symlinked dirs) are refused
        refused = rsync_as(ssh_group, "B", "PRI", f"{src}/", "Env1/", "--keep-dirlinks")
        assert refused.returncode != 0 and "not allowed" in refused.stderr
        assert (a_sid / "PRI/Env2/Manifest").read_bytes() == pri_manifest
        assert not (a_sid / "PRI/Env2/planted").exists()
        assert not (a_sid / "planted").exists() and not (a_sid.parent / "planted").exists()
        assert not Path("/etc/atlas-planted").exists()
        # reading (rsync --sender) is refused: the PRI never sends back
        got = rsync_from(ssh_group, "B", "PRI", "Env1/", tmp_path / "r")
        assert got.returncode != 0 and "no send in progress" in got.stderr
    finally:
        assert session.stdin is not None
        session.stdin.close()
        session.wait(timeout=10)
    # the tampered area is never accepted: the next receive-commit would refuse it, and the
    # next cycle repairs
    report = cycle(ssh_group.servers["A"].server(quiet))
    assert {c.sec: c.state for c in report.compare} == {"SEC1": "equal", "SEC2": "equal"}


def test_requests_from_the_wrong_address_are_refused(ssh_group: SimGroup) -> None:
    """SEC1's key from an address that is not SEC1's: its authorized_keys line (`from=`, the
    role's address) does not let it log in; nothing runs (the session's own address check,
    SPEC 5.8, is the second factor: tests/scenarios/test_role_verification.py)."""
    from atlas_ha.model import MasterConfig, Partner

    mc = MasterConfig("acme-office", "SEC1", {"PRI": Partner(ADDR["PRI"])})
    hello = json.dumps({"op": "hello", "master_config": mc.render()}) + "\n"
    out = ssh_as(ssh_group, "B", "PRI", "atlas-ha", "serve", bind="127.0.0.99", input_text=hello)
    assert out.returncode == 255 and out.stdout == "" and "Permission denied" in out.stderr
    log = (ssh_group.servers["A"].base / "sshd.log").read_text()
    assert "not from a permitted host (host=127.0.0.99" in log


def test_a_pull_reads_only_the_area_the_sec_granted(ssh_group: SimGroup, tmp_path: Path) -> None:
    """What the PRI's key may read on a SEC: nothing, except while the SEC's own session
    grants one area of its own role (as during a send back), and then only that area."""
    from atlas_ha.sync.sendback import grant_send

    cycle(ssh_group.servers["A"].server(quiet))
    c = ssh_group.servers["C"].server(quiet)  # SEC2, Env3: areas Env1-3
    refused = rsync_from(ssh_group, "A", "SEC2", "Env2/", tmp_path / "none")
    assert refused.returncode != 0 and "no send in progress" in refused.stderr
    grant = grant_send(c, ADDR["PRI"], 2)
    try:
        got = rsync_from(ssh_group, "A", "SEC2", "Env2/", tmp_path / "got", "--numeric-ids")
        assert got.returncode == 0, got.stderr
        assert (tmp_path / "got/Manifest").read_bytes() == c.sid.area(
            "SEC2", 2
        ).manifest_file.read_bytes()
        for src in ("Env3/", "Env1/", "../PRI/Env2/", "Env2/../../", "/etc/", "Env2/SyncFiles/"):
            refused = rsync_from(ssh_group, "A", "SEC2", src, tmp_path / "x")
            assert refused.returncode != 0 and "refused rsync" in refused.stderr, src
        # options our receiver never asks for: deleting the SEC's files, following symlinks
        for option in ("--remove-source-files", "--copy-links"):
            refused = rsync_from(ssh_group, "A", "SEC2", "Env2/", tmp_path / "y", option)
            assert refused.returncode != 0 and "refused rsync" in refused.stderr, option
        # another partner's key is not the one granted
        refused = rsync_from(ssh_group, "B", "SEC2", "Env2/", tmp_path / "z")
        assert refused.returncode != 0
    finally:
        grant.unlink()
    assert c.sid.is_valid("SEC2", 2) and c.sid.area("SEC2", 2).manifest_file.exists()
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_kept_connections_over_ssh_and_a_shut_down_sec(ssh_group: SimGroup) -> None:
    """The daemon's kept connections: the second cycle logs in nowhere; stopping a SEC's
    sshd the lab's way also ends the session a kept connection holds there (with the
    SyncUp server in it), so the next cycle finds that SEC unreachable and keeps nothing."""
    from atlas_ha.lab import host
    from atlas_ha.system import Clock
    from atlas_ha.transport.keep import KeptConnections

    a = ssh_group.servers["A"].server(quiet)
    keep = KeptConnections(Clock())
    try:
        for level in (4, 5):  # the second cycle carries a change (as a delta, sync.delta)
            ssh_group.servers["A"].file("/etc/app/app.conf").write_text(f"level = {level}\n")
            report = cycle(a, keep)
            assert {c.sec: c.state for c in report.compare} == {"SEC1": "equal", "SEC2": "equal"}
        assert ssh_group.servers["C"].file("/etc/app/app.conf").read_text() == "level = 5\n"
        b_log = (ssh_group.servers["B"].base / "sshd.log").read_text()
        assert b_log.count("Accepted publickey for root from 127.0.0.11") == 1
        sshd = int((ssh_group.servers["B"].base / "esd/ssh/sshd.pid").read_text())
        below = host.descendants(sshd)
        assert any(b"ssh-command" in Path(f"/proc/{p}/cmdline").read_bytes() for p in below), below
        host.stop(sshd)
        assert not [p for p in below if Path(f"/proc/{p}").exists()]
        report = cycle(a, keep)
        states = {c.sec: c.state for c in report.compare}
        assert states == {"SEC1": "stale", "SEC2": "equal"}, report.secs
        assert keep.count() == 1  # SEC2's, still good
    finally:
        keep.close_all()
