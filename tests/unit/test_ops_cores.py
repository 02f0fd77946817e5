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

from atlas_ha.layout.esd import EsdData
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
    tmp_path: Path, core_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(crash, "SCAN_EVERY", 0.0)  # every run scans (rate limit: below)
    settings = settings_in(tmp_path, crashes={"core_dir": "cores"})
    core = segfault_in(core_dir)
    crashed_at = core.stat().st_mtime
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
    seen = shown["occurrences"][0]  # the core's own time and program, the scanning run's log
    assert seen["program"] == info.program and seen["time"] == crashed_at
    assert seen["log_file"] == str(first.log_file)
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


COREDUMPCTL_LIST = (  # `coredumpctl --json=short --no-pager list`, as systemd 252 prints it
    '[{"time":1733065200123456,"pid":4242,"uid":33,"gid":33,"sig":11,"corefile":"present",'
    '"exe":"/usr/sbin/nginx","size":413696},'
    '{"time":1733065300000000,"pid":4243,"uid":0,"gid":0,"sig":6,"corefile":"missing",'
    '"exe":"/usr/sbin/smbd","size":null}]'
)


@pytest.fixture
def fake_coredumpctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `coredumpctl` on PATH printing recorded output; `dump PID -o OUT` writes a core
    (not an ELF one: what the entry says must stand in) and notes each call."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "coredumpctl.calls"
    script = bin_dir / "coredumpctl"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {calls}\n'
        'case "$*" in\n'
        f"  *list*) cat <<'EOF'\n{COREDUMPCTL_LIST}\nEOF\n;;\n"
        '  dump*) printf "core of %s" "$2" > "$4";;\n'
        "  *) exit 2;;\nesac\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return calls


def test_coredumpctl_cores_are_recorded_with_their_own_time_and_program(
    tmp_path: Path, fake_coredumpctl: Path
) -> None:
    settings = settings_in(tmp_path, crashes={"coredumpctl": "yes"})
    lines: list[str] = []
    found = crash.scan_cores(settings, lines.append, crash.RunInfo("boot", "/x/boot.log"))
    assert [outcome for _sig, outcome in found] == ["new"]  # the missing core: skipped
    store = crash.store_for(settings)
    (row,) = store.summaries()
    assert row["title"] == "nginx killed by SIGSEGV"
    (seen,) = store.show(row["signature"])["occurrences"]
    assert seen["time"] == 1733065200.123456 and seen["program"] == "/usr/sbin/nginx"
    assert store.core(row["signature"]) == b"core of 4242"
    assert crash.scan_cores(settings, lines.append, crash.RunInfo("boot", None)) == []  # seen
    assert fake_coredumpctl.read_text().count("dump 4242") == 1


def test_the_wrapper_scans_for_cores_at_most_once_a_minute(tmp_path: Path) -> None:
    settings = settings_in(tmp_path, crashes={"core_dir": "cores"})
    cores = tmp_path / "cores"
    cores.mkdir()
    with run(settings, "boot"):
        pass
    core = cores / "core"
    core.write_bytes(b"not an ELF core")
    os.utime(core, (core.stat().st_mtime - 10,) * 2)  # settled
    with run(settings, "boot"):
        pass
    assert core.exists()  # scanned less than a minute ago: left for a later run
    stamp = EsdData(settings.esd_data).core_scan_stamp_file
    os.utime(stamp, (stamp.stat().st_mtime - 61,) * 2)
    with run(settings, "boot"):
        pass
    assert not core.exists()  # taken in
