"""A conversion step that changes nothing for a file costs no copy: in the server's own
role, the target's copy is a hard link to the source's (converters/transaction.py,
layout/objects.link_unchanged, sync/convert._may_share); no in-place change of one copy
ever reaches another area; and no area a receive writes (another role's) shares an inode.

Why the last rule (the "torn" failure of the first attempt, commit 0fe54f9): a received
area is written by rsync, which sets a changed mode or owner of an existing file in place
(`test_rsync_changes_a_shared_inode_in_place` shows it with the real rsync), so a copy
shared with another area would change that area's object behind its Manifest."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from dataclasses import replace
from pathlib import Path

from atlas_ha.lab.group import SimGroup
from atlas_ha.layout import objects
from atlas_ha.layout.areawrite import AreaWriter
from atlas_ha.layout.manifest import Entry
from atlas_ha.layout.sid import SidData
from atlas_ha.model import MasterConfig
from atlas_ha.sync.convert import convert_to_newer
from atlas_ha.sync.cycle import cycle
from atlas_ha.transport.local import RSYNC

SAME = "/etc/app/app.conf"  # in every environment the same file


def quiet(_line: str) -> None:
    pass


def ino(path: Path) -> int:
    return path.lstat().st_ino


def disks(group: SimGroup) -> list[tuple[str, SidData, str]]:
    found = []
    for disk in sorted((group.base / "disks").iterdir()):
        sid = SidData(disk / "SID_DATA")
        master = MasterConfig.parse(sid.master_config_file.read_text(), sid.master_config_file)
        found.append((disk.name, sid, master.role))
    return found


def shared_in_received_areas(group: SimGroup) -> list[str]:
    """Files with more than one name in the areas of a role the disk does not hold (the
    areas receives write)."""
    found = []
    for name, sid, own in disks(group):
        for role in sid.roles():
            if role == own:
                continue
            for v in sid.envs(role):
                area = sid.area(role, v)
                for tree in ("SyncFiles", "IdentFiles"):
                    base = area.tree_dir(tree)
                    for top in objects.tops_of(base):
                        for path, _fs, st in objects.walk(base, top):
                            if objects.shared(st):
                                found.append(f"{name} ({role},{v}) {tree}{path}")
    return found


def metadata_problems(group: SimGroup) -> list[str]:
    """Every file of every valid area on every disk against its Manifest: content, size,
    mode, mtime and (as root) owner."""
    problems = []
    for name, sid, _own in disks(group):
        for role in sid.roles():
            for v in sid.valid_envs(role):
                area = sid.area(role, v)
                for (tree, path), entry in area.manifest().items():
                    if tree == "area" or entry.type != "file":
                        continue
                    copy = area.copy_path(tree, path)
                    st = copy.lstat()
                    if not objects.stat_matches(entry, st):
                        problems.append(
                            f"{name} ({role},{v}) {tree}{path}: mode {stat.S_IMODE(st.st_mode):o}"
                            f" mtime {st.st_mtime_ns}, the Manifest says {entry.mode:o} "
                            f"{entry.mtime_ns}"
                        )
                    elif objects.hash_file(copy) != entry.sha256:
                        problems.append(f"{name} ({role},{v}) {tree}{path}: content")
    return problems


def test_convert_to_older_of_the_own_role_links_what_the_step_left(group: SimGroup) -> None:
    assert cycle(group.servers["A"].server(quiet)).all_equal
    a = group.servers["A"].server(quiet)  # PRI at Env2: ConvertToOlder made (PRI,1)
    one, two = a.sid.area("PRI", 1), a.sid.area("PRI", 2)
    assert ino(one.copy_path("SyncFiles", SAME)) == ino(two.copy_path("SyncFiles", SAME))
    # the identity is written in each environment's own format: a file of its own
    converted = [
        p
        for (tree, p), e in one.manifest().items()
        if tree == "IdentFiles" and e.type == "file" and (tree, p) not in two.manifest()
    ]
    assert converted, "no converted file: the test proves nothing"
    assert one.copy_path("IdentFiles", converted[0]).lstat().st_nlink == 1
    a.sid.require_valid("PRI", 1)


def test_no_area_a_receive_writes_shares_an_inode(group: SimGroup) -> None:
    """C (Env3) converts the received (PRI,2) to (PRI,3), A the received (SEC1,1) to
    (SEC1,2): copies, never links (fails on 0fe54f9, which linked them)."""
    for _ in range(2):
        assert cycle(group.servers["A"].server(quiet)).all_equal
    c = group.servers["C"].server(quiet)
    assert c.sid.area("PRI", 3).copy_path("SyncFiles", SAME).is_file()  # converted here
    assert shared_in_received_areas(group) == []


def test_a_mode_or_mtime_change_on_the_pri_tears_no_area(group: SimGroup) -> None:
    """The failure mode of the first attempt: only metadata of a file changes on the PRI;
    after each cycle every valid area of every disk is what its Manifest says, mode and
    mtime included."""
    a_sim = group.servers["A"]
    assert cycle(a_sim.server(quiet)).all_equal
    target = a_sim.file(SAME)
    for mode in (0o600, 0o640):
        target.chmod(mode)
        os.utime(target, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000 + mode))
        assert cycle(a_sim.server(quiet)).all_equal
        assert metadata_problems(group) == []
        for name in "BC":  # installed on every SEC with the new mode
            assert stat.S_IMODE(group.servers[name].file(SAME).lstat().st_mode) == mode


def test_boot_conversion_of_the_own_role_links_and_stays_valid(group: SimGroup) -> None:
    """The on-demand ConvertToNewer at boot (Scenario 3's shape) of C's own role SEC2:
    (SEC2,1) -> (SEC2,2) -> (SEC2,3) where only (SEC2,1) is left."""
    assert cycle(group.servers["A"].server(quiet)).all_equal
    c = group.servers["C"].server(quiet)
    c.sid.set_sev("SEC2", 1)
    for env in (2, 3):
        shutil.rmtree(c.sid.area("SEC2", env).path)
        c.sid.converted_marker("SEC2", env).unlink(missing_ok=True)
    assert convert_to_newer(c, "SEC2", 3) == [2, 3]
    c.sid.require_valid("SEC2", 3)
    one, three = c.sid.area("SEC2", 1), c.sid.area("SEC2", 3)
    assert ino(one.copy_path("SyncFiles", SAME)) == ino(three.copy_path("SyncFiles", SAME))
    assert metadata_problems(group) == []
    assert cycle(group.servers["A"].server(quiet)).all_equal  # and it cycles on from there


def test_a_site_converter_program_gets_copies_it_may_write_in_place(group: SimGroup) -> None:
    a_sim = group.servers["A"]
    program = a_sim.server(quiet).esd.converter_program(2)
    program.parent.mkdir(parents=True, exist_ok=True)
    program.write_text("#!/bin/sh\nexit 0\n")
    program.chmod(0o755)
    assert cycle(a_sim.server(quiet)).all_equal
    one = a_sim.server(quiet).sid.area("PRI", 1)
    assert one.copy_path("SyncFiles", SAME).lstat().st_nlink == 1


def _entry(path: Path, mode: int | None = None) -> Entry:
    entry = objects.entry_of("SyncFiles", "/x", path, path.lstat())
    return entry if mode is None else replace(entry, mode=mode)


def _linked_pair(tmp_path: Path) -> tuple[Path, Path]:
    source, dest = tmp_path / "src", tmp_path / "dst"
    source.write_bytes(b"same content\n")
    source.chmod(0o644)
    assert objects.link_unchanged(_entry(source), str(source), str(dest), None)
    assert ino(source) == ino(dest)
    return source, dest


def test_a_link_is_made_only_for_exactly_the_entry(tmp_path: Path) -> None:
    source, _dest = _linked_pair(tmp_path)
    other = tmp_path / "other"
    assert not objects.link_unchanged(_entry(source, 0o600), str(source), str(other), None)
    assert not other.exists()


def test_a_metadata_change_of_a_shared_copy_never_reaches_the_other(tmp_path: Path) -> None:
    source, dest = _linked_pair(tmp_path)
    # Create / conversion / restore: same content, other mode -> dest gets its own inode
    assert objects.place(_entry(source, 0o600), dest, source=source, area_copy=True)
    assert ino(source) != ino(dest)
    assert stat.S_IMODE(source.lstat().st_mode) == 0o644
    assert stat.S_IMODE(dest.lstat().st_mode) == 0o600
    # a delta receive's metadata-only change: the same
    os.unlink(dest)
    os.link(source, dest)
    with AreaWriter(str(tmp_path), "test") as writer:
        st = source.lstat()
        writer.set_file_meta(["dst"], (0o600, st.st_uid, st.st_gid, st.st_mtime_ns))
    assert ino(source) != ino(dest) and dest.read_bytes() == b"same content\n"
    assert stat.S_IMODE(source.lstat().st_mode) == 0o644
    assert stat.S_IMODE(dest.lstat().st_mode) == 0o600


def test_rsync_changes_a_shared_inode_in_place(tmp_path: Path) -> None:
    """Why received areas never share: rsync -a (no --inplace) replaces changed content by
    rename, but sets a changed mode of an unchanged file on the existing inode."""
    area, sibling, sender = tmp_path / "area", tmp_path / "sibling", tmp_path / "sender"
    for d in (area, sibling, sender):
        d.mkdir()
    (area / "f").write_bytes(b"x\n")
    (area / "f").chmod(0o644)
    os.link(area / "f", sibling / "f")
    shutil.copy2(area / "f", sender / "f")
    (sender / "f").chmod(0o600)
    subprocess.run(["rsync", "-a", f"{sender}/", f"{area}/"], check=True)
    assert stat.S_IMODE((sibling / "f").lstat().st_mode) == 0o600  # the other area changed


def test_materialise_without_links_unshares_a_shared_copy(group: SimGroup) -> None:
    """Another role's conversion target holding a hard link (a disk whose role was changed
    by hand) gets a copy of its own, even where the link already matched."""
    assert cycle(group.servers["A"].server(quiet)).all_equal
    c = group.servers["C"].server(quiet)
    two, three = c.sid.area("PRI", 2), c.sid.area("PRI", 3)
    copy3 = three.copy_path("SyncFiles", SAME)
    copy3.unlink()
    os.link(two.copy_path("SyncFiles", SAME), copy3)
    c.sid.converted_marker("PRI", 3).unlink()
    c.sid.set_sev("PRI", 2)
    assert convert_to_newer(c, "PRI", 3) == [3]
    assert copy3.lstat().st_nlink == 1
    assert shared_in_received_areas(group) == []


def test_a_chain_step_hands_on_exactly_the_manifest_it_wrote(group: SimGroup) -> None:
    """convert_step's result feeds the next step instead of a parse of the Manifest."""
    from atlas_ha.sync.convert import convert_step

    assert cycle(group.servers["A"].server(quiet)).all_equal
    c = group.servers["C"].server(quiet)
    c.sid.converted_marker("SEC2", 2).unlink()
    entries = convert_step(c, "SEC2", 3, 2)
    assert entries is not None
    written = {k: e for k, e in c.sid.area("SEC2", 2).manifest().items() if k[0] != "area"}
    assert entries == written
    assert convert_step(c, "SEC2", 3, 2) is None  # up to date: nothing written


def test_a_restore_of_a_shared_copy_leaves_the_other_area_as_its_manifest_says(
    group: SimGroup,
) -> None:
    """git restore and the restore's metadata pass write a new file, never the shared one."""
    from atlas_ha.sync.restore import restore_path

    a_sim = group.servers["A"]
    assert cycle(a_sim.server(quiet)).all_equal
    a = a_sim.server(quiet)
    before = a.history.git("rev-parse", "HEAD").stdout.strip()
    a_sim.file(SAME).write_bytes(b"a newer app.conf\n")
    assert cycle(a_sim.server(quiet)).all_equal
    one, two = a.sid.area("PRI", 1), a.sid.area("PRI", 2)
    assert ino(one.copy_path("SyncFiles", SAME)) == ino(two.copy_path("SyncFiles", SAME))
    restore_path(a_sim.server(quiet), SAME, before, "PRI", 2)
    assert two.copy_path("SyncFiles", SAME).read_bytes() != b"a newer app.conf\n"
    assert one.copy_path("SyncFiles", SAME).read_bytes() == b"a newer app.conf\n"
    assert metadata_problems(group) == []


def test_a_receive_into_areas_a_conversion_linked_changes_no_other_area(
    group: SimGroup, tmp_path: Path
) -> None:
    """A disk whose role was changed by hand receives the role its conversions linked:
    receive-begin gives the areas copies of their own, so rsync's in-place chmod of Env2's
    copy leaves Env1 (current, not pushed, valid after commit) as its Manifest says."""
    from atlas_ha.layout import manifest as manifest_mod
    from atlas_ha.sync import receive

    assert cycle(group.servers["A"].server(quiet)).all_equal
    a = group.servers["A"].server(quiet)
    assert a.sid.shared_marker("PRI").exists()  # written by the own-role conversion
    assert not a.sid.shared_marker("SEC1").exists()  # a received role: copies only
    one, two = a.sid.area("PRI", 1), a.sid.area("PRI", 2)
    assert ino(one.copy_path("SyncFiles", SAME)) == ino(two.copy_path("SyncFiles", SAME))
    # what a sender holds: the same Env1, and an Env2 in which only SAME's mode changed
    sender = tmp_path / "Env2"
    subprocess.run(["cp", "-a", str(two.path), str(sender)], check=True)
    (sender / "SyncFiles" / SAME.lstrip("/")).chmod(0o600)
    rows = dict(two.manifest())
    rows[("SyncFiles", SAME)] = replace(rows[("SyncFiles", SAME)], mode=0o600)
    (sender / "Manifest").write_text(manifest_mod.render(list(rows.values())))
    # the size of the receiver's Manifest (416 -> 384) and its second: only the nanoseconds
    # tell them apart, as when a cycle rewrites a Manifest within a second
    held = two.manifest_file.stat()
    second, part = divmod(held.st_mtime_ns, 1_000_000_000)
    same_second = second * 1_000_000_000 + (part + 1) % 1_000_000_000
    os.utime(sender / "Manifest", ns=(held.st_atime_ns, same_second))
    digests = {"1": receive.manifest_digest(one)}
    targets, current = receive.begin(a, "PRI", 2, [1, 2], "B", digests)
    assert current == [1]
    # the push a send makes (its rsync options: a plain `rsync -a` compares whole seconds
    # and may skip a Manifest of the same size written within the same second)
    subprocess.run([*RSYNC, f"{sender}/", f"{targets[2]}/"], check=True)
    receive.commit(a, "PRI", 2, [1, 2], "B")
    assert stat.S_IMODE(two.copy_path("SyncFiles", SAME).lstat().st_mode) == 0o600
    assert metadata_problems(group) == []  # Env1 kept its own mode
    assert not a.sid.shared_marker("PRI").exists()
    assert one.copy_path("SyncFiles", SAME).lstat().st_nlink == 1
