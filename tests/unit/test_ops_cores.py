"""Core files (ops/crash.py): a real program killed by SIGSEGV leaves a real core in the
configured core directory; the wrapper's scan takes it into the store (program and signal
read from the core's own notes, the core lzma-compressed), alerts once for the new
signature, not for the next core of the same crash, and removes what it stored."""

from __future__ import annotations

import lzma
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from tests.unit.test_ops_crashes import settings_in

from atlas_ha.ops import crash
from atlas_ha.ops.notify import read_events
from atlas_ha.ops.run import run

CRASHER = "import ctypes; ctypes.string_at(0)"


def core_pattern() -> str:
    try:
        return Path("/proc/sys/kernel/core_pattern").read_text().strip()
    except OSError:
        return "?"


def segfault_in(directory: Path) -> Path:
    """Run the crasher with its cwd in `directory` and cores allowed (for it only)."""

    def allow_cores() -> None:
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))

    before = set(directory.iterdir())
    done = subprocess.run(
        [sys.executable, "-c", CRASHER], cwd=directory, preexec_fn=allow_cores, check=False
    )
    assert done.returncode == -signal.SIGSEGV
    cores = set(directory.iterdir()) - before
    if not cores:
        pytest.skip("the machine wrote no core (a container's limits?)")
    (core,) = cores
    aged = core.stat().st_mtime - 10  # complete (its process is reaped): past the settle time
    os.utime(core, (aged, aged))
    return core


@pytest.fixture
def core_dir(tmp_path: Path) -> Path:
    pattern = core_pattern()
    if pattern not in ("core", "core.%p"):
        pytest.skip(f"core_pattern is {pattern!r}, not a plain core in the cwd (left alone)")
    path = tmp_path / "cores"
    path.mkdir()
    return path


def test_a_real_core_is_picked_up_once_with_its_program_and_signal(
    tmp_path: Path, core_dir: Path
) -> None:
    settings = settings_in(tmp_path, crashes={"core_dir": "cores"})
    core = segfault_in(core_dir)
    info = crash.read_core_info(core)
    assert info.signal_name == "SIGSEGV"
    assert Path(info.program).name.startswith("python"), info
    raw = core.read_bytes()
    with run(settings, "verify-run") as first:
        pass
    assert not core.exists()  # stored, then removed: a later crash cannot overwrite it
    store = crash.store_for(settings)
    (row,) = store.summaries()
    assert row["kind"] == "core" and row["title"].endswith("killed by SIGSEGV")
    assert store.core(row["signature"]) == raw
    shown = store.show(row["signature"])
    assert shown["core_bytes"] == len(lzma.compress(raw)) < len(raw)
    assert shown["occurrences"][0]["program"] == "verify-run"
    assert shown["occurrences"][0]["log_file"] == str(first.log_file)
    segfault_in(core_dir)  # the same crash again
    with run(settings, "verify-run"):
        pass
    assert store.summaries()[0]["count"] == 2
    assert [e["kind"] for e in read_events(settings)] == ["crash-new"]  # one alert, not two


def test_a_core_still_being_written_waits_for_the_next_run(tmp_path: Path) -> None:
    settings = settings_in(tmp_path, crashes={"core_dir": "cores"})
    (tmp_path / "cores").mkdir()
    (tmp_path / "cores" / "core").write_bytes(b"\x7fELF partial")
    assert crash.scan_cores(settings, print, crash.RunInfo(None, None)) == []  # too young
    found = crash.scan_cores(settings, print, crash.RunInfo(None, None), settle=0)
    assert [outcome for _sig, outcome in found] == ["new"]  # not an ELF core: "unknown"


def test_coredumpctl_json_is_parsed() -> None:
    text = (
        '[{"time":1733065200123456,"pid":4242,"uid":0,"gid":0,"sig":11,'
        '"corefile":"present","exe":"/usr/sbin/nginx","size":123}, {"bogus": 1}]'
    )
    (entry,) = crash.parse_coredumpctl(text)
    assert entry["pid"] == 4242 and entry["exe"] == "/usr/sbin/nginx"
    assert crash.parse_coredumpctl("not json") == []
