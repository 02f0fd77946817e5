"""The operations through the CLI: every command runs through the wrapper (the daemon's own
daily log, one log per SyncCycle it runs), `atlas-ha logs` finds a program's and a run's
lines, `atlas-ha crashes` lists, shows, marks fixed, exports and imports."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.unit.test_ops_crashes import HOOKED, SRC, settings_in

from atlas_ha.daemon import control
from atlas_ha.daemon.loop import read_heartbeat
from atlas_ha.lab.group import SimGroup
from atlas_ha.ops.logs import lines
from atlas_ha.ops.notify import read_events


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "atlas_ha", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_the_daemon_logs_daily_and_each_of_its_cycles_has_its_own_log(group: SimGroup) -> None:
    a = group.servers["A"]
    server = a.server(lambda _line: None)
    assert cli(a.config, "daemon", "start", "--interval", "0.3").returncode == 0
    try:
        deadline = time.monotonic() + 60
        while "SyncCycle done" not in str((read_heartbeat(server) or {}).get("sentence")):
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        control.stop(server)
    logs = server.esd.logs_dir
    day = time.strftime("%Y-%m-%d", time.gmtime())
    daemon_log = (logs / f"daemon-run.{day}.local.log").read_text()
    assert " INFO " in daemon_log and "SyncCycle done" in daemon_log
    assert "exit 0 after" in daemon_log.splitlines()[-1]
    cycles = sorted(logs.glob("sync-cycle.*.local.log*"))
    assert cycles
    first = list(lines(cycles[0]))
    assert "start sync-cycle" in first[0] and "exit 0 after" in first[-1]
    run_id = first[0].split(" ")[2]
    shown = cli(a.config, "logs", "sync-cycle", "--run", run_id)
    assert shown.returncode == 0 and shown.stdout.splitlines()[0] == first[0]
    assert {line.split(" ")[2] for line in shown.stdout.splitlines()} == {run_id}
    missing = cli(a.config, "logs", "sync-cycle", "--run", "19700101T000000Z.1")
    assert missing.returncode == 44 and "no line of run 19700101T000000Z.1" in missing.stderr


def test_crashes_list_show_mark_fixed_export_import(tmp_path: Path) -> None:
    site = settings_in(tmp_path / "site")
    script = HOOKED.format(src=str(SRC), config=str(site.config_file))
    subprocess.run([sys.executable, "-c", script], capture_output=True, check=False)
    config = site.config_file
    listed = json.loads(cli(config, "crashes", "list", "--json").stdout)
    assert sorted(r["title"] for r in listed) == [
        "LookupError: in a thread",
        "ZeroDivisionError: in the main thread",
    ]
    sig = next(r["signature"] for r in listed if r["title"].startswith("Zero"))
    shown = cli(config, "crashes", "show", sig[:12])
    assert shown.returncode == 0 and "exception ZeroDivisionError" in shown.stdout
    assert "Traceback (most recent call last)" in shown.stdout and "verify-run" in shown.stdout
    fixed = cli(config, "crashes", "mark-fixed", sig[:12], "--version", "0.1.0")
    assert fixed.returncode == 0 and sig in fixed.stdout
    bundle = tmp_path / "bundle.jsonl"
    assert "exported 2 signature(s)" in cli(config, "crashes", "export", str(bundle)).stdout
    other = settings_in(tmp_path / "other")
    imported = cli(other.config_file, "crashes", "import", str(bundle))
    assert "2 new, 0 marked fixed, 0 known" in imported.stdout, imported.stderr
    subprocess.run(
        [sys.executable, "-c", HOOKED.format(src=str(SRC), config=str(other.config_file))],
        capture_output=True,
        check=False,
    )
    # the thread's crash is known from the bundle: no alert; the main one was fixed in 0.1.0
    # (this version): it recurs, and alerts
    assert [e["kind"] for e in read_events(other)] == ["crash-recurring"]
    bundle.write_text(bundle.read_text() + "{}\n")
    bad = cli(other.config_file, "crashes", "import", str(bundle))
    assert bad.returncode == 42 and f"{bundle}:3: expected the keys" in bad.stderr
    unknown = cli(config, "crashes", "show", "abcdef12")
    assert unknown.returncode == 43
