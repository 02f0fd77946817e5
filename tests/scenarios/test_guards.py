"""The guards of SPEC 5.2/5.6: a lost system root, missing identity files or a mass deletion
never propagate to the SECs as deletion; Install never removes the accounts files; the
after-install work an Install owes survives a kill; a suspended SEC refuses to install."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import states
from tests.scenarios.test_transactions import cli_cycle
from tests.scenarios.test_verifier_setup import SERVICES, SITE_FILES, configure

from atlas_ha.errors import GuardError, SuspendedError
from atlas_ha.lab.group import SimGroup
from atlas_ha.layout import manifest as manifest_mod
from atlas_ha.layout.atomic import atomic_write
from atlas_ha.sync.create import create
from atlas_ha.sync.cycle import CycleReport
from atlas_ha.sync.install import install
from atlas_ha.sync.suspension import resume, suspend

Cycle = Callable[[str], CycleReport]
SEC_FILES = ("/etc/passwd", "/etc/group", "/etc/app/app.conf", "/etc/nginx/conf.d/www.conf")


def atlas(group: SimGroup, name: str, *argv: str) -> subprocess.CompletedProcess[str]:
    config = str(group.servers[name].config)
    return subprocess.run(
        [sys.executable, "-m", "atlas_ha", "--config", config, *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def set_root(group: SimGroup, name: str, root: Path) -> None:
    """Point server `name`'s settings at another system root (what a typo does)."""
    config = group.servers[name].config
    lines = config.read_text().splitlines()
    lines = [f'system_root = "{root}"' if ln.startswith("system_root") else ln for ln in lines]
    config.write_text("\n".join(lines) + "\n")


def add_settings(group: SimGroup, name: str, text: str) -> None:
    with group.servers[name].config.open("a") as handle:
        handle.write("\n" + text)


def many_files(group: SimGroup, count: int) -> list[Path]:
    a = group.servers["A"]
    base = a.file("/etc/app/many")
    base.mkdir(exist_ok=True)
    files = []
    for i in range(count):
        path = base / f"f{i:02}.conf"
        path.write_text(f"value = {i}\n")
        files.append(path)
    return files


def head(group: SimGroup, name: str) -> str:
    git_dir = group.servers[name].server().sid.root / ".git"
    done = subprocess.run(
        ["git", "--git-dir", str(git_dir), "log", "-1", "--format=%H%n%B"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_a_typo_in_system_root_refuses_create_and_deletes_nothing_on_the_secs(
    group: SimGroup, run_cycle: Cycle, tmp_path: Path
) -> None:
    run_cycle("A")
    a = group.servers["A"]
    manifest = a.server().sid.area("PRI", 2).manifest_file.read_bytes()
    before = head(group, "A")
    typo = tmp_path / "no-such-root"
    set_root(group, "A", typo)
    done = atlas(group, "A", "sync", "cycle")
    assert done.returncode == GuardError.exit_code, done.stderr
    assert f"the system root {typo} does not exist" in done.stderr
    assert "Traceback" not in done.stderr
    assert "ALERT" in done.stderr
    assert not typo.exists()  # not even the Verifier's SetUp wrote into it
    server = a.server()
    assert server.sid.is_valid("PRI", 2)  # the last good snapshot is untouched
    assert server.sid.area("PRI", 2).manifest_file.read_bytes() == manifest
    assert head(group, "A") == before  # nothing recorded
    for name in "BC":
        for path in ("/etc/passwd", "/etc/group", "/etc/app/app.conf"):
            assert group.servers[name].file(path).exists(), (name, path)


def test_a_system_root_that_is_a_file_is_refused(group: SimGroup, tmp_path: Path) -> None:
    plain = tmp_path / "root-file"
    plain.write_text("not a directory\n")
    set_root(group, "A", plain)
    with pytest.raises(GuardError, match="is not a directory"):
        create(group.servers["A"].server())
    assert group.servers["A"].server().sid.sev("PRI") is None  # nothing was flagged or set


def test_missing_identity_files_refuse_create(group: SimGroup, run_cycle: Cycle) -> None:
    run_cycle("A")
    a = group.servers["A"]
    a.file("/etc/network/interfaces").unlink()
    server = a.server()
    with pytest.raises(GuardError, match="identity files of Env2 are missing") as caught:
        create(server)
    assert "/etc/network/interfaces" in str(caught.value)
    assert server.sid.is_valid("PRI", 2)
    copy = server.sid.area("PRI", 2).copy_path("IdentFiles", "/etc/network/interfaces")
    assert copy.exists()  # the identity in the snapshot is kept


def test_mass_deletion_is_refused_until_the_operator_allows_it_once(
    group: SimGroup, run_cycle: Cycle
) -> None:
    files = many_files(group, 30)
    assert states(run_cycle("A")) == {"SEC1": "equal", "SEC2": "equal"}
    for path in files[:25]:
        path.unlink()
    done = atlas(group, "A", "sync", "cycle")
    assert done.returncode == GuardError.exit_code, done.stderr
    assert "it would remove 25 of" in done.stderr and "/etc/app/many/f00.conf" in done.stderr
    assert "--allow-mass-deletion" in done.stderr
    for name in "BC":
        assert group.servers[name].file("/etc/app/many/f00.conf").exists()
    # the operator allows it once: recorded in the history commit
    done = atlas(group, "A", "sync", "create", "--allow-mass-deletion")
    assert done.returncode == 0, done.stderr
    assert "Atlas-Allowed-Mass-Deletion: 25 of" in head(group, "A")
    # the daemon's next cycle passes the allowance on: the SECs remove the files too
    assert states(run_cycle("A")) == {"SEC1": "equal", "SEC2": "equal"}
    for name in "BC":
        assert not group.servers[name].file("/etc/app/many/f00.conf").exists()
        assert group.servers[name].file("/etc/app/many/f29.conf").exists()
    # once the PRI's snapshot changed again, the allowance is spent
    files[29].write_text("value = changed\n")
    assert states(run_cycle("A")) == {"SEC1": "equal", "SEC2": "equal"}
    server = group.servers["A"].server()
    assert not _allowance_matches(server)


def _allowance_matches(server: object) -> bool:
    from atlas_ha.sync.guard import allowance_holds

    sid = server.sid  # type: ignore[attr-defined]
    return allowance_holds(server, sid.area("PRI", 2))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("settings", "removed", "refused"),
    [
        ("mass_deletion_percent = 0", lambda held: 19, False),  # below the minimum of 20
        ("mass_deletion_percent = 0", lambda held: 20, True),
        ("mass_deletion_min = 0", lambda held: held // 2, False),  # exactly half: allowed
        ("mass_deletion_min = 0", lambda held: held // 2 + 1, True),  # more than half
    ],
)
def test_the_guard_needs_both_the_share_and_the_minimum(
    group: SimGroup,
    run_cycle: Cycle,
    settings: str,
    removed: Callable[[int], int],
    refused: bool,
) -> None:
    files = many_files(group, 60)
    run_cycle("A")
    add_settings(group, "A", f"[sync]\n{settings}\n")
    previous = group.servers["A"].server().sid.area("PRI", 2).manifest()
    held = sum(1 for (t, _), e in previous.items() if t != "area" and e.type != "absent")
    count = removed(held)
    assert count <= len(files)
    for path in files[:count]:
        path.unlink()
    server = group.servers["A"].server()
    if refused:
        with pytest.raises(GuardError, match=f"it would remove {count} of {held} objects"):
            create(server)
    else:
        create(server)
        gone = ("SyncFiles", "/etc/app/many/f00.conf")
        assert gone in previous and gone not in server.sid.area("PRI", 2).manifest()


def test_the_share_is_a_setting(group: SimGroup, run_cycle: Cycle) -> None:
    files = many_files(group, 30)
    run_cycle("A")
    add_settings(group, "A", "[sync]\nmass_deletion_percent = 100\n")
    for path in files:
        path.unlink()
    create(group.servers["A"].server())  # never refused at 100 %
    add_settings(group, "B", "[sync]\nmass_deletion_percent = 150\n")
    done = atlas(group, "B", "status")
    assert done.returncode == 2 and "mass_deletion_percent = an integer 0..100" in done.stderr


def test_install_refuses_a_mass_removal_the_pri_operator_did_not_allow(
    group: SimGroup, run_cycle: Cycle
) -> None:
    files = many_files(group, 30)
    run_cycle("A")
    add_settings(group, "A", "[sync]\nmass_deletion_percent = 100\n")  # a PRI without guard
    for path in files[:25]:
        path.unlink()
    report = run_cycle("A")
    for outcome in report.secs:
        assert not outcome.reached and "refused: it would remove 25 of" in outcome.error
        assert "Install (PRI," in outcome.error
    for name in "BC":
        assert group.servers[name].file("/etc/app/many/f00.conf").exists()
    done = atlas(group, "A", "sync", "cycle", "--allow-mass-deletion")
    assert done.returncode == 0, done.stdout + done.stderr
    for name in "BC":
        assert not group.servers[name].file("/etc/app/many/f00.conf").exists()


def test_install_never_removes_the_accounts_files(group: SimGroup, run_cycle: Cycle) -> None:
    run_cycle("A")
    c = group.servers["C"]
    area = c.server().sid.area("PRI", 3)
    entries = area.manifest()
    for path in ("/etc/passwd", "/etc/shadow"):
        old = entries[("SyncFiles", path)]
        entries[old.key] = manifest_mod.Entry("SyncFiles", path, "absent")
    atomic_write(area.manifest_file, manifest_mod.render(entries.values()), mode=0o600)
    lines: list[str] = []
    changed = install(c.server(lines.append))
    assert c.file("/etc/passwd").exists() and c.file("/etc/shadow").exists()
    assert "/etc/passwd" not in changed
    assert any("/etc/shadow is not removed" in line for line in lines)


def test_reloads_owed_by_a_killed_install_are_done_by_the_next_one(
    group: SimGroup, run_cycle: Cycle
) -> None:
    reload = '["sh", "-c", "echo reloaded >> {root}/reloads.log"]'
    configure(group, SERVICES.replace('kind = "http"', f'kind = "http"\nreload = {reload}'))
    run_cycle("A")
    b, c = group.servers["B"], group.servers["C"]
    assert b.file("/reloads.log").read_text() == "reloaded\n"
    site = group.servers["A"].file(SITE_FILES[2])
    site.write_text(site.read_text().replace("listen 80;", "listen 8080;"))
    # B dies right after writing the one changed file, before its hooks and reloads
    done = cli_cycle(group, "A", "B:install.file=kill")
    assert "B" not in done.stdout or "NOT SYNCED" in done.stdout
    assert "listen 8080;" in b.file(SITE_FILES[1]).read_text()  # installed ...
    assert b.file("/reloads.log").read_text() == "reloaded\n"  # ... and not reloaded
    assert c.file("/reloads.log").read_text() == "reloaded\n" * 2
    owed = json.loads((b.base / "esd" / "owed-reloads.json").read_text())
    assert SITE_FILES[1] in owed["paths"]
    report = run_cycle("A")  # nothing left to install on B: only the record makes it reload
    sec1 = next(s for s in report.secs if s.sec == "SEC1")
    assert sec1.reached and SITE_FILES[1] not in sec1.reply["installed"]
    assert b.file("/reloads.log").read_text() == "reloaded\n" * 2
    assert not (b.base / "esd" / "owed-reloads.json").exists()
    assert c.file("/reloads.log").read_text() == "reloaded\n" * 2  # C owed nothing


def test_a_suspended_sec_refuses_to_install_and_the_pri_goes_on(
    group: SimGroup, run_cycle: Cycle
) -> None:
    run_cycle("A")
    b = group.servers["B"]
    suspend(b.server(), "replacing a disk")
    group.servers["A"].file("/etc/app/app.conf").write_text("level = 9\n")
    report = run_cycle("A")
    sec1 = next(s for s in report.secs if s.sec == "SEC1")
    assert not sec1.reached and sec1.cause == "suspended"
    assert "SEC1 suspended by B: replacing a disk" in sec1.error
    compared = {r.sec: r for r in report.compare}
    assert compared["SEC1"].state == "stale" and compared["SEC1"].note.startswith("suspended")
    assert compared["SEC2"].state == "equal"
    assert b.file("/etc/app/app.conf").read_text() == "level = 3\n"  # nothing installed
    with pytest.raises(SuspendedError, match="SEC1 suspended by B"):
        install(b.server())
    resume(b.server())
    assert states(run_cycle("A")) == {"SEC1": "equal", "SEC2": "equal"}
    assert b.file("/etc/app/app.conf").read_text() == "level = 9\n"


def test_suspend_waits_for_the_after_cycle_hooks(group: SimGroup, tmp_path: Path) -> None:
    """`sync suspend` returns only once the cycle's report is recorded and its after-cycle
    hooks are done: the hook's mark is there when suspend returns."""
    started, mark = tmp_path / "cycle-started", tmp_path / "hook-done"
    add_settings(
        group,
        "A",
        "[hooks]\n"
        f'before_create = ["touch {started}"]\n'
        f'after_cycle = ["sh -c \\"sleep 2; echo done > {mark}\\""]\n',
    )
    config = str(group.servers["A"].config)
    cycle = subprocess.Popen(
        [sys.executable, "-m", "atlas_ha", "--config", config, "sync", "cycle"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not started.exists():  # the cycle holds its lock from here on
            assert time.monotonic() < deadline and cycle.poll() is None
            time.sleep(0.02)
        done = atlas(group, "A", "sync", "suspend", "--reason", "test")
        assert done.returncode == 0, done.stderr
        last = group.servers["A"].server().sid.results_dir / "last-cycle.json"
        assert mark.read_text() == "done\n" and last.exists()
    finally:
        cycle.wait(timeout=120)
