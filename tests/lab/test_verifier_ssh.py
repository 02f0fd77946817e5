"""The ssh verifier kind against the real sshds of the ssh test group (127.0.0.11-13).

Each server's host key is its disk's role key; known_hosts names each under atlas-<ROLE>.
A (PRI) verifies B (SEC1) with A's verifier key, which B accepts only to print a fixed answer.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from tests.lab.conftest import ADDR, PORT, role_key, ssh_argv

from atlas_ha.cli.main import main
from atlas_ha.lab.group import SimGroup
from atlas_ha.verifier.api import Context, Target
from atlas_ha.verifier.kinds.ssh import VERIFIER_ANSWER, SshVerifier
from atlas_ha.verifier.profile import Profile, Status
from atlas_ha.verifier.services import ServiceDef

pytestmark = pytest.mark.lab


def quiet(_line: str) -> None:
    pass


def verifier_key(g: SimGroup, name: str) -> Path:
    assert main(["--config", str(g.servers[name].config), "keys", "verifier-key"]) == 0
    return g.servers[name].base / "esd/ssh/verifier_ed25519.pub"


def authorize_verifier(g: SimGroup, name: str, pub: Path) -> int:
    return main(["--config", str(g.servers[name].config), "keys", "authorize-verifier", str(pub)])


def check(g: SimGroup, name: str, role: str, address: str, **options: object) -> Profile:
    server = g.servers[name].server(quiet)
    svc = ServiceDef(name="ssh", kind="ssh", timeout=10.0, options=dict(options))
    ctx = Context(server=server, role=server.role())
    return SshVerifier().verify(ctx, svc, Target(role=role, address=address))


@pytest.fixture
def verifying(ssh_group: SimGroup) -> SimGroup:
    """A's verifier key, accepted by B (SEC1) only."""
    assert authorize_verifier(ssh_group, "B", verifier_key(ssh_group, "A")) == 0
    return ssh_group


def test_healthy_sshd_is_ok(verifying: SimGroup) -> None:
    profile = check(verifying, "A", "SEC1", ADDR["SEC1"])
    assert profile.status is Status.OK, profile.summary
    assert profile.summary.startswith(f"ssh SEC1 at {ADDR['SEC1']}:{PORT}: SSH-2.0-OpenSSH")
    labels = [m.label for m in profile.measurements]
    assert labels == ["connect", "banner", "hostkey", "login"]
    assert all(0 < m.value < 10 for m in profile.measurements)
    # B's sshd accepted exactly A's verifier key
    pub = verifying.servers["A"].base / "esd/ssh/verifier_ed25519.pub"
    fingerprint = subprocess.run(
        ["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True, check=True
    ).stdout.split()[1]
    log = (verifying.servers["B"].base / "sshd.log").read_text()
    assert f"ssh2: ED25519 {fingerprint}" in log


def test_another_roles_host_key_at_the_address_is_critical(verifying: SimGroup) -> None:
    # B (SEC1) expects the PRI at the PRI address; here SEC2's server answers it
    profile = check(verifying, "B", "PRI", ADDR["SEC2"], login=False)
    assert profile.status is Status.CRITICAL
    assert "presents the host key of atlas-SEC2, not atlas-PRI's" in profile.summary
    # the same check against the real PRI is fine: the fault was the address's owner
    assert check(verifying, "B", "PRI", ADDR["PRI"], login=False).status is Status.OK


def test_unauthorized_verifier_key_is_critical(verifying: SimGroup) -> None:
    profile = check(verifying, "A", "SEC2", ADDR["SEC2"])  # C never accepted A's verifier key
    assert profile.status is Status.CRITICAL
    assert "login with the verifier key failed (exit 255)" in profile.summary
    assert "Permission denied" in profile.summary


def test_stopped_sshd_is_critical(verifying: SimGroup) -> None:
    assert check(verifying, "A", "SEC1", ADDR["SEC1"]).status is Status.OK
    pid_file = verifying.servers["B"].base / "esd/ssh/sshd.pid"
    pid = int(pid_file.read_text())
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # until nothing accepts on B's address any more
        with socket.socket() as s:
            if s.connect_ex((ADDR["SEC1"], PORT)) != 0:
                break
        time.sleep(0.05)
    profile = check(verifying, "A", "SEC1", ADDR["SEC1"])
    assert profile.status is Status.CRITICAL and "Connection refused" in profile.summary


def test_missing_verifier_key_is_unknown(ssh_group: SimGroup) -> None:
    profile = check(ssh_group, "A", "SEC1", ADDR["SEC1"])
    assert profile.status is Status.UNKNOWN and "keys verifier-key" in profile.summary


def test_verifier_key_only_prints_the_fixed_answer(verifying: SimGroup) -> None:
    key = verifying.servers["A"].base / "esd/ssh/verifier_ed25519"
    argv = ssh_argv(verifying, "A", "SEC1")
    argv[argv.index("-i") + 1] = str(key)
    for command in (["id"], ["atlas-ha", "serve"], ["rsync", "--server", ".", "Env1/"]):
        proc = subprocess.run(
            [*argv, f"root@{ADDR['SEC1']}", *command],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            input='{"op": "hello"}\n',
        )
        assert proc.stdout.strip() == VERIFIER_ANSWER, (command, proc.stdout, proc.stderr)


def test_a_partner_key_is_not_accepted_as_verifier_key(verifying: SimGroup) -> None:
    partner_pub = role_key(verifying, "A").with_suffix(".pub")  # the PRI role's key
    assert authorize_verifier(verifying, "B", partner_pub) != 0
    text = (verifying.disk("disk-B") / "SID_DATA/.ssh/authorized_keys").read_text()
    blob = partner_pub.read_text().split()[1]
    assert next(line for line in text.splitlines() if blob in line).startswith('command="')
    assert sum(blob in line for line in text.splitlines()) == 1
    esd = (verifying.servers["B"].base / "esd/ssh/authorized_keys").read_text()
    assert blob not in esd


def sentry(g: SimGroup, name: str, role: str, address: str) -> Profile:
    from atlas_ha.verifier.kinds.sentry import SentryVerifier

    server = g.servers[name].server(quiet)
    svc = ServiceDef(name="sentry", kind="sentry", timeout=20.0)
    ctx = Context(server=server, role=server.role())
    return SentryVerifier().verify(ctx, svc, Target(role=role, address=address))


def test_sentry_asks_partners_over_ssh(ssh_group: SimGroup) -> None:
    for name, role in [("A", "SEC1"), ("A", "SEC2"), ("B", "PRI")]:
        profile = sentry(ssh_group, name, role, ADDR[role])
        assert profile.status is Status.OK, profile.summary
        assert profile.data["answered_role"] == role
    # SEC2's address answered by SEC1's server: over ssh the host key already tells
    profile = sentry(ssh_group, "A", "SEC2", ADDR["SEC1"])
    assert profile.status is Status.CRITICAL
    assert "Host key verification failed" in profile.summary, profile.summary
