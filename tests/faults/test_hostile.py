"""Hostile partners and hostile snapshots over real OpenSSH, as trials of the campaign: each
attack, then the checker (no valid area broken, nothing changed where the attack aimed), then
one clean cycle once the attacker's change is undone. The individual refusals are pinned down
in tests/lab/test_role_authority_ssh.py and tests/scenarios/test_receive_hardening.py; here they
run one after the other against one group, as an attacker would try them."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.faults import checker
from tests.faults.campaign import Campaign, Trial, clean_cycle, write_report
from tests.lab.conftest import ADDR, ssh_argv, ssh_as
from tests.lab.test_role_authority_ssh import SEC1_MC, impostor, stop_pri, tree

from atlas_ha.lab.group import SimGroup
from atlas_ha.sync.cycle import cycle

pytestmark = [pytest.mark.slow]

TRACKED = ["/etc/app/app.conf"]
EQUAL = {"SEC1": "equal", "SEC2": "equal"}
ESCAPES = [
    ("id",),
    ("sh", "-c", "id"),
    ("atlas-ha", "serve;", "id"),
    ("rsync", "--server", "--sender", "-logDtpre.iLsfxCIvu", ".", "/etc/"),
    ("rsync", "--server", "-logDtpre.iLsfxCIvu", ".", "../PRI/Env1/"),
    ("scp", "-t", "/tmp"),
    ("atlas-ha", "ssh-command", "--role", "PRI"),
]


def quiet(_line: str) -> None:
    pass


def watched(group: SimGroup, *names: str) -> dict[str, str]:
    """What an attack must not change: those servers' system roots and disks."""
    state: dict[str, str] = {}
    for name in names:
        state |= tree(group.servers[name].root) | tree(group.disk(f"disk-{name}"))
    return {k: v for k, v in state.items() if "/.results/" not in k and "/run/" not in k}


def escapes(group: SimGroup) -> list[str]:
    problems = []
    for command in ESCAPES:
        done = ssh_as(group, "B", "PRI", *command)
        if done.returncode == 0:
            problems.append(f"{' '.join(command)!r} from SEC1's key ran: {done.stdout[:100]}")
    return problems


def sec_key_as_pri_session(group: SimGroup) -> list[str]:
    """SEC1's key, in a session on the PRI, asks to receive PRI snapshots and a SyncUp."""
    lines = [
        {"op": "hello", "master_config": SEC1_MC.render()},
        {"op": "receive-begin", "role": "PRI", "sev": 2, "envs": [1, 2]},
        {"op": "syncup"},
    ]
    done = ssh_as(
        group,
        "B",
        "PRI",
        "atlas-ha",
        "serve",
        input_text="".join(json.dumps(r) + "\n" for r in lines),
    )
    answers = [json.loads(a) for a in done.stdout.splitlines() if a.strip()]
    if len(answers) != 3 or not answers[0].get("ok") or any(a.get("ok") for a in answers[1:]):
        return [f"SEC1's key on the PRI was not refused receive-begin PRI and syncup: {answers}"]
    return []


def rsync_without_grant(group: SimGroup, tmp_path: Path) -> list[str]:
    payload = tmp_path / "payload"
    payload.mkdir(exist_ok=True)
    (payload / "planted").write_text("owned\n")
    shell = " ".join(ssh_argv(group, "B", "PRI"))
    push = subprocess.run(
        ["rsync", "-a", "-e", shell, f"{payload}/", f"root@{ADDR['PRI']}:Env1/"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    planted = list(group.disk("disk-A").rglob("planted"))
    if push.returncode == 0 or planted:
        return [f"an rsync without a grant was accepted: {planted}"]
    return []


def hostile_sec_snapshot(group: SimGroup, name: str, path: str, mode: int) -> Callable[[], None]:
    """SEC `name`'s own snapshot made hostile through its system (an identity file, which no
    Install overwrites, with `mode`); returns the undo."""
    target = group.servers[name].file(path)
    before = target.stat().st_mode & 0o7777
    os.chmod(target, mode)
    return lambda: os.chmod(target, before)


def hostile_pri_snapshot(group: SimGroup, path: str, mode: int) -> Callable[[], None]:
    """The PRI's snapshot made hostile: a synced file with `mode` (a compromised PRI)."""
    target = group.servers["A"].file(path)
    existed = target.exists()
    before = target.stat().st_mode & 0o7777 if existed else 0
    if not existed:
        target.write_text("#!/bin/sh\n")
    os.chmod(target, mode)
    return lambda: os.chmod(target, before) if existed else target.unlink()


def test_hostile_partners_and_snapshots(ssh_group: SimGroup, tmp_path: Path) -> None:
    group, campaign = ssh_group, Campaign()
    assert clean_cycle(group)[0] == EQUAL

    def after(trial: Trial, undo: Callable[[], None] | None = None) -> None:
        trial.problems += checker.area_problems(group, TRACKED)
        if undo is not None:
            undo()
        states, why = clean_cycle(group)
        if states != EQUAL:
            trial.problems.append(f"one clean cycle did not repair: {states} {why}")

    # -- hostile partners: a SEC's key trying to act beyond its role --------------------------
    before = watched(group, "A")
    trial = campaign.add(Trial("hostile partner", "forced-command escapes from SEC1's key", True))
    trial.problems += escapes(group)
    trial.problems += sec_key_as_pri_session(group)
    trial.problems += rsync_without_grant(group, tmp_path)
    if watched(group, "A") != before:
        trial.problems.append("the PRI's system root or disk changed")
    after(trial)

    # -- hostile snapshots from a (compromised) SEC, sent back to the PRI ---------------------
    for kind, name, path, mode, refused in (
        ("setuid identity file", "B", "/etc/sysconfig/network", 0o4755, True),
        ("world-writable identity file", "C", "/etc/hostname", 0o666, True),
    ):
        trial = campaign.add(Trial("hostile snapshot from a SEC", f"{kind} on {name}", True))
        a_before = watched(group, "A")
        undo = hostile_sec_snapshot(group, name, path, mode)
        report = cycle(group.servers["A"].server(quiet))
        role = {"B": "SEC1", "C": "SEC2"}[name]
        outcome = next(s for s in report.secs if s.sec == role)
        if refused and (outcome.reached or "refuse" not in outcome.error):
            trial.problems.append(f"the PRI accepted {kind} from {role}: {outcome}")
        pri = group.servers["A"].server(quiet).sid
        if refused and pri.is_valid(role, 2):
            trial.problems.append(f"({role},2) on the PRI is valid after a refused send")
        changed = {k for k, v in watched(group, "A").items() if a_before.get(k) != v}
        if any("/disks/disk-A/SID_DATA/PRI/" in k for k in changed) or any(
            k.startswith(str(group.servers["A"].root)) for k in changed
        ):
            trial.problems.append("the PRI's own snapshot or system changed")
        after(trial, undo)

    # -- hostile snapshots from a (compromised) PRI: the SECs' policy refuses them -------------
    for kind, path, mode in (
        ("setuid file in a synced directory", "/etc/app/helper", 0o4755),
        ("world-writable synced file", "/etc/app/app.conf", 0o666),
        ("shadow file readable by all", "/etc/shadow", 0o644),
    ):
        trial = campaign.add(Trial("hostile snapshot from the PRI", kind, True))
        secs_before = {n: tree(group.servers[n].root) for n in "BC"}
        undo = hostile_pri_snapshot(group, path, mode)
        report = cycle(group.servers["A"].server(quiet))
        for outcome in report.secs:
            if outcome.reached or "refuse" not in outcome.error:
                trial.problems.append(f"{outcome.sec} accepted the {kind}: {outcome.error}")
        for n in "BC":
            if tree(group.servers[n].root) != secs_before[n]:
                trial.problems.append(f"{n}'s system root changed")
        after(trial, undo)

    # -- the issue's impersonation: SEC1's key from the PRI's address, the PRI down ------------
    trial = campaign.add(Trial("hostile partner", "SEC1's key as the PRI, PRI down", True))
    c_before = watched(group, "C")
    stop_pri(group)
    report = cycle(impostor(group, tmp_path))
    sec2 = next(s for s in report.secs if s.sec == "SEC2")
    if sec2.reached:
        trial.problems.append("SEC2 took a SyncCycle from SEC1's key")
    if watched(group, "C") != c_before:
        trial.problems.append("SEC2's system root or disk changed")
    trial.problems += checker.area_problems(group, TRACKED)

    write_report(campaign, "hostile")
    defects = [f"{t.fault_class} ({t.detail}): {t.problems}" for t in campaign.trials if t.problems]
    assert not defects, "\n".join(defects)
