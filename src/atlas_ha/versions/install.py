"""`atlas-ha version install|list`: one venv per version under ESD_DATA/bin/<version>/.

An install builds the venv with uv under a temporary name beside the others
(`.<version>.atlas-tmp.<pid>`), offline (`--offline --no-index`, only `--find-links` to
the directories of `versions.wheels`; `--no-build`: wheels only, nothing compiled), checks
that its `atlas-ha --version` names the version of the wheel, records what it installed,
and only then renames it to its version's name: a version is there whole or not at all.
The venv is relocatable (uv's `--relocatable`: its programs find their Python relative to
their own real path), so moving or rebuilding one does not leave programs pointing at an old
path. The wheels it used are kept in ESD_DATA/bin/wheelhouse for later installs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atlas_ha.errors import AtlasError, VersionInstallError, VersionStateError
from atlas_ha.layout import tempnames
from atlas_ha.layout.atomic import atomic_write, locked, read_text_or_none
from atlas_ha.layout.esd import VERSION_RE, EsdData
from atlas_ha.system import Runner
from atlas_ha.versions import wheels
from atlas_ha.versions.links import links

UV_ENV_DROPPED = ("UV_INDEX", "UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_DEFAULT_INDEX")
MISSING_RE = re.compile(r"Because (?P<name>[A-Za-z0-9._-]+)\S* was not found")
DEPENDS_RE = re.compile(r"depends on (?P<req>[A-Za-z0-9._-]+[^,\s]*)")
UV_TIMEOUT = 300.0


def find_uv(given: Path | None = None) -> Path:
    """uv: `given`, else $ATLAS_HA_UV, else on PATH, else beside this Python."""
    candidates = [given] if given else []
    if os.environ.get("ATLAS_HA_UV"):
        candidates.append(Path(os.environ["ATLAS_HA_UV"]))
    if not candidates:
        found = shutil.which("uv")
        candidates += [Path(found)] if found else []
        candidates.append(Path(sys.executable).parent / "uv")
    for uv in candidates:
        if uv.is_file() and os.access(uv, os.X_OK):
            return uv
    shown = ", ".join(str(c) for c in candidates) or "PATH"
    raise VersionInstallError(f"uv not found ({shown}): install uv, or name it with --uv PATH")


@dataclass(frozen=True)
class Installed:
    version: str
    directory: Path
    wheel: Path
    dependencies: list[str]
    seconds: float
    skipped: list[str]  # running distributions that could not be repacked (and why)


def install(
    esd: EsdData,
    given: Path,
    runner: Runner,
    uv: Path | None = None,
    replace: bool = False,
    python: Path | None = None,
) -> Installed:
    """Install the atlas-ha wheel `given` (or the one in directory `given`) as a version."""
    started = time.monotonic()
    wheel = wheels.locate(given)
    uv = find_uv(uv)
    target = esd.version_dir(wheel.version)
    esd.versions_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
    with locked(esd.versions_lock_file):
        if target.exists() and not replace:
            raise VersionInstallError(
                f"{target}: version {wheel.version} is installed already (--replace rebuilds it)"
            )
        if target.exists() and wheel.version in (links(esd).current, links(esd).previous):
            raise VersionInstallError(
                f"{target}: version {wheel.version} is current or previous: switch away first"
            )
        extras = wheels.running_extras()
        skipped = wheels.repack_running(esd.version_wheelhouse, extras)
        temp = esd.versions_dir / tempnames.temp_name(wheel.version)
        shutil.rmtree(temp, ignore_errors=True)
        try:
            deps = _build(runner, uv, temp, wheel, esd.version_wheelhouse, extras, python)
            _check_program(runner, temp / "bin" / "atlas-ha", wheel)
            _keep_wheels(wheel, deps, esd.version_wheelhouse)
            record = {
                "version": wheel.version,
                "wheel": wheel.path.name,
                "sha256": hashlib.sha256(wheel.path.read_bytes()).hexdigest(),
                "extras": extras,
                "dependencies": deps,
                "installed": time.time(),
                "python": str(python or sys.executable),
            }
            atomic_write(temp / esd.version_record_file(wheel.version).name, _json(record))
            if target.exists():  # --replace of a version no link names
                old = esd.versions_dir / tempnames.temp_name(f"{wheel.version}.old")
                os.replace(target, old)
                shutil.rmtree(old)
            os.replace(temp, target)
        finally:
            shutil.rmtree(temp, ignore_errors=True)
    return Installed(wheel.version, target, wheel.path, deps, time.monotonic() - started, skipped)


def _build(
    runner: Runner,
    uv: Path,
    venv: Path,
    wheel: wheels.Wheel,
    wheelhouse: Path,
    extras: list[str],
    python: Path | None,
) -> list[str]:
    """Create the venv and install the wheel into it offline; the dependencies installed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(UV_ENV_DROPPED)}
    common = ["--offline", "--no-config", "--quiet"]
    interpreter = str(python or sys.executable)
    made = runner.run(
        [str(uv), "venv", "--relocatable", "--python", interpreter, *common, str(venv)],
        check=False,
        env=env,
        timeout=UV_TIMEOUT,
    )
    if made.returncode != 0:
        raise VersionInstallError(f"uv venv {venv}: {_tail(made.stderr or made.stdout)}")
    links_args = [a for s in (*wheel.sources, wheelhouse) for a in ("--find-links", str(s))]
    requirement = f"{wheel.path}[{','.join(extras)}]" if extras else str(wheel.path)
    done = runner.run(
        [
            str(uv), "pip", "install", "--python", str(venv / "bin" / "python"),
            "--no-index", "--no-build", *links_args, *common, requirement,
        ],
        check=False,
        env=env,
        timeout=UV_TIMEOUT,
    )  # fmt: skip
    if done.returncode != 0:
        raise _install_error(wheel, done.stderr or done.stdout, [*wheel.sources, wheelhouse])
    frozen = runner.run(
        [str(uv), "pip", "freeze", "--python", str(venv / "bin" / "python"), *common],
        check=False,
        env=env,
        timeout=UV_TIMEOUT,
    )
    return sorted(
        line.strip()
        for line in frozen.stdout.splitlines()
        if line.strip() and wheels.normalise(line.split("=")[0].split(" ")[0]) != wheels.PROJECT
    )


def _install_error(wheel: wheels.Wheel, said: str, sources: list[Path]) -> VersionInstallError:
    where = ", ".join(str(s) for s in sources)
    missing = MISSING_RE.search(said)
    if missing:
        req = DEPENDS_RE.search(said[missing.end() :])
        needed = req["req"] if req else missing["name"]
        return VersionInstallError(
            f"{wheel.path.name}: dependency {needed} not found offline (looked in {where}); "
            f"put its wheel beside the atlas-ha wheel or in its wheelhouse/"
        )
    return VersionInstallError(f"{wheel.path.name}: uv could not install it: {_tail(said)}")


def _check_program(runner: Runner, program: Path, wheel: wheels.Wheel) -> None:
    try:
        said = runner.run([str(program), "--version"], check=False, timeout=60)
    except AtlasError as exc:
        raise VersionInstallError(f"{program}: does not run: {exc}") from exc
    expected = f"atlas-ha {wheel.version}"
    if said.returncode != 0 or said.stdout.strip() != expected:
        raise VersionInstallError(
            f"{program} --version says {(said.stdout or said.stderr).strip()[:80]!r}, "
            f"expected {expected!r} (the wheel {wheel.path.name})"
        )


def _keep_wheels(wheel: wheels.Wheel, deps: list[str], wheelhouse: Path) -> None:
    """Copy the dependency wheels found beside the given wheel into the wheelhouse."""
    wanted = {wheels.normalise(d.split("==")[0]) for d in deps}
    for source in wheel.sources:
        for path in source.glob("*.whl"):
            match = wheels.WHEEL_RE.match(path.name)
            kept = wheelhouse / path.name
            if match and wheels.normalise(match["name"]) in wanted and not kept.exists():
                atomic_write(kept, path.read_bytes(), mode=0o644)


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def _tail(text: str) -> str:
    return " / ".join(text.strip().splitlines()[-3:]) or "no message"


@dataclass(frozen=True)
class VersionInfo:
    version: str
    directory: Path
    current: bool
    previous: bool
    record: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "directory": str(self.directory),
            "current": self.current,
            "previous": self.previous,
            "wheel": self.record.get("wheel"),
            "installed": self.record.get("installed"),
        }


def installed_versions(esd: EsdData) -> list[VersionInfo]:
    """Every installed version (directories of ESD_DATA/bin with their program), oldest
    install first; `current` and `previous` marked."""
    if not esd.versions_dir.is_dir():
        return []
    state = links(esd)
    found = []
    for entry in esd.versions_dir.iterdir():
        if entry.is_symlink() or not VERSION_RE.match(entry.name) or not entry.is_dir():
            continue
        text = read_text_or_none(esd.version_record_file(entry.name))
        try:
            record = json.loads(text) if text else {}
        except ValueError:
            record = {}
        found.append(
            VersionInfo(
                entry.name,
                entry,
                entry.name == state.current,
                entry.name == state.previous,
                record if isinstance(record, dict) else {},
            )
        )
    return sorted(found, key=lambda v: (float(v.record.get("installed") or 0), v.version))


def require_installed(esd: EsdData, version: str) -> Path:
    """The program of an installed version, or VersionStateError naming the installed ones."""
    program = esd.version_program(version)
    if not os.access(program, os.X_OK):
        known = ", ".join(v.version for v in installed_versions(esd)) or "none"
        raise VersionStateError(
            f"{esd.version_dir(version)}: version {version} is not installed (installed: {known})"
        )
    return program
