"""The library functions behind `atlas-ha status`, `boot`, `shutdown`, `history`, `diff` and
`sync convert-newer` (the CLI only renders them), on a simulated group: A Env2 PRI, B Env1
SEC1, C Env3 SEC2."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from atlas_ha.errors import HistoryError
from atlas_ha.lab.group import ADDRESSES, SimGroup
from atlas_ha.layout.sid import INVALID_SEND
from atlas_ha.sync.boot import boot, shutdown
from atlas_ha.sync.changes import changes, copies_of, diff
from atlas_ha.sync.convert import convert_partners_to_newer
from atlas_ha.sync.cycle import CycleReport
from atlas_ha.sync.receive import record_flagged
from atlas_ha.sync.status import server_status
from atlas_ha.transport.local import Registry

Cycle = Callable[[str], CycleReport]


def quiet(_line: str) -> None:
    pass


def test_status_before_the_first_boot_and_cycle(tmp_path: Path) -> None:
    g = SimGroup(tmp_path / "g")
    g.build({"A": (2, "PRI"), "B": (1, "SEC1")})
    data = server_status(g.servers["A"].server(quiet))
    assert data == {
        "server": "A",
        "env_id": 2,
        "role": "PRI",
        "current_role": None,  # no Role/Identity Install yet
        "group": "acme-office",
        "partners": {"SEC1": ADDRESSES["SEC1"]},
        "roles": {
            "PRI": {
                "sev": None,
                "areas": {"Env2": "SnapshotEnvVersion[PRI] is empty"},
                "flagged": [],
            }
        },
        "last_cycle": None,
        "last_cycle_age": None,
    }


def test_status_after_a_cycle_shows_every_role_its_areas_flags_and_the_compare(
    group: SimGroup, run_cycle: Cycle
) -> None:
    run_cycle("A")
    b = group.servers["B"].server(quiet)
    record_flagged(b, "PRI", ["/etc/app/run: symlink leaves the system root"])
    b.sid.set_flag(b.sid.area("SEC1", 1), INVALID_SEND)
    data = server_status(b)
    assert (data["server"], data["env_id"], data["role"], data["current_role"]) == (
        "B",
        1,
        "SEC1",
        "SEC1",
    )
    assert data["partners"] == {"PRI": ADDRESSES["PRI"]}
    assert data["roles"]["PRI"] == {
        "sev": 2,
        "areas": {"Env1": "valid", "Env2": "valid"},
        "flagged": ["/etc/app/run: symlink leaves the system root"],
    }
    assert data["roles"]["SEC1"] == {
        "sev": 1,
        "areas": {"Env1": f"flagged {INVALID_SEND}"},
        "flagged": [],
    }
    assert data["last_cycle"] is None  # B is a SEC: it records no SyncCycle
    pri = server_status(group.servers["A"].server(quiet))
    assert [(c["sec"], c["state"]) for c in pri["last_cycle"]["compare"]] == [
        ("SEC1", "equal"),
        ("SEC2", "equal"),
    ]


def test_boot_answers_on_the_identity_address_and_shutdown_stops(tmp_path: Path) -> None:
    g = SimGroup(tmp_path / "g")
    g.build({"A": (2, "PRI"), "B": (1, "SEC1")})
    server = g.servers["A"].server(quiet)
    registry = Registry(g.registry)
    booted = boot(server)
    assert booted.answering_on == ADDRESSES["PRI"]
    assert registry.lookup(ADDRESSES["PRI"]) == server.settings.config_file
    assert booted.identity.role == "PRI" and booted.as_dict()["answering_on"] == ADDRESSES["PRI"]
    assert shutdown(server) == [ADDRESSES["PRI"]]
    assert registry.lookup(ADDRESSES["PRI"]) is None
    assert shutdown(server) == []


def test_boot_on_another_transport_answers_through_it_not_the_registry(tmp_path: Path) -> None:
    g = SimGroup(tmp_path / "g")
    g.build({"A": (2, "PRI")})
    config = g.servers["A"].config
    config.write_text(config.read_text().replace('kind = "local"', 'kind = "ssh"'))
    booted = boot(g.servers["A"].server(quiet))
    assert booted.answering_on is None and not list(g.registry.iterdir())


def test_history_and_diff_of_one_system_path(group: SimGroup, run_cycle: Cycle) -> None:
    run_cycle("A")
    group.servers["A"].file("/etc/app/app.conf").write_text("level = 4\n")
    run_cycle("A")
    a = group.servers["A"].server(quiet)
    copies = copies_of(a, "/etc/app/app.conf")
    assert "PRI/Env2/SyncFiles/etc/app/app.conf" in copies
    assert "SEC2/Env1/IdentFiles/etc/app/app.conf" in copies
    assert len(copies) == 2 * sum(len(a.sid.envs(r)) for r in a.sid.roles())
    edits = changes(a, "/etc/app/app.conf")
    assert {(c.operation, c.role) for c in edits} >= {("create", "PRI")}
    assert len(changes(a, None, 3)) == 3
    text = diff(a, "HEAD~1", "HEAD", "/etc/app/app.conf")
    assert "-level = 3\n+level = 4\n" in text
    assert diff(a, "HEAD", "HEAD", "/etc/app/app.conf") == ""


def test_history_of_a_path_on_an_empty_disk_is_empty_but_revisions_are_checked(
    tmp_path: Path,
) -> None:
    g = SimGroup(tmp_path / "g")
    g.build({"A": (2, "PRI")})
    a = g.servers["A"].server(quiet)
    assert copies_of(a, "/etc/hosts") == [
        "PRI/Env2/SyncFiles/etc/hosts",
        "PRI/Env2/IdentFiles/etc/hosts",
    ]
    shutil.rmtree(a.sid.root / "PRI")  # a disk without any area
    assert copies_of(a, "/etc/hosts") == [] and changes(a, "/etc/hosts") == []
    with pytest.raises(HistoryError, match="'nope' is not a commit"):
        diff(a, "nope", "HEAD", "/etc/hosts")


def test_convert_partners_to_newer_converts_the_other_roles_up(
    group: SimGroup, run_cycle: Cycle
) -> None:
    run_cycle("A")
    c = group.servers["C"].server(quiet)  # Env3, holding PRI and its own SEC2 up to Env3
    c.sid.set_sev("PRI", 2)  # as received from the Env2 PRI, not yet converted up
    c.sid.set_sev("SEC2", 2)
    assert dict(convert_partners_to_newer(c)) == {"PRI": [3]}  # not its own role
    assert c.sid.sev("PRI") == 3 and c.sid.is_valid("PRI", 3) and c.sid.sev("SEC2") == 2
    assert list(convert_partners_to_newer(c)) == [("PRI", [])]  # nothing left to do
    assert list(convert_partners_to_newer(c, "SEC2")) == [("SEC2", [3])]
