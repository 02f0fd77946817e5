"""A group whose servers talk over real OpenSSH + rsync: one sshd per server on its own
loopback address (127.0.0.11-13), a client key per role on its disk, partner roles' keys
behind the forced command with their role fixed. Every sshd is started here and stopped by
PID."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from atlas_ha.lab.group import SimGroup
from atlas_ha.lab.keys import setup_keys, sshd_config
from atlas_ha.lab.lab import Lab
from atlas_ha.layout.sid import role_key_file

ADDR = {"PRI": "127.0.0.11", "SEC1": "127.0.0.12", "SEC2": "127.0.0.13"}
PORT = 2222
SSHD = "/usr/sbin/sshd"


def wait_listening(address: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex((address, PORT)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"sshd on {address}:{PORT} did not start")


@pytest.fixture
def ssh_group(tmp_path: Path) -> Iterator[SimGroup]:
    if os.geteuid() != 0 or not Path(SSHD).exists():
        pytest.skip("needs root and OpenSSH's sshd")
    g = SimGroup(tmp_path / "g", addresses=ADDR)
    layout = {"A": (2, "PRI"), "B": (1, "SEC1"), "C": (3, "SEC2")}
    g.build(layout)
    roles = {name: role for name, (_env, role) in layout.items()}
    setup_keys(g, roles, PORT)  # the lab's own key set-up: ssh settings, keys, known_hosts
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    procs = []
    try:
        for name, sim in g.servers.items():
            cfg = sim.base / "esd/ssh/sshd_config"
            host_key = g.disk(f"disk-{name}") / "ssh/host_ed25519"
            cfg.write_text(sshd_config(sim, ADDR[roles[name]], PORT, host_key))
            log = (sim.base / "sshd.log").open("w")
            procs.append(
                subprocess.Popen(
                    [SSHD, "-D", "-e", "-f", str(cfg)], stdout=log, stderr=subprocess.STDOUT
                )
            )
            wait_listening(ADDR[roles[name]])
        for name in g.servers:
            g.boot(name)
        yield g
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def role_key(g: SimGroup, name: str) -> Path:
    """The client key of the role on the disk plugged into server `name`."""
    return role_key_file(g.servers[name].base / "unbound" / "SID_DATA")


def ssh_argv(
    g: SimGroup, name: str, role_to: str, bind: str | None = None, key: Path | None = None
) -> list[str]:
    """ssh with the key of the role server `name` holds (or `key`) towards the role
    `role_to` (no host part)."""
    esd = g.servers[name].base / "esd/ssh"
    own = {"A": "PRI", "B": "SEC1", "C": "SEC2"}[name]
    return [
        "ssh",
        "-i",
        str(key or role_key(g, name)),
        "-p",
        str(PORT),
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        f"UserKnownHostsFile={esd / 'known_hosts'}",
        "-o",
        f"HostKeyAlias=atlas-{role_to}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-b",
        bind or ADDR[own],
    ]


def ssh_as(
    g: SimGroup,
    name: str,
    role_to: str,
    *command: str,
    bind: str | None = None,
    input_text: str | None = None,
    key: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ssh with the key of the role server `name` holds (or `key`) towards the role
    `role_to`, asking for `command`."""
    argv = [*ssh_argv(g, name, role_to, bind, key), f"root@{ADDR[role_to]}", *command]
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        input=input_text if input_text is not None else "",
    )


@contextlib.contextmanager
def running_lab(prefix: str = "atlas-ha-lab-test-") -> Iterator[Lab]:
    """The seed's group (A Env2 PRI, B Env1 SEC1, C Env3 SEC2) up in namespaces; always
    taken down, and the namespaces are checked gone."""
    if (
        os.geteuid() != 0
        or not shutil.which("ip")
        or not Path("/usr/sbin/sshd").exists()
        or not Path("/usr/sbin/nginx").exists()
    ):
        pytest.skip("needs root, iproute2 and OpenSSH's sshd")
    # Not under pytest's tmp root: pytest resets that to 0700 at every session start, and the
    # postgres user must traverse to each disk's cluster (as it can under /var/tmp).
    base = Path(tempfile.mkdtemp(prefix=prefix, dir="/var/tmp"))
    base.chmod(0o755)
    lab = Lab(base / "lab")
    try:
        lab.up({"A": 2, "B": 1, "C": 3}, {"A": "PRI", "B": "SEC1", "C": "SEC2"})
        yield lab
    finally:
        lab.down()
        shutil.rmtree(base)
    assert not lab.net.exists()  # cleanup really happened


@pytest.fixture
def lab() -> Iterator[Lab]:
    with running_lab() as up:
        yield up
