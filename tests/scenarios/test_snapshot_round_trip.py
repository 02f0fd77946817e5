"""Whole-snapshot conversions: down(up(x)) == x and up(down(y)) == y for generated snapshots
(identity, accounts, nginx sites, untouched files), through the real chain and areas."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atlas_ha.context import Server
from atlas_ha.converters import accounts, identity
from atlas_ha.converters.transaction import write_manifest
from atlas_ha.lab.group import demo_envs
from atlas_ha.layout import paths as paths_mod
from atlas_ha.layout.scan import scan_area
from atlas_ha.layout.sid import Area
from atlas_ha.model import MasterConfig
from atlas_ha.sync.convert import convert_to_newer, convert_to_older
from atlas_ha.sync.init import InitRequest, init, settings_for
from atlas_ha.system import Runner

names = st.from_regex(r"[a-z]([a-z0-9-]{0,9}[a-z0-9])?", fullmatch=True)
texts = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=200)
octets = st.integers(1, 254)


@st.composite
def snapshots(draw: st.DrawFn) -> dict[str, object]:
    ident = identity.Identity(
        hostname=draw(names),
        device="eth0",
        address=f"10.{draw(octets)}.{draw(octets)}.{draw(octets)}",
        prefix=draw(st.integers(8, 30)),
        gateway=draw(st.none() | st.just("10.0.0.1")),
        dns=tuple(
            draw(st.lists(st.sampled_from(["10.0.0.53", "10.0.0.54"]), unique=True, max_size=2))
        ),
    )
    users = draw(st.lists(names, unique=True, min_size=1, max_size=5))
    hashes = draw(
        st.lists(
            st.sampled_from(["$6$s$h", "!", "*", ""]), min_size=len(users), max_size=len(users)
        )
    )
    passwd = "".join(
        f"{u}:{h}:{1000 + i}:{1000 + i}::/home/{u}:/bin/sh\n"
        for i, (u, h) in enumerate(zip(users, hashes, strict=True))
    )
    sites = draw(st.dictionaries(names, texts, max_size=4))
    extra = draw(st.dictionaries(names, texts, max_size=4))
    modes = draw(st.lists(st.sampled_from([0o600, 0o640, 0o644, 0o755]), min_size=4, max_size=4))
    return {"ident": ident, "passwd": passwd, "sites": sites, "extra": extra, "modes": modes}


def make_server(base: Path) -> Server:
    s = settings_for(
        base / "atlas-ha.toml",
        "T",
        base / "root",
        base / "esd",
        base / "sid",
        base / "net",
        "10.0.0.2",
    )
    init(InitRequest(s, 3, MasterConfig("g", "PRI", {}), demo_envs(3)), Runner())
    return Server(s, log=lambda _l: None)


def write_env1(area: Area, snap: dict[str, object]) -> None:
    modes = snap["modes"]
    assert isinstance(modes, list)
    files: dict[tuple[str, str], tuple[bytes, int]] = {}
    ident = snap["ident"]
    assert isinstance(ident, identity.Identity)
    for path, content in identity.render("rhel-ifcfg", ident).items():
        files[("IdentFiles", path)] = (content, 0o644)
    files[("SyncFiles", "/etc/passwd")] = (str(snap["passwd"]).encode(), modes[0])
    files[("SyncFiles", "/etc/group")] = (b"root:x:0:\n", 0o644)
    sites, extra = snap["sites"], snap["extra"]
    assert isinstance(sites, dict) and isinstance(extra, dict)
    for name, text in sites.items():
        files[("SyncFiles", f"/etc/nginx/conf.d/{name}.conf")] = (text.encode(), modes[1])
    for name, text in extra.items():
        files[("SyncFiles", f"/etc/app/{name}")] = (text.encode(), modes[2])
    for (tree, path), (content, mode) in files.items():
        dest = area.copy_path(tree, path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(content)
        dest.chmod(mode)
    for d in ("/etc/nginx/conf.d", "/etc/app"):
        area.copy_path("SyncFiles", d).mkdir(parents=True, exist_ok=True)
    listed = ["/etc/passwd", "/etc/group", "/etc/nginx/conf.d", "/etc/app"]
    (area.path / "SyncFilePaths").write_text(paths_mod.render(listed))
    (area.path / "IdentFilePaths").write_text(paths_mod.render(list(identity.paths("rhel-ifcfg"))))
    write_manifest(area, scan_area(area, {}))


def meaning(area: Area) -> tuple[object, ...]:
    """What must survive a round trip: path lists and every object but its mtime."""
    entries = sorted(
        (k, (e.type, e.mode, e.uid, e.gid, e.sha256, e.target)) for k, e in area.manifest().items()
    )
    return area.sync_paths(), area.ident_paths(), entries


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(snapshots())
def test_snapshot_round_trips_through_the_chain(snap: dict[str, object]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = make_server(Path(tmp))
        sid = server.sid
        write_env1(sid.area("PRI", 1), snap)
        sid.set_sev("PRI", 1)
        x = meaning(sid.area("PRI", 1))
        assert convert_to_newer(server, "PRI", 3) == [2, 3]
        y = meaning(sid.area("PRI", 3))
        # Env3 holds shadow + sites-enabled + networkd identity
        shadow = sid.area("PRI", 3).copy_path("SyncFiles", "/etc/shadow").read_bytes()
        assert shadow == accounts.to_shadow(str(snap["passwd"]).encode())[1]
        assert convert_to_older(server, "PRI", 3) == [2, 1]
        assert meaning(sid.area("PRI", 1)) == x  # down(up(x)) == x
        sid.set_sev("PRI", 1)
        convert_to_newer(server, "PRI", 3)
        assert meaning(sid.area("PRI", 3)) == y  # up(down(y)) == y
        assert sid.valid_envs("PRI") == [1, 2, 3]
