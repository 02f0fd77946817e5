"""Delta send (sync.delta): a changed area travels as its changed objects, and what a hostile
sender can do with that is no more than with rsync."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.scenarios.test_role_verification import PRI_MC, pri_digests, session, tree_state

from atlas_ha.errors import ReceiveError, RefusedError
from atlas_ha.lab.group import ADDRESSES, SimGroup
from atlas_ha.layout.areawrite import AreaWriter
from atlas_ha.layout.manifest import parse, render
from atlas_ha.sync import delta
from atlas_ha.sync.cycle import CycleReport
from atlas_ha.sync.serve import Session

Cycle = Callable[[str], CycleReport]


def all_equal(report: CycleReport) -> bool:
    return all(c.state == "equal" for c in report.compare)


def test_changes_of_every_kind_travel_as_a_delta(
    group: SimGroup, run_cycle: Cycle, pushes: list[tuple[str, str]]
) -> None:
    a = group.servers["A"]
    data = a.file("/etc/app/conf.d")
    data.mkdir(parents=True, exist_ok=True)
    (data / "one.conf").write_text("one\n")
    (data / "gone.conf").write_text("soon removed\n")
    run_cycle("A")
    pushes.clear()
    (data / "one.conf").write_text("one, changed\n")  # content
    (data / "gone.conf").unlink()  # removed
    (data / "sub").mkdir()  # a new directory with a file and a symlink
    (data / "sub/new.conf").write_text("new\n")
    (data / "sub/link").symlink_to("../one.conf")
    os.chmod(a.file("/etc/app/app.conf"), 0o600)  # metadata only
    report = run_cycle("A")
    assert all_equal(report), [c.summary() for c in report.compare]
    assert pushes == []
    for name in ("B", "C"):
        sec = group.servers[name].file("/etc/app/conf.d")
        assert (sec / "one.conf").read_text() == "one, changed\n"
        assert not (sec / "gone.conf").exists()
        assert (sec / "sub/new.conf").read_text() == "new\n"
        assert os.readlink(sec / "sub/link") == "../one.conf"
        assert group.servers[name].file("/etc/app/app.conf").stat().st_mode & 0o777 == 0o600
    # and a whole removed directory: its files and the directory itself
    for path in sorted((data / "sub").iterdir()):
        path.unlink()
    (data / "sub").rmdir()
    assert all_equal(run_cycle("A")) and pushes == []
    assert not group.servers["C"].file("/etc/app/conf.d/sub").exists()


def test_a_type_change_or_too_much_is_pushed_whole(
    group: SimGroup, run_cycle: Cycle, pushes: list[tuple[str, str]]
) -> None:
    data = group.servers["A"].file("/etc/app/conf.d")
    data.mkdir(parents=True, exist_ok=True)
    (data / "x").write_text("a file\n")
    run_cycle("A")
    pushes.clear()
    (data / "x").unlink()
    (data / "x").mkdir()  # file -> directory
    (data / "x/inside").write_text("now a directory\n")
    assert all_equal(run_cycle("A"))
    assert sorted(pushes) == [(sec, f"Env{v}") for sec in ("SEC1", "SEC2") for v in (1, 2)]


# -- the receiving side, request by request ----------------------------------------------------
def offered(group: SimGroup, change: Callable[[Path], None]) -> tuple[Session, Any, Any]:
    """B's session after receive-begin of the PRI's areas, and the PRI's Env1 Manifest text
    with `change` applied to a scratch copy (what a sender would offer)."""
    s = session(group, "B", ADDRESSES["PRI"])
    s.handle({"op": "hello", "master_config": PRI_MC.render()})
    digests = {**pri_digests(group), "1": "0" * 64}  # Env1 is not current
    s.handle({"op": "receive-begin", "role": "PRI", "sev": 2, "envs": [1, 2], "digests": digests})
    area = group.servers["A"].server(lambda _l: None).sid.area("PRI", 1)
    return s, area, change


def offer_text(s: Session, text: str) -> dict[str, Any]:
    return s.handle(
        {"op": "receive-delta", "role": "PRI", "env": 1, "manifest": delta.pack(text.encode())}
    )


def with_file(text: str, path: str, content: bytes) -> str:
    entries = parse(text, "test")
    old = entries[("SyncFiles", path)]
    entries[("SyncFiles", path)] = type(old)(
        **{**vars(old), "size": len(content), "sha256": hashlib.sha256(content).hexdigest()}
    )
    return render(entries.values())


def test_objects_are_checked_before_anything_is_written(group: SimGroup, run_cycle: Cycle) -> None:
    run_cycle("A")
    s, area, _ = offered(group, lambda _p: None)
    text = with_file(area.manifest_file.read_text(), "/etc/app/app.conf", b"level = 9\n")
    assert offer_text(s, text)["need"] == [["SyncFiles", "/etc/app/app.conf"]]
    before = tree_state(group.disk("disk-B"))

    def send(objects: list[list[str]]) -> None:
        s.handle({"op": "receive-objects", "role": "PRI", "env": 1, "objects": objects})

    b64 = base64.b64encode
    for objects, words in (
        ([["SyncFiles", "/etc/app/app.conf", b64(b"level = 8\n").decode()]], "checksum"),
        ([["SyncFiles", "/etc/passwd", b64(b"x").decode()]], "not asked for"),
        ([["SyncFiles", "/etc/app/app.conf", "***"]], "not base64"),
        ([], "asked for and not sent"),
        ("nope", "expected a list"),
    ):
        offer_text(s, text)
        with pytest.raises(ReceiveError, match=words):
            send(objects)  # type: ignore[arg-type]
    assert tree_state(group.disk("disk-B")) == before
    with pytest.raises(RefusedError, match="without a delta offered"):
        send([["SyncFiles", "/etc/app/app.conf", b64(b"level = 9\n").decode()]])
    offer_text(s, text)
    send([["SyncFiles", "/etc/app/app.conf", b64(b"level = 9\n").decode()]])
    b = group.servers["B"].server(lambda _l: None)
    assert b.sid.area("PRI", 1).copy_path("SyncFiles", "/etc/app/app.conf").read_bytes() == (
        b"level = 9\n"
    )


@pytest.mark.parametrize(
    ("mangle", "words"),
    [
        (lambda t: t.replace('"/etc/app/app.conf"', '"/etc/../etc/shadow"'), "clean absolute"),
        (lambda t: t.replace('"path": "SyncFilePaths"', '"path": "../SyncFilePaths"'), "area file"),
        (lambda t: t.replace('"tree": "SyncFiles"', '"tree": "Elsewhere"', 1), "tree in"),
    ],
)
def test_a_hostile_manifest_is_refused(
    group: SimGroup, run_cycle: Cycle, mangle: Callable[[str], str], words: str
) -> None:
    run_cycle("A")
    s, area, _ = offered(group, lambda _p: None)
    with pytest.raises(ReceiveError, match=words):
        offer_text(s, mangle(area.manifest_file.read_text()))
    with pytest.raises(ReceiveError, match="zlib"):
        s.handle({"op": "receive-delta", "role": "PRI", "env": 1, "manifest": "bm90IHpsaWI="})


def test_only_granted_areas_of_the_own_role(group: SimGroup, run_cycle: Cycle) -> None:
    run_cycle("A")
    s, area, _ = offered(group, lambda _p: None)
    text = area.manifest_file.read_text()
    with pytest.raises(RefusedError, match="not an area this receive granted"):
        s.handle(
            {"op": "receive-delta", "role": "PRI", "env": 2, "manifest": delta.pack(text.encode())}
        )  # Env2 was found current: it may not change before commit
    with pytest.raises(RefusedError, match="may send only PRI's snapshot"):
        s.handle({"op": "receive-delta", "role": "SEC2", "env": 1, "manifest": ""})


def test_an_area_that_does_not_validate_is_asked_for_whole(
    group: SimGroup, run_cycle: Cycle
) -> None:
    run_cycle("A")
    s, area, _ = offered(group, lambda _p: None)
    b_area = group.servers["B"].server(lambda _l: None).sid.area("PRI", 1)
    b_area.copy_path("SyncFiles", "/etc/app/app.conf").write_text("tampered\n")
    text = with_file(area.manifest_file.read_text(), "/etc/app/app.conf", b"level = 9\n")
    assert offer_text(s, text) == {"full": True}


def test_too_many_changes_are_asked_for_whole(
    group: SimGroup, run_cycle: Cycle, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_cycle("A")
    s, area, _ = offered(group, lambda _p: None)
    text = with_file(area.manifest_file.read_text(), "/etc/app/app.conf", b"level = 9\n")
    monkeypatch.setattr(delta, "MAX_BYTES", 5)
    assert offer_text(s, text) == {"full": True}


def test_the_writer_never_follows_a_symlink(tmp_path: Path) -> None:
    area, outside = tmp_path / "area", tmp_path / "outside"
    (area / "SyncFiles").mkdir(parents=True)
    outside.mkdir()
    (outside / "victim").write_text("mine\n")
    (area / "SyncFiles/etc").symlink_to(outside)
    (area / "SyncFiles/file-link").symlink_to(outside / "victim")
    meta = (0o644, os.getuid(), os.getgid(), 0)
    with AreaWriter(str(area), "test") as writer:
        with pytest.raises(ReceiveError, match="not a directory"):
            writer.write_file(["SyncFiles", "etc", "victim"], b"owned\n", meta)
        with pytest.raises(ReceiveError, match="not a directory"):
            writer.remove(["SyncFiles", "etc", "victim"])
        with pytest.raises(ReceiveError, match="not a file"):
            writer.set_file_meta(["SyncFiles", "file-link"], (0o777, *meta[1:]))
        writer.write_file(["SyncFiles", "file-link"], b"replaced\n", meta)  # the link itself
    assert (outside / "victim").read_text() == "mine\n"
    assert (outside / "victim").stat().st_mode & 0o777 != 0o777
    assert (area / "SyncFiles/file-link").read_text() == "replaced\n"
    assert not (area / "SyncFiles/file-link").is_symlink()
