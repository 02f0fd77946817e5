"""SPEC 11 "From scratch" (FIG 34) in the lab: three fresh servers set up with `atlas-ha init`,
identities configured by hand in each OS; the first boot installs no identity; after the first
cycle each role's identity is in its snapshot, and a swap of disks moves identities with them."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.lab.common import (
    PRI_PAGE,
    assert_pri_serves_client_data,
    keyscan_from_client,
    role_key,
    states,
)

from atlas_ha.converters import identity
from atlas_ha.lab import client
from atlas_ha.lab.lab import ADDRESSES, Lab
from atlas_ha.layout.sid import SidData

pytestmark = [pytest.mark.lab, pytest.mark.slow]
ROLES = {"A": "PRI", "B": "SEC1", "C": "SEC2"}
ENVS = {"A": 2, "B": 1, "C": 3}
FORMATS = {1: "rhel-ifcfg", 2: "debian-interfaces", 3: "networkd"}


def snapshot_identity(lab: Lab, disk: str, role: str, env: int) -> identity.Identity | None:
    """The identity held in snapshot (role, env) of a disk, read in that env's format."""
    area = SidData(lab.base / "disks" / disk / "SID_DATA").area(role, env)
    files = {
        p: area.copy_path("IdentFiles", p).read_bytes()
        for p in identity.paths(FORMATS[env], "eth0")
        if area.copy_path("IdentFiles", p).exists()
    }
    return identity.parse(FORMATS[env], files) if files else None


def test_from_scratch_identities_follow_the_disks(lab: Lab) -> None:
    # First boot: nothing installed from the disks; each OS answers on its hand-made identity.
    for name, role in ROLES.items():
        assert lab.servers()[name]["installed"] == []
        assert lab.net.addresses(name) == [ADDRESSES[role]]
        assert snapshot_identity(lab, f"disk-{name}", role, ENVS[name]) is None
        settings = Path(lab.group.servers[name].config).read_text()
        assert "sid_data" in settings  # written by `atlas-ha init`
    # The first cycle copies each role's identity into its own snapshot.
    assert states(lab.cycle("A")) == {"SEC1": "equal", "SEC2": "equal"}
    for name, role in ROLES.items():
        ident = snapshot_identity(lab, f"disk-{name}", role, ENVS[name])
        assert ident is not None and ident.address == ADDRESSES[role]
    # Swap A and B: the identities move with the disks (B becomes PRI, A becomes SEC1).
    lab.swap("A", "B")
    assert lab.servers()["B"]["installed"] != []  # PRI identity installed from (PRI,1)
    assert lab.net.addresses("B") == [ADDRESSES["PRI"]]
    assert lab.net.addresses("A") == [ADDRESSES["SEC1"]]
    assert lab.installed_identity("A").address == ADDRESSES["SEC1"]
    assert keyscan_from_client(lab) == role_key(lab, "disk-A")
    assert_pri_serves_client_data(lab)
    assert PRI_PAGE in client.http(lab, ADDRESSES["PRI"])[2]
    assert states(lab.cycle("B")) == {"SEC1": "equal", "SEC2": "equal"}
