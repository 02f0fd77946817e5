"""File names are bytes: a name that is not UTF-8 is synced, recorded and shown like any other
(issue 9 item 5); the operator's text files that are not UTF-8 get a clear error naming the
file and the line; an EnvVersion is bounded."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from atlas_ha.lab.group import SimGroup
from atlas_ha.sync.cycle import CycleReport
from atlas_ha.text import decode_name

Cycle = Callable[[str], CycleReport]
NAME = b"caf\xe9.conf"  # Latin-1 "café.conf": not UTF-8
DIR = b"r\xe9p"  # a directory with such a name, a file inside it
TARGET = b"../\xff\xfe"  # and a symlink target that is not UTF-8 either
LINK = b"lien\xe0"


def fs(path: Path, *names: bytes) -> bytes:
    return os.path.join(os.fsencode(path), *names)


def cli(
    config: Path, *args: str | bytes, limit: bool = False
) -> subprocess.CompletedProcess[bytes]:
    """`atlas-ha --config CONFIG ARGS` with a strict UTF-8 stdout and stderr (as in a locale
    like en_US.UTF-8, where printing a name that is not UTF-8 raises unless the CLI renders
    it; C and C.UTF-8 would write the raw byte); `limit`: at most 1 GiB of memory and 60 s."""

    def bounded() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    env = {**os.environ, "LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8:strict"}
    argv: Sequence[str | bytes] = [sys.executable, "-m", "atlas_ha", "--config", str(config)]
    return subprocess.run(
        [*argv, *args],
        capture_output=True,
        env=env,
        timeout=60,
        preexec_fn=bounded if limit else None,
        check=False,
    )


def all_equal(report: CycleReport) -> bool:
    return all(c.state == "equal" for c in report.compare)


def _put_names(app: bytes) -> None:
    with open(os.path.join(app, NAME), "wb") as handle:
        handle.write(b"colour = blue\n")
    os.mkdir(os.path.join(app, DIR))
    with open(os.path.join(app, DIR, b"inside.conf"), "wb") as handle:
        handle.write(b"inside\n")
    os.symlink(TARGET, os.path.join(app, LINK))


def test_a_name_that_is_not_utf8_is_synced_recorded_and_shown(
    group: SimGroup, run_cycle: Cycle, pushes: list[tuple[str, str]]
) -> None:
    a = group.servers["A"]
    _put_names(fs(a.file("/etc/app")))
    report = run_cycle("A")
    assert all_equal(report), [c.summary() for c in report.compare]
    for name in ("B", "C"):  # every SEC, in its own environment, with the exact bytes
        app = fs(group.servers[name].file("/etc/app"))
        assert NAME in os.listdir(app) and DIR in os.listdir(app)
        with open(os.path.join(app, NAME), "rb") as handle:
            assert handle.read() == b"colour = blue\n"
        with open(os.path.join(app, DIR, b"inside.conf"), "rb") as handle:
            assert handle.read() == b"inside\n"
        assert os.readlink(os.path.join(app, LINK)) == TARGET
    # the Manifest carries the names (ASCII escapes) and the history records them
    server = a.server()
    area = server.sid.area("PRI", 2)
    text = area.manifest_file.read_bytes()
    assert text.isascii() and b'"/etc/app/caf\\udce9.conf"' in text
    assert decode_name(b"/etc/app/" + NAME) in {p for _t, p in area.manifest()}
    git = ["git", "--git-dir", str(server.sid.root / ".git"), "ls-files", "-z"]
    tracked = subprocess.run(git, capture_output=True, check=True).stdout.split(b"\0")
    assert b"PRI/Env2/SyncFiles/etc/app/" + NAME in tracked
    assert b"SEC1/Env1/SyncFiles/etc/app/" + DIR + b"/inside.conf" in tracked
    copy = "PRI/Env2/SyncFiles" + decode_name(b"/etc/app/" + NAME)
    assert [c.operation for c in server.history.log([copy])] == ["create"]
    # a changed content travels as a delta, under the same name
    pushes.clear()
    with open(fs(a.file("/etc/app"), NAME), "wb") as handle:
        handle.write(b"colour = green\n")
    report = run_cycle("A")
    assert all_equal(report) and pushes == []
    with open(fs(group.servers["C"].file("/etc/app"), NAME), "rb") as handle:
        assert handle.read() == b"colour = green\n"
    assert len(server.history.log([copy])) == 2
    # the CLI prints it (as \xe9), it does not fail on it
    path = b"/etc/app/" + NAME
    history = cli(a.config, "history", path)
    assert history.returncode == 0 and b"Traceback" not in history.stderr, history.stderr
    assert history.stdout.count(b" create         PRI/Env2 on A\n") == 2
    diff = cli(a.config, "diff", "--path", path)
    assert diff.returncode == 0 and b"Traceback" not in diff.stderr, diff.stderr
    assert b"/etc/app/caf\\xe9.conf" in diff.stdout and b"+colour = green" in diff.stdout
    first = server.history.log([copy])[-1].rev
    restore = cli(a.config, "restore", path, "--to", first, "--install")
    assert restore.returncode == 0, restore.stderr
    assert b"caf\\xe9.conf" in restore.stdout
    with open(fs(a.file("/etc/app"), NAME), "rb") as handle:
        assert handle.read() == b"colour = blue\n"


def test_an_error_naming_such_a_file_is_printed(group: SimGroup) -> None:
    a = group.servers["A"]
    os.mkfifo(fs(a.file("/etc/app"), b"pipe\xe9"))
    done = cli(a.config, "sync", "create")
    assert done.returncode == 3 and b"Traceback" not in done.stderr, done.stderr
    assert b"/etc/app/pipe\\xe9" in done.stderr and b"sockets, fifos" in done.stderr


def test_a_path_list_may_name_any_bytes(group: SimGroup, run_cycle: Cycle) -> None:
    a = group.servers["A"]
    special = a.server().sid.area("PRI", 2).path / "SyncFilePathsSpecial"
    with special.open("ab") as handle:
        handle.write(b"/etc/" + NAME + b"\n")
    with open(fs(a.file("/etc"), NAME), "wb") as handle:
        handle.write(b"listed by its bytes\n")
    created = cli(a.config, "sync", "create")
    assert created.returncode == 0, created.stderr
    assert all_equal(run_cycle("A"))
    for name in ("B", "C"):
        sim = group.servers[name]
        with open(fs(sim.file("/etc"), NAME), "rb") as handle:
            assert handle.read() == b"listed by its bytes\n"
        env = sim.env
        listed = sim.server().sid.area("SEC" + "12"["BC".index(name)], env).path
        assert b"/etc/" + NAME + b"\n" in (listed / "SyncFilePaths").read_bytes()


def _latin1(path: Path, text: str) -> None:
    path.write_bytes(text.encode("latin-1"))


@pytest.mark.parametrize(
    ("what", "expected"),
    [
        ("settings", "atlas-ha.toml:2: expected UTF-8 text (byte 0xe9 at column 6 is not)"),
        ("MasterConfig", "MasterConfig:1: expected UTF-8 text (byte 0xe9 at column 6 is not)"),
        ("envs.toml", "envs.toml:2: expected UTF-8 text (byte 0xe9 at column 19 is not)"),
        ("EnvID", "EnvID:1: expected UTF-8 text (byte 0xe9 at column 2 is not)"),
        ("SnapshotEnvVersion", "SnapshotEnvVersion:1: expected UTF-8 text"),
    ],
)
def test_text_that_is_not_utf8_is_refused_naming_file_and_line(
    group: SimGroup, what: str, expected: str
) -> None:
    a = group.servers["A"]
    server = a.server()
    if what == "settings":
        _latin1(a.config, a.config.read_text().replace("\n", '\n# caf\xe9 = "x"\n', 1))
        code = 2
    elif what == "MasterConfig":
        sid_file = server.sid.master_config_file
        _latin1(sid_file, "# caf\xe9\n" + sid_file.read_text())
        code = 3
    elif what == "envs.toml":
        text = server.esd.envs_file.read_text()
        _latin1(server.esd.envs_file, text.replace("\n", '\ndescription = "caf\xe9"\n', 1))
        code = 3
    elif what == "EnvID":
        _latin1(server.esd.env_id_file, "2\xe9\n")
        code = 3
    else:
        _latin1(server.sid.root / "PRI" / "SnapshotEnvVersion", "\xe9\n")
        code = 3
    command = ["sync", "cycle"] if what in ("envs.toml", "EnvID") else ["status"]
    done = cli(a.config, *command)
    err = done.stderr.decode()
    assert done.returncode == code and "Traceback" not in err, err
    assert expected in err


@pytest.mark.parametrize("what", ["EnvID", "SnapshotEnvVersion", "envs.toml"])
def test_an_env_version_beyond_the_bound_is_refused_quickly(group: SimGroup, what: str) -> None:
    a = group.servers["A"]
    server = a.server()
    huge = "99999999999999999999"
    if what == "EnvID":
        server.esd.env_id_file.write_text(huge + "\n")
        expected = f"EnvID:1: one EnvVersion 1..9999, got '{huge}'"
    elif what == "SnapshotEnvVersion":
        (server.sid.root / "PRI" / "SnapshotEnvVersion").write_text(huge + "\n")
        expected = f"SnapshotEnvVersion:1: one EnvVersion 1..9999, got '{huge}'"
    else:
        text = server.esd.envs_file.read_text()
        server.esd.envs_file.write_text(text + f"[env.{huge}]\n")
        expected = f"envs.toml: one EnvVersion 1..9999, got '{huge}'"
    command = ["status"] if what == "SnapshotEnvVersion" else ["sync", "cycle"]
    done = cli(a.config, *command, limit=True)
    err = done.stderr.decode()
    assert done.returncode == 3 and "Traceback" not in err, err
    assert expected in err
