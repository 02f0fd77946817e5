"""A real rsync session through the forced command (transport/forced.py), without sshd: the
client rsync's remote shell is a small script that does what sshd does for a forced command
(SSH_ORIGINAL_COMMAND, SSH_CLIENT, then `atlas-ha ssh-command --role ROLE`). The rsync runs
as the run's child (ops/run.py run_child), so the `ssh-command` run's log has rsync's exit
code and duration, and its closing line carries rsync's code."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from atlas_ha.layout.esd import EsdData
from atlas_ha.layout.sid import grant_file, send_grant_file
from atlas_ha.ops import logs

PEER = "192.0.2.11"
pytestmark = pytest.mark.skipif(shutil.which("rsync") is None, reason="needs rsync")


def server(tmp_path: Path) -> Path:
    cfg = tmp_path / "atlas-ha.toml"
    cfg.write_text(
        'name = "B"\nsystem_root = "root"\nesd_data = "esd"\nsid_data = "sid"\n'
        '[transport]\nkind = "ssh"\n[logs]\ndestination = "file"\nremote_destination = "file"\n'
    )
    for name in ("root", "esd", "sid/PRI/Env1", "sid/SEC1/Env1"):
        (tmp_path / name).mkdir(parents=True)
    return cfg


def fake_ssh(tmp_path: Path, cfg: Path) -> Path:
    """rsync calls `SHELL host rsync --server ...`: run that as sshd runs a forced command."""
    script = tmp_path / "fake-ssh"
    script.write_text(
        "#!/bin/sh\nshift\n"
        f'SSH_ORIGINAL_COMMAND="$*" SSH_CLIENT="{PEER} 40000 22" exec {sys.executable} '
        f"-m atlas_ha --config {cfg} ssh-command --role PRI\n"
    )
    script.chmod(0o755)
    return script


def grant(path: Path, role: str, **extra: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"role": role, "envs": [1], "expires": time.time() + 60, **extra}))


def session_log(esd: Path) -> list[str]:
    (log,) = [f for f in logs.log_files(EsdData(esd)) if f.program == "ssh-command"]
    text = list(logs.lines(log.path))
    for old in logs.log_files(EsdData(esd)):
        old.path.unlink()  # the next session's log is the only one
    return text


def rsync(shell: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["rsync", "-a", "--delete", "--numeric-ids", "--modify-window=-1", "-e", str(shell), *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_a_partners_rsync_is_logged_with_its_exit_code_and_duration(tmp_path: Path) -> None:
    cfg = server(tmp_path)
    shell, sid, esd = fake_ssh(tmp_path, cfg), tmp_path / "sid", tmp_path / "esd"
    source = tmp_path / "snapshot"
    source.mkdir()
    (source / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")

    grant(grant_file(sid, PEER), "PRI")  # receiving: the PRI pushes its snapshot
    done = rsync(shell, f"{source}/", "b:Env1/")
    assert done.returncode == 0, done.stderr
    assert (sid / "PRI" / "Env1" / "passwd").read_text().startswith("root:")
    lines = session_log(esd)
    assert any(f"rsync receiving from {PEER}: rsync exit 0 after " in line for line in lines)
    assert " exit 0 after " in lines[-1]

    grant(send_grant_file(sid, PEER), "SEC1", **{"for": "PRI"})  # reading: a pull from here
    (sid / "SEC1" / "Env1" / "group").write_text("root:x:0:\n")
    pulled = tmp_path / "pulled"
    done = rsync(shell, "b:Env1/", f"{pulled}/")
    assert done.returncode == 0, done.stderr
    assert (pulled / "group").read_text() == "root:x:0:\n"
    lines = session_log(esd)
    assert any(f"rsync --sender from {PEER}: rsync exit 0 after " in line for line in lines)

    grant(grant_file(sid, PEER), "PRI")  # rsync fails: its code is the run's
    done = rsync(shell, f"{tmp_path}/no-such-dir/", "b:Env1/")
    assert done.returncode != 0
    lines = session_log(esd)
    failed = [line for line in lines if f"rsync receiving from {PEER}: rsync exit " in line]
    assert len(failed) == 1 and " exit 0 " not in failed[0], lines
    code = failed[0].split(" rsync exit ")[1].split()[0]
    assert "WARNING" in lines[-1] and f" exit {code} after " in lines[-1]


def test_a_signal_to_the_session_reaches_its_rsync(tmp_path: Path) -> None:
    """sshd ending the session (SIGTERM/SIGHUP to the forced command) ends the child, as it
    ended the exec'd rsync before; the code is 128 + the signal."""
    pid_file = tmp_path / "child.pid"
    program = (
        "import sys; from pathlib import Path; from atlas_ha.ops.run import run_child; "
        f"sys.exit(run_child(['/bin/sh', '-c', 'echo $$ > {pid_file}; exec sleep 60'], "
        "Path('.'), 'a child'))"
    )
    proc = subprocess.Popen([sys.executable, "-c", program], stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text().endswith("\n"):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.02)
    child = int(pid_file.read_text())
    proc.send_signal(signal.SIGHUP)
    assert proc.wait(timeout=30) == 128 + signal.SIGHUP
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)
