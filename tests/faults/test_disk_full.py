"""A full SID_DATA and a full system root, on a small real filesystem (a tmpfs mounted over
that directory for the trial), on the PRI and on a SEC, during real cycles over OpenSSH: a
clear error naming the file, nothing torn, no invalid snapshot used, and once space is free
one clean cycle repairs everything."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.faults import checker
from tests.faults.campaign import Campaign, Trial, clean_cycle, finish, start_cycle, write_report

from atlas_ha.lab.group import SimGroup

pytestmark = [pytest.mark.slow]

TRACKED = [f"/etc/app/full/f{i:02}.conf" for i in range(30)] + ["/etc/app/app.conf"]
EQUAL = {"SEC1": "equal", "SEC2": "equal"}


@contextlib.contextmanager
def small_filesystem(path: Path, size: str = "64m") -> Iterator[Path]:
    """`path`'s content moved onto a tmpfs of `size` mounted at `path` for the block; the
    filler file that fills it is `path`/../<name>.filler's job (see `fill`)."""
    saved = path.with_name(path.name + ".before-tmpfs")
    path.rename(saved)
    path.mkdir()
    os.chmod(path, saved.stat().st_mode & 0o7777)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        os.chmod(path, saved.stat().st_mode & 0o7777)
        subprocess.run(["cp", "-a", f"{saved}/.", f"{path}/"], check=True)
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)
        path.rmdir()
        saved.rename(path)


def fill(directory: Path) -> Path:
    """Fill the filesystem of `directory` to the last byte; return the filler file."""
    filler = directory / ".atlas-test-filler"
    with filler.open("wb", buffering=0) as handle:
        for size in (1 << 20, 4096, 512):
            with contextlib.suppress(OSError):
                while handle.write(b"\0" * size):
                    pass
    probe = directory / ".atlas-test-probe"
    try:
        probe.write_bytes(b"\0" * 8192)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    else:
        probe.unlink()
        raise AssertionError(f"{directory} is not full")
    return filler


TRIALS = [
    ("full SID_DATA on a SEC", "C", "sid"),
    ("full system root on a SEC", "B", "root"),
    ("full SID_DATA on the PRI", "A", "sid"),
]


def test_full_filesystems(ssh_group: SimGroup) -> None:
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("needs root to mount a small filesystem")
    group = ssh_group
    versions = checker.Versions()
    for path in TRACKED:
        versions.write(group, path, f"{path} v0\n".encode())
    assert clean_cycle(group)[0] == EQUAL
    campaign = Campaign()
    for attempt, (kind, name, which) in enumerate(TRIALS, start=1):
        sim = group.servers[name]
        where = group.disk(f"disk-{name}") / "SID_DATA" if which == "sid" else sim.root
        with small_filesystem(where):
            filler = fill(where)
            for path in TRACKED[attempt : attempt + 8]:
                versions.write(group, path, f"{path} v{attempt}\n".encode())
            code, out, err = finish(start_cycle(group))
            trial = campaign.add(Trial(kind, f"{name}: exit {code}", True))
            said = out + err
            # the write fails (ENOSPC), or the start handler refuses before it (ops/start.py)
            reported = ("No space left on device", "refused by the start handler")
            lines = [ln for ln in said.splitlines() if any(r in ln for r in reported)]
            if not lines:
                trial.problems.append(f"the full disk was not reported: {said.strip()[-300:]}")
            elif "/" not in lines[0]:
                trial.problems.append(f"the report names no file: {lines[0]}")
            else:
                trial.detail += f"; {lines[0].strip()[:200]}"
            if "Traceback" in err:
                trial.problems.append(f"a traceback: {err.strip()[-300:]}")
            trial.problems += checker.area_problems(group, TRACKED)
            trial.problems += checker.torn_files(group, versions)
            filler.unlink()
            states, why = clean_cycle(group)
            if states != EQUAL:
                trial.problems.append(f"one clean cycle with space again did not repair: {why}")
            trial.problems += checker.stale_copies(group, versions)
            trial.problems += checker.leftover_temp_files(group)
    write_report(campaign, "disks")
    defects = [f"{t.fault_class} ({t.detail}): {t.problems}" for t in campaign.trials if t.problems]
    assert not defects, "\n".join(defects)
