"""The fault campaign's engine: trials, what each injected, what the checker found, and the
table of docs/reliability.md.

A trial injects one fault into one real SyncCycle (a CLI process over OpenSSH + rsync),
checks what the fault left (checker.py), runs one clean cycle and checks that it repaired
everything. Randomness is seeded (ATLAS_HA_FAULT_SEED), so a failing trial can be replayed;
ATLAS_HA_FAULT_TRIALS raises the number of kills (default 30 per run).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from atlas_ha.lab.group import SimGroup

SEED_VAR, TRIALS_VAR, REPORT_VAR = (
    "ATLAS_HA_FAULT_SEED",
    "ATLAS_HA_FAULT_TRIALS",
    "ATLAS_HA_FAULT_REPORT",
)
DEFAULT_SEED, DEFAULT_KILLS = 20261201, 30


def seed() -> int:
    return int(os.environ.get(SEED_VAR, DEFAULT_SEED))


def kills_wanted() -> int:
    return int(os.environ.get(TRIALS_VAR, DEFAULT_KILLS))


@dataclass
class Trial:
    fault_class: str  # the row of the table
    detail: str  # what exactly was done (delay, victim), for replaying
    injected: bool = False  # whether the fault really hit (a kill found its process)
    problems: list[str] = field(default_factory=list)

    @property
    def survived(self) -> bool:
        return self.injected and not self.problems


@dataclass
class Campaign:
    trials: list[Trial] = field(default_factory=list)

    def add(self, trial: Trial) -> Trial:
        self.trials.append(trial)
        return trial

    def table(self) -> str:
        rows: dict[str, list[Trial]] = {}
        for trial in self.trials:
            if trial.injected:
                rows.setdefault(trial.fault_class, []).append(trial)
        lines = [
            "| fault class | trials | survived | defects |",
            "|---|---:|---:|---|",
        ]
        details = [f"- {t.fault_class}: {t.detail}" for t in self.trials if t.injected]
        for name, trials in rows.items():
            defects = sorted({p for t in trials for p in t.problems})
            shown = "; ".join(defects[:3]) + (" ..." if len(defects) > 3 else "")
            survived = sum(t.survived for t in trials)
            lines.append(f"| {name} | {len(trials)} | {survived} | {shown or 'none'} |")
        return (
            "\n".join(lines)
            + "\n\n<details><summary>trials</summary>\n\n"
            + "\n".join(details)
            + "\n\n</details>\n"
        )


# -- processes ---------------------------------------------------------------------------------
def start_cycle(group: SimGroup, name: str = "A", *extra: str) -> subprocess.Popen[str]:
    """`atlas-ha sync cycle --json` on server `name`, in its own process group (a kill of
    the group is what a power cut or `systemctl kill` does to it)."""
    config = str(group.servers[name].config)
    return subprocess.Popen(
        [sys.executable, "-m", "atlas_ha", "--config", config, "sync", "cycle", "--json", *extra],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 180) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def clean_cycle(group: SimGroup) -> tuple[dict[str, str], str]:
    """One cycle without faults: ({SEC: compare state}, what went wrong if it did not run)."""
    code, out, err = finish(start_cycle(group))
    try:
        report = json.loads(out)
    except ValueError:
        return {}, f"the clean cycle exited {code} without a report: {err.strip()[-500:]}"
    states = {c["sec"]: c["state"] for c in report["compare"]}
    notes = [f"{s['sec']}: {s['error']}" for s in report["secs"] if not s["reached"]]
    return states, "; ".join(notes)


def pids_matching(test: Callable[..., bool]) -> list[int]:
    """PIDs whose (argv, working directory, pid) pass `test`."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            raw = (proc / "cmdline").read_bytes()
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        argv = [a.decode(errors="replace") for a in raw.split(b"\0") if a]
        if argv and test(argv, cwd, int(proc.name)):
            found.append(int(proc.name))
    return found


def environ_of(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return []


def sec_session(group: SimGroup, name: str) -> Callable[..., bool]:
    """The partner session (`atlas-ha ssh-command --role R`) running on SEC `name`: its
    settings come from sshd's SetEnv (ATLAS_HA_CONFIG), or from --config."""
    config = str(group.servers[name].config)
    wanted = f"ATLAS_HA_CONFIG={config}".encode()

    def test(argv: list[str], cwd: str, pid: int = 0) -> bool:
        if "ssh-command" not in argv:
            return False
        return config in argv or wanted in environ_of(pid)

    return test


def sec_rsync(group: SimGroup, name: str) -> Callable[..., bool]:
    """An `rsync --server` writing into (or reading from) SEC `name`'s SID_DATA."""
    disk = os.path.realpath(group.servers[name].server().settings.sid_data)
    return lambda argv, cwd, _pid=0: (
        Path(argv[0]).name == "rsync"
        and "--server" in argv
        and os.path.realpath(cwd).startswith(disk)
    )


def kill_when_seen(
    proc: subprocess.Popen[str],
    find: Callable[[], list[int]],
    after: float,
    rng: random.Random,
    jitter: float = 0.05,
) -> bool:
    """Once `after` seconds passed, SIGKILL the first process `find` names (waiting for one
    to appear while the cycle runs, plus a random jitter); False if the cycle ended first."""
    started = time.monotonic()
    while time.monotonic() - started < after:
        if proc.poll() is not None:
            return False
        time.sleep(0.005)
    while proc.poll() is None:
        pids = find()
        if pids:
            time.sleep(rng.uniform(0, jitter))
            try:
                os.kill(pids[0], signal.SIGKILL)
            except ProcessLookupError:
                continue  # it ended meanwhile: try the next one
            return True
        time.sleep(0.002)
    return False


def kill_group_after(proc: subprocess.Popen[str], after: float) -> bool:
    """SIGKILL the cycle's whole process group `after` seconds in; False if it ended first."""
    deadline = time.monotonic() + after
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        time.sleep(0.005)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True


def write_report(campaign: Campaign, title: str) -> Path | None:
    """Write the campaign's table where ATLAS_HA_FAULT_REPORT says (docs/reliability.md's
    section `title` is replaced), if it is set."""
    target = os.environ.get(REPORT_VAR)
    if not target:
        return None
    path = Path(target)
    text = path.read_text() if path.exists() else "# Reliability\n"
    start, end = f"<!-- campaign:{title} -->", f"<!-- /campaign:{title} -->"
    block = f"{start}\n{campaign.table()}{end}"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)
    return path
