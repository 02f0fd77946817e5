"""The files a stock installation ships convert (tests/fixtures/stock, see its README).

Round trips: older -> newer -> older gives the same identity (and, for accounts, the same
bytes); what is normalised is stated per format in the converters' docstrings.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from atlas_ha.converters import accounts, identity
from atlas_ha.converters.identity import Identity
from atlas_ha.errors import ConversionError

STOCK = Path(__file__).parents[2] / "fixtures" / "stock"
RHEL, DEBIAN, NETWORKD = "rhel-ifcfg", "debian-interfaces", "networkd"
RHEL7 = "rhel7-ifcfg"
HASH_FMT, SHADOW_FMT = "passwd-hash", "shadow"
PASSWD, SHADOW, GROUP = "/etc/passwd", "/etc/shadow", "/etc/group"
IFCFG = "/etc/sysconfig/network-scripts/ifcfg-eth0"


def read(name: str) -> bytes:
    return (STOCK / name).read_bytes()


def debian_identity() -> dict[str, bytes]:
    return {
        "/etc/hostname": read("debian12/hostname"),
        "/etc/network/interfaces": read("debian12/interfaces"),
    }


def rocky_identity(network: str, ifcfg: str) -> dict[str, bytes]:
    return {"/etc/sysconfig/network": read(f"rocky9/{network}"), IFCFG: read(f"rocky9/{ifcfg}")}


def rocky7_identity(network: str, ifcfg: str) -> dict[str, bytes]:
    """A stock RHEL/Rocky 7+ system in the rhel7-ifcfg format: /etc/hostname included."""
    return {"/etc/hostname": read("rocky9/hostname"), **rocky_identity(network, ifcfg)}


def networkd_identity() -> dict[str, bytes]:
    return {
        "/etc/hostname": read("networkd/hostname"),
        "/etc/systemd/network/10-eth0.network": read("networkd/10-eth0.network"),
    }


# --- identity -----------------------------------------------------------------------------------


def test_debian12_installer_interfaces_parse() -> None:
    got = identity.parse(DEBIAN, debian_identity())
    assert got == Identity(
        "pri", "eth0", "192.0.2.11", 24, "192.0.2.1", ("192.0.2.1",), ("example.org",)
    )


@pytest.mark.parametrize("ifcfg", ["ifcfg-eth0", "ifcfg-eth0-nm"])
def test_rocky9_anaconda_and_networkmanager_files_parse(ifcfg: str) -> None:
    got = identity.parse(RHEL, rocky_identity("network-hostname", ifcfg))  # HOSTNAME= only
    search = ("example.org",) if ifcfg == "ifcfg-eth0" else ()
    assert got == Identity("sec1", "eth0", "192.0.2.12", 24, "192.0.2.1", ("192.0.2.1",), search)


def test_rocky9_network_file_without_hostname_names_the_file_and_the_fix() -> None:
    """anaconda's comment-only file: the host name is in /etc/hostname, not a file of the
    rhel-ifcfg format; refused at init (sync/preflight.py), naming the line to add."""
    with pytest.raises(ConversionError) as caught:
        identity.parse(RHEL, rocky_identity("network-empty", "ifcfg-eth0"))
    assert caught.value.path == "/etc/sysconfig/network"
    assert "HOSTNAME=" in caught.value.expected and "/etc/hostname" in caught.value.expected


@pytest.mark.parametrize("network", ["network-empty", "network-hostname"])
@pytest.mark.parametrize("ifcfg", ["ifcfg-eth0", "ifcfg-eth0-nm"])
def test_rocky9_stock_files_parse_unedited_in_the_rhel7_format(network: str, ifcfg: str) -> None:
    """anaconda's comment-only /etc/sysconfig/network needs no edit: rhel7-ifcfg reads the
    host name from /etc/hostname (a HOSTNAME= there, if any, must agree)."""
    got = identity.parse(RHEL7, rocky7_identity(network, ifcfg))
    search = ("example.org",) if ifcfg == "ifcfg-eth0" else ()
    assert got == Identity("sec1", "eth0", "192.0.2.12", 24, "192.0.2.1", ("192.0.2.1",), search)


def test_rhel7_two_different_host_names_are_refused_naming_both_files() -> None:
    files = rocky7_identity("network-empty", "ifcfg-eth0")
    files["/etc/sysconfig/network"] = b"# Created by anaconda\nHOSTNAME=other\n"
    with pytest.raises(ConversionError) as caught:
        identity.parse(RHEL7, files)
    assert (caught.value.path, caught.value.line) == ("/etc/sysconfig/network", 2)
    assert "HOSTNAME=other differs from /etc/hostname (sec1)" in caught.value.expected


def test_networkd_static_file_parses() -> None:
    got = identity.parse(NETWORKD, networkd_identity())
    assert got == Identity(
        "sec2", "eth0", "192.0.2.13", 24, "192.0.2.1", ("192.0.2.1",), ("example.org",)
    )


@pytest.mark.parametrize(
    ("fmt", "files", "other"),
    [
        (RHEL, rocky_identity("network-hostname", "ifcfg-eth0"), DEBIAN),
        (RHEL, rocky_identity("network-hostname", "ifcfg-eth0-nm"), NETWORKD),
        (RHEL7, rocky7_identity("network-empty", "ifcfg-eth0"), DEBIAN),
        (RHEL7, rocky7_identity("network-empty", "ifcfg-eth0-nm"), RHEL),
        (DEBIAN, debian_identity(), RHEL7),
        (DEBIAN, debian_identity(), NETWORKD),
        (DEBIAN, debian_identity(), RHEL),
        (NETWORKD, networkd_identity(), DEBIAN),
    ],
)
def test_stock_identity_round_trips_in_meaning(
    fmt: str, files: dict[str, bytes], other: str
) -> None:
    """there and back: the same identity; the result is the canonical file and stable."""
    back = identity.convert(other, fmt, identity.convert(fmt, other, files))
    assert identity.parse(fmt, back) == identity.parse(fmt, files)
    assert back == identity.render(fmt, identity.parse(fmt, files))
    assert identity.convert(other, fmt, identity.convert(fmt, other, back)) == back


def test_debian_normalisation_is_exactly_comments_include_and_hotplug() -> None:
    back = identity.convert(NETWORKD, DEBIAN, identity.convert(DEBIAN, NETWORKD, debian_identity()))
    text = back["/etc/network/interfaces"].decode()
    assert "source" not in text and "allow-hotplug" not in text and "#" not in text
    assert "auto eth0\niface eth0 inet static\n    address 192.0.2.11/24\n" in text
    assert "    dns-search example.org\n" in text


# --- accounts -----------------------------------------------------------------------------------


def debian_accounts() -> dict[str, bytes]:
    return {
        PASSWD: read("debian12/passwd"),
        SHADOW: read("debian12/shadow"),
        GROUP: read("debian12/group"),
    }


def rocky_accounts() -> dict[str, bytes]:
    return {
        PASSWD: read("rocky9/passwd"),
        SHADOW: read("rocky9/shadow"),
        GROUP: read("rocky9/group"),
    }


@pytest.mark.parametrize("stock", [debian_accounts, rocky_accounts])
def test_stock_shadow_with_default_aging_converts_to_passwd_hash(stock: object) -> None:
    files = stock()  # type: ignore[operator]
    older = accounts.convert(SHADOW_FMT, HASH_FMT, files)
    root = older[PASSWD].split(b"\n")[0].split(b":")
    assert root[:2] == files[SHADOW].split(b"\n")[0].split(b":")[:2]  # root's hash moved over
    assert older[GROUP] == files[GROUP]
    newer = accounts.convert(HASH_FMT, SHADOW_FMT, older)
    assert newer[PASSWD] == files[PASSWD]
    # only the inert aging is normalised (to empty): the same meaning, as Compare reads it
    assert newer[SHADOW] != files[SHADOW]
    assert accounts.same_meaning(SHADOW, newer[SHADOW], files[SHADOW])
    # older -> newer -> older gives the very bytes back
    assert accounts.convert(SHADOW_FMT, HASH_FMT, newer) == older


@pytest.mark.parametrize(
    ("aging", "word"),
    [
        (b"19700:1:99999:7:::", "minimum"),
        (b"19700:0:90:7:::", "maximum"),
        (b"0:0:99999:7:::", "next login"),
        (b"19700:0:99999:7::20000:", "expiry"),
        (b"::::::1", "reserved"),
        (b"19700:0:x:7:::", "number"),
    ],
)
def test_stock_file_with_one_meaningful_aging_fails_naming_its_line(
    aging: bytes, word: str
) -> None:
    files = debian_accounts()
    lines = files[SHADOW].split(b"\n")
    name, hash_ = lines[4].split(b":")[:2]
    lines[4] = b":".join((name, hash_, aging))
    files[SHADOW] = b"\n".join(lines)
    with pytest.raises(ConversionError) as caught:
        accounts.convert(SHADOW_FMT, HASH_FMT, files)
    assert (caught.value.path, caught.value.line) == (SHADOW, 5)
    assert word in caught.value.expected
    assert name.decode() in caught.value.expected


def test_a_created_shadow_takes_the_shadow_group_of_the_snapshot() -> None:
    """Env1 (passwd-hash) -> Env2 (shadow) creates /etc/shadow: root, 0640, and Debian's
    group `shadow` when /etc/group has it (a stock Debian's own /etc/shadow is root:shadow
    0640), so a PRI's shadow that went to Env1 and back compares equal; root's otherwise."""
    from atlas_ha.converters.aspects.accounts import created_like
    from atlas_ha.layout.manifest import Entry

    passwd = Entry("SyncFiles", "/etc/passwd", "file", mode=0o644, uid=0, gid=0)
    debian = (STOCK / "debian12" / "group").read_bytes()
    assert b"\nshadow:x:42:" in debian
    made = created_like(passwd, "/etc/shadow", {"/etc/group": debian})
    assert (made.mode, made.uid, made.gid) == (0o640, 0, 42)
    rocky = (STOCK / "rocky9" / "group").read_bytes()
    made = created_like(passwd, "/etc/shadow", {"/etc/group": rocky})
    assert (made.mode, made.uid, made.gid) == (0o640, 0, 0)
