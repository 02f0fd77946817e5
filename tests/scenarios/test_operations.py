"""Single operations: stat-based Create, compare of a SEC with no snapshot, hooks, init CLI."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from atlas_ha.cli.main import main
from atlas_ha.lab.group import SimGroup
from atlas_ha.layout import objects
from atlas_ha.sync.compare import compare
from atlas_ha.sync.convert import convert_to_older
from atlas_ha.sync.create import create
from atlas_ha.sync.cycle import CycleReport

Cycle = Callable[[str], CycleReport]


def test_steady_state_create_reads_and_copies_nothing(
    group: SimGroup, run_cycle: Cycle, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_cycle("A")
    server = group.servers["A"].server()
    area = server.sid.area("PRI", 2)
    copies = {p: p.stat().st_ino for p in area.tree_dir("SyncFiles").rglob("*") if p.is_file()}
    hashed: list[Path] = []
    real = objects.hash_file
    monkeypatch.setattr(objects, "hash_file", lambda p: hashed.append(p) or real(p))
    create(server)
    synced = [p for p in hashed if p.parent != area.path]  # not the area's own path lists
    assert synced == []  # nothing changed: no synced file was read
    after = {p: p.stat().st_ino for p in area.tree_dir("SyncFiles").rglob("*") if p.is_file()}
    assert after == copies  # and nothing was copied (same inodes)
    group.servers["A"].file("/etc/app/app.conf").write_text("level = 5\n")
    create(server)
    assert [p.name for p in hashed if p.parent != area.path] == ["app.conf"]  # only the changed


def test_compare_reports_a_sec_without_snapshot_as_missing(group: SimGroup) -> None:
    server = group.servers["A"].server()
    create(server)
    convert_to_older(server, "PRI", 2)
    results = {r.sec: r for r in compare(server)}
    assert results["SEC1"].state == "missing" and results["SEC2"].state == "missing"
    assert "no snapshot" in results["SEC1"].note


def test_before_create_hook_runs_on_pri_only(group: SimGroup, run_cycle: Cycle) -> None:
    marks = group.base / "marks"
    for name in "AB":
        sim = group.servers[name]
        with sim.config.open("a") as f:
            f.write(
                f'\n[hooks.roles.PRI]\nbefore_create = ["sh -c \\"echo {name} >> {marks}\\""]\n'
            )
    run_cycle("A")
    assert marks.read_text() == "A\n"


def init_argv(config: Path, root: Path, tmp_path: Path) -> list[str]:
    """`atlas-ha init` of a new PRI at Env2 in tmp_path."""
    return [
        "--config",
        str(config),
        "init",
        "--name",
        "S",
        "--env",
        "2",
        "--system-root",
        str(root),
        "--esd-data",
        str(tmp_path / "esd"),
        "--sid-data",
        str(tmp_path / "sid"),
        "--group",
        "solo",
        "--role",
        "PRI",
    ]


def test_init_and_config_from_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "etc" / "atlas-ha.toml"
    root = tmp_path / "root"
    (root / "etc/network").mkdir(parents=True)
    (root / "etc/hostname").write_text("solo\n")
    (root / "etc/network/interfaces").write_text(
        "auto eth0\niface eth0 inet static\n    address 192.0.2.50/24\n"
    )
    code = main(
        [
            *init_argv(config, root, tmp_path),
            "--registry",
            str(tmp_path / "net"),
            "--partner",
            "SEC1=192.0.2.51",
        ]
    )
    assert code == 0
    assert (tmp_path / "esd/EnvID").read_text() == "2\n"
    area = tmp_path / "sid/PRI/Env2"
    assert (area / "IdentFilePaths").read_text().split() == [
        "/etc/hostname",
        "/etc/network/interfaces",
    ]
    assert "/etc/shadow" in (area / "SyncFilePathsSpecial").read_text()
    assert (tmp_path / "sid").stat().st_mode & 0o777 == 0o700
    monkeypatch.setenv("ATLAS_HA_CONFIG", str(config))
    assert main(["boot"]) == 0
    assert "answering on 192.0.2.50" in capsys.readouterr().out
    assert main(["sync", "create"]) == 0
    assert (area / "IdentFiles/etc/network/interfaces").exists()
    # a second init must not overwrite an Unbound Data that is set up already
    code = main(init_argv(config, root, tmp_path))
    assert code == 12


def test_system_errors_name_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An OS error (here: SID_DATA on a filesystem that refuses writes) is a clear message
    naming the path, with its own exit code, not a traceback."""
    code = main(
        [
            "--config",
            str(tmp_path / "a.toml"),
            "init",
            "--name",
            "S",
            "--env",
            "1",
            "--system-root",
            str(tmp_path),
            "--esd-data",
            str(tmp_path / "esd"),
            "--sid-data",
            "/proc/atlas-ha-test/sid",
            "--group",
            "g",
            "--role",
            "PRI",
        ]
    )
    assert code == 14
    err = capsys.readouterr().err
    assert "/proc/atlas-ha-test" in err and "Traceback" not in err


def test_compare_trusts_manifest_lines_only_in_the_rendered_form(
    group: SimGroup, run_cycle: Cycle
) -> None:
    import json

    from atlas_ha.sync.compare import _sync_entries, _sync_lines, differences

    run_cycle("A")
    sid = group.servers["A"].server().sid
    pri, sec = sid.area("PRI", 2), sid.area("SEC1", 2)
    lines = _sync_lines(pri)
    synced = [e for (t, _p), e in pri.manifest().items() if t == "SyncFiles"]
    assert lines is not None and len(lines) == len(synced) > 0
    assert _sync_lines(sec) is not None and differences(pri, sec) == []
    # only what is not the same line: converted files' mtimes (the shadow file, and Debian's
    # chrony directories that SEC1's Env1 snapshot gains going up, with chrony.conf's mtime)
    a, b = _sync_entries(pri, sec)
    assert set(a) == set(b) == {"/etc/shadow", "/etc/chrony/conf.d", "/etc/chrony/sources.d"}
    # the same entries written another way (keys unsorted): parsed, still equal
    text = sec.manifest_file.read_text().split("\n")
    text[1] = json.dumps(dict(reversed(json.loads(text[1]).items())))
    sec.manifest_file.write_text("\n".join(text))
    assert _sync_lines(sec) is None and differences(pri, sec) == []
    # a changed entry is found either way
    text[1] = text[1].replace('"mode": ', '"mode": 1')
    sec.manifest_file.write_text("\n".join(text))
    assert differences(pri, sec) != []
