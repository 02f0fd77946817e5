"""The smb kind's SetUp through SyncCycles (A Env2 PRI, B Env1 SEC1, C Env3 SEC2): the test
file of every share reaches the SECs through SyncFilePathsSvcfilesdata, and a share moved to
another path in the PRI's smb.conf is followed: the new path synced and its test file there,
the old one removed everywhere (issue 13)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.conftest import states
from tests.scenarios.test_verifier_setup import area_list, quiet, token_in

from atlas_ha.lab.group import SimGroup
from atlas_ha.sync.cycle import CycleReport
from atlas_ha.verifier.setup import recent_tokens

pytest.importorskip("smbprotocol", reason="the smb kind needs the extra smb")

Cycle = Callable[[str], CycleReport]
TEST_FILE = ".atlas-ha-verifier"
SERVICES = """
[service.files]
kind = "smb"
[service.files.options]
user = "atlas-verifier"
password_file = "/etc/atlas-ha/secrets/smb"
"""


def smb_conf(data: str) -> str:
    return (
        "[global]\n   map to guest = bad user\n"
        f"[data]\n   path = {data}\n   read only = no\n"
        "[private]\n   path = /srv/private\n   valid users = alice\n"
    )


def configure(group: SimGroup, data: str) -> None:
    a = group.servers["A"]
    for path in (data, "/srv/private"):
        a.file(path).mkdir(parents=True, exist_ok=True)
    conf = a.file("/etc/samba/smb.conf")
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(smb_conf(data))
    secret = a.file("/etc/atlas-ha/secrets/smb")
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text("secret\n")
    secret.chmod(0o600)
    a.file("/etc/atlas-ha/services.toml").write_text(SERVICES)


def test_a_moved_share_is_followed_by_every_sec(group: SimGroup, run_cycle: Cycle) -> None:
    a = group.servers["A"]
    configure(group, "/srv/data")
    assert states(run_cycle("A")) == {"SEC1": "equal", "SEC2": "equal"}
    old, new = f"/srv/data/{TEST_FILE}", f"/srv/office/data/{TEST_FILE}"
    (token,) = recent_tokens(a.server(quiet))[:1]
    for sim in group.servers.values():
        assert token_in(sim, old) == token, sim.name
        assert token_in(sim, f"/srv/private/{TEST_FILE}") == token, sim.name
    assert "/etc/samba/smb.conf" in area_list(a, "PRI", 2, "SyncFilePathsSvcfilesconfigs")

    configure(group, "/srv/office/data")  # the administrator moves the share
    assert states(run_cycle("A")) == {"SEC1": "equal", "SEC2": "equal"}
    data = area_list(a, "PRI", 2, "SyncFilePathsSvcfilesdata")
    assert new in data
    assert old in data  # listed once more, absent: its removal reaches the SECs
    (token,) = recent_tokens(a.server(quiet))[:1]
    for sim in group.servers.values():
        assert token_in(sim, new) == token, sim.name
        assert not sim.file(old).exists(), sim.name
        assert "path = /srv/office/data" in sim.file("/etc/samba/smb.conf").read_text()
    run_cycle("A")
    assert old not in area_list(a, "PRI", 2, "SyncFilePathsSvcfilesdata")
    assert old not in area_list(group.servers["B"], "SEC1", 1, "SyncFilePathsSvcfilesdata")
