"""A seeded random kill campaign over real OpenSSH + rsync: the PRI's whole process group, a
SEC's partner session, a SEC's rsync — each SIGKILLed at a random moment of a real SyncCycle
(at least 30 kills a run; ATLAS_HA_FAULT_TRIALS for more, ATLAS_HA_FAULT_SEED to replay).
After each: the checker (tests/faults/checker.py), then one clean cycle must repair all."""

from __future__ import annotations

import random
import shutil
import time

import pytest
from tests.faults import checker
from tests.faults.campaign import (
    Campaign,
    Trial,
    clean_cycle,
    finish,
    kill_group_after,
    kill_when_seen,
    kills_wanted,
    pids_matching,
    sec_rsync,
    sec_session,
    seed,
    start_cycle,
    write_report,
)

from atlas_ha.lab.group import SimGroup

pytestmark = [pytest.mark.slow]

TRACKED = [f"/etc/app/campaign/f{i:03}.conf" for i in range(200)] + ["/etc/app/app.conf"]
EQUAL = {"SEC1": "equal", "SEC2": "equal"}
CLASSES = ("kill: PRI process group", "kill: SEC partner session", "kill: SEC rsync")


def _sec_processes(group: SimGroup) -> list[str]:
    """Partner sessions and rsyncs still running on a SEC 15 s after the clean cycle."""
    deadline = time.monotonic() + 15
    while True:
        found = [
            pid
            for name in "BC"
            for pid in pids_matching(sec_session(group, name))
            + pids_matching(sec_rsync(group, name))
        ]
        if not found or time.monotonic() > deadline:
            return [f"a SEC session or rsync (pid {pid}) outlived the cycle" for pid in found]
        time.sleep(0.2)


def test_seeded_kill_campaign(ssh_group: SimGroup) -> None:
    group, rng = ssh_group, random.Random(seed())
    versions = checker.Versions()
    for path in TRACKED:
        versions.write(group, path, f"{path} v0\n".encode())
    assert clean_cycle(group)[0] == EQUAL
    started = time.monotonic()
    assert clean_cycle(group)[0] == EQUAL
    duration = time.monotonic() - started  # a steady-state cycle: where the kills fall
    campaign, kills, attempt = Campaign(), 0, 0
    ssh_dirs = checker.ssh_dirs()
    while kills < kills_wanted() and attempt < 4 * kills_wanted():
        attempt += 1
        kind = CLASSES[attempt % len(CLASSES)]
        victim = rng.choice("BC")
        for path in rng.sample(TRACKED, k=rng.randint(1, 20)):
            versions.write(group, path, f"{path} v{attempt}\n".encode())
        if kind == CLASSES[2]:  # an area the SEC must receive whole: the PRI pushes with rsync
            area = group.servers[victim].server().sid.area("PRI", 1).path
            shutil.rmtree(area, ignore_errors=True)
        delay = rng.uniform(0, duration * (0.3 if kind == CLASSES[2] else 1.1))
        proc = start_cycle(group)
        if kind == CLASSES[0]:
            injected = kill_group_after(proc, delay)
        else:
            which = sec_session if kind == CLASSES[1] else sec_rsync
            matcher = which(group, victim)
            injected = kill_when_seen(proc, lambda m=matcher: pids_matching(m), delay, rng)
        finish(proc)
        trial = campaign.add(
            Trial(kind, f"attempt {attempt}: {victim}, {delay:.3f} s in", injected)
        )
        trial.problems += checker.area_problems(group, TRACKED)
        trial.problems += checker.torn_files(group, versions)
        states, why = clean_cycle(group)
        if states != EQUAL:
            trial.problems.append(f"one clean cycle did not repair: {states} {why}")
        trial.problems += checker.stale_copies(group, versions)
        trial.problems += checker.leftover_temp_files(group)
        trial.problems += checker.leftover_connection_dirs(group)
        trial.problems += _sec_processes(group)
        kills += injected
    left = checker.ssh_dirs() - ssh_dirs
    if left:
        campaign.add(Trial(CLASSES[0], "leftovers", True, [f"ssh control dirs left: {left}"]))
    write_report(campaign, "kills")
    assert kills >= kills_wanted(), f"only {kills} of {attempt} attempts hit their process"
    for kind in CLASSES:  # every class of kill really happened, several times
        hits = sum(t.injected for t in campaign.trials if t.fault_class == kind)
        assert hits >= kills_wanted() // 6, f"{kind}: only {hits} kills"
    defects = [f"{t.fault_class} ({t.detail}): {t.problems}" for t in campaign.trials if t.problems]
    assert not defects, "\n".join(defects)
