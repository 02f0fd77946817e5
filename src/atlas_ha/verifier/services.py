"""The services file (SPEC 6): itself synced, the same on every server of a group.

It lives at SERVICES_PATH inside the system root and is environment-neutral: where a service's
configuration lives in each EnvVersion is the verifier kind's knowledge, not the file's::

    [defaults]
    interval = 60                      # seconds between two checks of a service
    timeout = 10                       # a check that takes longer is CRITICAL ("timed out")

    [service.web]
    kind = "http"                      # the verifier (entry point in "atlas_ha.verifiers")
    install = "/usr/sbin/nginx"        # where the service is installed (optional)
    configs = ["/etc/nginx/sites-enabled"]  # optional: else the kind finds them per environment
    reload = ["/usr/sbin/nginx", "-s", "reload"]  # optional argv; {root} = the system root
    validate = "nginx -t -c {root}/etc/nginx/nginx.conf"  # optional: the service's own checker
    package = "nginx"                  # optional: its package (environment fingerprint)
    version = "nginx -v"               # optional: a command printing its version instead
    interval = 30
    timeout = 5
    targets = "partners"               # partners | self | all (default: the kind's own)
    [service.web.thresholds]
    time = [0.5, 2.0]                  # measured label = [slow, unacceptable]
    [service.web.options]              # kind-specific settings
    port = 80

    [results]                          # optional: VerifierResults retention on every server
    keep_days = 30                     # rows older than this are deleted
    keep_rows = 1000                   # and all but the newest N of each check

Errors name the file, the line where TOML can tell it, and what was expected.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atlas_ha.errors import FormatError
from atlas_ha.model import toml_line
from atlas_ha.verifier.profile import Threshold

SERVICES_PATH = "/etc/atlas-ha/services.toml"
# the alert rules (report/alerts/rules.py): synced with the services file by the same list
ALERT_RULES_PATH = "/etc/atlas-ha/alerts.toml"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
TARGETS = ("partners", "self", "all")
SERVICE_KEYS = {
    "kind",
    "install",
    "configs",
    "reload",
    "validate",
    "package",
    "version",
    "interval",
    "timeout",
    "targets",
    "thresholds",
    "options",
}
DEFAULT_KEYS = {"interval", "timeout"}
RESULTS_KEYS = {"keep_days", "keep_rows"}


@dataclass(frozen=True)
class ServiceDef:
    name: str
    kind: str
    install: str | None = None
    configs: tuple[str, ...] = ()
    reload: tuple[str, ...] = ()
    validate: tuple[str, ...] = ()  # the service's own configuration checker (argv)
    package: str | None = None  # the package whose version the environment fingerprint holds
    version: tuple[str, ...] = ()  # a command printing the version (else the package's)
    interval: float = 60.0
    timeout: float = 10.0
    targets: str | None = None  # None: the kind's default
    thresholds: dict[str, Threshold] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    def reload_argv(self, system_root: Path) -> list[str]:
        return rooted(self.reload, system_root)

    def validate_argv(self, system_root: Path) -> list[str]:
        return rooted(self.validate, system_root)

    def version_argv(self, system_root: Path) -> list[str]:
        return rooted(self.version, system_root)


def rooted(argv: tuple[str, ...], system_root: Path) -> list[str]:
    """`argv` with `{root}` replaced by the system root ("" for "/", so that
    "{root}/etc/x" is "/etc/x" there)."""
    root = str(system_root).rstrip("/")
    return [part.replace("{root}", root) for part in argv]


def services_file(system_root: Path) -> Path:
    return system_root / SERVICES_PATH.lstrip("/")


def alert_rules_file(system_root: Path) -> Path:
    return system_root / ALERT_RULES_PATH.lstrip("/")


def load(system_root: Path) -> list[ServiceDef]:
    """The services of this server's system root; none when there is no services file."""
    path = services_file(system_root)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return parse(text, path)


def parse(text: str, path: Path | str) -> list[ServiceDef]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FormatError(path, toml_line(exc), f"valid TOML ({exc})") from exc
    unknown = set(data) - {"defaults", "service", "results"}
    if unknown:
        raise FormatError(
            path, None, f"only [defaults], [results] and [service.NAME], not {sorted(unknown)}"
        )
    _results(data, path)
    defaults = _table(data.get("defaults", {}), path, "[defaults]")
    if bad := set(defaults) - DEFAULT_KEYS:
        raise FormatError(path, None, f"[defaults] takes {sorted(DEFAULT_KEYS)}, not {sorted(bad)}")
    services = _table(data.get("service", {}), path, "[service]")
    return [
        _service(name, _table(raw, path, f"[service.{name}]"), defaults, path)
        for name, raw in services.items()
    ]


def _service(
    name: str, raw: dict[str, Any], defaults: dict[str, Any], path: Path | str
) -> ServiceDef:
    where = f"[service.{name}]"
    if not NAME_RE.match(name):
        raise FormatError(path, None, f"{where}: a name of letters, digits, '-' and '_'")
    if bad := set(raw) - SERVICE_KEYS:
        raise FormatError(path, None, f"{where}: unknown keys {sorted(bad)}")
    kind = raw.get("kind")
    if not isinstance(kind, str) or not kind:
        raise FormatError(path, None, f'{where}: kind = "<verifier kind>" is required')
    targets = raw.get("targets")
    if targets is not None and targets not in TARGETS:
        raise FormatError(path, None, f"{where}: targets is one of {TARGETS}, not {targets!r}")
    return ServiceDef(
        name=name,
        kind=kind,
        install=_opt_str(raw, "install", path, where),
        configs=_paths(raw.get("configs", []), path, f"{where} configs"),
        reload=_strings(raw.get("reload", []), path, f"{where} reload"),
        validate=_command(raw.get("validate", []), path, f"{where} validate"),
        package=_opt_str(raw, "package", path, where),
        version=_command(raw.get("version", []), path, f"{where} version"),
        interval=_seconds(raw.get("interval", defaults.get("interval", 60)), path, where),
        timeout=_seconds(raw.get("timeout", defaults.get("timeout", 10)), path, where),
        targets=targets,
        thresholds=_thresholds(raw.get("thresholds", {}), path, where),
        options=_table(raw.get("options", {}), path, f"{where} options"),
    )


def _table(value: Any, path: Path | str, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FormatError(path, None, f"{where}: a table")
    return value


def _opt_str(raw: dict[str, Any], key: str, path: Path | str, where: str) -> str | None:
    value = raw.get(key)
    if value is not None and not isinstance(value, str):
        raise FormatError(path, None, f"{where}: {key} is a string")
    return value


def _strings(value: Any, path: Path | str, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FormatError(path, None, f"{where}: a list of strings")
    return tuple(value)


def _command(value: Any, path: Path | str, where: str) -> tuple[str, ...]:
    """A command: a string split as a shell would (no shell runs it), or a list of strings."""
    if isinstance(value, str):
        try:
            return tuple(shlex.split(value))
        except ValueError as exc:
            raise FormatError(path, None, f"{where}: a command line ({exc})") from exc
    return _strings(value, path, where)


def _paths(value: Any, path: Path | str, where: str) -> tuple[str, ...]:
    paths = _strings(value, path, where)
    for item in paths:
        if not item.startswith("/") or "/../" in f"{item}/":
            raise FormatError(path, None, f"{where}: absolute paths without '..', not {item!r}")
    return paths


def _seconds(value: Any, path: Path | str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise FormatError(path, None, f"{where}: interval and timeout are positive seconds")
    return float(value)


def _thresholds(value: Any, path: Path | str, where: str) -> dict[str, Threshold]:
    result = {}
    for label, pair in _table(value, path, f"{where} thresholds").items():
        ok = (
            isinstance(pair, list)
            and len(pair) == 2
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in pair)
        )
        if not ok:
            raise FormatError(path, None, f"{where} thresholds: {label} = [slow, unacceptable]")
        result[label] = Threshold(float(pair[0]), float(pair[1]))
    return result


def load_results_policy(system_root: Path) -> dict[str, float]:
    """The [results] table of the services file (keep_days, keep_rows), validated."""
    path = services_file(system_root)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FormatError(path, toml_line(exc), f"valid TOML ({exc})") from exc
    return _results(data, path)


def _results(data: dict[str, Any], path: Path | str) -> dict[str, float]:
    raw = _table(data.get("results", {}), path, "[results]")
    if bad := set(raw) - RESULTS_KEYS:
        raise FormatError(path, None, f"[results] takes {sorted(RESULTS_KEYS)}, not {sorted(bad)}")
    for key, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise FormatError(path, None, f"[results] {key} is a positive number")
    if not isinstance(raw.get("keep_rows", 1), int):
        raise FormatError(path, None, "[results] keep_rows is a whole number")
    return {k: float(v) for k, v in raw.items()}
