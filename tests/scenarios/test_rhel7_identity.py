"""A group whose RHEL-like EnvVersion is RHEL/Rocky 7+ (`identity = "rhel7-ifcfg"`: the host
name in /etc/hostname, a comment-only /etc/sysconfig/network): its stock files sync without
an edit, and a failover onto that server sets the host name where such a system reads it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from atlas_ha.converters import identity
from atlas_ha.lab.group import ADDRESSES, SimGroup, demo_envs
from atlas_ha.layout.esd import EnvDef
from atlas_ha.sync.cycle import cycle


def quiet(_line: str) -> None:
    pass


def rocky_envs(top: int) -> dict[int, EnvDef]:
    """The reference environments, Env1 being a RHEL 7+ (hashes in /etc/shadow too)."""
    envs = demo_envs(top)
    formats = {**envs[1].formats, "identity": "rhel7-ifcfg", "accounts": "shadow"}
    envs[1] = replace(envs[1], description="Rocky 9", formats=formats)
    return envs


def test_a_rhel7_sec_syncs_its_stock_files_and_a_failover_sets_etc_hostname(
    tmp_path: Path,
) -> None:
    group = SimGroup(tmp_path / "g", envs=rocky_envs)
    group.build({"A": (2, "PRI"), "B": (1, "SEC1")})
    b_network = group.servers["B"].file("/etc/sysconfig/network")
    b_network.write_bytes(b"# Created by anaconda\n")  # as a stock Rocky 9 ships it
    for name in group.servers:
        group.boot(name)
    report = cycle(group.servers["A"].server(quiet))
    assert {c.sec: c.state for c in report.compare} == {"SEC1": "equal"}

    group.shutdown("A", "B")
    disk_a = group.unplug("A")
    group.unplug("B")
    group.plug(disk_a, "B")
    result = group.boot("B")
    assert (result.role, result.env) == ("PRI", 1)
    assert "/etc/hostname" in result.installed
    assert group.servers["B"].file("/etc/hostname").read_bytes() == b"pri\n"
    network = group.servers["B"].file("/etc/sysconfig/network").read_bytes()
    assert b"HOSTNAME" not in network  # RHEL 7+ would ignore it; nothing to disagree with
    ident = identity.parse(
        "rhel7-ifcfg",
        {p: group.servers["B"].file(p).read_bytes() for p in identity.paths("rhel7-ifcfg", "eth0")},
    )
    assert (ident.hostname, ident.address) == ("pri", ADDRESSES["PRI"])
