"""The `current` and `previous` links of the side-by-side versions (SPEC 7.5).

Each link is a relative symlink in ESD_DATA/bin/ naming a version directory beside it
(`current -> 0.2.0`), so ESD_DATA may move as a whole. A link is changed atomically: the
new link is made under a temporary name (`layout.tempnames`) and renamed over the old one,
so whoever follows `current` (systemd, sshd's forced command) finds the old version or the
new one, never none.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from atlas_ha.errors import VersionStateError
from atlas_ha.layout import tempnames
from atlas_ha.layout.atomic import fsync_dir
from atlas_ha.layout.esd import VERSION_RE, EsdData
from atlas_ha.system import console_script


def read_link(link: Path) -> str | None:
    """The version a link names (None: no link). Anything else there is refused."""
    try:
        target = os.readlink(link)
    except FileNotFoundError:
        return None
    except OSError as exc:  # EINVAL: a file or directory where the link belongs
        raise VersionStateError(
            f"{link}: expected a symlink to a version ({exc.strerror})"
        ) from exc
    if not VERSION_RE.match(target):
        raise VersionStateError(
            f"{link} -> {target!r}: expected a link to a version directory beside it"
        )
    return target


def set_link(link: Path, version: str | None) -> None:
    """Point `link` at `version` (None: remove it), atomically (symlink + rename)."""
    if version is None:
        link.unlink(missing_ok=True)
    else:
        if not VERSION_RE.match(version):
            raise VersionStateError(f"{version!r}: not a version name")
        temp = link.with_name(tempnames.temp_name(link.name))
        temp.unlink(missing_ok=True)
        os.symlink(version, temp)
        os.replace(temp, link)
    fsync_dir(link.parent)


@dataclass(frozen=True)
class Links:
    current: str | None
    previous: str | None


def links(esd: EsdData) -> Links:
    return Links(read_link(esd.current_version_link), read_link(esd.previous_version_link))


def switch_to(esd: EsdData, version: str) -> Links:
    """Make `version` current and the current one previous; return the links before.

    `previous` is written first: a kill between the two renames leaves current unchanged
    and previous already naming it (or the old previous), which `rollback` handles."""
    before = links(esd)
    if before.current == version:
        return before
    if before.current is not None:
        set_link(esd.previous_version_link, before.current)
    set_link(esd.current_version_link, version)
    return before


def restore(esd: EsdData, before: Links) -> None:
    """Put both links back as they were (undoing `switch_to`)."""
    set_link(esd.current_version_link, before.current)
    set_link(esd.previous_version_link, before.previous)


def stable_program(esd_root: Path) -> Path:
    """The `atlas-ha` that systemd units and sshd's forced command should call: the `current`
    link's program when side-by-side versions are in use (ESD_DATA/bin/current/bin/atlas-ha,
    not resolved, so a switch needs no rewrite), else the installed console script."""
    esd = EsdData(esd_root)
    if os.path.lexists(esd.current_version_link):
        return esd.current_program
    return console_script()
