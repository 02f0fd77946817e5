"""Every process the lab (and the demo on it) leaves running is started by one function,
which never hands it the caller's stdout or stderr: `atlas-ha lab up | cat` ends."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import time
from pathlib import Path

import atlas_ha
from atlas_ha.lab import host

SRC = Path(atlas_ha.__file__).parent


def test_the_only_popen_of_the_lab_and_the_demo_is_start_daemon() -> None:
    found = []
    for package in ("lab", "demo"):
        for module in sorted((SRC / package).glob("*.py")):
            tree = ast.parse(module.read_text())
            for func in ast.walk(tree):
                if not isinstance(func, ast.FunctionDef):
                    continue
                for node in ast.walk(func):
                    called = node.func if isinstance(node, ast.Call) else None
                    popen = isinstance(called, ast.Attribute) and called.attr == "Popen"
                    popen = popen or (isinstance(called, ast.Name) and called.id == "Popen")
                    if popen:
                        found.append(f"{package}/{module.name}:{func.name}")
    assert found == ["lab/host.py:start_daemon"]


def test_a_started_daemon_holds_none_of_the_callers_descriptors(tmp_path: Path) -> None:
    log = tmp_path / "sleep.log"
    script = (
        "import sys; from pathlib import Path; from atlas_ha.lab.host import start_daemon; "
        f"print(start_daemon(['sleep', '60'], Path({str(log)!r})).pid); "
        "print('started', file=sys.stderr)"
    )
    started = time.monotonic()
    # capture_output: run() returns only once both pipes reach EOF, i.e. once no process
    # holds them any more; the daemon must not be one of those
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=True
    )
    took = time.monotonic() - started
    pid = int(done.stdout.strip())
    try:
        assert took < 15
        assert done.stderr.strip() == "started"
        fds = {n: os.readlink(f"/proc/{pid}/fd/{n}") for n in ("0", "1", "2")}
        assert fds == {"0": "/dev/null", "1": str(log), "2": str(log)}
        assert os.getsid(pid) == pid  # its own session: no signal of the caller's terminal
    finally:
        host.stop(pid)
