"""Side-by-side versions over real OpenSSH (SPEC 7.5, docs/versions.md): the PRI runs a newer
build (0.2.0+test, protocol 4) than SEC2 (0.1.0, protocol 3); SEC1 runs this tree. A
SyncCycle works both ways (the PRI sends to SEC2, SEC2 sends its own snapshot back), each
side's sessions run its own version through `ESD_DATA/bin/current` (the forced command finds
it on sshd's PATH), and the handshake agrees on the lower protocol; SEC2 upgraded agrees on 4
with the PRI; SEC2 rolled back speaks 3 again and still syncs."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from tests.builds import build_wheel, uv_program

from atlas_ha.lab.group import SimGroup
from atlas_ha.layout.esd import EsdData
from atlas_ha.settings import load
from atlas_ha.versions.links import links

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def atlas(
    group: SimGroup, name: str, *args: str, program: Path | None = None
) -> subprocess.CompletedProcess[str]:
    config = group.servers[name].config
    argv = [str(program)] if program else [str(group.servers[name].base / "bin" / "atlas-ha")]
    env = {**os.environ, "ATLAS_HA_UV": str(uv_program())}
    done = subprocess.run(
        [*argv, "--config", str(config), *args],
        capture_output=True, text=True, timeout=300, check=False, env=env,
    )  # fmt: skip
    return done


def current(group: SimGroup, name: str) -> Path:
    return EsdData(load(group.servers[name].config).esd_data).current_program


def remote_versions(group: SimGroup, name: str) -> set[str]:
    """The atlas-ha versions that served partner sessions on server `name` (its run logs:
    `start ssh-command (remote; atlas-ha VERSION; ...)`)."""
    logs = EsdData(load(group.servers[name].config).esd_data).logs_dir
    found = set()
    for log in logs.glob("ssh-command.*.remote.log"):
        for line in log.read_text().splitlines():
            if "; atlas-ha " in line and "(remote" in line:
                found.add(line.split("; atlas-ha ", 1)[1].split(";", 1)[0])
    return found


def cycle_from_pri(group: SimGroup) -> dict[str, str]:
    done = atlas(group, "A", "sync", "cycle", "--json", program=current(group, "A"))
    assert done.returncode in (0, 20), done.stderr
    report = json.loads(done.stdout)
    return {c["sec"]: c["state"] for c in report["compare"]}


def handshake(group: SimGroup, name: str) -> dict[str, tuple[bool, int | None]]:
    done = atlas(group, name, "version", "handshake", "--json", program=current(group, name))
    return {r["role"]: (r["ok"], r.get("protocol")) for r in json.loads(done.stdout)}


def test_older_sec_and_newer_pri_sync_then_roll_back(ssh_group: SimGroup, tmp_path: Path) -> None:
    g = ssh_group
    wheels = {
        "0.1.0": build_wheel(tmp_path / "w1", "0.1.0"),
        "0.2.0+test": build_wheel(tmp_path / "w2", "0.2.0+test", protocol=4),
    }
    for name in ("A", "C"):
        for wheel in wheels.values():
            done = atlas(g, name, "version", "install", str(wheel))
            assert done.returncode == 0, done.stderr
    assert atlas(g, "A", "version", "use", "0.2.0+test").returncode == 0
    assert atlas(g, "C", "version", "use", "0.1.0").returncode == 0
    started = atlas(g, "C", "daemon", "start", "--interval", "5", program=current(g, "C"))
    assert started.returncode == 0, started.stderr
    try:
        assert cycle_from_pri(g) == {"SEC1": "equal", "SEC2": "equal"}
        a_sid = g.servers["A"].server(lambda _l: None).sid
        assert a_sid.is_valid("SEC2", 3)  # SEC2's own snapshot, sent back to the PRI
        assert remote_versions(g, "C") == {"0.1.0"}  # SEC2's sessions ran its older build
        assert handshake(g, "A") == {"SEC1": (True, 3), "SEC2": (True, 3)}
        assert handshake(g, "C") == {"PRI": (True, 3)}

        upgraded = atlas(g, "C", "version", "use", "0.2.0+test", "--json")
        assert upgraded.returncode == 0, upgraded.stderr
        steps = {s["what"]: s for s in json.loads(upgraded.stdout)["steps"]}
        assert steps["partners"]["detail"] == "PRI protocol 4" and steps["daemon"]["ok"]
        # SEC2's forced command now runs 0.2.0+test: the PRI's hello agrees on 4 with it
        assert handshake(g, "A") == {"SEC1": (True, 3), "SEC2": (True, 4)}
        assert cycle_from_pri(g) == {"SEC1": "equal", "SEC2": "equal"}
        assert "0.2.0+test" in remote_versions(g, "C")

        back = atlas(g, "C", "version", "rollback", "--json")
        assert back.returncode == 0, back.stderr
        steps = {s["what"]: s for s in json.loads(back.stdout)["steps"]}
        assert steps["partners"]["detail"] == "PRI protocol 3"
        c_esd = EsdData(load(g.servers["C"].config).esd_data)
        assert (links(c_esd).current, links(c_esd).previous) == ("0.1.0", "0.2.0+test")
        assert handshake(g, "A") == {"SEC1": (True, 3), "SEC2": (True, 3)}
        assert cycle_from_pri(g) == {"SEC1": "equal", "SEC2": "equal"}
    finally:
        atlas(g, "C", "daemon", "stop")
