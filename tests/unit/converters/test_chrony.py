"""chrony's configuration between the Debian layout (/etc/chrony/chrony.conf + conf.d/ and
sources.d/) and the RHEL layout (/etc/chrony.conf), with the distributions' stock files."""

from __future__ import annotations

import pytest

from atlas_ha.converters import chrony
from atlas_ha.errors import ConversionError

# Debian 12's chrony 4.3 package, comments left out (as this machine has it)
DEBIAN_STOCK = (
    b"confdir /etc/chrony/conf.d\n"
    b"pool 2.debian.pool.ntp.org iburst\n"
    b"sourcedir /run/chrony-dhcp\n"
    b"sourcedir /etc/chrony/sources.d\n"
    b"keyfile /etc/chrony/chrony.keys\n"
    b"driftfile /var/lib/chrony/chrony.drift\n"
    b"ntsdumpdir /var/lib/chrony\n"
    b"logdir /var/log/chrony\n"
    b"maxupdateskew 100.0\n"
    b"rtcsync\n"
    b"makestep 1 3\n"
    b"leapsectz right/UTC\n"
)
# RHEL 9's, comments left out
RHEL_STOCK = (
    b"pool 2.rhel.pool.ntp.org iburst\n"
    b"sourcedir /run/chrony-dhcp\n"
    b"driftfile /var/lib/chrony/drift\n"
    b"makestep 1.0 3\n"
    b"rtcsync\n"
    b"keyfile /etc/chrony.keys\n"
    b"ntsdumpdir /var/lib/chrony\n"
    b"leapsectz right/UTC\n"
    b"logdir /var/log/chrony\n"
)


def test_paths_per_format() -> None:
    assert chrony.paths("debian") == (
        "/etc/chrony/chrony.conf",
        "/etc/chrony/conf.d",
        "/etc/chrony/sources.d",
    )
    assert chrony.paths("rhel") == ("/etc/chrony.conf",)
    with pytest.raises(ValueError, match="unknown chrony format"):
        chrony.paths("ntpd")


def test_debian_stock_to_rhel_moves_the_file_and_drops_its_directories() -> None:
    out = chrony.convert("debian", "rhel", {"/etc/chrony/chrony.conf": DEBIAN_STOCK})
    assert list(out) == ["/etc/chrony.conf"]
    lines = out["/etc/chrony.conf"].splitlines()
    assert b"confdir /etc/chrony/conf.d" not in lines
    assert b"sourcedir /etc/chrony/sources.d" not in lines
    assert b"sourcedir /run/chrony-dhcp" in lines  # not a synced directory: kept
    assert b"keyfile /etc/chrony.keys" in lines  # the key file's place in RHEL
    kept = [ln for ln in DEBIAN_STOCK.splitlines() if not ln.startswith((b"confdir", b"keyfile"))]
    assert [ln for ln in lines if not ln.startswith(b"keyfile")] == [
        ln for ln in kept if ln != b"sourcedir /etc/chrony/sources.d"
    ]


def test_rhel_stock_to_debian_and_back_is_byte_for_byte() -> None:
    there = chrony.convert("rhel", "debian", {"/etc/chrony.conf": RHEL_STOCK})
    assert list(there) == ["/etc/chrony/chrony.conf"]
    assert b"keyfile /etc/chrony/chrony.keys\n" in there["/etc/chrony/chrony.conf"]
    back = chrony.convert("debian", "rhel", there)
    assert back == {"/etc/chrony.conf": RHEL_STOCK}


def test_a_file_in_debians_directories_has_no_place_in_rhel() -> None:
    files = {"/etc/chrony/chrony.conf": DEBIAN_STOCK, "/etc/chrony/sources.d/acme.sources": b""}
    with pytest.raises(ConversionError, match=r"^/etc/chrony/sources.d/acme.sources: only "):
        chrony.convert("debian", "rhel", files)


def test_a_debian_directory_sharing_its_line_is_refused_with_the_line() -> None:
    conf = b"server 192.0.2.1\nconfdir /etc/chrony/conf.d /usr/share/chrony/conf.d\n"
    with pytest.raises(ConversionError, match=r"^/etc/chrony/chrony.conf:2: /etc/chrony/conf.d"):
        chrony.convert_conf("debian", "rhel", conf)


def test_a_key_file_elsewhere_and_comments_are_kept() -> None:
    conf = b"# keyfile /etc/chrony/chrony.keys\nkeyfile /srv/keys\nKEYFILE /etc/chrony.keys\n"
    assert chrony.convert_conf("rhel", "debian", conf) == (
        b"# keyfile /etc/chrony/chrony.keys\nkeyfile /srv/keys\nKEYFILE /etc/chrony/chrony.keys\n"
    )


def test_a_debian_file_back_from_rhel_means_the_same_and_a_changed_one_does_not() -> None:
    there = chrony.convert("debian", "rhel", {"/etc/chrony/chrony.conf": DEBIAN_STOCK})
    back = chrony.convert("rhel", "debian", there)["/etc/chrony/chrony.conf"]
    assert back != DEBIAN_STOCK  # the confdir/sourcedir lines of the empty directories
    assert chrony.same_meaning(DEBIAN_STOCK, back)
    assert not chrony.same_meaning(DEBIAN_STOCK, back.replace(b"2.debian", b"3.debian"))
    assert not chrony.same_meaning(DEBIAN_STOCK, back + b"sourcedir /srv/sources\n")
