"""Side-by-side versions (SPEC 7.5, docs/versions.md): offline install from a wheel, the
`current`/`previous` links, `use` with its verification and its own rollback, `rollback`;
and the stable forced command (issue 15 item 5): partners keep working when a version's
venv is moved or rebuilt. Real wheels of this tree (tests/builds.py), real uv, real venvs."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from tests.builds import build_wheel, uv_program

from atlas_ha.errors import VersionInstallError
from atlas_ha.lab.group import SimGroup
from atlas_ha.layout.esd import EsdData
from atlas_ha.settings import load
from atlas_ha.system import Runner
from atlas_ha.transport.rolekeys import PublicKey, forced_line
from atlas_ha.transport.sshd_dropin import sshd_dropin
from atlas_ha.versions.install import install, installed_versions
from atlas_ha.versions.links import links, set_link

pytestmark = pytest.mark.slow
BROKEN = {"daemon/control.py": ("    claim(server)\n", "    raise SystemExit('broken build')\n")}


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("wheels")
    return {
        "0.1.0": build_wheel(out / "a", "0.1.0"),
        "0.2.0+test": build_wheel(out / "b", "0.2.0+test", protocol=4),
        "0.3.0+broken": build_wheel(out / "c", "0.3.0+broken", patches=BROKEN),
    }


@pytest.fixture
def pair(tmp_path: Path) -> SimGroup:
    group = SimGroup(tmp_path / "g")
    group.build({"A": (2, "PRI"), "B": (1, "SEC1")})
    for name in group.servers:
        group.boot(name)
    return group


def cli(
    config: Path, *args: str, program: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    argv = [*(program or [sys.executable, "-m", "atlas_ha"]), "--config", str(config), *args]
    env = {**os.environ, "ATLAS_HA_UV": str(uv_program())}
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False, env=env)


def esd_of(group: SimGroup, name: str) -> EsdData:
    return EsdData(load(group.servers[name].config).esd_data)


def test_install_is_offline_whole_and_listed(pair: SimGroup, wheels: dict[str, Path]) -> None:
    esd = esd_of(pair, "B")
    done = install(esd, wheels["0.1.0"].parent, Runner(), uv=uv_program())  # a directory
    assert done.version == "0.1.0" and done.directory == esd.version_dir("0.1.0")
    said = subprocess.run(
        [str(esd.version_program("0.1.0")), "--version"], capture_output=True, text=True
    )
    assert said.stdout.strip() == "atlas-ha 0.1.0"
    # the running version's dependencies were repacked into the wheelhouse, checked
    assert any(p.name.startswith("starlette-") for p in esd.version_wheelhouse.glob("*.whl"))
    assert [v.version for v in installed_versions(esd)] == ["0.1.0"]
    again = cli(pair.servers["B"].config, "version", "install", str(wheels["0.1.0"]))
    assert again.returncode == 63 and "installed already" in again.stderr
    assert sorted(p.name for p in esd.versions_dir.iterdir()) == [
        ".versions.lock", "0.1.0", "wheelhouse"
    ]  # fmt: skip


def test_a_missing_dependency_is_named_and_nothing_is_left(pair: SimGroup, tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "w", "0.1.1", dependencies=["frobnicate-nowhere>=1.2"])
    esd = esd_of(pair, "B")
    with pytest.raises(
        VersionInstallError, match=r"dependency frobnicate-nowhere>=1\.2 not found offline"
    ):
        install(esd, wheel, Runner(), uv=uv_program())
    assert not esd.version_dir("0.1.1").exists()
    assert [p.name for p in esd.versions_dir.iterdir() if p.name.startswith(".0.1.1")] == []


def test_use_verifies_and_rollback_swaps(pair: SimGroup, wheels: dict[str, Path]) -> None:
    config, esd = pair.servers["B"].config, esd_of(pair, "B")
    for v in ("0.1.0", "0.2.0+test"):
        assert cli(config, "version", "install", str(wheels[v])).returncode == 0
    assert cli(config, "daemon", "start", "--interval", "1").returncode == 0
    try:
        out = cli(config, "version", "use", "0.1.0", "--json")
        assert out.returncode == 0, out.stderr
        report = json.loads(out.stdout)
        assert report["old"] is None and report["daemon"] == "restarted"
        assert [s["what"] for s in report["steps"]] == [
            "program",
            "daemon",
            "verifier round",
            "partners",
        ]
        assert _daemon_runs_from(esd, "0.1.0")
        out = cli(config, "version", "use", "0.2.0+test", "--json")
        assert out.returncode == 0, out.stderr
        partners = json.loads(out.stdout)["steps"][-1]["detail"]
        assert "PRI protocol" in partners
        assert (links(esd).current, links(esd).previous) == ("0.2.0+test", "0.1.0")
        assert _daemon_runs_from(esd, "0.2.0+test")
        out = cli(config, "version", "rollback")
        assert out.returncode == 0, out.stderr
        assert (links(esd).current, links(esd).previous) == ("0.1.0", "0.2.0+test")
        assert _daemon_runs_from(esd, "0.1.0")
        listed = json.loads(cli(config, "version", "list", "--json").stdout)
        assert {v["version"]: v["current"] for v in listed} == {"0.1.0": True, "0.2.0+test": False}
    finally:
        cli(config, "daemon", "stop")


def test_a_failing_version_is_rolled_back_by_itself(
    pair: SimGroup, wheels: dict[str, Path]
) -> None:
    config, esd = pair.servers["B"].config, esd_of(pair, "B")
    for v in ("0.1.0", "0.3.0+broken"):
        assert cli(config, "version", "install", str(wheels[v])).returncode == 0
    assert cli(config, "version", "use", "0.1.0").returncode == 0
    assert cli(config, "daemon", "start", "--interval", "1").returncode == 0
    try:
        out = cli(config, "version", "use", "0.3.0+broken")
        assert out.returncode == 65, out.stderr
        assert "the daemon did not start" in out.stderr and "rolled back to 0.1.0" in out.stderr
        assert (links(esd).current, links(esd).previous) == ("0.1.0", None)
        assert _daemon_runs_from(esd, "0.1.0")  # the old version runs again
        nothing = cli(config, "version", "rollback")
        assert nothing.returncode == 64 and "no previous version" in nothing.stderr
    finally:
        cli(config, "daemon", "stop")


def _daemon_runs_from(esd: EsdData, version: str) -> bool:
    pid = int(esd.daemon_pid_file.read_text())
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode()
    return f"/bin/{version}/bin/python" in argv


def test_forced_command_survives_a_moved_venv(pair: SimGroup, wheels: dict[str, Path]) -> None:
    """sshd runs the authorized_keys line's command with `sh -c` under the drop-in's PATH:
    through ESD_DATA/bin/current it still runs after the version's venv moved (a rebuild
    elsewhere), because the venv is relocatable and nothing names the venv's Python."""
    settings = load(pair.servers["B"].config)
    esd = EsdData(settings.esd_data)
    install(esd, wheels["0.1.0"], Runner(), uv=uv_program())
    set_link(esd.current_version_link, "0.1.0")
    key = PublicKey("ssh-ed25519", "AAAAC3NzaC1lZDI1NTE5AAAAIB" + "A" * 42, "t")
    command = forced_line("PRI", "127.0.0.1", key).split('"')[1]
    assert command == "atlas-ha ssh-command --role PRI"  # names no path of any venv
    dropin = sshd_dropin(settings)
    assert f"PATH={esd.current_version_link}/bin:" in dropin
    path = next(w for w in shlex.split(dropin.split("SetEnv ", 1)[1]) if w.startswith("PATH="))

    def forced() -> dict[str, object]:
        env = {
            "PATH": path[5:],
            "ATLAS_HA_CONFIG": str(settings.config_file),
            "SSH_CLIENT": "127.0.0.1 40000 22",
            "SSH_ORIGINAL_COMMAND": "atlas-ha serve",
        }
        done = subprocess.run(
            ["/bin/sh", "-c", command], input='{"op": "role"}\n', env=env,
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        answer: dict[str, object] = json.loads(done.stdout.splitlines()[0])
        return answer

    assert forced()["role"] == "SEC1"
    os.rename(esd.version_dir("0.1.0"), esd.versions_dir / "0.1.0-moved")
    set_link(esd.current_version_link, "0.1.0-moved")
    assert forced()["role"] == "SEC1"  # the same line, the same drop-in
