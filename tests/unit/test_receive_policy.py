"""The receive policy (layout.policy): its rules on Manifest entries, symlink resolution
against a real filesystem, and the `[receive]` settings table."""

from __future__ import annotations

import errno
import itertools
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from atlas_ha import settings as settings_mod
from atlas_ha.errors import SettingsError
from atlas_ha.layout.manifest import Entry
from atlas_ha.layout.policy import RULES, ReceivePolicy, judge, leaves_root

SHA = "0" * 64


def entry(path: str, kind: str = "file", mode: int = 0o644, target: str = "") -> Entry:
    return Entry("SyncFiles", path, kind, mode, sha256=SHA if kind == "file" else "", target=target)


def rules_of(*entries: Entry, policy: ReceivePolicy | None = None) -> set[tuple[str, str, str]]:
    found = judge({e.key: e for e in entries}, policy or ReceivePolicy())
    return {(f.rule, f.action, f.path) for f in found}


# -- the mode rules --------------------------------------------------------------------------
modes = st.integers(0, 0o7777)
kinds = st.sampled_from(["file", "dir", "symlink", "absent"])


@given(kind=kinds, mode=modes)
def test_setuid_and_world_writable_follow_the_mode_bits(kind: str, mode: int) -> None:
    found = {r for r, _a, _p in rules_of(entry("/usr/local/bin/x", kind, mode))}
    assert ("setuid" in found) == (kind == "file" and bool(mode & 0o6000))
    assert ("world_writable" in found) == (kind in ("file", "dir") and bool(mode & 0o002))


@given(mode=modes, path=st.sampled_from(["/etc/shadow", "/etc/gshadow-", "/etc/ssl/private/k"]))
def test_a_shadow_class_file_may_have_no_bit_outside_0640(mode: int, path: str) -> None:
    policy = ReceivePolicy(shadow_files=("/etc/ssl/private",))
    found = {r for r, _a, _p in rules_of(entry(path, "file", mode), policy=policy)}
    assert ("shadow_mode" in found) == bool(mode & ~0o640)


def test_shadow_class_directories_and_symlinks() -> None:
    policy = ReceivePolicy(shadow_files=("/etc/ssl/private",))
    assert rules_of(entry("/etc/ssl/private", "dir", 0o750), policy=policy) == set()
    assert ("shadow_mode", "refuse", "/etc/ssl/private") in rules_of(
        entry("/etc/ssl/private", "dir", 0o755), policy=policy
    )
    assert ("shadow_mode", "refuse", "/etc/shadow") in rules_of(
        entry("/etc/shadow", "symlink", 0o777, "shadow.real")
    )
    # not shadow-class: the same modes are fine elsewhere, a list is no prefix match
    assert rules_of(entry("/etc/shadowsocks.conf", "file", 0o644)) == set()


def test_defaults_and_actions() -> None:
    hostile = [
        entry("/etc/app/tool", "file", 0o4755),
        entry("/etc/app/open", "file", 0o666),
        entry("/etc/app/spool", "dir", 0o1777),  # sticky: still refused (module doc)
        entry("/etc/app/out", "symlink", 0o777, "/../../etc/x"),
        entry("/etc/shadow", "file", 0o644),
    ]
    assert rules_of(*hostile) == {
        ("setuid", "refuse", "/etc/app/tool"),
        ("world_writable", "refuse", "/etc/app/open"),
        ("world_writable", "refuse", "/etc/app/spool"),
        ("symlink_out_of_root", "flag", "/etc/app/out"),
        ("shadow_mode", "refuse", "/etc/shadow"),
    }
    allow = ReceivePolicy(dict.fromkeys(RULES, "allow"))
    assert rules_of(*hostile, policy=allow) == set()
    flag = ReceivePolicy(dict.fromkeys(RULES, "flag"))
    assert {a for _r, a, _p in rules_of(*hostile, policy=flag)} == {"flag"}
    # the area's own files are never installed: not judged
    area = Entry("area", "SyncFilePaths", "file", 0o4777, sha256=SHA)
    assert judge({area.key: area}, ReceivePolicy()) == []


# -- symlinks leaving the system root --------------------------------------------------------
@pytest.mark.parametrize(
    ("link", "target", "leaves"),
    [
        ("/etc/x", "/../../etc/x", True),  # absolute, '..' above /
        ("/etc/x", "/etc/y", False),  # absolute: starts at the system root
        ("/etc/x", "../../y", True),
        ("/etc/x", "../usr/y", False),
        ("/etc/app/x", "../../../y/..", True),
        ("/etc/x", "a/./b/../../..", False),
        ("/x", "..", True),
    ],
)
def test_leaves_root_examples(link: str, target: str, leaves: bool) -> None:
    assert leaves_root(link, target, {}) is leaves


def test_a_chain_of_links_each_harmless_alone_is_followed() -> None:
    links = {"/a/d": "..", "/a/l": "d/../.."}
    assert not leaves_root("/a/d", "..", links)
    assert not leaves_root("/a/l", "d/../..", {})  # lexically /a/d/../.. = /
    assert leaves_root("/a/l", "d/../..", links)  # but d is /: d/.. is above it
    loop = {"/a": "b", "/b": "a"}
    assert leaves_root("/c", "a/x", loop)  # a loop is judged as leaving


names = st.sampled_from(["a", "b", "c"])
sys_paths = st.lists(names, min_size=1, max_size=3).map(lambda p: "/" + "/".join(p))
targets = st.builds(
    lambda absolute, parts: ("/" if absolute else "") + "/".join(parts),
    st.booleans(),
    st.lists(st.sampled_from(["a", "b", "c", "..", "."]), min_size=1, max_size=5),
)


def _fs_target(link: str, target: str) -> str:
    """The target as the filesystem model stores it: an absolute one made relative to the
    model's root (what "absolute targets start at the system root" means)."""
    if not target.startswith("/"):
        return target
    depth = link.count("/") - 1
    return "/".join([".."] * depth + [target.lstrip("/") or "."]) or "."


def _make_model(root: str, links: dict[str, str]) -> None:
    """Every path of up to 4 names a directory, except the links (and what would be below
    one): each component a resolution meets exists, so the kernel resolves exactly as the
    model says ("components the snapshot does not carry are plain directories")."""
    for depth in range(1, 5):
        for combo in itertools.product("abc", repeat=depth):
            path = "/" + "/".join(combo)
            if not any(path == p or path.startswith(p + "/") for p in links):
                os.makedirs(root + path, exist_ok=True)
    for link, target in links.items():
        os.symlink(_fs_target(link, target), root + link)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(sys_paths, targets, min_size=1, max_size=4))
def test_leaves_root_agrees_with_the_kernel(links: dict[str, str]) -> None:
    """Each link made in a real directory (the system root): leaves_root says True exactly
    when the kernel resolves the link to a place outside that directory."""
    assume(not any(a != b and b.startswith(a + "/") for a in links for b in links))
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "r")
        os.mkdir(root)
        _make_model(root, links)
        checked = 0
        for link, target in links.items():
            try:
                os.stat(root + link)  # resolved by the kernel, to something that exists
            except OSError as exc:  # ELOOP; ENOENT: a place outside the model's tree
                assert exc.errno in (errno.ELOOP, errno.ENOENT)
                continue
            real = os.path.realpath(root + link)
            inside = real == root or real.startswith(root + "/")
            assert leaves_root(link, target, links) is not inside, (link, target, real)
            checked += 1
        assume(checked)


# -- the [receive] settings table ------------------------------------------------------------
def load(tmp_path: Path, table: str) -> settings_mod.Settings:
    path = tmp_path / "atlas-ha.toml"
    path.write_text(f'esd_data = "esd"\nsid_data = "sid"\n[receive]\n{table}\n')
    return settings_mod.load(path)


def test_settings_table(tmp_path: Path) -> None:
    s = load(tmp_path, 'setuid = "allow"\nshadow_files = ["/etc/ssl/private"]\nenvs_ahead = 2')
    assert s.receive.action("setuid") == "allow"
    assert s.receive.action("world_writable") == "refuse"
    assert s.receive.shadow_paths[-1] == "/etc/ssl/private" and s.receive.envs_ahead == 2
    default = settings_mod.from_dict({"esd_data": "e", "sid_data": "s"}, tmp_path / "x.toml")
    assert default.receive == ReceivePolicy()


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ('setuidd = "allow"', r"unknown keys \['setuidd'\]"),
        ('setuid = "yes"', r"setuid = one of \('refuse', 'flag', 'allow'\).*got 'yes'"),
        ('shadow_files = ["etc/shadow"]', "absolute path"),
        ('shadow_files = "/etc/x"', "a list of absolute paths"),
        ("envs_ahead = -1", "envs_ahead = an integer"),
        ("envs_ahead = true", "envs_ahead = an integer"),
    ],
)
def test_bad_settings_name_the_file(tmp_path: Path, table: str, words: str) -> None:
    with pytest.raises(SettingsError, match=words) as info:
        load(tmp_path, table)
    assert str(tmp_path / "atlas-ha.toml") in str(info.value)
