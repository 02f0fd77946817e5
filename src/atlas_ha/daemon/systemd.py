"""`atlas-ha daemon units`: the systemd units atlas-ha ships (atlas_ha/daemon/units/)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from atlas_ha.layout.atomic import atomic_write


def unit_files() -> dict[str, str]:
    """Every unit's file name and text, by name."""
    units = resources.files("atlas_ha.daemon").joinpath("units")
    return {u.name: u.read_text() for u in sorted(units.iterdir(), key=lambda u: u.name)}


def write_units(directory: Path) -> list[Path]:
    """Write every unit into `directory` (atomically, mode 0644): the files written."""
    written = []
    for name, text in unit_files().items():
        atomic_write(directory / name, text, mode=0o644)
        written.append(directory / name)
    return written
