"""Properties and error cases of the nginx site-location converter (conf.d <-> sites-enabled)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from atlas_ha.converters import nginx
from atlas_ha.errors import ConversionError

CONF_D, SITES = "conf.d", "sites-enabled"
CONF_DIR, SITES_DIR = "/etc/nginx/conf.d", "/etc/nginx/sites-enabled"

# Site names as they appear in sites-enabled: one path component, not ending in .conf.
site_names = (
    st.text(st.characters(blacklist_characters="/\x00", codec="utf-8"), min_size=1, max_size=30)
    .filter(lambda n: n not in {".", ".."} and not n.endswith(".conf"))
    .filter(lambda n: n + ".conf" not in {".", ".."})
)
formats = st.sampled_from(nginx.FORMATS)


def site_path(fmt: str, name: str) -> str:
    return f"{CONF_DIR}/{name}.conf" if fmt == CONF_D else f"{SITES_DIR}/{name}"


@given(site_names, formats, formats)
def test_rename_there_and_back_is_identity(name: str, a: str, b: str) -> None:
    path = site_path(a, name)
    there = nginx.rename(a, b, path)
    assert there == site_path(b, name)
    assert nginx.rename(b, a, there) == path


@given(st.text(max_size=40), formats)
def test_same_format_is_identity(path: str, fmt: str) -> None:
    assert nginx.rename(fmt, fmt, path) == path


@given(st.sampled_from(["/etc/nginx/nginx.conf", "/etc/nginx/conf.d.bak/x", "/etc/hosts"]))
def test_paths_outside_the_site_dirs_are_unchanged(path: str) -> None:
    assert nginx.rename(CONF_D, SITES, path) == path
    assert nginx.rename(SITES, CONF_D, path) == path


def test_site_dir_itself_maps_to_the_other_site_dir() -> None:
    assert nginx.rename(CONF_D, SITES, CONF_DIR) == SITES_DIR
    assert nginx.rename(SITES, CONF_D, SITES_DIR) == CONF_DIR


def test_site_dir_and_paths() -> None:
    assert nginx.site_dir(CONF_D) == CONF_DIR
    assert nginx.paths(SITES) == (SITES_DIR,)
    with pytest.raises(ValueError, match="unknown nginx format"):
        nginx.site_dir("apache")


@pytest.mark.parametrize(
    ("src", "dst", "path", "word"),
    [
        (CONF_D, SITES, f"{CONF_DIR}/default", "not loaded"),
        (CONF_D, SITES, f"{CONF_DIR}/default.conf.bak", "not loaded"),
        (CONF_D, SITES, f"{CONF_DIR}/sub/site.conf", "nested"),
        (CONF_D, SITES, f"{CONF_DIR}//site.conf", "nested"),
        (CONF_D, SITES, f"{CONF_DIR}/.conf", "file name"),
        (CONF_D, SITES, f"{CONF_DIR}/a.conf.conf", "faithful"),
        (SITES, CONF_D, f"{SITES_DIR}/site.conf", "faithful"),
        (SITES, CONF_D, f"{SITES_DIR}/sub/site", "nested"),
        (SITES, CONF_D, f"{SITES_DIR}/..", "file name"),
        (SITES, CONF_D, f"{SITES_DIR}/", "file name"),
        (CONF_D, SITES, f"{SITES_DIR}/default", "faithful"),
        (SITES, CONF_D, f"{CONF_DIR}/default.conf", "faithful"),
    ],
)
def test_no_equivalent_is_refused(src: str, dst: str, path: str, word: str) -> None:
    with pytest.raises(ConversionError) as caught:
        nginx.rename(src, dst, path)
    assert caught.value.path == path
    assert caught.value.line is None
    assert word in caught.value.expected


@given(st.text(max_size=60), formats, formats)
def test_random_paths_raise_only_conversion_error(path: str, a: str, b: str) -> None:
    try:
        result = nginx.rename(a, b, "/etc/nginx/" + path)
    except ConversionError as err:
        assert err.path == "/etc/nginx/" + path
    else:
        assert nginx.rename(b, a, result) == "/etc/nginx/" + path
