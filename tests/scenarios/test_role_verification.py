"""SPEC 5.8: every refusal case of a SyncUp/receive request, and hostile received data."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from atlas_ha.cli.main import main
from atlas_ha.errors import ReceiveError, RefusedError
from atlas_ha.lab.group import ADDRESSES, SimGroup
from atlas_ha.model import MasterConfig, Partner
from atlas_ha.sync.cycle import CycleReport
from atlas_ha.sync.serve import Session

Cycle = Callable[[str], CycleReport]
PRI_MC = MasterConfig(
    "acme-office", "PRI", {"SEC1": Partner(ADDRESSES["SEC1"]), "SEC2": Partner(ADDRESSES["SEC2"])}
)


def tree_state(root: Path) -> dict[str, str]:
    """Every file below root with its content hash (to show nothing changed)."""
    state = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            if ".locks" in path.parts:
                continue
            state[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def session(group: SimGroup, name: str, peer: str, key_role: str = "PRI") -> Session:
    """A session of server `name` serving `peer`, whose key is `key_role`'s."""
    return Session(group.servers[name].server(lambda _l: None), peer, key_role=key_role)


CASES = {
    "requester is not PRI": (
        MasterConfig("acme-office", "SEC2", {"PRI": Partner("127.0.2.11")}),
        ADDRESSES["SEC2"],
        "syncup",
        "only (the|to its) PRI",
    ),
    "wrong group": (
        MasterConfig("other-office", "PRI", PRI_MC.partners),
        ADDRESSES["PRI"],
        "hello",
        "group",
    ),
    "receiver not listed": (
        MasterConfig("acme-office", "PRI", {"SEC2": Partner("127.0.2.13")}),
        ADDRESSES["PRI"],
        "hello",
        "does not list SEC1",
    ),
    "wrong address": (PRI_MC, "127.0.2.99", "hello", "gives 127.0.2.11"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_sec_refuses(group: SimGroup, run_cycle: Cycle, case: str) -> None:
    run_cycle("A")
    requester, address, op, words = CASES[case]
    before = tree_state(group.disk("disk-B"))
    s = session(group, "B", address, key_role=requester.role)  # the claim matches its key
    with pytest.raises(RefusedError, match=words):
        s.handle({"op": "hello", "master_config": requester.render()})
        s.handle({"op": op})
    assert tree_state(group.disk("disk-B")) == before


def test_receiver_that_is_pri_refuses(group: SimGroup, run_cycle: Cycle) -> None:
    run_cycle("A")
    before = tree_state(group.disk("disk-A"))
    s = session(group, "A", ADDRESSES["PRI"])
    with pytest.raises(RefusedError, match="PRI itself"):
        s.handle({"op": "hello", "master_config": PRI_MC.render()})
    assert tree_state(group.disk("disk-A")) == before


def test_requests_before_hello_and_other_roles_are_refused(
    group: SimGroup, run_cycle: Cycle
) -> None:
    run_cycle("A")
    s = session(group, "B", ADDRESSES["PRI"])
    with pytest.raises(RefusedError, match="before hello"):
        s.handle({"op": "receive-begin", "role": "PRI", "envs": [1]})
    s.handle({"op": "hello", "master_config": PRI_MC.render()})
    with pytest.raises(RefusedError, match="may send only PRI's snapshot"):
        s.handle({"op": "receive-begin", "role": "SEC1", "envs": [1]})


def test_cycle_from_a_misconfigured_pri_is_refused_end_to_end(
    group: SimGroup, run_cycle: Cycle
) -> None:
    run_cycle("A")
    mc = group.servers["A"].server().sid.master_config_file
    mc.write_text(mc.read_text().replace("acme-office", "evil-office"))
    before = tree_state(group.disk("disk-B"))
    code = main(["--config", str(group.servers["A"].config), "sync", "cycle", "--json"])
    assert code == 20
    assert tree_state(group.disk("disk-B")) == before


def begin_receive(group: SimGroup) -> tuple[Session, dict[str, str]]:
    s = session(group, "B", ADDRESSES["PRI"])
    s.handle({"op": "hello", "master_config": PRI_MC.render()})
    answer = s.handle({"op": "receive-begin", "role": "PRI", "sev": 2, "envs": [1, 2]})
    return s, answer["targets"]


def push_copy(group: SimGroup, targets: dict[str, str]) -> None:
    """What an honest PRI would rsync: A's own valid areas."""
    import shutil

    for v, dest in targets.items():
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(group.disk("disk-A") / "SID_DATA" / "PRI" / f"Env{v}", dest, symlinks=True)


def hostile_checksum(area: Path) -> None:
    (area / "SyncFiles/etc/app/app.conf").write_text("level = 6\n")  # same size


def hostile_extra_file(area: Path) -> None:
    (area / "SyncFiles/etc/app/evil").write_text("not in the manifest\n")


def hostile_dotdot(area: Path) -> None:
    lines = (area / "Manifest").read_text().splitlines()
    row = json.loads(lines[-1])
    row["path"] = "/etc/../root/.ssh/authorized_keys"
    (area / "Manifest").write_text("\n".join([*lines, json.dumps(row)]) + "\n")


def hostile_symlink_out(area: Path) -> None:
    import shutil

    shutil.rmtree(area / "SyncFiles/etc/app")
    (area / "SyncFiles/etc/app").symlink_to("/etc")


HOSTILE = {
    "checksum": hostile_checksum,
    "extra": hostile_extra_file,
    "dotdot": hostile_dotdot,
    "symlink": hostile_symlink_out,
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_snapshot_is_refused_and_nothing_installed(
    group: SimGroup, run_cycle: Cycle, kind: str
) -> None:
    run_cycle("A")
    b = group.servers["B"]
    system_before = tree_state(b.root)
    s, targets = begin_receive(group)
    push_copy(group, targets)
    HOSTILE[kind](Path(targets["1"]))
    with pytest.raises(ReceiveError):
        s.handle({"op": "receive-commit", "role": "PRI", "sev": 2, "envs": [1, 2]})
    sid = b.server().sid
    assert sid.sev("PRI") is None and not sid.is_valid("PRI", 1)
    assert main(["--config", str(b.config), "sync", "install"]) == 5
    assert tree_state(b.root) == system_before
    # an honest send afterwards is accepted again
    s2, targets2 = begin_receive(group)
    push_copy(group, targets2)
    s2.handle({"op": "receive-commit", "role": "PRI", "sev": 2, "envs": [1, 2]})
    assert sid.is_valid("PRI", 1)


def test_received_checksum_mismatch_is_detected(group: SimGroup, run_cycle: Cycle) -> None:
    """The fault really happened: the tampered file differs from the Manifest's sha256."""
    run_cycle("A")
    s, targets = begin_receive(group)
    push_copy(group, targets)
    hostile_checksum(Path(targets["1"]))
    with pytest.raises(ReceiveError, match="checksum does not match"):
        s.handle({"op": "receive-commit", "role": "PRI", "sev": 2, "envs": [1, 2]})


def pri_digests(group: SimGroup, envs: tuple[int, ...] = (1, 2)) -> dict[str, str]:
    from atlas_ha.layout.sid import SidData
    from atlas_ha.sync.receive import manifest_digest

    sid = SidData(group.disk("disk-A") / "SID_DATA")
    return {str(v): manifest_digest(sid.area("PRI", v)) for v in envs}


def begin_with_digests(group: SimGroup, digests: object) -> tuple[Session, dict[str, object]]:
    s = session(group, "B", ADDRESSES["PRI"])
    s.handle({"op": "hello", "master_config": PRI_MC.render()})
    request = {"op": "receive-begin", "role": "PRI", "sev": 2, "envs": [1, 2], "digests": digests}
    return s, s.handle(request)


def test_an_unchanged_snapshot_is_validated_not_resent(group: SimGroup, run_cycle: Cycle) -> None:
    from atlas_ha.transport.forced import checked_rsync, granted_root

    run_cycle("A")
    b = group.servers["B"].server(lambda _l: None)
    s, answer = begin_with_digests(group, pri_digests(group))
    assert answer["current"] == [1, 2]
    assert not b.sid.is_valid("PRI", 1)  # flagged InvalidSend until commit, as any receive
    # nothing may be written into an area found current: the grant leaves it out
    root, envs = granted_root(b.sid.root, ADDRESSES["PRI"], "PRI")
    assert envs == []
    with pytest.raises(RefusedError, match="not one of the areas granted"):
        checked_rsync(["rsync", "--server", "-a", ".", "Env1/"], root, ADDRESSES["PRI"], envs)
    s.handle({"op": "receive-commit", "role": "PRI", "sev": 2, "envs": [1, 2]})
    assert b.sid.sev("PRI") == 2 and b.sid.is_valid("PRI", 1) and b.sid.is_valid("PRI", 2)


def test_a_changed_copy_or_another_manifest_is_resent(group: SimGroup, run_cycle: Cycle) -> None:
    from atlas_ha.transport.forced import granted_root

    run_cycle("A")
    b = group.servers["B"].server(lambda _l: None)
    copy = b.sid.area("PRI", 1).copy_path("SyncFiles", "/etc/app/app.conf")
    stamp = copy.stat()
    hostile_checksum(b.sid.area("PRI", 1).path)  # same size, same Manifest: proven changed
    os.utime(copy, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    digests = pri_digests(group)
    s, answer = begin_with_digests(group, {**digests, "2": "0" * 64})
    assert answer["current"] == []  # Env1: its copy changed; Env2: another Manifest
    assert granted_root(b.sid.root, ADDRESSES["PRI"], "PRI")[1] == [1, 2]
    with pytest.raises(ReceiveError, match="checksum does not match"):
        s.handle({"op": "receive-commit", "role": "PRI", "sev": 2, "envs": [1, 2]})
    assert not b.sid.is_valid("PRI", 1)
    s, answer = begin_with_digests(group, digests)
    assert answer["current"] == [2]
    push_copy(group, {"1": str(b.sid.area("PRI", 1).path)})
    s.handle({"op": "receive-commit", "role": "PRI", "sev": 2, "envs": [1, 2]})
    assert b.sid.is_valid("PRI", 1) and copy.read_text() == "level = 3\n"


@pytest.mark.parametrize("digests", [["x"], {"1": "not hex"}, {"1": 5}])
def test_malformed_digests_are_refused(group: SimGroup, run_cycle: Cycle, digests: object) -> None:
    run_cycle("A")
    with pytest.raises(RefusedError, match="sha256"):
        begin_with_digests(group, digests)


def test_a_steady_cycle_pushes_nothing_and_a_change_travels_as_a_delta(
    group: SimGroup, run_cycle: Cycle, pushes: list[tuple[str, str]]
) -> None:
    pushed = pushes
    every_area = [(sec, f"Env{v}") for sec in ("SEC1", "SEC2") for v in (1, 2)]
    run_cycle("A")
    assert sorted(pushed) == every_area
    pushed.clear()
    run_cycle("A")
    assert pushed == []
    group.servers["A"].file("/etc/app/app.conf").write_text("level = 5\n")
    report = run_cycle("A")
    assert pushed == []  # the changed file went through the session (sync.delta)
    assert all(c.state == "equal" for c in report.compare)
    assert group.servers["C"].file("/etc/app/app.conf").read_text() == "level = 5\n"


def test_an_area_unchanged_since_validation_is_not_rechecked_but_any_change_is(
    group: SimGroup, run_cycle: Cycle, monkeypatch: pytest.MonkeyPatch
) -> None:
    from atlas_ha.layout import objects
    from atlas_ha.sync import receive

    run_cycle("A")
    b = group.servers["B"].server(lambda _l: None)
    area = b.sid.area("PRI", 1)
    receive.validate_area(b, area)
    walked: list[str] = []
    real_check = receive._check_tree

    def checking(area: object, tree: str, *args: object) -> None:
        walked.append(tree)
        real_check(area, tree, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(receive, "_check_tree", checking)
    receive.validate_area(b, area)
    assert walked == []  # proven unchanged: no object checked again
    copy = area.copy_path("SyncFiles", "/etc/app/app.conf")
    before = copy.stat()
    hashed: list[Path] = []
    real_hash = objects.hash_file
    monkeypatch.setattr(objects, "hash_file", lambda p: hashed.append(p) or real_hash(p))
    hostile_checksum(area.path)  # same size, mtime put back: only ctime tells
    os.utime(copy, ns=(before.st_atime_ns, before.st_mtime_ns))
    with pytest.raises(ReceiveError, match="checksum does not match"):
        receive.validate_area(b, area)
    assert walked == ["SyncFiles"] and copy in [Path(p) for p in hashed]
