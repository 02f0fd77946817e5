"""History of SID_DATA (SPEC 5.11): `atlas-ha history`, `diff` and `restore` on a simulated
group (A Env2 PRI, B Env1 SEC1), after two cycles with an edit of /etc/app/app.conf between
them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from atlas_ha.cli.main import main
from atlas_ha.context import Server
from atlas_ha.lab.group import APP_UID, SimGroup, SimServer
from atlas_ha.layout import manifest as manifest_mod
from atlas_ha.layout import objects
from atlas_ha.layout.manifest import Entry
from atlas_ha.layout.sid import Area
from atlas_ha.sync.create import create
from atlas_ha.sync.cycle import cycle

APP = "/etc/app/app.conf"
APP_COPY = "PRI/Env2/SyncFiles/etc/app/app.conf"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="owners need root")


def _quiet(_line: str) -> None:
    pass


def _build(base: Path) -> SimGroup:
    """Cycle, edit app.conf on A (content and mode), cycle again."""
    g = SimGroup(base)
    g.build({"A": (2, "PRI"), "B": (1, "SEC1")})
    g.boot("A")
    g.boot("B")
    cycle(g.servers["A"].server(_quiet))
    app = g.servers["A"].file(APP)
    app.write_text("level = 4\n")
    app.chmod(0o600)
    cycle(g.servers["A"].server(_quiet))
    return g


@pytest.fixture(scope="module")
def edited(tmp_path_factory: pytest.TempPathFactory) -> SimGroup:
    """A group for tests that only read the history."""
    return _build(tmp_path_factory.mktemp("history") / "g")


@pytest.fixture
def group(tmp_path: Path) -> SimGroup:
    """A group of its own, for tests that restore."""
    return _build(tmp_path / "g")


def cli(capsys: pytest.CaptureFixture[str], sim: SimServer, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--config", str(sim.config), *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def server_of(g: SimGroup, name: str) -> Server:
    return g.servers[name].server(_quiet)


def create_revs(server: Server, relpath: str = APP_COPY) -> list[str]:
    """The create commits touching `relpath`, newest first."""
    return [c.rev for c in server.history.log([relpath]) if c.operation == "create"]


def entry_at(server: Server, rev: str, area: str, key: tuple[str, str]) -> Entry:
    text = server.history.show(rev, f"{area}/Manifest").decode()
    return manifest_mod.parse(text, rev)[key]


def assert_consistent(area: Area) -> None:
    """Every file and symlink of the area is what its Manifest says (content, mode, owner,
    mtime; link target)."""
    for (tree, path), entry in area.manifest().items():
        if tree == "area" or entry.type not in ("file", "symlink"):
            continue
        copy = area.copy_path(tree, path)
        actual = objects.entry_of(tree, path, copy, copy.lstat())
        assert actual.same_object(entry), path
        assert entry.type != "file" or actual.mtime_ns == entry.mtime_ns, path


def assert_clean(server: Server, relpath: str) -> None:
    assert server.history.git("status", "--porcelain", "--", relpath).stdout == ""


# -- history and diff --------------------------------------------------------------------------
def test_history_lists_creates_with_operation_role_env_server(
    edited: SimGroup, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, edited.servers["A"], "history", APP)
    assert code == 0
    creates = [line for line in out.splitlines() if " create " in line]
    assert len(creates) == 2
    assert all(line.endswith("PRI/Env2 on A") for line in creates)
    changes = server_of(edited, "A").history.log([APP_COPY])
    assert [(c.operation, c.role, c.env, c.server) for c in changes] == [
        ("create", "PRI", "2", "A")
    ] * 2


def test_diff_between_two_revisions_shows_the_edited_line(
    edited: SimGroup, capsys: pytest.CaptureFixture[str]
) -> None:
    new, old = create_revs(server_of(edited, "A"))
    code, out, _ = cli(capsys, edited.servers["A"], "diff", old, new, "--path", APP)
    assert code == 0
    assert f"a/{APP_COPY}" in out
    assert "-level = 3\n" in out and "+level = 4\n" in out
    code, one_rev, _ = cli(capsys, edited.servers["A"], "diff", old[:8], "--path", APP)
    assert code == 0 and "+level = 4\n" in one_rev


def test_diff_defaults_to_the_last_commit(
    edited: SimGroup, capsys: pytest.CaptureFixture[str]
) -> None:
    history = server_of(edited, "A").history
    code, out, _ = cli(capsys, edited.servers["A"], "diff")
    assert code == 0
    assert out == history.diff("HEAD~1", "HEAD", [])
    assert out.startswith("diff --git ")


def test_diff_against_the_work_tree_and_show(edited: SimGroup) -> None:
    history = server_of(edited, "A").history
    new, old = create_revs(server_of(edited, "A"))
    assert "+level = 4" in history.diff(old, None, [APP_COPY])
    assert history.diff(new, None, [APP_COPY]) == ""
    assert history.show(old, APP_COPY) == b"level = 3\n"
    assert history.show(new, "PRI/Env2/SyncFiles/etc/app/current") == b"app.conf"


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["diff", "no-such-rev"], "no-such-rev"),
        (["diff", "HEAD~999", "HEAD"], "HEAD~999"),
        (["diff", "HEAD", "-- --output=/tmp/x"], "--output=/tmp/x"),
        (["restore", APP, "--to", "deadbeef"], "deadbeef"),
        (["restore", "--snapshot", "PRI/Env2", "--to", "--help"], None),
        (["restore", "--snapshot", "PRI/Env7", "--to", "HEAD"], "PRI/Env7"),
    ],
)
def test_a_bad_revision_exits_11_naming_it(
    edited: SimGroup, capsys: pytest.CaptureFixture[str], argv: list[str], named: str | None
) -> None:
    if named is None:  # not a revision at all: argparse refuses it (usage error)
        with pytest.raises(SystemExit):
            cli(capsys, edited.servers["A"], *argv)
        return
    head = server_of(edited, "A").history.verify("HEAD")
    code, _out, err = cli(capsys, edited.servers["A"], *argv)
    assert code == 11
    assert named in err
    sid = server_of(edited, "A").sid
    assert sid.is_valid("PRI", 2)
    assert server_of(edited, "A").history.verify("HEAD") == head


def test_install_is_refused_on_a_sec(edited: SimGroup, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = cli(capsys, edited.servers["B"], "restore", APP, "--to", "HEAD", "--install")
    assert code == 7 and "PRI only" in err


def test_install_and_role_do_not_go_with_snapshot(
    edited: SimGroup, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        cli(
            capsys,
            edited.servers["A"],
            "restore",
            "--snapshot",
            "PRI/Env2",
            "--to",
            "HEAD",
            "--install",
        )


# -- restore -----------------------------------------------------------------------------------
def test_restore_path_brings_back_content_and_metadata(
    group: SimGroup, capsys: pytest.CaptureFixture[str]
) -> None:
    a, server = group.servers["A"], server_of(group, "A")
    _new, old = create_revs(server)
    code, out, _ = cli(capsys, a, "restore", APP, "--to", old[:10])
    assert code == 0 and "recorded as" in out
    area = server.sid.area("PRI", 2)
    then = entry_at(server, old, "PRI/Env2", ("SyncFiles", APP))
    copy = area.copy_path("SyncFiles", APP)
    st = copy.lstat()
    assert copy.read_text() == "level = 3\n"
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o640, APP_UID, APP_UID)
    assert st.st_mtime_ns == then.mtime_ns
    assert area.manifest()[("SyncFiles", APP)] == then
    assert_consistent(area)
    assert_clean(server, "PRI/Env2")
    top = server.history.log([APP_COPY])[0]
    assert (top.operation, top.role, top.env, top.server) == ("restore", "PRI", "2", "A")
    assert server.sid.is_valid("PRI", 2)
    assert a.file(APP).read_text() == "level = 4\n"  # the system root is left alone


def test_restore_install_on_the_pri_places_the_system_file(
    group: SimGroup, capsys: pytest.CaptureFixture[str]
) -> None:
    a, server = group.servers["A"], server_of(group, "A")
    _new, old = create_revs(server)
    code, out, _ = cli(capsys, a, "restore", APP, "--to", old, "--install")
    assert code == 0 and f"installed {APP}" in out
    st = a.file(APP).lstat()
    then = entry_at(server, old, "PRI/Env2", ("SyncFiles", APP))
    assert a.file(APP).read_text() == "level = 3\n"
    assert (st.st_mode & 0o7777, st.st_uid, st.st_mtime_ns) == (0o640, APP_UID, then.mtime_ns)
    assert server.history.log([APP_COPY])[0].operation == "restore"
    cycle(server)
    assert group.servers["B"].file(APP).read_text() == "level = 3\n"


def test_restore_a_directory_removes_what_was_added_since(
    group: SimGroup, capsys: pytest.CaptureFixture[str]
) -> None:
    a, server = group.servers["A"], server_of(group, "A")
    _new, old = create_revs(server)
    (a.file("/etc/app/conf.d/new.conf")).write_text("new = 1\n")
    cycle(server)
    code, _out, _err = cli(capsys, a, "restore", "/etc/app/conf.d/", "--to", old)
    assert code == 0
    area = server.sid.area("PRI", 2)
    assert not area.copy_path("SyncFiles", "/etc/app/conf.d/new.conf").exists()
    assert ("SyncFiles", "/etc/app/conf.d/new.conf") not in area.manifest()
    assert area.copy_path("SyncFiles", "/etc/app/conf.d/extra.conf").read_text() == "extra = yes\n"
    assert area.copy_path("SyncFiles", APP).read_text() == "level = 4\n"  # outside the path
    assert_consistent(area)
    assert_clean(server, "PRI/Env2")


def test_restore_snapshot_restores_the_whole_area(
    group: SimGroup, capsys: pytest.CaptureFixture[str]
) -> None:
    a, server = group.servers["A"], server_of(group, "A")
    _new, old = create_revs(server)
    (a.file("/etc/app/conf.d/new.conf")).write_text("new = 1\n")
    cycle(server)
    code, out, _ = cli(capsys, a, "restore", "--snapshot", "PRI/Env2", "--to", old)
    assert code == 0 and "restored PRI/Env2" in out
    area = server.sid.area("PRI", 2)
    assert not area.copy_path("SyncFiles", "/etc/app/conf.d/new.conf").exists()
    assert area.copy_path("SyncFiles", APP).read_text() == "level = 3\n"
    assert area.manifest_file.read_bytes() == server.history.show(old, "PRI/Env2/Manifest")
    assert (area.manifest_file.stat().st_mode & 0o777) == 0o600
    assert server.history.diff(old, "HEAD", ["PRI/Env2"]) == ""
    assert_consistent(area)
    assert_clean(server, "PRI/Env2")
    top = server.history.log(["PRI/Env2"])[0]
    assert (top.operation, top.role, top.env) == ("restore", "PRI", "2")
    assert server.sid.is_valid("PRI", 2)
    code, out, _ = cli(capsys, a, "restore", "--snapshot", "PRI/Env2", "--to", old)
    assert code == 0 and "nothing recorded" in out


def test_a_local_edit_on_a_sec_and_its_undoing_are_both_in_its_history(
    group: SimGroup, capsys: pytest.CaptureFixture[str]
) -> None:
    b = group.servers["B"]
    b.file(APP).write_text("level = 99\n")
    create(server_of(group, "B"))
    sec_copy = "SEC1/Env1/SyncFiles/etc/app/app.conf"
    edit = create_revs(server_of(group, "B"), sec_copy)[0]
    assert server_of(group, "B").history.show(edit, sec_copy) == b"level = 99\n"
    cycle(server_of(group, "A"))
    assert b.file(APP).read_text() == "level = 4\n"
    history = server_of(group, "B").history
    undo, local = create_revs(server_of(group, "B"), sec_copy)[:2]
    assert local == edit
    changes = history.log([sec_copy])[:2]
    assert [(c.operation, c.role, c.env, c.server) for c in changes] == [
        ("create", "SEC1", "1", "B")
    ] * 2
    assert "-level = 99\n+level = 4\n" in history.diff(local, undo, [sec_copy])
    code, out, _ = cli(capsys, b, "history", APP)
    assert code == 0
    assert out.splitlines()[0].startswith(undo[:10])
    assert out.splitlines()[1].startswith(local[:10])


def test_a_synced_gitignore_hides_nothing_from_the_history(group: SimGroup) -> None:
    """A synced copy of a .gitignore (etckeeper keeps one in /etc) must not keep the files it
    names out of the history; flags and SnapshotEnvVersion stay out of it."""
    a = group.servers["A"]
    a.file("/etc/app/.gitignore").write_text("*.conf\nsecret\n")
    a.file("/etc/app/secret").write_text("kept in history\n")
    a.file("/etc/app/new.conf").write_text("new = 1\n")
    server = a.server(_quiet)
    cycle(server)
    tracked = server.history.git("ls-files", "PRI").stdout.splitlines()
    for name in (".gitignore", "secret", "new.conf"):
        assert f"PRI/Env2/SyncFiles/etc/app/{name}" in tracked
    assert not any(t.rsplit("/", 1)[-1].startswith("Invalid") for t in tracked)
    assert "PRI/SnapshotEnvVersion" not in tracked
    # a flag written later is state, not history
    server.sid.area("PRI", 1).path.joinpath("InvalidSend").write_text("")
    server.history.record("create", "PRI", 1, ["PRI/Env1"])
    assert "PRI/Env1/InvalidSend" not in server.history.git("ls-files", "PRI").stdout


class Call(list[str]):
    """One command's argv, with what it was given on stdin."""

    stdin: str | None = None


def _counting_server(g: SimGroup) -> tuple[Server, list[Call]]:
    """A's Server whose runner records every command it runs (the commands still run)."""
    from collections.abc import Sequence

    from atlas_ha.system import Completed, Runner

    calls: list[Call] = []

    class Counting(Runner):
        def run(self, argv: Sequence[str], **kw: object) -> Completed:
            call = Call(argv)
            call.stdin = kw.get("input_text")  # type: ignore[assignment]
            calls.append(call)
            return super().run(argv, **kw)  # type: ignore[arg-type]

    return Server(g.servers["A"].server().settings, runner=Counting(), log=_quiet), calls


def test_an_area_unchanged_since_its_last_record_is_not_staged_again(tmp_path: Path) -> None:
    import shutil

    g = _build(tmp_path)
    server, calls = _counting_server(g)
    create(server)
    assert server.history.record("create", "PRI", 2, ["PRI/Env2"], targeted=True) is None
    calls.clear()
    create(server)  # nothing changed: the Manifest is the one recorded last
    assert not any(argv[:2] == ["git", "add"] for argv in calls)
    g.servers["A"].file("/etc/app/app.conf").write_text("level = 7\n")
    create(server)
    assert any(argv[:2] == ["git", "update-index"] for argv in calls)
    assert [c.operation for c in server.history.log(["PRI/Env2"])][:1] == ["create"]
    head = server.history.git("rev-parse", "HEAD").stdout
    # a new repository starts without stamps: everything is recorded again
    shutil.rmtree(server.sid.root / ".git")
    assert server.history.record("create", "PRI", 2, ["PRI/Env2"]) is not None
    assert server.history.git("rev-parse", "HEAD").stdout != head


def test_a_record_commits_the_index_without_refreshing_every_area(tmp_path: Path) -> None:
    """After the first commit a record is add, diff, write-tree, commit-tree and an update-ref
    of HEAD from the commit it read: no `git commit` (which lstats every file of every area)."""
    g = _build(tmp_path)
    server, calls = _counting_server(g)
    create(server)
    before = server.history.git("rev-parse", "HEAD").stdout.strip()
    g.servers["A"].file("/etc/app/app.conf").write_text("level = 8\n")
    calls.clear()
    create(server)
    git = [argv[1] for argv in calls if argv[0] == "git"]
    assert "commit" not in git and git[-3:] == ["write-tree", "commit-tree", "update-ref"]
    head = server.history.git("rev-parse", "HEAD").stdout.strip()
    assert server.history.git("rev-parse", "HEAD^").stdout.strip() == before
    shown = server.history.git("show", f"{head}:PRI/Env2/SyncFiles/etc/app/app.conf").stdout
    assert shown == "level = 8\n"
    assert server.history.log(["PRI/Env2"])[0].operation == "create"
    assert server.history.git("status", "--porcelain", "--", "PRI/Env2").stdout == ""


# -- targeted staging: only what the Manifests say changed ---------------------------------------
def _staged_paths(calls: list[Call]) -> dict[str, list[str]]:
    """{"present" | "gone": paths} given to `git update-index` on stdin."""
    found: dict[str, list[str]] = {"present": [], "gone": []}
    for call in calls:
        if call[:2] == ["git", "update-index"] and call.stdin is not None:
            kind = "gone" if "--force-remove" in call else "present"
            found[kind] += [p for p in call.stdin.split("\0") if p]
    return found


def assert_as_a_full_add(server: Server, area: str = "PRI/Env2") -> None:
    """The committed tree is what `git add -A` of the whole area would commit (our private
    files, the flags, left out as a record leaves them out)."""
    from atlas_ha.layout.history_stage import is_private

    git = server.history.git
    committed = git("rev-parse", "HEAD^{tree}").stdout.strip()
    git("add", "-A", "--force", "--", area)
    added = git("diff", "--cached", "--name-only", "-z", "--", area).stdout.split("\0")
    private = [p for p in added if p and is_private(p)]
    if private:
        git("rm", "--cached", "-q", "--", *private)
    tree = git("write-tree").stdout.strip()
    assert git("diff", "--stat", committed, tree).stdout == ""
    assert tree == committed
    assert git("status", "--porcelain", "--", area).stdout == ""


def test_a_changed_file_stages_only_its_path_and_the_manifest(tmp_path: Path) -> None:
    g = _build(tmp_path)
    server, calls = _counting_server(g)
    create(server)
    a = g.servers["A"]
    a.file(APP).write_text("level = 9\n")
    a.file("/etc/app/conf.d/extra.conf").unlink()
    calls.clear()
    create(server)
    assert not any(argv[:2] == ["git", "add"] for argv in calls)
    extra = "PRI/Env2/SyncFiles/etc/app/conf.d/extra.conf"
    assert _staged_paths(calls) == {"present": ["PRI/Env2/Manifest", APP_COPY], "gone": [extra]}
    head = server.history.log(["PRI/Env2"])[0]
    assert (head.operation, head.role, head.env) == ("create", "PRI", "2")
    assert server.history.show("HEAD", APP_COPY) == b"level = 9\n"
    assert server.history.git("cat-file", "-e", f"HEAD:{extra}", check=False).returncode != 0
    assert_as_a_full_add(server)


def test_a_stale_stamp_or_another_index_writer_falls_back_to_the_full_add(
    tmp_path: Path,
) -> None:
    import json

    g = _build(tmp_path)
    server, calls = _counting_server(g)
    create(server)
    stamps = server.history.stamps
    known = stamps.read()
    known["PRI/Env2"] = "0" * 64  # not the Manifest HEAD holds
    stamps.file.write_text(json.dumps(known))
    g.servers["A"].file(APP).write_text("level = 10\n")
    calls.clear()
    create(server)
    assert any(argv[:2] == ["git", "add"] for argv in calls)
    assert _staged_paths(calls) == {"present": [], "gone": []}
    assert_as_a_full_add(server)
    # an operator's index write (a real one: an unchanged file's `git add` may rewrite
    # nothing): no stamp is trusted until a full record
    create(server)  # (the full add above left the index stat behind: a record saves it)
    g.servers["A"].file(APP).write_text("level = 11\n")
    server.history.git("rm", "--cached", "-q", "--", "PRI/Env2/SyncFiles/etc/app/current")
    calls.clear()
    create(server)
    assert any(argv[:2] == ["git", "add"] for argv in calls)
    g.servers["A"].file(APP).write_text("level = 12\n")
    calls.clear()
    create(server)
    assert not any(argv[:2] == ["git", "add"] for argv in calls)
    assert_as_a_full_add(server)


def test_a_record_killed_after_staging_leaves_its_area_to_be_staged_whole(
    tmp_path: Path,
) -> None:
    """A record that dies after `update-index` (here at commit-tree) leaves the change
    staged but not committed. Even when the area goes back to exactly the Manifest recorded
    last, the next record must not trust its old stamp: it stages the area whole."""
    from collections.abc import Sequence

    from atlas_ha.errors import HistoryError
    from atlas_ha.system import Completed, Runner

    g = _build(tmp_path)
    a = g.servers["A"]

    class Dying(Runner):
        def run(self, argv: Sequence[str], **kw: object) -> Completed:
            if list(argv[:2]) == ["git", "commit-tree"]:
                raise OSError("killed")
            return super().run(argv, **kw)  # type: ignore[arg-type]

    server = server_of(g, "A")
    create(server)
    before = a.file(APP).stat()
    text = a.file(APP).read_bytes()
    a.file(APP).write_text("level = 13\n")
    dying = Server(server.settings, runner=Dying(), log=_quiet)
    with pytest.raises((HistoryError, OSError)):
        create(dying)
    git = server.history.git
    assert git("diff", "--cached", "--name-only", "HEAD", "--", "PRI/Env2").stdout  # staged
    a.file(APP).write_bytes(text)
    os.utime(a.file(APP), ns=(before.st_atime_ns, before.st_mtime_ns))
    create(server)  # the Manifest is again the one recorded last
    assert git("diff", "--cached", "--name-only", "HEAD", "--", "PRI/Env2").stdout == ""
    assert_as_a_full_add(server)
