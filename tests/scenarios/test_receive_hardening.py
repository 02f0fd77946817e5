"""Hardening of what is received (issue 9 item 6): the receive policy (setuid, world-writable,
symlinks leaving the system root, shadow-class modes) over the rsync push and the delta
path, area files whose mode differs from their Manifest, the EnvVersions a receive-begin
may announce, and errors naming the unexpected area file."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.scenarios.test_delta_send import offer_text, offered
from tests.scenarios.test_role_verification import (
    PRI_MC,
    begin_receive,
    push_copy,
    session,
    tree_state,
)

from atlas_ha.cli.main import main
from atlas_ha.errors import ReceiveError, RefusedError
from atlas_ha.lab.group import ADDRESSES, SimGroup
from atlas_ha.layout.manifest import parse, render
from atlas_ha.sync.cycle import CycleReport, cycle
from atlas_ha.sync.serve import Session

Cycle = Callable[[str], CycleReport]
COMMIT = {"op": "receive-commit", "role": "PRI", "sev": 2, "envs": [1, 2]}


def add_settings(group: SimGroup, name: str, table: str) -> None:
    config = group.servers[name].config
    config.write_text(config.read_text() + f"\n[receive]\n{table}\n")


def errors(report: CycleReport) -> dict[str, str]:
    return {s.sec: s.error for s in report.secs}


def make_setuid(group: SimGroup) -> None:
    tool = group.servers["A"].file("/etc/app/tool")
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o4755)


def make_world_writable_file(group: SimGroup) -> None:
    group.servers["A"].file("/etc/app/app.conf").chmod(0o666)


def make_sticky_world_writable_dir(group: SimGroup) -> None:
    spool = group.servers["A"].file("/etc/app/spool")
    spool.mkdir()
    spool.chmod(0o1777)


def make_loose_shadow(group: SimGroup) -> None:
    group.servers["A"].file("/etc/shadow").chmod(0o644)  # A is Env2: passwd + shadow


HOSTILE = {
    "setuid": (make_setuid, "SyncFiles/etc/app/tool is setuid/setgid", "setuid"),
    "world-writable file": (
        make_world_writable_file,
        "SyncFiles/etc/app/app.conf is world-writable",
        "world_writable",
    ),
    "sticky world-writable dir": (
        make_sticky_world_writable_dir,
        "SyncFiles/etc/app/spool is world-writable",
        "world_writable",
    ),
    "shadow 0644": (
        make_loose_shadow,
        "SyncFiles/etc/shadow has mode 0644, looser than 0640",
        "shadow_mode",
    ),
}


def assert_refused(group: SimGroup, report: CycleReport, words: str, rule: str) -> None:
    """Both SECs refused the PRI's snapshot naming the object and the setting; nothing of it
    is valid there."""
    for sec, name in (("SEC1", "B"), ("SEC2", "C")):
        error = errors(report)[sec]
        assert "refused by the receive policy" in error and words in error, error
        config = group.servers[name].config.resolve()
        assert f'set {rule} = "flag" (or "allow") in [receive] of {config}' in error
        sid = group.servers[name].server(lambda _l: None).sid
        assert sid.sev("PRI") is None and sid.valid_envs("PRI") == []


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_refused_when_pushed_whole(
    group: SimGroup, run_cycle: Cycle, kind: str, pushes: list[tuple[str, str]]
) -> None:
    """The first send pushes every area with rsync: receive-commit refuses."""
    make, words, rule = HOSTILE[kind]
    make(group)
    before = {name: tree_state(group.servers[name].root) for name in "BC"}
    report = run_cycle("A")
    assert pushes  # the rsync path
    assert_refused(group, report, words, rule)
    assert {name: tree_state(group.servers[name].root) for name in "BC"} == before


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_refused_when_sent_as_a_delta(
    group: SimGroup, run_cycle: Cycle, kind: str, pushes: list[tuple[str, str]]
) -> None:
    """After a good cycle the change is offered as a delta: refused before anything is
    written, then pushed with rsync and refused by receive-commit; the SECs keep what they
    installed."""
    run_cycle("A")
    make, words, rule = HOSTILE[kind]
    make(group)
    before = {name: tree_state(group.servers[name].root) for name in "BC"}
    pushes.clear()
    report = run_cycle("A")
    assert_refused(group, report, words, rule)
    assert pushes  # the delta was refused: the area went with rsync (and was refused again)
    assert {name: tree_state(group.servers[name].root) for name in "BC"} == before


def test_a_delta_offering_a_refused_object_writes_nothing(
    group: SimGroup, run_cycle: Cycle
) -> None:
    run_cycle("A")
    s, area, _ = offered(group, lambda _p: None)
    entries = parse(area.manifest_file.read_text(), "test")
    conf = entries[("SyncFiles", "/etc/app/app.conf")]
    entries[conf.key] = type(conf)(**{**vars(conf), "mode": 0o4755})
    before = tree_state(group.disk("disk-B"))
    with pytest.raises(ReceiveError, match=r"app.conf is setuid/setgid.*set setuid"):
        offer_text(s, render(entries.values()))
    assert tree_state(group.disk("disk-B")) == before


def test_setuid_accepted_with_the_setting_and_flagged(group: SimGroup) -> None:
    """`setuid = "flag"` on B (and "allow" on A, which receives B's snapshot back): B installs
    the setuid file, reports it; C keeps the default and refuses."""
    make_setuid(group)
    add_settings(group, "A", 'setuid = "allow"')
    add_settings(group, "B", 'setuid = "flag"')
    lines: list[str] = []
    report = cycle(group.servers["A"].server(lines.append))
    assert errors(report)["SEC1"] == ""
    assert {c.sec: c.state for c in report.compare}["SEC1"] == "equal"
    assert group.servers["B"].file("/etc/app/tool").stat().st_mode & 0o7777 == 0o4755
    assert "refused by the receive policy" in errors(report)["SEC2"]
    assert not group.servers["C"].file("/etc/app/tool").exists()
    flagged = [line for line in lines if line.startswith("ALERT send PRI to SEC1")]
    assert len(flagged) == 1 and "SyncFiles/etc/app/tool is setuid/setgid" in flagged[0]
    b = group.servers["B"].server(lambda _l: None)
    recorded = json.loads(b.sid.policy_flagged_file("PRI").read_text())
    assert recorded == [
        f"Env{v} SyncFiles/etc/app/tool is setuid/setgid (mode 4755) [setuid = flag]"
        for v in (1, 2)
    ]


def test_a_symlink_leaving_the_root_is_accepted_and_flagged(
    group: SimGroup, capsys: pytest.CaptureFixture[str]
) -> None:
    os.symlink("/../../etc/x", group.servers["A"].file("/etc/app/escape"))
    lines: list[str] = []
    report = cycle(group.servers["A"].server(lines.append))
    assert report.all_equal, errors(report)
    assert os.readlink(group.servers["B"].file("/etc/app/escape")) == "/../../etc/x"
    finding = "SyncFiles/etc/app/escape -> /../../etc/x leaves the system root"
    assert any(line.startswith("ALERT send PRI to SEC2") and finding in line for line in lines)
    # recorded on the SEC, shown by its status; the PRI flags the SEC's snapshot it gets back
    assert main(["--config", str(group.servers["B"].config), "status"]) == 0
    out = capsys.readouterr().out
    assert f"ALERT flagged by the receive policy: Env1 {finding} [symlink_out_of_root = flag]" in (
        out
    )
    a = group.servers["A"].server(lambda _l: None)
    assert any(
        finding in line for line in json.loads(a.sid.policy_flagged_file("SEC1").read_text())
    )
    # removed from the snapshot: the next receive records nothing flagged
    group.servers["A"].file("/etc/app/escape").unlink()
    assert cycle(group.servers["A"].server(lambda _l: None)).all_equal
    assert not group.servers["B"].server().sid.policy_flagged_file("PRI").exists()


def test_the_receiver_logs_the_flag_as_an_alert(group: SimGroup, run_cycle: Cycle) -> None:
    run_cycle("A")
    lines: list[str] = []
    s = Session(group.servers["B"].server(lines.append), ADDRESSES["PRI"], key_role="PRI")
    s.handle({"op": "hello", "master_config": PRI_MC.render()})
    targets = s.handle({"op": "receive-begin", "role": "PRI", "sev": 2, "envs": [1, 2]})["targets"]
    push_copy(group, targets)
    link = Path(targets["2"]) / "SyncFiles/etc/app/current"
    manifest = Path(targets["2"]) / "Manifest"
    entries = parse(manifest.read_text(), "test")
    old = entries[("SyncFiles", "/etc/app/current")]
    entries[old.key] = type(old)(**{**vars(old), "target": "../../../outside"})
    manifest.write_text(render(entries.values()))
    link.unlink()
    link.symlink_to("../../../outside")
    answer = s.handle(COMMIT)
    line = "Env2 SyncFiles/etc/app/current -> ../../../outside leaves the system root"
    assert answer["flagged"] == [f"{line} [symlink_out_of_root = flag]"]
    assert any(x.startswith("ALERT receive PRI") and line in x for x in lines)


# -- the area's own files ----------------------------------------------------------------------
def begun(group: SimGroup, run_cycle: Cycle) -> tuple[Session, dict[str, str]]:
    run_cycle("A")
    s, targets = begin_receive(group)
    push_copy(group, targets)
    return s, targets


def test_an_area_file_whose_mode_differs_from_the_manifest_is_refused(
    group: SimGroup, run_cycle: Cycle
) -> None:
    s, targets = begun(group, run_cycle)
    (Path(targets["1"]) / "SyncFilePaths").chmod(0o644)  # the Manifest says 0600
    with pytest.raises(ReceiveError, match="SyncFilePaths has mode 0644, the Manifest says 0600"):
        s.handle(COMMIT)
    assert not group.servers["B"].server().sid.is_valid("PRI", 1)


def test_a_manifest_lying_about_an_area_file_mode_is_refused(
    group: SimGroup, run_cycle: Cycle
) -> None:
    s, targets = begun(group, run_cycle)
    manifest = Path(targets["1"]) / "Manifest"
    text = manifest.read_text()
    row = re.search(r'.*"path": "IdentFilePaths".*', text)
    assert row is not None
    manifest.write_text(text.replace(row[0], row[0].replace('"mode": 384', '"mode": 420')))
    with pytest.raises(ReceiveError, match="IdentFilePaths has mode 0600, the Manifest says 0644"):
        s.handle(COMMIT)


@pytest.mark.parametrize("name", ["evil", "SyncFilePathsSvcEvil", ".Manifest.XXXX"])
def test_an_unexpected_area_file_is_named(group: SimGroup, run_cycle: Cycle, name: str) -> None:
    """Any object the Manifest does not list, a path list too: a SyncFilePathsSvc* part would
    become part of the SEC's SyncFilePaths at its next Create."""
    s, targets = begun(group, run_cycle)
    extra = Path(targets["2"]) / name
    extra.write_text("/etc/shadow\n")
    with pytest.raises(ReceiveError, match=f"unexpected file {re.escape(str(extra))} "):
        s.handle(COMMIT)


def test_the_area_objects_are_never_read_through_a_symlink(
    group: SimGroup, run_cycle: Cycle
) -> None:
    s, targets = begun(group, run_cycle)
    lists = Path(targets["1"]) / "SyncFilePaths"
    lists.unlink()
    lists.symlink_to("/dev/zero")  # read through, it would never end
    with pytest.raises(ReceiveError, match="SyncFilePaths is a symlink, the Manifest says file"):
        s.handle(COMMIT)
    s, targets = begin_receive(group)
    push_copy(group, targets)
    manifest = Path(targets["1"]) / "Manifest"
    manifest.unlink()
    manifest.symlink_to("/dev/zero")
    with pytest.raises(ReceiveError, match="no Manifest"):
        s.handle(COMMIT)


# -- the EnvVersions of a receive-begin --------------------------------------------------------
@pytest.mark.parametrize(
    ("request_", "words"),
    [
        ({"sev": 1000000, "envs": [1000000]}, "more than 8 ahead of this server's EnvID 1"),
        ({"envs": [1000000]}, "expected sev = a positive EnvVersion, got None"),
        ({"sev": 3, "envs": [1, 2]}, "SEV=3 is not among them"),
        ({"sev": 2, "envs": [1, 2, 3]}, r"each must be in 1..SEV=2"),
        ({"sev": 2, "envs": [2, 2]}, "an EnvVersion repeats"),
        ({"sev": 10, "envs": [10]}, "more than 8 ahead"),
    ],
)
def test_receive_begin_refuses_envs_before_creating_anything(
    group: SimGroup, run_cycle: Cycle, request_: dict[str, Any], words: str
) -> None:
    run_cycle("A")
    before = tree_state(group.disk("disk-B"))
    s = session(group, "B", ADDRESSES["PRI"])
    s.handle({"op": "hello", "master_config": PRI_MC.render()})
    with pytest.raises(RefusedError, match=words):
        s.handle({"op": "receive-begin", "role": "PRI", **request_})
    assert tree_state(group.disk("disk-B")) == before
    b = group.servers["B"].server()
    assert b.sid.envs("PRI") == [1, 2] and b.sid.valid_envs("PRI") == [1, 2]  # nothing flagged
    assert not (b.sid.root / "PRI" / "Env1000000").exists()


def test_envs_ahead_is_a_setting(group: SimGroup, run_cycle: Cycle) -> None:
    run_cycle("A")
    add_settings(group, "C", "envs_ahead = 0")
    s = session(group, "C", ADDRESSES["PRI"])  # C is Env3
    s.handle({"op": "hello", "master_config": PRI_MC.render()})
    with pytest.raises(RefusedError, match="more than 0 ahead of this server's EnvID 3"):
        s.handle({"op": "receive-begin", "role": "PRI", "sev": 4, "envs": [1, 2, 3, 4]})
    s.handle({"op": "receive-begin", "role": "PRI", "sev": 3, "envs": [1, 2, 3]})


def test_a_commit_must_match_its_begin(group: SimGroup, run_cycle: Cycle) -> None:
    s, _targets = begun(group, run_cycle)
    with pytest.raises(ReceiveError, match="does not match its receive-begin"):
        s.handle({"op": "receive-commit", "role": "PRI", "sev": 1, "envs": [1]})
    assert group.servers["B"].server().sid.sev("PRI") is None
