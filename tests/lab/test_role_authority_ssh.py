"""Role-bound authority over real OpenSSH (SPEC 10, issue 9 item 2): a role's key acts only as
that role, whatever address it comes from and whatever MasterConfig it presents."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from tests.lab.conftest import ADDR, PORT, role_key, ssh_argv, ssh_as

from atlas_ha.context import Server
from atlas_ha.lab.group import SimGroup
from atlas_ha.layout.sid import role_authorized_keys
from atlas_ha.model import MasterConfig, Partner
from atlas_ha.settings import load
from atlas_ha.sync.cycle import cycle
from atlas_ha.sync.sendback import grant_send
from atlas_ha.transport.rolekeys import PublicKey, forced_line

pytestmark = pytest.mark.lab

PRI_MC = MasterConfig(
    "acme-office", "PRI", {"SEC1": Partner(ADDR["SEC1"]), "SEC2": Partner(ADDR["SEC2"])}
)
SEC1_MC = MasterConfig("acme-office", "SEC1", {"PRI": Partner(ADDR["PRI"])})
EVIL = "level = 666\n"


def quiet(_line: str) -> None:
    pass


def tree(root: Path) -> dict[str, str]:
    """Every file below root with its content hash (the run-time locks aside)."""
    state = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            if ".locks" not in path.parts:
                state[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def fingerprint(pub: Path) -> str:
    out = subprocess.run(["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True)
    return out.stdout.split()[1]


def stop_pri(g: SimGroup) -> None:
    """The PRI goes down: A's sshd stops (by PID) and nothing answers on the PRI's address."""
    pid = int((g.servers["A"].base / "esd/ssh/sshd.pid").read_text())
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex((ADDR["PRI"], PORT)) != 0:
                return
        time.sleep(0.05)
    raise AssertionError("A's sshd did not stop")


def impostor(g: SimGroup, tmp_path: Path) -> Server:
    """SEC1's server pretending to be the PRI: its own system root (with an evil edit), its
    own Bound Data, a copy of its disk (so SEC1's key) whose MasterConfig claims PRI, and the
    PRI's address to connect from."""
    b = load(g.servers["B"].config)
    sid = tmp_path / "impostor-SID_DATA"
    shutil.copytree(b.sid_data, sid, symlinks=True)
    (sid / "MasterConfig").write_text(PRI_MC.render())
    g.servers["B"].file("/etc/app/app.conf").write_text(EVIL)
    settings = dataclasses.replace(b, name="B-as-PRI", sid_data=sid, address=ADDR["PRI"])
    return Server(settings, log=quiet)


def misauthorize_sec1_on_sec2(g: SimGroup) -> None:
    """An operator's mistake: SEC2's disk also accepts SEC1's key (as SEC1, even from the PRI's
    address). Its role stays SEC1: what follows shows the session's own checks."""
    key = PublicKey.parse(role_key(g, "B").with_suffix(".pub").read_text(), "SEC1's key")
    path = role_authorized_keys(g.disk("disk-C") / "SID_DATA")
    path.write_text(path.read_text() + forced_line("SEC1", ADDR["PRI"], key) + "\n")


def test_sec1_key_on_the_pri_address_cannot_sync_sec2(ssh_group: SimGroup, tmp_path: Path) -> None:
    """The issue's attack: with SEC1's own key, bound to the PRI's address while the PRI is
    down, a full SyncCycle as "PRI" to SEC2. SEC2's disk accepts only the PRI role's key:
    the login is refused, nothing is installed, SEV[PRI] is untouched."""
    g = ssh_group
    assert cycle(g.servers["A"].server(quiet)).all_equal
    c = g.servers["C"].server(quiet)
    sev, app = c.sid.sev("PRI"), g.servers["C"].file("/etc/app/app.conf").read_text()
    before = {**tree(g.servers["C"].root), **tree(g.disk("disk-C"))}
    stop_pri(g)
    report = cycle(impostor(g, tmp_path))
    sec2 = next(s for s in report.secs if s.sec == "SEC2")
    assert not sec2.reached and "Permission denied (publickey" in sec2.error, sec2.error
    assert g.servers["C"].file("/etc/app/app.conf").read_text() == app != EVIL
    assert c.sid.sev("PRI") == sev
    assert {**tree(g.servers["C"].root), **tree(g.disk("disk-C"))} == before
    log = (g.servers["C"].base / "sshd.log").read_text()
    sec1_key = fingerprint(role_key(g, "B").with_suffix(".pub"))
    assert f"from {ADDR['PRI']}" in log  # it did try, from the PRI's address ...
    assert not [line for line in log.splitlines() if "Accepted" in line and sec1_key in line]


def test_a_sec1_key_accepted_by_mistake_still_cannot_act_as_pri(
    ssh_group: SimGroup, tmp_path: Path
) -> None:
    """The same attack where SEC2 (by an operator's mistake) lets SEC1's key in from the PRI's
    address: the session acts for SEC1, so the PRI MasterConfig is refused at hello and
    nothing is installed."""
    g = ssh_group
    assert cycle(g.servers["A"].server(quiet)).all_equal
    misauthorize_sec1_on_sec2(g)
    c = g.servers["C"].server(quiet)
    sev = c.sid.sev("PRI")
    before = {**tree(g.servers["C"].root), **tree(g.disk("disk-C"))}
    stop_pri(g)
    report = cycle(impostor(g, tmp_path))
    sec2 = next(s for s in report.secs if s.sec == "SEC2")
    assert not sec2.reached
    assert "the key that connected is SEC1's, but the MasterConfig sent claims PRI" in sec2.error
    assert c.sid.sev("PRI") == sev and g.servers["C"].file("/etc/app/app.conf").read_text() != EVIL
    assert {**tree(g.servers["C"].root), **tree(g.disk("disk-C"))} == before
    log = (g.servers["C"].base / "sshd.log").read_text()
    assert f"Accepted publickey for root from {ADDR['PRI']}" in log  # it did get in


def test_grants_of_the_pri_key_are_not_the_sec_keys(ssh_group: SimGroup, tmp_path: Path) -> None:
    """While the PRI's key holds a receive grant on SEC2 (and SEC2 a send grant for the PRI),
    SEC1's key from the same address (accepted by mistake) can neither write into SEC2's PRI
    area nor read SEC2's own."""
    g = ssh_group
    assert cycle(g.servers["A"].server(quiet)).all_equal
    misauthorize_sec1_on_sec2(g)
    c = g.servers["C"].server(quiet)
    argv = [*ssh_argv(g, "A", "SEC2"), f"root@{ADDR['SEC2']}", "atlas-ha", "serve"]
    session = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        for request in (
            {"op": "hello", "master_config": PRI_MC.render()},
            {"op": "receive-begin", "role": "PRI", "sev": 2, "envs": [1, 2]},
        ):
            assert session.stdin is not None and session.stdout is not None
            session.stdin.write(json.dumps(request) + "\n")
            session.stdin.flush()
            assert json.loads(session.stdout.readline())["ok"]
        payload = tmp_path / "payload"
        payload.mkdir()
        (payload / "planted").write_text("owned\n")
        shell = " ".join(ssh_argv(g, "B", "SEC2", bind=ADDR["PRI"]))
        push = subprocess.run(
            ["rsync", "-a", "-e", shell, f"{payload}/", f"root@{ADDR['SEC2']}:Env1/"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert push.returncode != 0
        assert "the receive grant is for PRI's key; the key that connected is SEC1's" in (
            push.stderr
        )
        assert not (c.sid.area("PRI", 1).path / "planted").exists()
        grant = grant_send(c, ADDR["PRI"], 2)
        try:
            pull = subprocess.run(
                ["rsync", "-a", "-e", shell, f"root@{ADDR['SEC2']}:Env2/", f"{tmp_path / 'r'}/"],
                capture_output=True,
                text=True,
                timeout=30,
            )
        finally:
            grant.unlink()
        assert pull.returncode != 0 and "the send grant is for PRI's key" in pull.stderr
        assert not (tmp_path / "r" / "Manifest").exists()
    finally:
        assert session.stdin is not None
        session.stdin.close()
        session.wait(timeout=10)


def test_a_sec_key_on_the_pri_sends_only_its_own_role(ssh_group: SimGroup) -> None:
    """SEC1's key on the PRI, from its own address: hello as SEC1 is fine; a receive of PRI
    and a SyncUp are refused; the PRI's area is untouched."""
    g = ssh_group
    assert cycle(g.servers["A"].server(quiet)).all_equal
    pri_area = g.disk("disk-A") / "SID_DATA/PRI"
    before = tree(pri_area)
    requests = [
        {"op": "hello", "master_config": SEC1_MC.render()},
        {"op": "receive-begin", "role": "PRI", "sev": 2, "envs": [1, 2]},
        {"op": "syncup"},
        {"op": "hello", "master_config": PRI_MC.render()},
    ]
    text = "".join(json.dumps(r) + "\n" for r in requests)
    out = ssh_as(g, "B", "PRI", "atlas-ha", "serve", input_text=text)
    answers = [json.loads(line) for line in out.stdout.splitlines()]
    assert [a["ok"] for a in answers] == [True, False, False, False], answers
    assert "it may send only SEC1's snapshot" in answers[1]["error"]
    assert "only the PRI's key may request SyncUp" in answers[2]["error"]
    assert "is SEC1's, but the MasterConfig sent claims PRI" in answers[3]["error"]
    assert tree(pri_area) == before
    # the PRI's key still works: a whole cycle goes through
    assert cycle(g.servers["A"].server(quiet)).all_equal
