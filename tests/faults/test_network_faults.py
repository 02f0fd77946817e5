"""Partitions and packet loss in the namespace lab, made with nftables inside one SEC's own
network namespace (never the root namespace): a SEC cut off at a random moment of a real
SyncCycle (held, or healed after a moment), and 30 % loss both ways for a whole cycle.
The cycle must report the SEC with a cause, never use an invalid snapshot, and one clean
cycle after the network heals must repair everything (tests/faults/checker.py)."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.faults import checker
from tests.faults.campaign import (
    Campaign,
    Trial,
    pids_matching,
    sec_rsync,
    sec_session,
    seed,
    write_report,
)

from atlas_ha.lab.lab import Lab

pytestmark = [pytest.mark.lab, pytest.mark.slow]

TRACKED = [f"/etc/app/net/f{i:02}.conf" for i in range(40)] + ["/etc/app/app.conf"]
EQUAL = {"SEC1": "equal", "SEC2": "equal"}
TABLE = "atlas_fault"


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    if os.geteuid() != 0 or not shutil.which("nft") or not Path("/usr/sbin/sshd").exists():
        pytest.skip("needs root, nftables and OpenSSH's sshd")
    base = Path(tempfile.mkdtemp(prefix="atlas-ha-faults-", dir="/var/tmp"))
    base.chmod(0o755)
    the_lab = Lab(base / "lab", loopback=False)
    try:
        # no periodic cycle of the lab's own daemons: the trials drive every cycle
        the_lab.up({"A": 2, "B": 1, "C": 3}, {"A": "PRI", "B": "SEC1", "C": "SEC2"}, 86400.0)
        yield the_lab
    finally:
        the_lab.down()
        shutil.rmtree(base, ignore_errors=True)


def nft(lab: Lab, name: str, ruleset: str) -> None:
    done = subprocess.run(
        lab.net.wrap(name, ["nft", "-f", "-"]),
        input=ruleset,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def cut_off(lab: Lab, name: str, loss_percent: int = 100) -> None:
    """Drop `loss_percent` % of what enters and leaves server `name` (its namespace only)."""
    rule = "drop" if loss_percent >= 100 else f"numgen random mod 100 < {loss_percent} drop"
    nft(
        lab,
        name,
        f"table inet {TABLE} {{\n"
        f"  chain input {{ type filter hook input priority 0; {rule}; }}\n"
        f"  chain output {{ type filter hook output priority 0; {rule}; }}\n"
        "}\n",
    )


def heal(lab: Lab, name: str) -> None:
    subprocess.run(
        lab.net.wrap(name, ["nft", "delete", "table", "inet", TABLE]),
        capture_output=True,
        timeout=10,
        check=False,
    )


def start_cycle(lab: Lab) -> subprocess.Popen[str]:
    config = str(lab.group.servers["A"].config)
    argv = [sys.executable, "-m", "atlas_ha", "--config", config, "sync", "cycle", "--json"]
    return subprocess.Popen(
        lab.net.wrap("A", argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def report_of(proc: subprocess.Popen[str]) -> tuple[dict[str, object] | None, str]:
    out, err = proc.communicate(timeout=300)
    with contextlib.suppress(ValueError):
        return json.loads(out), err
    return None, err


def test_partitions_and_loss(lab: Lab) -> None:
    rng = random.Random(seed())
    group = lab.group
    versions = checker.Versions()
    for path in TRACKED:
        versions.write(group, path, f"{path} v0\n".encode())
    assert {c["sec"]: c["state"] for c in lab.cycle("A")["compare"]} == EQUAL
    started = time.monotonic()
    lab.cycle("A")
    duration = time.monotonic() - started
    campaign = Campaign()
    plan = [("partition, held", v) for v in "BCBC"] + [("partition, healed", v) for v in "BC"]
    plan += [("30 % loss both ways", v) for v in "BC"]
    for attempt, (kind, victim) in enumerate(plan, start=1):
        role = {"B": "SEC1", "C": "SEC2"}[victim]
        for path in rng.sample(TRACKED, k=rng.randint(1, 10)):
            versions.write(group, path, f"{path} v{attempt}\n".encode())
        # early ones cut the connection as it opens, later ones a session at work
        delay = duration * rng.uniform(*((0.05, 0.3) if attempt <= 2 else (0.5, 0.95)))
        if kind.startswith("30"):
            cut_off(lab, victim, 30)
            proc = start_cycle(lab)
        else:
            proc = start_cycle(lab)
            time.sleep(delay)
            cut_off(lab, victim)
            if kind.endswith("healed"):
                time.sleep(2.0)
                heal(lab, victim)
        report, err = report_of(proc)
        heal(lab, victim)
        trial = campaign.add(Trial(kind, f"attempt {attempt}: {victim}, {delay:.2f} s in", True))
        if report is None:
            trial.problems.append(f"the cycle gave no report: {err.strip()[-300:]}")
        else:
            for sec in report["secs"]:  # type: ignore[attr-defined]
                if sec["sec"] == role and not sec["reached"]:
                    message = str(sec["error"])
                    trial.detail += f"; {role} not synced: {message[:160]}"
                    if not message.strip() or message.rstrip().endswith(":"):
                        trial.problems.append(f"{role} reported without a cause: {message!r}")
                elif sec["sec"] == role:
                    trial.detail += f"; {role} synced"
        trial.problems += checker.area_problems(group, TRACKED)
        trial.problems += checker.torn_files(group, versions)
        states = {c["sec"]: c["state"] for c in lab.cycle("A")["compare"]}
        if states != EQUAL:
            trial.problems.append(f"one clean cycle after healing did not repair: {states}")
        trial.problems += checker.stale_copies(group, versions)
        trial.problems += checker.leftover_temp_files(group)
        trial.problems += checker.leftover_connection_dirs(group)
    deadline = time.monotonic() + 120  # sshd's ClientAlive and the session's idle timeout
    lingering: list[int] = []
    while time.monotonic() < deadline:
        lingering = [
            pid
            for name in "BC"
            for match in (sec_session(group, name), sec_rsync(group, name))
            for pid in pids_matching(match)
        ]
        if not lingering:
            break
        time.sleep(1)
    if lingering:
        campaign.add(
            Trial("partition, held", "afterwards", True, [f"SEC sessions left: {lingering}"])
        )
    write_report(campaign, "network")
    defects = [f"{t.fault_class} ({t.detail}): {t.problems}" for t in campaign.trials if t.problems]
    assert not defects, "\n".join(defects)
