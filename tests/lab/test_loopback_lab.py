"""Without root, the lab falls back to loopback addresses and unprivileged ports and runs the
same scenarios (issue 4, item 5). The demo runs here as an unprivileged user (atlas-lab,
created by .ci/setup) from a private copy of the package, with Debian's Python."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import atlas_ha

pytestmark = [pytest.mark.lab, pytest.mark.slow]
USER = "atlas-lab"
PYTHON = "/usr/bin/python3"


@pytest.fixture
def unprivileged_python() -> Iterator[tuple[Path, Path]]:
    """(python, scratch dir): a venv of the unprivileged user that imports this atlas_ha."""
    try:
        pw = pwd.getpwnam(USER)
    except KeyError:
        pytest.skip(f"no user {USER} (bash .ci/setup creates it)")
    if os.geteuid() != 0 or not Path(PYTHON).exists():
        pytest.skip("needs root (to become the unprivileged user) and Debian's python3")
    base = Path(tempfile.mkdtemp(prefix="atlas-ha-loop-test-", dir="/var/tmp"))
    base.chmod(0o755)
    try:
        package = Path(atlas_ha.__file__).parent
        shutil.copytree(package, base / "src" / "atlas_ha", ignore=shutil.ignore_patterns("*.pyc"))
        subprocess.run([PYTHON, "-m", "venv", "--without-pip", str(base / "venv")], check=True)
        site = next((base / "venv" / "lib").glob("python3*/site-packages"))
        (site / "atlas_ha.pth").write_text(str(base / "src") + "\n")
        for info in Path(sys.prefix).glob("lib/python3*/site-packages/atlas_ha-*.dist-info"):
            shutil.copytree(info, site / info.name)  # the verifier entry points
        (base / "home").mkdir()
        for path in [base, *base.rglob("*")]:
            os.chown(path, pw.pw_uid, pw.pw_gid, follow_symlinks=False)
        yield base / "venv" / "bin" / "python", base
    finally:
        if (base / "demo" / "lab.json").exists():  # a failed demo: stop its daemons by PID
            python = base / "venv" / "bin" / "python"
            as_user(python, base, "lab", "--dir", str(base / "demo"), "down")
        shutil.rmtree(base, ignore_errors=True)


def as_user(python: Path, base: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(base / "home"), "LANG": "C.UTF-8"}
    become = ["setpriv", "--reuid", USER, "--regid", USER, "--init-groups", "--"]
    return subprocess.run(
        [*become, str(python), "-m", "atlas_ha", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )


def test_demo_without_root_uses_loopback_and_runs_the_scenarios(
    unprivileged_python: tuple[Path, Path],
) -> None:
    python, base = unprivileged_python
    out = as_user(python, base, "demo", "--dir", str(base / "demo"), "--down")
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-3000:]
    assert "no network namespaces (not root)" in text and "loopback addresses" in text
    answers = [line for line in text.splitlines() if "client -> 127.0.1.11 answered by" in line]
    # each step: the PRI address answered, always with the PRI's page and the same rows
    holders = [line.split("answered by ")[1].split(":")[0] for line in answers]
    assert holders[0] == "A" and "B" in holders and holders[-1] == "C"
    for line in answers:
        assert "client data on the PRI's disk" in line
        assert "['Ada Lovelace', 'Grace Hopper', 'Edsger Dijkstra']" in line
    assert '{"all_equal": true}' in text
    assert "lab taken down." in text
    # nothing of the lab runs any more as that user
    # (zombies are dead already: their reaper is this machine's init, not the lab)
    ps = subprocess.run(
        ["ps", "-o", "pid,stat,cmd", "--no-headers", "-u", USER], capture_output=True, text=True
    )
    alive = [line for line in ps.stdout.splitlines() if line.split()[1][0] != "Z"]
    assert alive == []
