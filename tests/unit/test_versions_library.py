"""The pieces of side-by-side versions that need no venv (versions/links.py, wheels.py): the
links change atomically and refuse what is not theirs; the stable program the units and
sshd call; which wheel an install takes; a repacked dependency is the installed one or none."""

from __future__ import annotations

import base64
import hashlib
import os
import zipfile
from importlib.metadata import PathDistribution
from pathlib import Path

import pytest

from atlas_ha.daemon.systemd import installed_program, unit_files
from atlas_ha.errors import VersionInstallError, VersionStateError
from atlas_ha.layout.esd import EsdData
from atlas_ha.system import console_script
from atlas_ha.versions import wheels
from atlas_ha.versions.links import links, read_link, restore, set_link, stable_program, switch_to


def test_switch_relinks_atomically_and_restore_undoes(tmp_path: Path) -> None:
    esd = EsdData(tmp_path)
    esd.versions_dir.mkdir()
    for v in ("0.1.0", "0.2.0"):
        esd.version_dir(v).mkdir()
    assert switch_to(esd, "0.1.0").current is None
    before = switch_to(esd, "0.2.0")
    assert (before.current, before.previous) == ("0.1.0", None)
    assert (links(esd).current, links(esd).previous) == ("0.2.0", "0.1.0")
    assert os.readlink(esd.current_version_link) == "0.2.0"  # relative: ESD_DATA may move
    assert sorted(p.name for p in esd.versions_dir.iterdir()) == [
        "0.1.0",
        "0.2.0",
        "current",
        "previous",
    ]  # fmt: skip  (no temporary link left)
    restore(esd, before)
    assert (links(esd).current, links(esd).previous) == ("0.1.0", None)


def test_a_link_that_is_not_ours_is_refused(tmp_path: Path) -> None:
    esd = EsdData(tmp_path)
    esd.current_version_link.mkdir(parents=True)
    with pytest.raises(VersionStateError, match="expected a symlink to a version"):
        read_link(esd.current_version_link)
    os.symlink("../../etc", esd.previous_version_link)
    with pytest.raises(VersionStateError, match="expected a link to a version directory"):
        read_link(esd.previous_version_link)
    with pytest.raises(VersionStateError, match="not a version name"):
        set_link(tmp_path / "bin" / "other", "../x")
    with pytest.raises(Exception, match="not a version name"):
        esd.version_dir("../../etc")


def test_units_and_sshd_call_through_current_once_versions_are_used(tmp_path: Path) -> None:
    esd = EsdData(tmp_path / "esd")
    config = tmp_path / "atlas-ha.toml"
    config.write_text(
        f'name = "s1"\nsystem_root = "/"\nsid_data = "{tmp_path}/sid"\nesd_data = "{esd.root}"\n'
    )
    assert stable_program(esd.root) == console_script()
    assert installed_program(config) == console_script()
    esd.versions_dir.mkdir(parents=True)
    set_link(esd.current_version_link, "0.2.0")
    assert stable_program(esd.root) == esd.root / "bin" / "current" / "bin" / "atlas-ha"
    service = unit_files(installed_program(config), config)["atlas-ha.service"]
    assert f"ExecStart={esd.root}/bin/current/bin/atlas-ha --config {config} daemon run" in service


def _wheel(directory: Path, name: str) -> Path:
    path = directory / name
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x", "y")
    return path


def test_which_wheel_an_install_takes(tmp_path: Path) -> None:
    one = _wheel(tmp_path, "atlas_ha-0.2.0-py3-none-any.whl")
    _wheel(tmp_path, "starlette-1.0-py3-none-any.whl")
    (tmp_path / "wheelhouse").mkdir()
    found = wheels.locate(tmp_path)
    assert found.path == one and found.version == "0.2.0"
    assert found.sources == (tmp_path, tmp_path / "wheelhouse")
    _wheel(tmp_path, "atlas_ha-0.3.0-py3-none-any.whl")
    with pytest.raises(VersionInstallError, match=r"one atlas-ha wheel, found atlas_ha-0\.2\.0"):
        wheels.locate(tmp_path)
    with pytest.raises(VersionInstallError, match="expected an atlas-ha wheel"):
        wheels.locate(tmp_path / "starlette-1.0-py3-none-any.whl")
    fake = tmp_path / "other" / "atlas_ha-0.4.0-py3-none-any.whl"
    fake.parent.mkdir()
    fake.write_text("not a zip")
    with pytest.raises(VersionInstallError, match="not a zip archive"):
        wheels.locate(fake)
    with pytest.raises(VersionInstallError, match="no such wheel or directory"):
        wheels.locate(tmp_path / "missing.whl")


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _installed(site: Path, content: bytes, hashed: bool = True) -> PathDistribution:
    """A distribution `demo` 1.0 installed in `site`: its module and a RECORD written for
    `print(1)` (with the hash of every file, or, not `hashed`, of the module only)."""
    info = site / "demo-1.0.dist-info"
    info.mkdir(parents=True)
    (site / "demo.py").write_bytes(content)
    files = {
        "demo-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n",
        "demo-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nTag: py3-none-any\n",
    }
    for rel, data in files.items():
        (site / rel).write_bytes(data)
    module = _digest(b"print(1)\n")
    record = f"demo.py,sha256={module},9\n"
    for rel, data in files.items():
        record += f"{rel},sha256={_digest(data)},{len(data)}\n" if hashed else f"{rel},,\n"
    (info / "RECORD").write_text(record + "demo-1.0.dist-info/RECORD,,\n")
    return PathDistribution(info)


def test_a_repacked_dependency_is_the_installed_one_or_none(tmp_path: Path) -> None:
    wheel = wheels.repack(_installed(tmp_path / "a", b"print(1)\n"), tmp_path / "out")
    assert wheel.name == "demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as z:
        assert z.read("demo.py") == b"print(1)\n"
        assert "demo-1.0.dist-info/RECORD" in z.namelist()
    changed = _installed(tmp_path / "b", b"print('changed')\n")
    with pytest.raises(VersionInstallError, match=r"demo\.py differs from its RECORD"):
        wheels.repack(changed, tmp_path / "out2")
    unvouched = _installed(tmp_path / "c", b"print(1)\n", hashed=False)
    with pytest.raises(VersionInstallError, match=r"METADATA has no sha256 in its RECORD"):
        wheels.repack(unvouched, tmp_path / "out2")
    assert not list((tmp_path / "out2").glob("*.whl"))
