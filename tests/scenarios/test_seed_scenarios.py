"""SPEC 11 on one machine: steady state, Scenarios 1-3, from scratch, with three servers."""

from __future__ import annotations

from collections.abc import Callable

from tests.conftest import installed_identity, sevs, states, valid

from atlas_ha.lab.group import ADDRESSES, SimGroup
from atlas_ha.sync.cycle import CycleReport

Cycle = Callable[[str], CycleReport]


def test_from_scratch_first_boot_installs_no_identity(group: SimGroup) -> None:
    for name in "ABC":
        assert sevs(group, name) == {group_role(group, name): None}
    # the identity configured by hand stays: A answers as PRI, B as SEC1, C as SEC2
    assert installed_identity(group, "A").address == ADDRESSES["PRI"]
    assert installed_identity(group, "B").address == ADDRESSES["SEC1"]
    assert installed_identity(group, "C").address == ADDRESSES["SEC2"]


def group_role(group: SimGroup, name: str) -> str:
    return group.servers[name].server().role()


def steady_state(run_cycle: Cycle, group: SimGroup) -> CycleReport:
    report = run_cycle("A")
    assert report.converted_down == [1]
    assert states(report) == {"SEC1": "equal", "SEC2": "equal"}
    return report


def test_steady_state_cycle(group: SimGroup, run_cycle: Cycle) -> None:
    report = steady_state(run_cycle, group)
    replies = {s.sec: s.reply for s in report.secs}
    # B (Env1): nothing to convert, installs from (PRI,1), creates (SEC1,1)
    assert replies["SEC1"]["converted_pri"] == []
    assert replies["SEC1"]["converted_down"] == []
    # C (Env3): converts (PRI,2)->(PRI,3), creates (SEC2,3), converts down to 2 and 1
    assert replies["SEC2"]["converted_pri"] == [3]
    assert replies["SEC2"]["converted_down"] == [2, 1]
    assert sevs(group, "A") == {"PRI": 2, "SEC1": 2, "SEC2": 3}
    assert valid(group, "A", "PRI") == [1, 2]
    assert valid(group, "A", "SEC1") == [1, 2]
    assert sevs(group, "B") == {"PRI": 2, "SEC1": 1}
    assert valid(group, "B", "SEC1") == [1]
    assert sevs(group, "C") == {"PRI": 3, "SEC2": 3}
    assert valid(group, "C", "PRI") == [1, 2, 3]
    # B installed the PRI's configuration in its own format (nginx conf.d, passwd with hashes)
    b, c = group.servers["B"], group.servers["C"]
    assert b.file("/etc/nginx/conf.d/www.conf").read_bytes().startswith(b"server {")
    assert b"$6$alicesalt" in b.file("/etc/passwd").read_bytes()
    assert c.file("/etc/nginx/sites-enabled/www").exists()
    assert b"$6$alicesalt" in c.file("/etc/shadow").read_bytes()
    assert b"alice:x:" in c.file("/etc/passwd").read_bytes()
    # each SEC kept its own identity
    assert installed_identity(group, "B").address == ADDRESSES["SEC1"]
    assert installed_identity(group, "C").address == ADDRESSES["SEC2"]


def scenario_1(group: SimGroup, run_cycle: Cycle) -> tuple[str, str]:
    group.shutdown("A", "B")
    disk_a, disk_b = group.unplug("A"), group.unplug("B")
    group.plug(disk_a, "B")
    result = group.boot("B")
    assert (result.role, result.env) == ("PRI", 1)
    assert set(result.installed) == {
        "/etc/sysconfig/network",
        "/etc/sysconfig/network-scripts/ifcfg-eth0",
    }
    return disk_a, disk_b


def test_scenario_1_b_becomes_pri(group: SimGroup, run_cycle: Cycle) -> None:
    steady_state(run_cycle, group)
    scenario_1(group, run_cycle)
    ident = installed_identity(group, "B")  # ifcfg format, PRI's address
    assert (ident.address, ident.hostname) == (ADDRESSES["PRI"], "pri")
    report = run_cycle("B")
    assert report.converted_down == []
    assert sevs(group, "B")["PRI"] == 1
    assert valid(group, "B", "PRI") == [1]  # (PRI,2) invalid there now
    sec1 = next(s for s in report.secs if s.sec == "SEC1")
    assert not sec1.reached and "unreachable" in sec1.error
    assert states(report) == {"SEC1": "stale", "SEC2": "equal"}
    assert next(c for c in report.compare if c.sec == "SEC2").env == 1
    sec2 = next(s for s in report.secs if s.sec == "SEC2")
    assert sec2.reply["converted_pri"] == [2, 3]
    assert sevs(group, "C")["PRI"] == 3
    assert valid(group, "C", "PRI") == [1, 2, 3]


def test_scenario_2_a_returns_as_sec1(group: SimGroup, run_cycle: Cycle) -> None:
    steady_state(run_cycle, group)
    _disk_a, disk_b = scenario_1(group, run_cycle)
    run_cycle("B")
    group.plug(disk_b, "A")
    result = group.boot("A")
    assert (result.role, result.env, result.converted) == ("SEC1", 2, [2])
    assert sevs(group, "A")["SEC1"] == 2
    ident = installed_identity(group, "A")  # Debian interfaces format, SEC1's address
    assert (ident.address, ident.hostname) == (ADDRESSES["SEC1"], "sec1")
    report = run_cycle("B")
    assert states(report) == {"SEC1": "equal", "SEC2": "equal"}
    assert all(c.env == 1 for c in report.compare)
    a_reply = next(s for s in report.secs if s.sec == "SEC1").reply
    assert a_reply["converted_pri"] == [2] and a_reply["converted_down"] == [1]
    assert sevs(group, "A") == {"PRI": 2, "SEC1": 2}
    assert valid(group, "A", "PRI") == [1, 2]


def test_scenario_3_b_and_c_swap(group: SimGroup, run_cycle: Cycle) -> None:
    steady_state(run_cycle, group)
    _disk_a, disk_b = scenario_1(group, run_cycle)
    run_cycle("B")
    group.plug(disk_b, "A")
    group.boot("A")
    run_cycle("B")
    group.swap("B", "C")
    b = group.boot("B")
    assert (b.role, b.env, b.converted) == ("SEC2", 1, [])
    assert installed_identity(group, "B").address == ADDRESSES["SEC2"]
    c = group.boot("C")
    assert (c.role, c.env, c.converted) == ("PRI", 3, [2, 3])
    ident = installed_identity(group, "C")  # networkd format, PRI's address
    assert (ident.address, ident.hostname) == (ADDRESSES["PRI"], "pri")
    assert sevs(group, "C")["PRI"] == 3
    report = run_cycle("C")
    assert states(report) == {"SEC1": "equal", "SEC2": "equal"}
    assert all(c.env == 3 for c in report.compare)


def test_from_scratch_identity_follows_the_disk(group: SimGroup, run_cycle: Cycle) -> None:
    run_cycle("A")
    # after the first cycle each role's identity is in its snapshot
    for name, role in (("A", "PRI"), ("B", "SEC1"), ("C", "SEC2")):
        sid = group.servers[name].server().sid
        env = group.servers[name].env
        idents = [p for (t, p) in sid.area(role, env).manifest() if t == "IdentFiles"]
        assert idents, f"{role} identity not captured on {name}"
    group.swap("A", "C")  # A (Env2) gets SEC2's disk, C (Env3) gets PRI's disk
    group.boot("A")
    group.boot("C")
    assert installed_identity(group, "A").address == ADDRESSES["SEC2"]
    assert installed_identity(group, "C").address == ADDRESSES["PRI"]
    report = run_cycle("C")
    assert states(report) == {"SEC1": "equal", "SEC2": "equal"}


def test_drift_on_a_sec_is_reported_then_undone(group: SimGroup, run_cycle: Cycle) -> None:
    from atlas_ha.sync.compare import compare
    from atlas_ha.sync.convert import convert_to_older
    from atlas_ha.sync.create import create
    from atlas_ha.sync.send import send_to_partners

    run_cycle("A")
    b = group.servers["B"]
    b.file("/etc/app/app.conf").write_text("level = 9\n")
    server = b.server()
    create(server)
    convert_to_older(server, "SEC1", 1)
    assert all(v.ok for v in send_to_partners(server).values())  # no partner failed
    results = {r.sec: r for r in compare(group.servers["A"].server())}
    assert results["SEC1"].state == "different"
    diff = results["SEC1"].differences
    assert [d.path for d in diff] == ["/etc/app/app.conf"]
    assert "-level = 3" in diff[0].diff and "+level = 9" in diff[0].diff
    assert results["SEC2"].state == "equal"
    report = run_cycle("A")
    assert states(report) == {"SEC1": "equal", "SEC2": "equal"}
    assert b.file("/etc/app/app.conf").read_text() == "level = 3\n"
    changes = server.history.log(["SEC1/Env1/SyncFiles/etc/app/app.conf"])
    assert [c.operation for c in changes][:2] == ["create", "create"]
