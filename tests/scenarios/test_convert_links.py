"""A conversion step that changes nothing for a file costs no copy: the target's copy is a
hard link to the source's (converters/transaction.py, layout/objects.link_unchanged); and no
in-place change of one copy ever reaches the other."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

from atlas_ha.lab.group import SimGroup
from atlas_ha.layout import objects
from atlas_ha.layout.areawrite import AreaWriter
from atlas_ha.layout.manifest import Entry
from atlas_ha.sync.convert import convert_to_newer
from atlas_ha.sync.cycle import cycle


def quiet(_line: str) -> None:
    pass


def ino(path: Path) -> int:
    return path.lstat().st_ino


def test_convert_to_newer_links_what_no_step_changed(group: SimGroup) -> None:
    a = group.servers["A"].server(quiet)
    assert cycle(a).all_equal  # C (Env3) received (PRI,2) and converted it to (PRI,3)
    c = group.servers["C"].server(quiet)
    two, three = c.sid.area("PRI", 2), c.sid.area("PRI", 3)
    same = "/etc/app/app.conf"  # in every environment the same file
    assert ino(two.copy_path("SyncFiles", same)) == ino(three.copy_path("SyncFiles", same))
    assert three.copy_path("SyncFiles", same).lstat().st_nlink >= 2
    # the identity is written in each environment's own format: a file of its own
    changed = [
        p
        for (tree, p), e in three.manifest().items()
        if tree == "IdentFiles" and e.type == "file" and (tree, p) not in two.manifest()
    ]
    assert changed, "no converted file: the test proves nothing"
    assert three.copy_path("IdentFiles", changed[0]).lstat().st_nlink == 1
    c.sid.require_valid("PRI", 3)


def test_a_site_converter_program_gets_copies_it_may_write_in_place(group: SimGroup) -> None:
    c_sim = group.servers["C"]
    program = c_sim.server(quiet).esd.converter_program(3)
    program.parent.mkdir(parents=True, exist_ok=True)
    program.write_text("#!/bin/sh\nexit 0\n")
    program.chmod(0o755)
    assert cycle(group.servers["A"].server(quiet)).all_equal
    c = c_sim.server(quiet)
    three = c.sid.area("PRI", 3)
    assert three.copy_path("SyncFiles", "/etc/app/app.conf").lstat().st_nlink == 1


def test_boot_conversion_links_and_stays_valid(group: SimGroup) -> None:
    """Scenario 3's on-demand ConvertToNewer: (PRI,1) -> (PRI,2) -> (PRI,3) on C."""
    a = group.servers["A"].server(quiet)
    assert cycle(a).all_equal
    c = group.servers["C"].server(quiet)
    c.sid.set_sev("PRI", 1)  # as if the last PRI had been at Env1, on a disk without
    for env in (2, 3):  # (PRI,2) and (PRI,3)
        shutil.rmtree(c.sid.area("PRI", env).path)
        c.sid.converted_marker("PRI", env).unlink(missing_ok=True)
    assert convert_to_newer(c, "PRI", 3) == [2, 3]
    c.sid.require_valid("PRI", 3)
    one, three = c.sid.area("PRI", 1), c.sid.area("PRI", 3)
    same = "/etc/app/conf.d/extra.conf"
    assert ino(one.copy_path("SyncFiles", same)) == ino(three.copy_path("SyncFiles", same))


def _entry(path: str, st: os.stat_result, mode: int | None = None) -> Entry:
    entry = objects.entry_of("SyncFiles", "/x", Path(path), st)
    return entry if mode is None else replace(entry, mode=mode)


def test_a_metadata_change_of_a_linked_copy_never_reaches_the_other(tmp_path: Path) -> None:
    source, dest = tmp_path / "src", tmp_path / "dst"
    source.write_bytes(b"same content\n")
    source.chmod(0o644)
    entry = _entry(str(source), source.lstat())
    assert objects.link_unchanged(entry, str(source), str(dest), None)
    assert ino(source) == ino(dest)
    # another mode for the same content: not a link (the caller copies)
    other = tmp_path / "other"
    assert not objects.link_unchanged(
        _entry(str(source), source.lstat(), 0o600), str(source), str(other), None
    )
    assert not other.exists()
    # Create/conversion: same content, other mode -> dest gets its own inode
    assert objects.place(
        _entry(str(source), source.lstat(), 0o600), dest, source=source, area_copy=True
    )
    assert ino(source) != ino(dest)
    assert source.lstat().st_mode & 0o777 == 0o644 and dest.lstat().st_mode & 0o777 == 0o600
    # a delta receive's metadata-only change: the same
    os.unlink(dest)
    os.link(source, dest)
    with AreaWriter(str(tmp_path), "test") as writer:
        st = source.lstat()
        writer.set_file_meta(["dst"], (0o600, st.st_uid, st.st_gid, st.st_mtime_ns))
    assert ino(source) != ino(dest) and dest.read_bytes() == b"same content\n"
    assert source.lstat().st_mode & 0o777 == 0o644 and dest.lstat().st_mode & 0o777 == 0o600
