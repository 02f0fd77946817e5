"""A group whose RHEL-like EnvVersion is RHEL/Rocky 7+ (`identity = "rhel7-ifcfg"`: the host
name in /etc/hostname, a comment-only /etc/sysconfig/network): its stock files sync without
an edit, and a failover onto that server sets the host name where such a system reads it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from tests.initargv import init_argv

from atlas_ha.cli.main import main
from atlas_ha.converters import identity
from atlas_ha.errors import FormatError
from atlas_ha.lab.group import ADDRESSES, SimGroup, demo_envs
from atlas_ha.layout.esd import EnvDef, parse_envs, read_envs
from atlas_ha.sync.cycle import cycle
from atlas_ha.sync.identity import IdentityResult


def quiet(_line: str) -> None:
    pass


def synced_then_swapped(group: SimGroup) -> IdentityResult:
    """Boot both, one cycle (SEC1 compares equal), then A's disk booted in B."""
    for name in group.servers:
        group.boot(name)
    report = cycle(group.servers["A"].server(quiet))
    assert {c.sec: c.state for c in report.compare} == {"SEC1": "equal"}
    group.shutdown("A", "B")
    disk_a = group.unplug("A")
    group.unplug("B")
    group.plug(disk_a, "B")
    return group.boot("B")


def env1_rocky(identity: str) -> Callable[[int], dict[int, EnvDef]]:
    """The reference environments, Env1 being a Rocky 9 described by `identity` (hashes
    in /etc/shadow too)."""

    def envs_of(top: int) -> dict[int, EnvDef]:
        envs = demo_envs(top)
        formats = {**envs[1].formats, "identity": identity, "accounts": "shadow"}
        envs[1] = replace(envs[1], description="Rocky 9", formats=formats)
        return envs

    return envs_of


rocky_envs = env1_rocky("rhel7-ifcfg")  # RHEL 7+ with ifcfg files
keyfile_envs = env1_rocky("nm-keyfile")  # a stock Rocky 9: a NetworkManager keyfile


def test_a_rhel7_sec_syncs_its_stock_files_and_a_failover_sets_etc_hostname(
    tmp_path: Path,
) -> None:
    group = SimGroup(tmp_path / "g", envs=rocky_envs)
    group.build({"A": (2, "PRI"), "B": (1, "SEC1")})
    b_network = group.servers["B"].file("/etc/sysconfig/network")
    b_network.write_bytes(b"# Created by anaconda\n")  # as a stock Rocky 9 ships it
    result = synced_then_swapped(group)
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


ROCKY = Path(__file__).parents[1] / "fixtures" / "stock" / "rocky9"
SITE_ENVS = """\
[env.1]
description = "Rocky 9"
identity = "rhel7-ifcfg"
accounts = "shadow"
nginx = "conf.d"
postgresql = "pgdata"

[env.2]
description = "Debian 12"
identity = "debian-interfaces"
accounts = "shadow"
nginx = "sites-enabled"
postgresql = "debian"
"""


def rocky_root(root: Path) -> None:
    """A system root holding a stock Rocky 9's identity and account files, unedited."""
    for name, path in (
        ("passwd", "etc/passwd"),
        ("shadow", "etc/shadow"),
        ("group", "etc/group"),
        ("hostname", "etc/hostname"),
        ("network-empty", "etc/sysconfig/network"),
        ("ifcfg-eth0", "etc/sysconfig/network-scripts/ifcfg-eth0"),
    ):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes((ROCKY / name).read_bytes())


def sec1_init(base: Path, *more: str) -> list[str]:
    return init_argv(base, "B", 1, "SEC1", "PRI=192.0.2.11", *more)


def test_init_with_the_sites_envs_reads_a_stock_rocky9_unedited(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With the reference Env1 (rhel-ifcfg) the doctor names the comment-only network file
    and the format to use; with the site's envs.toml saying rhel7-ifcfg it reads it as is."""
    reference, site = tmp_path / "reference", tmp_path / "site"
    rocky_root(reference / "root")
    main(sec1_init(reference))
    out = capsys.readouterr().out
    assert "/etc/sysconfig/network" in out and 'identity = "rhel7-ifcfg"' in out

    rocky_root(site / "root")
    envs = tmp_path / "envs.toml"
    envs.write_text(SITE_ENVS)
    main(sec1_init(site, "--envs", str(envs)))
    out = capsys.readouterr().out
    identity_line = next(line for line in out.splitlines() if "identity files" in line)
    assert identity_line.split()[0] == "ok" and "rhel7-ifcfg" in identity_line
    written = parse_envs((site / "esd/envs.toml").read_text(), site / "esd/envs.toml")
    assert written[1].formats["identity"] == "rhel7-ifcfg"
    assert (site / "root/etc/sysconfig/network").read_bytes() == (
        ROCKY / "network-empty"
    ).read_bytes()  # nothing of the OS was edited


def test_init_refuses_an_envs_file_that_is_not_one_naming_it(tmp_path: Path) -> None:
    rocky_root(tmp_path / "root")
    bad = tmp_path / "envs.toml"
    bad.write_text("[env.1]\nidentity = 'rhel7-ifcfg'\n[env.1]\n")
    with pytest.raises(FormatError) as caught:
        read_envs(bad)
    assert caught.value.path == str(bad)
    assert main(sec1_init(tmp_path, "--envs", str(bad))) == FormatError.exit_code
    assert not (tmp_path / "esd").exists()  # nothing written


def test_a_failover_onto_a_keyfile_sec_installs_the_pris_identity_as_a_private_keyfile(
    tmp_path: Path,
) -> None:
    group = SimGroup(tmp_path / "g", envs=keyfile_envs)
    group.build({"A": (2, "PRI"), "B": (1, "SEC1")})
    result = synced_then_swapped(group)
    keyfile = "/etc/NetworkManager/system-connections/eth0.nmconnection"
    assert (result.role, result.env) == ("PRI", 1) and keyfile in result.installed
    installed = group.servers["B"].file(keyfile)
    assert installed.stat().st_mode & 0o777 == 0o600  # NetworkManager reads no other
    ident = identity.parse(
        "nm-keyfile",
        {p: group.servers["B"].file(p).read_bytes() for p in identity.paths("nm-keyfile")},
    )
    assert (ident.hostname, ident.address) == ("pri", ADDRESSES["PRI"])
