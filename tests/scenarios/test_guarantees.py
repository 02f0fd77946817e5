"""Guarantees of SPEC 3, 5.3, 5.4 and 5.7 that nothing else pins down: an invalid snapshot is
never converted down; Compare reports differing path lists; a receive keeps the role's areas
flagged InvalidSend until every file arrived and was checked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import states

from atlas_ha.errors import InvalidSnapshotError
from atlas_ha.lab.group import SimGroup
from atlas_ha.layout import paths as paths_mod
from atlas_ha.layout.atomic import atomic_write
from atlas_ha.layout.sid import INVALID_SEND, INVALID_SNAPSHOT, SidData
from atlas_ha.sync.compare import compare
from atlas_ha.sync.convert import convert_to_older
from atlas_ha.sync.cycle import CycleReport
from atlas_ha.transport.local import LocalConnection

Cycle = Callable[[str], CycleReport]


@pytest.mark.parametrize("damage", ["InvalidSnapshot", "InvalidSend", "sev-empty", "sev-lower"])
def test_convert_to_older_refuses_an_invalid_source(
    group: SimGroup, run_cycle: Cycle, damage: str
) -> None:
    run_cycle("A")
    server = group.servers["A"].server()
    sid = server.sid
    older = sid.area("PRI", 1).manifest_file.read_bytes()
    if damage in ("InvalidSnapshot", "InvalidSend"):
        sid.set_flag(sid.area("PRI", 2), damage)
    else:
        sid.set_sev("PRI", None if damage == "sev-empty" else 1)
    with pytest.raises(InvalidSnapshotError, match=r"ConvertToOlder refused: the source \(PRI,2\)"):
        convert_to_older(server, "PRI", 2)
    assert sid.area("PRI", 1).manifest_file.read_bytes() == older  # nothing converted


def test_convert_to_older_clears_the_invalid_versions_create_left(
    group: SimGroup, run_cycle: Cycle
) -> None:
    run_cycle("A")
    server = group.servers["A"].server()
    from atlas_ha.sync.create import create

    create(server)  # leaves InvalidVersions on (PRI,2) until the older areas are rebuilt
    assert not server.sid.is_valid("PRI", 1)
    assert convert_to_older(server, "PRI", 2) == [1]
    assert server.sid.is_valid("PRI", 1) and server.sid.is_valid("PRI", 2)


def test_compare_reports_differing_path_lists(group: SimGroup, run_cycle: Cycle) -> None:
    run_cycle("A")
    a = group.servers["A"].server()
    sec_area = a.sid.area("SEC1", 2)
    listed = sec_area.sync_paths()
    # the SEC's objects are the same, but its path list lacks one path (its next Create
    # would not cover it)
    dropped = listed[:-1]
    atomic_write(sec_area.path / "SyncFilePaths", paths_mod.render(dropped), mode=0o600)
    result = {r.sec: r for r in compare(a, ["SEC1", "SEC2"])}
    assert result["SEC1"].state == "different"
    lists = [d for d in result["SEC1"].differences if d.path == "SyncFilePaths"]
    assert lists and lists[0].what == "path lists differ"
    assert f"-{listed[-1]}" in lists[0].diff
    assert result["SEC2"].state == "equal"


def test_a_receive_keeps_every_area_of_the_role_invalid_send_until_commit(
    group: SimGroup, run_cycle: Cycle, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_cycle("A")
    group.servers["A"].file("/etc/app/app.conf").write_text("level = 7\n")
    seen: list[tuple[str, list[str], list[str]]] = []
    real_call = LocalConnection.call
    c_sid = SidData(group.servers["C"].server().settings.sid_data)

    def watching(self: LocalConnection, request: dict[str, object]) -> dict[str, object]:
        answer = real_call(self, request)
        if self.role == "SEC2" and request.get("op") in ("receive-begin", "receive-delta"):
            flagged = [
                f"Env{v}" for v in c_sid.envs("PRI") if c_sid.area("PRI", v).has_flag(INVALID_SEND)
            ]
            valid = [f"Env{v}" for v in c_sid.envs("PRI") if c_sid.is_valid("PRI", v)]
            seen.append((str(request["op"]), flagged, valid))
        return answer

    monkeypatch.setattr(LocalConnection, "call", watching)
    report = run_cycle("A")
    assert states(report) == {"SEC1": "equal", "SEC2": "equal"}
    assert seen, "no receive was watched"
    for op, flagged, valid in seen:
        # C holds PRI/Env1..3: all flagged while the transfer runs, none usable
        assert flagged == ["Env1", "Env2", "Env3"], op
        assert valid == [], op
    assert not any(c_sid.area("PRI", v).has_flag(INVALID_SEND) for v in c_sid.envs("PRI"))


def test_an_interrupted_receive_leaves_invalid_send(group: SimGroup, run_cycle: Cycle) -> None:
    """A receive that fails validation (a file that does not match its Manifest) keeps the
    flag: the area cannot become valid by a later SEV alone."""
    run_cycle("A")
    from tests.scenarios.test_transactions import cli_cycle

    group.servers["A"].file("/etc/app/app.conf").write_text("level = 8\n")
    done = cli_cycle(group, "A", "C:receive.validated=raise")
    assert "SEC2: NOT SYNCED" in done.stdout
    c_sid = SidData(group.servers["C"].server().settings.sid_data)
    for v in (1, 2):
        assert c_sid.area("PRI", v).has_flag(INVALID_SEND), v
    c_sid.set_sev("PRI", 2)  # even with a SnapshotEnvVersion, the areas stay invalid
    assert not c_sid.is_valid("PRI", 1) and not c_sid.is_valid("PRI", 2)
    assert not c_sid.area("PRI", 2).has_flag(INVALID_SNAPSHOT)
    assert states(run_cycle("A")) == {"SEC1": "equal", "SEC2": "equal"}
    assert (Path(group.servers["C"].file("/etc/app/app.conf"))).read_text() == "level = 8\n"


def test_a_temporary_file_a_killed_receiver_left_never_wedges_the_area(
    group: SimGroup, run_cycle: Cycle
) -> None:
    """Found by the kill campaign: a SEC killed while writing a delta leaves
    `.NAME.atlas-tmp.PID` in its area; rsync must delete it like anything unlisted (an
    exclude rule protected it, and every later receive of that area failed)."""
    run_cycle("A")
    c_sid = SidData(group.servers["C"].server().settings.sid_data)
    left = c_sid.area("PRI", 1).copy_path("SyncFiles", "/etc/app/.app.conf.atlas-tmp.999999")
    left.write_text("half a file")
    group.servers["A"].file("/etc/app/app.conf").write_text("level = 5\n")
    assert states(run_cycle("A")) == {"SEC1": "equal", "SEC2": "equal"}
    assert not left.exists()
    # and the sender's own temporary files are never sent
    a_area = group.servers["A"].server().sid.area("PRI", 1)
    a_area.copy_path("SyncFiles", "/etc/app/.app.conf.atlas-tmp.1").write_text("in progress")
    c_sid.area("PRI", 1).copy_path("SyncFiles", "/etc/app/app.conf").write_text("damaged\n")
    assert states(run_cycle("A")) == {"SEC1": "equal", "SEC2": "equal"}
    assert (
        not c_sid.area("PRI", 1).copy_path("SyncFiles", "/etc/app/.app.conf.atlas-tmp.1").exists()
    )
