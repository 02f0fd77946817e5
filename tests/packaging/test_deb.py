"""The Debian package (packaging/build-deb): built once from this tree, then inspected,
extracted and run as it would be installed (/opt/atlas-ha, /usr/bin/atlas-ha), in a private
mount namespace so nothing of this machine's /opt or /usr changes."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb is not installed"),
]


def _uv() -> str:
    found = shutil.which("uv") or str(REPO / ".ci/.uv/bin/uv")
    if not os.access(found, os.X_OK):
        pytest.skip("uv is not installed")
    return found


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("deb")
    env = {**os.environ, "UV": _uv()}
    done = subprocess.run(
        ["bash", str(REPO / "packaging/build-deb"), str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    (package,) = out.glob("atlas-ha_*.deb")
    assert (out / f"atlas_ha-{VERSION}-py3-none-any.whl").is_file()  # the wheel, beside it
    return package


@pytest.fixture(scope="module")
def extracted(deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("root")
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return root


def _field(deb: Path, name: str) -> str:
    done = subprocess.run(
        ["dpkg-deb", "--field", str(deb), name], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_control_names_the_version_and_the_python_the_venv_was_built_for(deb: Path) -> None:
    assert deb.name == f"atlas-ha_{VERSION}_{_field(deb, 'Architecture')}.deb"
    assert _field(deb, "Package") == "atlas-ha"
    assert _field(deb, "Version") == VERSION
    minor = subprocess.run(
        ["/usr/bin/python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    depends = [d.strip() for d in _field(deb, "Depends").split(",")]
    assert f"python{minor}" in depends  # the venv's python is /usr/bin/python3.X, not python3
    assert {"rsync", "git", "openssh-client"} <= set(depends)


def test_nothing_below_etc_and_nothing_writable_by_others(deb: Path) -> None:
    listing = subprocess.run(
        ["dpkg-deb", "--contents", str(deb)], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    paths = [line.split()[5] for line in listing]
    assert not [p for p in paths if p.startswith("./etc/")]  # the settings are the admin's
    writable = [line for line in listing if not line.startswith("l") and "w" in (line[5], line[8])]
    assert writable == []
    assert "./opt/atlas-ha/.lock" not in paths  # uv's bookkeeping is not shipped


def test_program_units_manual_completion_and_example_are_where_debian_looks(
    extracted: Path,
) -> None:
    assert os.readlink(extracted / "usr/bin/atlas-ha") == "/opt/atlas-ha/bin/atlas-ha"
    assert os.readlink(extracted / "opt/atlas-ha/bin/python").startswith("/usr/bin/python3.")
    for unit in ("atlas-ha.service", "atlas-ha-identity.service"):
        text = (extracted / "lib/systemd/system" / unit).read_text()
        assert "ExecStart=/usr/bin/atlas-ha " in text, unit
        assert "/usr/local/bin" not in text, unit
    manual = gzip.decompress((extracted / "usr/share/man/man1/atlas-ha.1.gz").read_bytes())
    text = manual.decode()
    assert text.startswith(".TH ATLAS\\-HA")
    for word in ("init", "sync", "status", "daemon", "check", ".SH FILES", "ATLAS_HA_CONFIG"):
        assert word in text, word
    assert "parse, call the library" not in text  # the CLI module's docstring is not shown
    example = extracted / "usr/share/doc/atlas-ha/examples/atlas-ha.toml"
    assert example.read_text() == (REPO / "packaging/atlas-ha.toml.example").read_text()


def test_bash_completes_the_commands(extracted: Path) -> None:
    script = extracted / "usr/share/bash-completion/completions/atlas-ha"
    done = subprocess.run(
        [
            "bash",
            "-c",
            f'source {script}; COMP_WORDS=(atlas-ha sy); COMP_CWORD=1; COMP_LINE="atlas-ha sy";'
            ' COMP_POINT=11; _shtab_atlas_ha atlas-ha sy atlas-ha; echo "${COMPREPLY[@]}"',
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == ["sync"]


@pytest.mark.skipif(os.geteuid() != 0, reason="a private mount namespace needs root")
def test_the_installed_program_runs_from_opt_without_the_build_tree(extracted: Path) -> None:
    """The venv is relocatable: at /opt/atlas-ha (bound there in a private mount namespace,
    this machine's /opt untouched) the console script runs with the package's own libraries
    (the status page's included), not this tree's."""
    inner = (
        "set -e; mount -t tmpfs tmpfs /opt; mkdir /opt/atlas-ha;"
        f" mount --bind {extracted}/opt/atlas-ha /opt/atlas-ha;"
        f" {extracted}/usr/bin/atlas-ha --version;"
        " /opt/atlas-ha/bin/python -c 'import sys, atlas_ha, atlas_ha.report.web.app, uvicorn;"
        " print(sys.prefix, atlas_ha.__file__)';"
        f" {extracted}/usr/bin/atlas-ha daemon units"
    )
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", inner],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root"},
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"atlas-ha {VERSION}"
    prefix, module = lines[1].split()
    assert prefix == "/opt/atlas-ha"
    assert module.startswith("/opt/atlas-ha/lib/python3.")
    assert "[Unit]" in done.stdout
    assert sys.prefix != "/opt/atlas-ha"  # the test itself ran elsewhere
