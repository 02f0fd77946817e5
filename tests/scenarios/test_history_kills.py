"""A git killed at any step (add, update-index, commit-tree, update-ref; on the PRI and on a
SEC's receive side) leaves its lock files; the next cycle removes them as stale (no live git
holds them) and succeeds, and its history holds every area as it is (a record killed after
it staged a change must not leave the area's stamp: the next record stages it whole). The
steps after the first cycle take the targeted path (update-index of the changed objects);
`add` is reached by removing the victim's stamps first. A lock held by a live git is never
removed, and git's whole error message is reported."""

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
if [ "$GIT_DIR" = "$KILL_GIT_DIR" ]; then echo "$1" >> "$KILL_GIT_LOG"; fi
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
        "KILL_GIT_LOG": str(tmp_path / "git-steps"),
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


@pytest.mark.parametrize("step", ["add", "update-index", "commit-tree", "update-ref"])
@pytest.mark.parametrize("victim", ["A", "C"])
def test_a_git_killed_at_any_step_does_not_wedge_the_history(
    group: SimGroup, run_cycle: Cycle, tmp_path: Path, victim: str, step: str
) -> None:
    run_cycle("A")
    group.servers["A"].file("/etc/app/app.conf").write_text("level = 4\n")
    stamps = group.servers[victim].server().history.stamps
    if step == "add":
        stamps.file.unlink()  # no stamp: every area is staged whole
    done = sabotaged_cycle(group, tmp_path, victim, step)
    ran = (tmp_path / "git-steps").read_text().split()
    assert ("update-index" in ran) == (step != "add")  # the targeted path was taken
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
    git = group.servers[victim].server().history.git
    assert git("diff", "--cached", "--name-only", "HEAD").stdout == ""  # all committed
    assert git("status", "--porcelain", "--untracked-files=no").stdout == ""  # as it is


@pytest.mark.parametrize("victim", ["A", "C"])
def test_a_change_staged_by_a_killed_record_and_then_undone_is_not_left_staged(
    group: SimGroup, run_cycle: Cycle, tmp_path: Path, victim: str
) -> None:
    """Killed after its update-index, a record leaves the change staged. When the file goes
    back to exactly what was recorded last (content and mtime: the same Manifest), the next
    record must not take the old stamp as proof that nothing needs staging."""
    run_cycle("A")
    app = group.servers["A"].file("/etc/app/app.conf")
    text, before = app.read_bytes(), app.stat()
    app.write_text("level = 5\n")
    sabotaged_cycle(group, tmp_path, victim, "commit-tree")
    git = group.servers[victim].server().history.git
    assert git("diff", "--cached", "--name-only", "HEAD").stdout  # staged, not committed
    app.write_bytes(text)
    os.utime(app, ns=(before.st_atime_ns, before.st_mtime_ns))
    report = cycle(group.servers["A"].server())
    assert states(report) == {"SEC1": "equal", "SEC2": "equal"}
    assert git("diff", "--cached", "--name-only", "HEAD").stdout == ""
    assert git("status", "--porcelain", "--untracked-files=no").stdout == ""


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
