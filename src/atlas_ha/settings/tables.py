"""The one check every settings section starts with: a TOML table holding only known keys."""

from __future__ import annotations

from pathlib import Path

from atlas_ha.errors import SettingsError


def table(raw: object, path: Path, name: str, keys: set[str] | frozenset[str]) -> dict[str, object]:
    """`raw` as the table `[name]` of `path`, refused unless every key is one of `keys`."""
    if not isinstance(raw, dict):
        raise SettingsError(f"{path}: [{name}] must be a table")
    unknown = set(raw) - set(keys)
    if unknown:
        raise SettingsError(
            f"{path}: [{name}] unknown keys {sorted(unknown)}; expected {sorted(keys)}"
        )
    return raw
