"""The lab as a tool: `lab up` with its output captured ends, `lab exec` runs on the server
(its namespaces, its settings, atlas-ha on PATH), the safety route stays while any lab on its
subnet is up, a killed cycle leaves nothing behind after the next one, and a partition in the
middle of a cycle is reported with its cause."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.lab.common import PRI_PAGE, states

from atlas_ha.lab import host
from atlas_ha.lab.lab import ADDRESSES, Lab
from atlas_ha.lab.net import SUBNET, LabNet
from atlas_ha.layout import rundir
from atlas_ha.system import Runner

pytestmark = pytest.mark.lab

ATLAS = [sys.executable, "-m", "atlas_ha"]


def needs_lab() -> None:
    if os.geteuid() != 0 or not shutil.which("ip") or not Path("/usr/sbin/sshd").exists():
        pytest.skip("needs root, iproute2 and OpenSSH's sshd")


def route_up() -> bool:
    out = Runner().run(["ip", "route", "show", "type", "unreachable"], timeout=10).stdout
    return SUBNET in out.split()


@pytest.fixture
def lab_dir() -> Iterator[Path]:
    needs_lab()
    base = Path(tempfile.mkdtemp(prefix="atlas-ha-lab-tool-", dir="/var/tmp"))
    base.chmod(0o755)
    try:
        yield base / "lab"
    finally:
        Lab(base / "lab").down()  # whatever the test left up
        shutil.rmtree(base)


def lab_cli(lab_dir: Path, *argv: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """`atlas-ha lab --dir DIR ...` with stdout and stderr pipes read to their end."""
    return subprocess.run(
        [*ATLAS, "lab", "--dir", str(lab_dir), *argv],
        capture_output=True,  # returns only once no process holds the pipes any more
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_lab_up_captured_ends_and_exec_runs_on_the_server(lab_dir: Path) -> None:
    started = time.monotonic()
    up = lab_cli(lab_dir, "up")  # TimeoutExpired here: a daemon kept our pipes
    took = time.monotonic() - started
    assert up.returncode == 0, up.stderr
    assert "lab up in" in up.stdout
    lab = Lab(lab_dir)
    servers = lab.servers()
    assert all(info["state"] == "up" for info in servers.values())
    # the lab outlived the command, and its daemons write their own logs
    for info in servers.values():
        for key in ("anchor", "sshd_pid", "nginx_pid", "daemon_pid"):
            assert Path(f"/proc/{info[key]}").exists(), key
    assert (lab_dir / "servers/A/anchor.log").exists()
    assert (lab_dir / "servers/A/sshd.log").read_text().count("Server listening") == 1
    print(f"lab up with captured output: {took:.1f} s")

    status = lab_cli(lab_dir, "exec", "A", "--", "atlas-ha", "status")
    assert status.returncode == 0, status.stderr
    assert status.stdout.startswith("A: Env2, role PRI of acme-office"), status.stdout
    for name in ("A", "B"):
        done = lab_cli(lab_dir, "exec", name, "--", "hostname")
        assert done.stdout.strip() == servers[name]["hostname"]  # its UTS namespace
        done = lab_cli(lab_dir, "exec", name, "--", "sh", "-c", "echo $ATLAS_HA_CONFIG")
        assert done.stdout.strip() == str(lab_dir / "servers" / name / "atlas-ha.toml")
        done = lab_cli(lab_dir, "exec", name, "--", "ip", "-4", "-o", "addr", "show", "eth0")
        assert f" {servers[name]['address']}/" in done.stdout  # its network namespace
    page = lab_cli(lab_dir, "exec", "B", "--", "cat", str(lab.mountpoint / "www/index.html"))
    assert "skeleton of the SEC1 disk" in page.stdout  # its own disk at the mount point
    assert PRI_PAGE not in page.stdout
    missing = lab_cli(lab_dir, "exec", "Z", "--", "true")
    assert missing.returncode == 12 and "no lab server 'Z'" in missing.stderr


def test_the_safety_route_stays_while_any_lab_on_the_subnet_is_up() -> None:
    needs_lab()
    runner = Runner()
    first = LabNet("ahf1a1-", runner)
    second = LabNet("ahf1a2-", runner)
    try:
        first.create(["X"])
        second.create(["X"])
        assert route_up()
        second.destroy()
        assert route_up(), "the first lab still relies on the route"
        assert not second.exists() and first.exists()
        # a lab whose controller was SIGKILLed keeps the route while its namespaces exist
        # (nothing else of it is needed: no state file, no process) ... and no longer once
        # they are gone (removed by hand): the next teardown of any lab removes the route
        for ns in first.namespaces():
            if ns.startswith(first.prefix):
                runner.run(["ip", "netns", "del", ns], timeout=30)
        second.destroy()
        assert not route_up()
    finally:
        first.destroy()
        second.destroy()
    assert not route_up()


def sessions_below(lab: Lab, name: str) -> list[str]:
    """The forced-command processes (atlas-ha ssh-command, rsync) running under `name`'s sshd."""
    found = []
    for pid in host.descendants(lab.servers()[name]["sshd_pid"]):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "ssh-command" in argv or "rsync" in argv:
            found.append(f"{pid} {argv}")
    return found


def wait_until_none(lab: Lab, name: str, seconds: float) -> list[str]:
    deadline = time.monotonic() + seconds
    while (left := sessions_below(lab, name)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left


def control_dirs(lab: Lab, name: str) -> list[Path]:
    esd = lab.group.servers[name].base / "esd"
    return sorted(rundir.control_base(esd).glob("ssh.*"))


def test_a_killed_cycle_leaves_nothing_and_a_partition_names_its_cause(lab: Lab) -> None:
    a_config = str(lab.group.servers["A"].config)
    cycle_argv = [*ATLAS, "--config", a_config, "sync", "cycle", "--json"]
    env = {**os.environ, "ATLAS_HA_FAULTS": "A:send.pushed=kill"}
    killed = lab.runner.run(lab.net.wrap("A", cycle_argv), env=env, check=False, timeout=120)
    assert killed.returncode == -9  # SIGKILLed in the middle of its sends
    left = control_dirs(lab, "A")
    assert left, "the killed cycle left its connections' directories"
    dead = {p.name.split(".")[1] for p in left}
    for sec in ("B", "C"):
        # the SEC's side ends when ssh tells it the killed cycle's input ended
        assert wait_until_none(lab, sec, 30) == []

    report = lab.cycle("A")
    assert states(report) == {"SEC1": "equal", "SEC2": "equal"}, report["secs"]
    assert not [p for p in control_dirs(lab, "A") if p.name.split(".")[1] in dead]
    assert control_dirs(lab, "A") == []  # and the cycle's own are removed when it closes

    # B (SEC1) drops off the network while it works on its SyncUp: it takes its own link
    # down in its after-install hook, so the partition falls in the middle of the PRI's
    # wait for the SyncUp's answer
    b_config = lab.group.servers["B"].config
    before = b_config.read_text()
    b_config.write_text(
        before + '\n[hooks.roles.SEC1]\nafter_install = ["ip link set eth0 down"]\n'
    )
    started = time.monotonic()
    report = lab.cycle("A")
    took = time.monotonic() - started
    b_config.write_text(before)
    # on B, still cut off, sshd's ClientAliveInterval ended the session whose client
    # vanished, with the forced command's processes (before that link came back, whose
    # reset would end them too)
    left = wait_until_none(lab, "B", 20)
    lab.runner.run(["ip", "-n", lab.net.ns("B"), "link", "set", "eth0", "up"], timeout=10)
    assert left == []
    assert "Timeout, client not responding" in (lab.base / "servers/B/sshd.log").read_text()
    assert states(report) == {"SEC1": "stale", "SEC2": "equal"}, report["secs"]
    error = next(s["error"] for s in report["secs"] if s["sec"] == "SEC1")
    print(f"partition reported after {took:.0f} s: {error}")
    assert error.startswith(f"SEC1 at {ADDRESSES['SEC1']}: unreachable over ssh: ")
    # ssh's own message (its backgrounded master's), the request and how long it waited
    assert f"Timeout, server {ADDRESSES['SEC1']} not responding" in error
    assert "no answer to syncup after " in error
    assert not error.rstrip().endswith(":")
    assert control_dirs(lab, "A") == []
    report = lab.cycle("A")  # the network is back
    assert states(report) == {"SEC1": "equal", "SEC2": "equal"}, report["secs"]
