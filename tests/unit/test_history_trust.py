"""What a history stamp vouches for (layout/history_stamps.py) holds against the two ways a
review found to break it: a record whose caller does not promise that the area holds only
its Manifest's objects (a site converter program may leave others), and an index changed by
another writer before an unrelated record commits it. In both the history must end as the
disk is, not as a stale stamp says."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from atlas_ha.layout import manifest as manifest_mod
from atlas_ha.layout.history import History
from atlas_ha.system import Runner


def write(root: Path, area: str, files: dict[str, bytes]) -> None:
    """Area `area` holding exactly `files` (system path -> content), with its Manifest."""
    base = root / area
    shutil.rmtree(base, ignore_errors=True)
    entries = []
    for path, data in files.items():
        copy = base / "SyncFiles" / path.lstrip("/")
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(data)
        sha = hashlib.sha256(data).hexdigest()
        entries.append(
            manifest_mod.Entry("SyncFiles", path, "file", 0o644, 0, 0, len(data), 0, sha)
        )
    (base / "IdentFiles").mkdir(parents=True, exist_ok=True)
    (base / "Manifest").write_text(manifest_mod.render(entries))


def committed(history: History, area: str) -> list[str]:
    out = history.git("ls-tree", "-r", "--name-only", "HEAD", "--", area).stdout
    return sorted(line[len(area) + 1 :] for line in out.splitlines())


def on_disk(root: Path, area: str) -> list[str]:
    base = root / area
    return sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file())


def history_at(tmp_path: Path) -> tuple[Path, History]:
    root = tmp_path / "SID_DATA"
    root.mkdir()
    history = History(root, "A", Runner())
    history.ensure()
    return root, history


def test_an_untargeted_record_leaves_no_stamp_a_targeted_one_could_trust(tmp_path: Path) -> None:
    root, history = history_at(tmp_path)
    write(root, "PRI/Env2", {"/etc/a": b"1"})
    (root / "PRI/Env2/SyncFiles/etc/x.rpmnew").write_bytes(b"left by a site program")
    history.record("convert-newer", "PRI", 2, ["PRI/Env2"], targeted=False)
    assert "SyncFiles/etc/x.rpmnew" in committed(history, "PRI/Env2")
    write(root, "PRI/Env2", {"/etc/a": b"2"})  # a receive: exactly the Manifest, x gone
    history.record("receive", "PRI", 2, ["PRI/Env2"], targeted=True)
    assert committed(history, "PRI/Env2") == on_disk(root, "PRI/Env2")


def test_an_index_another_writer_changed_trusts_no_stamp_after_it_is_committed(
    tmp_path: Path,
) -> None:
    root, history = history_at(tmp_path)
    write(root, "PRI/Env1", {"/etc/a": b"1"})
    write(root, "PRI/Env2", {"/etc/a": b"1", "/etc/b": b"2"})
    history.record("create", "PRI", 1, ["PRI/Env1", "PRI/Env2"], targeted=True)
    history.git("rm", "--cached", "-q", "PRI/Env2/SyncFiles/etc/b")  # an operator, by hand
    write(root, "PRI/Env1", {"/etc/a": b"11"})
    history.record("create", "PRI", 1, ["PRI/Env1"], targeted=True)  # commits the removal
    write(root, "PRI/Env2", {"/etc/a": b"22", "/etc/b": b"2"})
    history.record("create", "PRI", 2, ["PRI/Env2"], targeted=True)
    assert committed(history, "PRI/Env2") == on_disk(root, "PRI/Env2")
    assert committed(history, "PRI/Env1") == on_disk(root, "PRI/Env1")


def test_the_index_identity_changes_with_its_content(tmp_path: Path) -> None:
    """Two index writes of one size within one mtime tick onto a reused inode differ by the
    checksum git ends the file with."""
    root, history = history_at(tmp_path)
    write(root, "PRI/Env1", {"/etc/a": b"1"})
    history.record("create", "PRI", 1, ["PRI/Env1"], targeted=True)
    index = root / ".git" / "index"
    before = history.stamps.index_stat()
    data = bytearray(index.read_bytes())
    data[-1] ^= 0xFF
    st = index.stat()
    index.write_bytes(bytes(data))  # same inode, same size
    import os

    os.utime(index, ns=(st.st_atime_ns, st.st_mtime_ns))  # same mtime
    assert history.stamps.index_stat() != before
