"""Wheels for an offline install: the atlas-ha wheel given, and where its dependencies come
from (SPEC 7.5; docs/versions.md).

`version install WHEEL-OR-DIR` takes an atlas-ha wheel, or a directory holding exactly one
(a release directory: the wheel and the wheels of its dependencies beside it, or in a
`wheelhouse/` subdirectory). The dependencies are looked for, never on the network, in

1. the wheel's own directory and its `wheelhouse/` subdirectory;
2. ESD_DATA/bin/wheelhouse: every wheel an earlier install used, and the *running
   version's* own dependencies, repacked from this Python's installed files
   (`repack_running`: each file checked against its RECORD hash; a distribution whose
   files were changed is not repacked, so it is never passed on as if it were the original).

A dependency found in none of them is an error naming it (versions/install.py).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import sys
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from atlas_ha.errors import VersionInstallError
from atlas_ha.layout import tempnames

# {distribution}-{version}(-{build})?-{python}-{abi}-{platform}.whl (PEP 427)
WHEEL_RE = re.compile(
    r"^(?P<name>[A-Za-z0-9_.]+)-(?P<version>[A-Za-z0-9_.!+]+)(-[0-9][A-Za-z0-9_.]*)?"
    r"-[A-Za-z0-9_.]+-[A-Za-z0-9_.]+-[A-Za-z0-9_.]+\.whl$"
)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*")
PROJECT = "atlas-ha"
# files of an installed dist-info that belong to the installation, not to the wheel
INSTALLER_FILES = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json", "uv_cache.json"}


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Wheel:
    path: Path
    version: str
    sources: tuple[Path, ...]  # directories that may hold its dependencies


def locate(given: Path) -> Wheel:
    """The atlas-ha wheel `given` names (a .whl, or a directory holding exactly one)."""
    if given.is_dir():
        found = sorted(p for p in given.glob("*.whl") if _project(p) == PROJECT)
        if len(found) != 1:
            names = ", ".join(p.name for p in found) or "none"
            raise VersionInstallError(
                f"{given}: expected a directory holding one atlas-ha wheel, found {names}"
            )
        path = found[0]
    elif given.is_file():
        path = given
    else:
        raise VersionInstallError(f"{given}: no such wheel or directory")
    match = WHEEL_RE.match(path.name)
    if not match or normalise(match["name"]) != PROJECT:
        raise VersionInstallError(
            f"{path}: expected an atlas-ha wheel (atlas_ha-VERSION-py3-none-any.whl)"
        )
    if not zipfile.is_zipfile(path):
        raise VersionInstallError(f"{path}: not a wheel (not a zip archive)")
    sources = [path.parent, path.parent / "wheelhouse"]
    return Wheel(path, match["version"], tuple(s for s in sources if s.is_dir()))


def _project(path: Path) -> str | None:
    match = WHEEL_RE.match(path.name)
    return normalise(match["name"]) if match else None


def running_extras() -> list[str]:
    """The extras of the running atlas-ha whose requirements are all installed here (a
    version installed beside it gets the same ones, e.g. `smb`)."""
    try:
        dist = metadata.distribution(PROJECT)
    except metadata.PackageNotFoundError:
        return []
    extras = []
    for extra in dist.metadata.get_all("Provides-Extra") or []:
        needs = [r for r in dist.requires or [] if re.search(rf"extra\s*==\s*['\"]{extra}['\"]", r)]
        if needs and all(_installed(_req_name(r)) for r in needs):
            extras.append(extra)
    return extras


def _req_name(requirement: str) -> str:
    match = NAME_RE.match(requirement.strip())
    return normalise(match.group(0)) if match else ""


def _installed(name: str) -> metadata.Distribution | None:
    try:
        return metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None


def running_closure(extras: list[str]) -> list[metadata.Distribution]:
    """The installed distributions the running atlas-ha needs (with `extras`), atlas-ha
    itself excepted: requirements whose markers name an extra count only for those."""
    root = _installed(PROJECT)
    if root is None:
        return []
    seen: dict[str, metadata.Distribution] = {}
    todo = [(root, extras)]
    while todo:
        dist, wanted = todo.pop()
        for req in dist.requires or []:
            extra = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", req)
            if extra and extra.group(1) not in wanted:
                continue
            name = _req_name(req)
            found = _installed(name)
            if found is None or name in seen or name == PROJECT:
                continue  # a marker excluded it here (not installed), or seen already
            seen[name] = found
            todo.append((found, []))
    return list(seen.values())


def repack_running(dest: Path, extras: list[str]) -> list[str]:
    """Write a wheel of each distribution the running atlas-ha needs into `dest`, unless one
    of that name and version is there; return what was left out and why."""
    dest.mkdir(parents=True, exist_ok=True)
    have = {_dist_key(p.name) for p in dest.glob("*.whl")}
    skipped = []
    for dist in running_closure(extras):
        key = (normalise(dist.metadata["Name"]), dist.version)
        if key in have:
            continue
        try:
            repack(dist, dest)
        except VersionInstallError as exc:
            skipped.append(str(exc))
    return skipped


def _dist_key(filename: str) -> tuple[str, str] | None:
    match = WHEEL_RE.match(filename)
    return (normalise(match["name"]), match["version"]) if match else None


def repack(dist: metadata.Distribution, dest: Path) -> Path:
    """One installed distribution as a wheel again (its files checked against RECORD)."""
    name = dist.metadata["Name"]
    files = dist.files or []
    info = next((f for f in files if f.parts[0].endswith(".dist-info")), None)
    if info is None:
        raise VersionInstallError(f"{name}: installed without a RECORD: cannot be repacked")
    info_dir = info.parts[0]
    wheel_meta = dist.read_text("WHEEL")
    if not wheel_meta:
        raise VersionInstallError(f"{name}: installed without a WHEEL file: cannot be repacked")
    scripts = {
        ep.name for ep in dist.entry_points if ep.group in ("console_scripts", "gui_scripts")
    }
    site = Path(str(dist.locate_file(""))).resolve()
    prefix = Path(sys.prefix).resolve()
    entries: list[tuple[str, bytes]] = []
    for f in files:
        source = Path(str(dist.locate_file(f))).resolve()
        arcname = _arcname(f.parts, source, site, prefix, info_dir, scripts)
        if arcname is None:
            continue
        data = source.read_bytes()
        if f.hash is None or f.hash.mode != "sha256":
            raise VersionInstallError(
                f"{name} {dist.version}: {source} has no sha256 in its RECORD: not repacked"
            )
        if _digest(data) != f.hash.value:
            raise VersionInstallError(
                f"{name} {dist.version}: {source} differs from its RECORD: not repacked"
            )
        entries.append((arcname, data))
    return _write_wheel(dest, name, dist.version, info_dir, wheel_meta, entries)


def _arcname(
    parts: tuple[str, ...],
    source: Path,
    site: Path,
    prefix: Path,
    info_dir: str,
    scripts: set[str],
) -> str | None:
    """Where an installed file goes in the wheel (None: regenerated by the installer)."""
    if "__pycache__" in parts or parts[-1].endswith(".pyc"):
        return None
    if parts[0] == info_dir and len(parts) == 2 and parts[1] in INSTALLER_FILES:
        return None
    if source.is_relative_to(site):
        return source.relative_to(site).as_posix()
    stem = info_dir.removesuffix(".dist-info")
    if source.parent == prefix / "bin":
        return None if source.name in scripts else f"{stem}.data/scripts/{source.name}"
    if source.is_relative_to(prefix):
        return f"{stem}.data/data/{source.relative_to(prefix).as_posix()}"
    return None


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _tags(wheel_meta: str) -> str:
    """The compressed tag triple of a WHEEL file's Tag lines (`py3-none-any`)."""
    triples = [
        line.split(":", 1)[1].strip().split("-")
        for line in wheel_meta.splitlines()
        if line.startswith("Tag:")
    ]
    if not triples or any(len(t) != 3 for t in triples):
        return "py3-none-any"
    return "-".join(".".join(dict.fromkeys(t[i] for t in triples)) for i in range(3))


def _write_wheel(
    dest: Path,
    name: str,
    version: str,
    info_dir: str,
    wheel_meta: str,
    entries: list[tuple[str, bytes]],
) -> Path:
    filename = f"{re.sub(r'[-_.]+', '_', name)}-{version}-{_tags(wheel_meta)}.whl"
    if f"{info_dir}/WHEEL" not in {arc for arc, _d in entries}:
        entries.append((f"{info_dir}/WHEEL", wheel_meta.encode()))
    record = "".join(f"{arc},sha256={_digest(data)},{len(data)}\n" for arc, data in entries)
    record += f"{info_dir}/RECORD,,\n"
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / filename
    temp = dest / tempnames.temp_name(filename)
    with zipfile.ZipFile(temp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for arc, data in entries:
            archive.writestr(arc, data)
        archive.writestr(f"{info_dir}/RECORD", record)
    os.chmod(temp, 0o644)
    os.replace(temp, target)
    return target
