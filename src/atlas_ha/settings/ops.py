"""[logs], [limits], [crashes]: the run wrapper, start handler and crash handler (ops/,
docs/operating.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from atlas_ha.errors import SettingsError
from atlas_ha.settings.tables import table as _table

# --- operations: [logs], [limits], [crashes] (ops/; docs/operating.md) ---

DESTINATIONS = ("console", "file", "both", "none")


@dataclass(frozen=True)
class LogSettings:
    destination: str = "both"
    remote_destination: str = "both"
    daily: tuple[str, ...] = ("daemon-run", "verify-round")
    keep_files: int = 1000
    keep_mb: int = 500
    min_free_mb: int = 64


@dataclass(frozen=True)
class Limits:
    sid_min_free_mb: int = 32
    esd_min_free_mb: int = 16
    root_min_free_mb: int = 16
    min_available_memory_mb: int = 32
    max_load_per_cpu: float = 8.0
    single_instance: tuple[str, ...] = ("daemon-run", "sync-cycle", "boot")


@dataclass(frozen=True)
class CrashSettings:
    core_dir: Path | None = None
    coredumpctl: str = "auto"
    max_core_mb: int = 512
    remove_cores: bool = True


def _count(table: dict[str, object], key: str, default: int, path: Path, name: str) -> int:
    value = table.get(key, default)
    if type(value) is not int or value < 0:
        raise SettingsError(f"{path}: [{name}] {key} = a non-negative integer, got {value!r}")
    return value


def _names(
    table: dict[str, object], key: str, default: tuple[str, ...], path: Path, name: str
) -> tuple[str, ...]:
    value = table.get(key, list(default))
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise SettingsError(f"{path}: [{name}] {key} = a list of program names, got {value!r}")
    return tuple(value)


def _choice(
    table: dict[str, object],
    key: str,
    default: str,
    choices: tuple[str, ...],
    path: Path,
    name: str,
) -> str:
    value = table.get(key, default)
    if value not in choices:
        raise SettingsError(f"{path}: [{name}] {key} = one of {list(choices)}, got {value!r}")
    return str(value)


def _logs(raw: object, path: Path) -> LogSettings:
    d = LogSettings()
    t = _table(
        raw,
        path,
        "logs",
        {"destination", "remote_destination", "daily", "keep_files", "keep_mb", "min_free_mb"},
    )
    return LogSettings(
        destination=_choice(t, "destination", d.destination, DESTINATIONS, path, "logs"),
        remote_destination=_choice(
            t, "remote_destination", d.remote_destination, DESTINATIONS, path, "logs"
        ),
        daily=_names(t, "daily", d.daily, path, "logs"),
        keep_files=_count(t, "keep_files", d.keep_files, path, "logs"),
        keep_mb=_count(t, "keep_mb", d.keep_mb, path, "logs"),
        min_free_mb=_count(t, "min_free_mb", d.min_free_mb, path, "logs"),
    )


def _limits(raw: object, path: Path) -> Limits:
    d = Limits()
    keys = {
        "sid_min_free_mb",
        "esd_min_free_mb",
        "root_min_free_mb",
        "min_available_memory_mb",
        "max_load_per_cpu",
        "single_instance",
    }
    t = _table(raw, path, "limits", keys)
    load = t.get("max_load_per_cpu", d.max_load_per_cpu)
    if type(load) not in (int, float) or not 0 < float(load) < 1e6:  # type: ignore[arg-type]
        raise SettingsError(f"{path}: [limits] max_load_per_cpu = a positive number, got {load!r}")
    return Limits(
        sid_min_free_mb=_count(t, "sid_min_free_mb", d.sid_min_free_mb, path, "limits"),
        esd_min_free_mb=_count(t, "esd_min_free_mb", d.esd_min_free_mb, path, "limits"),
        root_min_free_mb=_count(t, "root_min_free_mb", d.root_min_free_mb, path, "limits"),
        min_available_memory_mb=_count(
            t, "min_available_memory_mb", d.min_available_memory_mb, path, "limits"
        ),
        max_load_per_cpu=float(load),  # type: ignore[arg-type]
        single_instance=_names(t, "single_instance", d.single_instance, path, "limits"),
    )


def _crashes(raw: object, path: Path, base: Path) -> CrashSettings:
    d = CrashSettings()
    t = _table(raw, path, "crashes", {"core_dir", "coredumpctl", "max_core_mb", "remove_cores"})
    core_dir = t.get("core_dir")
    if core_dir is not None and (not isinstance(core_dir, str) or not core_dir):
        raise SettingsError(f"{path}: [crashes] core_dir = a directory path, got {core_dir!r}")
    remove = t.get("remove_cores", d.remove_cores)
    if not isinstance(remove, bool):
        raise SettingsError(f"{path}: [crashes] remove_cores = true or false, got {remove!r}")
    return CrashSettings(
        core_dir=(base / core_dir).resolve() if isinstance(core_dir, str) else None,
        coredumpctl=_choice(
            t, "coredumpctl", d.coredumpctl, ("auto", "yes", "no"), path, "crashes"
        ),
        max_core_mb=_count(t, "max_core_mb", d.max_core_mb, path, "crashes"),
        remove_cores=remove,
    )
