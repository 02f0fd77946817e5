"""A git killed at any step (add, commit-tree, update-ref; on the PRI and on a SEC's receive
side) leaves its lock files; the next cycle removes them as stale (no live git holds them)
and succeeds. A lock held by a live git is never removed, and git's whole error message is
reported."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import states

from atlas_ha.errors import HistoryError
from atlas_ha.lab.group import SimGroup
from atlas_ha.layout.history import git_processes_on
from atlas_ha.sync.create import create
from atlas_ha.sync.cycle import CycleReport, cycle

Cycle = Callable[[str], CycleReport]

# a git that, once, for one repository and one subcommand, dies the way a SIGKILL of the
# whole process group leaves things: its lock file stays, the atlas-ha process that ran it
# is killed (then it exits as a killed process would)
WRAPPER = """#!/bin/sh
if [ "$1" = "$KILL_GIT_STEP" ] && [ "$GIT_DIR" = "$KILL_GIT_DIR" ] && \\
    rm "$KILL_GIT_ONCE" 2>/dev/null; then
    echo "partial" > "$GIT_DIR/index.lock"
    if [ "$1" = update-ref ]; then : > "$GIT_DIR/refs/heads/main.lock"; fi
    kill -KILL $PPID
    exit 137
fi
exec {git} "$@"
"""


def sabotaged_cycle(
    group: SimGroup, tmp_path: Path, victim: str, step: str
) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    wrapper = bin_dir / "git"
    wrapper.write_text(WRAPPER.format(git=shutil.which("git")))
    wrapper.chmod(0o755)
    once = tmp_path / "once"
    once.write_text("")
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "KILL_GIT_STEP": step,
        "KILL_GIT_DIR": str(git_dir(group, victim)),
        "KILL_GIT_ONCE": str(once),
    }
    config = str(group.servers["A"].config)
    done = subprocess.run(
        [sys.executable, "-m", "atlas_ha", "--config", config, "sync", "cycle"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert not once.exists(), f"git {step} never ran for {victim}"  # the fault happened
    return done


def git_dir(group: SimGroup, name: str) -> Path:
    return group.servers[name].server().settings.sid_data / ".git"


@pytest.mark.parametrize("step", ["add", "commit-tree", "update-ref"])
@pytest.mark.parametrize("victim", ["A", "C"])
def test_a_git_killed_at_any_step_does_not_wedge_the_history(
    group: SimGroup, run_cycle: Cycle, tmp_path: Path, victim: str, step: str
) -> None:
    run_cycle("A")
    group.servers["A"].file("/etc/app/app.conf").write_text("level = 4\n")
    done = sabotaged_cycle(group, tmp_path, victim, step)
    if victim == "A":
        assert done.returncode == -9  # the PRI's cycle itself was killed
    else:
        assert "SEC2: NOT SYNCED" in done.stdout  # the SEC's session was killed
    lock = git_dir(group, victim) / "index.lock"
    assert lock.exists()  # what the kill left
    lines: list[str] = []
    report = cycle(group.servers["A"].server(lines.append))
    assert states(report) == {"SEC1": "equal", "SEC2": "equal"}
    assert not lock.exists() and not (git_dir(group, victim) / "HEAD.lock").exists()
    if victim == "A":
        assert any("removed the stale git lock" in line for line in lines)
    for name in "BC":
        assert group.servers[name].file("/etc/app/app.conf").read_text() == "level = 4\n"
    log = group.servers[victim].server().history.log([])
    assert log and log[0].server == victim  # recording goes on


def test_a_lock_held_by_a_live_git_is_kept_and_gits_message_is_reported(
    group: SimGroup, run_cycle: Cycle
) -> None:
    run_cycle("A")
    server = group.servers["A"].server()
    root = server.settings.sid_data
    lock = root / ".git" / "index.lock"
    lock.write_text("")
    live = subprocess.Popen(  # a git working in this repository (an operator's, say)
        ["git", "cat-file", "--batch"],
        cwd=root,
        env={**os.environ, "GIT_DIR": str(root / ".git")},
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while live.pid not in git_processes_on(root):  # it has started working there
            assert time.monotonic() < deadline and live.poll() is None
            time.sleep(0.02)
        assert server.history.clear_stale_locks() == []
        assert lock.exists()
        group.servers["A"].file("/etc/app/app.conf").write_text("level = 6\n")
        with pytest.raises(HistoryError) as caught:
            create(server)
        message = str(caught.value)
        # git's first line names the lock; its advice follows (no longer cut to the tail)
        assert f"Unable to create '{lock}'" in message and "File exists" in message
        assert "may have crashed in this repository" in message
    finally:
        assert live.stdin is not None
        live.stdin.close()
        live.wait(timeout=10)
    assert server.history.clear_stale_locks() == ["index.lock"]
    create(server)
    assert server.history.log(["PRI/Env2"])[0].operation == "create"


def test_scratch_directories_of_killed_processes_are_removed(
    group: SimGroup, run_cycle: Cycle
) -> None:
    run_cycle("A")
    server = group.servers["A"].server()
    staging = server.settings.sid_data / ".staging"
    dead = staging / "history-999999-x1"  # no such process
    live = staging / f"history-{os.getppid()}-x2"  # a process that is alive
    for path in (dead, live):
        path.mkdir(parents=True)
        (path / "export.tar").write_text("half")
    rev = server.history.log([])[0].rev
    server.history.diff(rev, None, [])
    assert not dead.exists() and live.exists()
    assert sorted(p.name for p in staging.iterdir()) == [live.name]
