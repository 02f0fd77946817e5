"""Role-bound authority (SPEC 10) in a simulated group: every session acts for its key's role
(transport.authority). The same attack over OpenSSH is in tests/lab/test_role_authority.py."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.scenarios.test_role_verification import PRI_MC, tree_state
from tests.scenarios.test_send_back import Puller

from atlas_ha.cli.main import main
from atlas_ha.errors import RefusedError
from atlas_ha.lab.group import ADDRESSES, SimGroup
from atlas_ha.layout.sid import role_key_file
from atlas_ha.sync.cycle import CycleReport
from atlas_ha.sync.sendback import SendBackHandler, grant_send
from atlas_ha.sync.serve import Session, serve_local
from atlas_ha.transport.local import LocalConnection, Registry

Cycle = Callable[[str], CycleReport]


def quiet(_line: str) -> None:
    pass


def untouched(group: SimGroup, name: str) -> dict[str, str]:
    """What must not change on server `name`: its system root and its disk."""
    disk = group.disk_of(name)
    assert disk is not None
    return {**tree_state(group.servers[name].root), **tree_state(group.disk(disk))}


def test_a_sec_key_claiming_pri_is_refused_and_nothing_changes(
    group: SimGroup, run_cycle: Cycle
) -> None:
    """The issue's attack, at the session: SEC1's key, from the PRI's address (SEC1 took it
    while the PRI was down), presents a PRI MasterConfig to SEC2."""
    run_cycle("A")
    c = group.servers["C"].server(quiet)
    sev = c.sid.sev("PRI")
    before = untouched(group, "C")
    s = Session(c, ADDRESSES["PRI"], key_role="SEC1")
    with pytest.raises(RefusedError) as refused:
        s.handle({"op": "hello", "master_config": PRI_MC.render()})
    assert str(refused.value) == (
        f"refused hello from {ADDRESSES['PRI']}: the key that connected is SEC1's, but the "
        "MasterConfig sent claims PRI; a role's key acts only as that role"
    )
    for request in (
        {"op": "receive-begin", "role": "PRI", "sev": 2, "envs": [1, 2]},
        {"op": "receive-commit", "role": "PRI", "sev": 2, "envs": [1, 2]},
        {"op": "syncup"},
    ):
        with pytest.raises(RefusedError, match="before hello"):
            s.handle(request)
    assert untouched(group, "C") == before and c.sid.sev("PRI") == sev


def test_a_sec_key_may_send_only_its_own_role_to_the_pri(group: SimGroup, run_cycle: Cycle) -> None:
    run_cycle("A")
    a = group.servers["A"].server(quiet)
    b_master = group.servers["B"].server(quiet).master()
    before = tree_state(group.disk("disk-A") / "SID_DATA" / "PRI")
    s = Session(a, ADDRESSES["SEC1"], key_role="SEC1")
    s.handle({"op": "hello", "master_config": b_master.render()})
    for op in ("receive-begin", "receive-delta", "receive-commit"):
        request = {"op": op, "role": "PRI", "sev": 2, "envs": [1, 2], "env": 1}
        with pytest.raises(RefusedError, match="is SEC1's; it may send only SEC1's snapshot"):
            s.handle(request)
    with pytest.raises(RefusedError, match="only the PRI's key may request SyncUp"):
        s.handle({"op": "syncup"})
    assert tree_state(group.disk("disk-A") / "SID_DATA" / "PRI") == before
    assert a.sid.sev("PRI") == 2
    answer = s.handle({"op": "receive-begin", "role": "SEC1", "sev": 1, "envs": [1]})
    assert set(answer["targets"]) == {"1"}  # its own role: as before
    s.handle({"op": "receive-commit", "role": "SEC1", "sev": 1, "envs": [1]})


def test_the_pri_key_still_does_everything(group: SimGroup, run_cycle: Cycle) -> None:
    run_cycle("A")
    b = group.servers["B"].server(quiet)
    s = Session(b, ADDRESSES["PRI"], key_role="PRI")
    s.handle({"op": "hello", "master_config": PRI_MC.render()})
    targets = s.handle({"op": "receive-begin", "role": "PRI", "sev": 2, "envs": [1, 2]})
    assert set(targets["targets"]) == {"1", "2"}
    with pytest.raises(RefusedError, match="may send only PRI's snapshot"):
        s.handle({"op": "receive-begin", "role": "SEC1", "sev": 1, "envs": [1]})


def test_a_send_back_acts_for_the_role_the_pri_connected_to(
    group: SimGroup, run_cycle: Cycle
) -> None:
    """The PRI connected to SEC1 (ssh checked SEC1's host key): what answers there may not
    send as SEC2."""
    run_cycle("A")
    a, c = group.servers["A"].server(quiet), group.servers["C"].server(quiet)
    handler = SendBackHandler(a, Puller(group.disk("disk-C") / "SID_DATA" / "SEC2"))
    with pytest.raises(RefusedError, match="is SEC1's, but the MasterConfig sent claims SEC2"):
        handler({"op": "hello", "master_config": c.master().render()})


def test_a_send_grant_is_for_the_pri_key(group: SimGroup, run_cycle: Cycle) -> None:
    from atlas_ha.transport.forced import granted_send_root

    run_cycle("A")
    c = group.servers["C"].server(quiet)
    grant = grant_send(c, ADDRESSES["PRI"], 2)
    try:
        assert granted_send_root(c.sid.root, ADDRESSES["PRI"], "PRI")[1] == [2]
        with pytest.raises(RefusedError, match="send grant is for PRI's key"):
            granted_send_root(c.sid.root, ADDRESSES["PRI"], "SEC1")
    finally:
        grant.unlink()


# -- the local transport: the registry says which role connects ---------------------------------


def test_locally_sec1_on_the_pri_address_cannot_act_as_pri(
    group: SimGroup, run_cycle: Cycle
) -> None:
    """Over the local transport the connecting role is the role of the disk in the server
    registered at the connecting address: SEC1's server, registered at the PRI's address
    while the PRI is down, is SEC1 (before, its PRI MasterConfig was believed)."""
    run_cycle("A")
    group.shutdown("A")
    b_config = group.servers["B"].server(quiet).settings.config_file
    Registry(group.registry).register(ADDRESSES["PRI"], b_config)
    c = group.servers["C"]
    before = untouched(group, "C")
    conn = LocalConnection("SEC2", ADDRESSES["SEC2"], c.config.resolve(), ADDRESSES["PRI"])
    with conn, pytest.raises(RefusedError, match="is SEC1's, but the MasterConfig sent claims PRI"):
        conn.call({"op": "hello", "master_config": PRI_MC.render()})
    assert untouched(group, "C") == before


def test_locally_an_unregistered_address_acts_for_no_role(
    group: SimGroup, run_cycle: Cycle
) -> None:
    run_cycle("A")
    b = group.servers["B"].server(quiet)
    with pytest.raises(RefusedError, match="no server is registered at that address"):
        serve_local(b, "127.0.2.99")


def test_serve_is_not_reachable_over_ssh_without_a_key_role(
    group: SimGroup, capsys: pytest.CaptureFixture[str]
) -> None:
    config = group.servers["B"].config
    config.write_text(config.read_text().replace('kind = "local"', 'kind = "ssh"'))
    code = main(["--config", str(config), "serve", "--peer-address", ADDRESSES["PRI"]])
    assert code == RefusedError.exit_code and "ssh-command --role" in capsys.readouterr().err


# -- the role's key on the disk: never sent, never recorded --------------------------------------


def test_the_role_key_is_neither_sent_nor_recorded(group: SimGroup, run_cycle: Cycle) -> None:
    assert main(["--config", str(group.servers["A"].config), "keys", "generate"]) == 0
    key = role_key_file(group.disk("disk-A") / "SID_DATA")
    assert key.exists()
    run_cycle("A")
    assert run_cycle("A").compare  # a second cycle: the areas were recorded and sent again
    for disk in ("disk-B", "disk-C"):
        found = [p for p in (group.disk(disk) / "SID_DATA").rglob("*") if p.name == key.name]
        assert found == [], disk
    sid = group.disk("disk-A") / "SID_DATA"
    tracked = subprocess.run(
        ["git", f"--git-dir={sid / '.git'}", "ls-files"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert tracked and not [p for p in tracked if p.startswith(".ssh")]
    status = subprocess.run(
        ["git", f"--git-dir={sid / '.git'}", f"--work-tree={sid}", "status", "--porcelain"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert ".ssh" not in status  # ignored, not merely untracked
    assert Path(key).read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
