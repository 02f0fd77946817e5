"""Targeted staging (layout/manifest_diff.py, layout/history_stage.py) yields exactly the
tree a whole-area `git add -A` yields, for random old and new areas written as real trees:
files changing content or the executable bit, symlinks changing target, and every type
change (a file that becomes a directory, a directory that becomes a symlink, ...)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atlas_ha.layout import manifest as manifest_mod
from atlas_ha.layout import objects
from atlas_ha.layout.history import History
from atlas_ha.layout.manifest import Entry
from atlas_ha.layout.manifest_diff import staging
from atlas_ha.system import Completed, Runner

AREA = "PRI/Env1"
# plain names, and those a path list or git could trip on: not UTF-8, a newline, a space,
# a synced .gitignore, a name that is a flag's at an area's top
NAMES = ("a", "b", "c", os.fsdecode(b"caf\xe9"), "new\nline", "sp ace", ".gitignore", "InvalidSend")
Node = tuple[str, object]  # ("file", (content, mode)) | ("link", target) | ("dir", {..}) | absent

leaf = st.one_of(
    st.tuples(
        st.just("file"),
        st.tuples(st.sampled_from(["x", "y", "z\n"]), st.sampled_from([0o644, 0o755])),
    ),
    st.tuples(st.just("link"), st.sampled_from(["a", "../b", "/etc/c"])),
    st.tuples(st.just("absent"), st.none()),
)
nodes = st.recursive(
    leaf,
    lambda inner: st.tuples(
        st.just("dir"), st.dictionaries(st.sampled_from(NAMES), inner, max_size=3)
    ),
    max_leaves=8,
)
trees = st.dictionaries(st.sampled_from(NAMES), nodes, max_size=3)
areas = st.tuples(trees, trees, st.sampled_from(["/etc/a\n", "/etc/a\n/etc/b\n"]))


def _write(top: Path, rel: str, node: Node, rows: list[Entry], tree: str) -> None:
    kind, data = node
    path = top / rel.lstrip("/")
    if kind == "absent":
        rows.append(Entry(tree, rel, "absent"))
        return
    if kind == "file":
        content, mode = data  # type: ignore[misc]
        path.write_text(content)
        path.chmod(mode)
    elif kind == "link":
        path.symlink_to(str(data))
    else:
        path.mkdir()
        for name, child in data.items():  # type: ignore[attr-defined]
            _write(top, f"{rel}/{name}", child, rows, tree)
    rows.append(objects.entry_of(tree, rel, path, path.lstat()))


def write_area(root: Path, sync: dict[str, Node], ident: dict[str, Node], lists: str) -> None:
    """The area as Create leaves it: its trees, its path list and a Manifest naming them."""
    area = root / AREA
    for tree in ("SyncFiles", "IdentFiles"):
        shutil.rmtree(area / tree, ignore_errors=True)
        (area / tree / "etc").mkdir(parents=True)
    rows: list[Entry] = []
    for tree, top in (("SyncFiles", sync), ("IdentFiles", ident)):
        for name, node in top.items():
            _write(area / tree, f"/etc/{name}", node, rows, tree)
    (area / "SyncFilePaths").write_text(lists)
    st_ = (area / "SyncFilePaths").lstat()
    rows.append(objects.entry_of("area", "SyncFilePaths", area / "SyncFilePaths", st_))
    (area / "Manifest").write_text(manifest_mod.render(rows))


class Counting(Runner):
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def run(self, argv: Sequence[str], **kw: object) -> Completed:
        self.calls.append(list(argv))
        return super().run(argv, **kw)  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(old=areas, new=areas)
def test_targeted_staging_commits_the_tree_a_full_add_commits(
    old: tuple[dict[str, Node], dict[str, Node], str],
    new: tuple[dict[str, Node], dict[str, Node], str],
) -> None:
    top = Path(tempfile.mkdtemp(prefix="pt-manifest-diff-", dir="/var/tmp"))
    try:
        root = top / "SID_DATA"
        runner = Counting()
        history = History(root, "A", runner)
        write_area(root, *old)
        history.record("create", "PRI", 1, [AREA], targeted=True)  # the first: whole
        before = (root / AREA / "Manifest").read_text()
        write_area(root, *new)
        after = (root / AREA / "Manifest").read_text()
        runner.calls.clear()
        history.record("create", "PRI", 1, [AREA], targeted=True)
        assert not any(c[:2] == ["git", "add"] for c in runner.calls)
        git = history.git
        targeted = git("write-tree").stdout.strip()
        git("add", "-A", "--force", "--", AREA)
        assert git("write-tree").stdout.strip() == targeted
        assert git("rev-parse", "HEAD^{tree}").stdout.strip() == targeted
        assert bool(staging(AREA, before, after)) == (before != after)
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_a_file_that_becomes_a_directory_is_a_removal_and_its_children_additions() -> None:
    def text(*rows: Entry) -> str:
        return manifest_mod.render(rows)

    f = Entry("SyncFiles", "/etc/a", "file", 0o644, sha256="0" * 64)
    d = Entry("SyncFiles", "/etc/a", "dir", 0o755)
    child = Entry("SyncFiles", "/etc/a/x", "file", 0o644, sha256="1" * 64)
    same = Entry("SyncFiles", "/etc/keep", "file", 0o644, sha256="2" * 64)
    got = staging(AREA, text(f, same), text(d, child, same))
    assert got.present == [f"{AREA}/Manifest", f"{AREA}/SyncFiles/etc/a/x"]
    assert got.gone == [f"{AREA}/SyncFiles/etc/a"]
    back = staging(AREA, text(d, child, same), text(f, same))
    assert back.present == [f"{AREA}/Manifest", f"{AREA}/SyncFiles/etc/a"]
    assert back.gone == [f"{AREA}/SyncFiles/etc/a/x"]
    assert not staging(AREA, text(f, same), text(f, same))
