"""`atlas-ha daemon units`: the systemd units atlas-ha ships (atlas_ha/daemon/units/).

The shipped texts name the default program `/usr/local/bin/atlas-ha` and settings
`/etc/atlas-ha/atlas-ha.toml`; :func:`unit_files` with `program`/`config` writes the ones
of this installation instead (`installed_program`: ESD_DATA/bin/current/bin/atlas-ha when
side-by-side versions are in use, else the console script beside this Python; the `--config`
given),
quoted for systemd, with the settings passed as `--config` when they are not the default.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from atlas_ha.errors import SettingsError
from atlas_ha.layout.atomic import atomic_write
from atlas_ha.settings import DEFAULT_PATH, load
from atlas_ha.system import console_script
from atlas_ha.versions.links import stable_program

SHIPPED_PROGRAM = "/usr/local/bin/atlas-ha"


def _systemd_path(path: Path) -> str:
    text = str(path)
    if not path.is_absolute() or any(c.isspace() or c in "\"'%$;" for c in text):
        raise SettingsError(
            f"{text}: a unit can name only an absolute path without blanks, quotes, %, $ or ;"
        )
    return text


def unit_files(program: Path | None = None, config: Path | None = None) -> dict[str, str]:
    """Every unit's file name and text, by name: as shipped, or for `program` and `config`."""
    units = resources.files("atlas_ha.daemon").joinpath("units")
    found = {u.name: u.read_text() for u in sorted(units.iterdir(), key=lambda u: u.name)}
    if program is None and config is None:
        return found
    exe = _systemd_path(program) if program else SHIPPED_PROGRAM
    settings = _systemd_path(config) if config else str(DEFAULT_PATH)
    option = f" --config {settings}" if settings != str(DEFAULT_PATH) else ""
    return {
        name: text.replace(f"ExecStart={SHIPPED_PROGRAM} ", f"ExecStart={exe}{option} ").replace(
            f"ConditionPathExists={DEFAULT_PATH}", f"ConditionPathExists={settings}"
        )
        for name, text in found.items()
    }


def installed_program(config: Path) -> Path:
    """The program the units start: through ESD_DATA/bin/current when side-by-side versions
    are in use (`version use` then needs no new units), else the installed console script."""
    try:
        return stable_program(load(config).esd_data)
    except SettingsError:
        return console_script()


def write_units(
    directory: Path, program: Path | None = None, config: Path | None = None
) -> list[Path]:
    """Write every unit into `directory` (atomically, mode 0644): the files written."""
    written = []
    for name, text in unit_files(program, config).items():
        atomic_write(directory / name, text, mode=0o644)
        written.append(directory / name)
    return written
