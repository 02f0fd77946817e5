"""The `nm-keyfile` identity format: a stock Rocky/RHEL 9 (anaconda writes a NetworkManager
keyfile, no ifcfg) reads unedited, round-trips through every other format, refuses what has
no equivalent naming the line, and a converted keyfile gets mode 0600 (NetworkManager
ignores one readable by others)."""

from __future__ import annotations

from pathlib import Path

import pytest

from atlas_ha.converters import identity
from atlas_ha.converters.identity import Identity
from atlas_ha.errors import ConversionError

STOCK = Path(__file__).parents[2] / "fixtures" / "stock"
KEYFILE = "/etc/NetworkManager/system-connections/eth0.nmconnection"
ROCKY = Identity("sec1", "eth0", "192.0.2.12", 24, "192.0.2.1", ("192.0.2.1",), ("example.org",))


def rocky9() -> dict[str, bytes]:
    return {
        "/etc/hostname": (STOCK / "rocky9/hostname").read_bytes(),
        KEYFILE: (STOCK / "rocky9/eth0.nmconnection").read_bytes(),
    }


def test_the_keyfile_anaconda_writes_parses_unedited() -> None:
    assert identity.paths("nm-keyfile") == ("/etc/hostname", KEYFILE)
    assert identity.parse("nm-keyfile", rocky9()) == ROCKY


@pytest.mark.parametrize("other", ["rhel-ifcfg", "rhel7-ifcfg", "debian-interfaces", "networkd"])
def test_it_round_trips_through_every_other_format(other: str) -> None:
    there = identity.convert("nm-keyfile", other, rocky9())
    back = identity.convert(other, "nm-keyfile", there)
    assert identity.parse("nm-keyfile", back) == ROCKY
    assert identity.convert("nm-keyfile", "nm-keyfile", back) == back  # canonical


@pytest.mark.parametrize(
    ("edit", "line", "said"),
    [
        ("method=manual", 15, "method=auto has no equivalent"),
        ("[proxy]", 21, "section [vpn] has no equivalent"),
        ("[ethernet]", 10, "'mac-address=52:54:00:12:34:56' [ethernet] has no equivalent"),
    ],
)
def test_what_has_no_equivalent_is_refused_naming_the_line(edit: str, line: int, said: str) -> None:
    files = rocky9()
    text = files[KEYFILE].decode()
    replacement = {
        "method=manual": "method=auto",
        "[proxy]": "[vpn]",
        "[ethernet]": "[ethernet]\nmac-address=52:54:00:12:34:56",
    }[edit]
    files[KEYFILE] = text.replace(edit, replacement, 1).encode()
    with pytest.raises(ConversionError) as caught:
        identity.parse("nm-keyfile", files)
    assert (caught.value.path, caught.value.line) == (KEYFILE, line)
    assert said in str(caught.value)


def test_a_second_address_is_refused() -> None:
    files = rocky9()
    files[KEYFILE] = files[KEYFILE].replace(
        b"method=manual", b"address2=192.0.2.13/24\nmethod=manual"
    )
    with pytest.raises(ConversionError, match="address2"):
        identity.parse("nm-keyfile", files)


def test_a_converted_keyfile_is_private() -> None:
    assert identity.private_paths("nm-keyfile") == (KEYFILE,)
    assert identity.private_paths("rhel7-ifcfg") == ()
