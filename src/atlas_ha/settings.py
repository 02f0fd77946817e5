"""Per-server settings (TOML): system root, ESD_DATA, SID_DATA, transport, hooks.

Found at --config, else $ATLAS_HA_CONFIG, else /etc/atlas-ha/atlas-ha.toml::

    name = "A"                          # this server's name in history and reports
    system_root = "/"                   # every snapshot path lives below it
    esd_data = "/var/lib/atlas-ha/esd"  # Bound Data: EnvID, envs.toml, converters/
    sid_data = "/srv/unbound/SID_DATA"  # Unbound Data: MasterConfig, snapshots, history
    address = "192.0.2.11"              # optional: this server's address (default: from identity)
    checker_path = "/usr/sbin:/usr/bin" # optional: PATH of the services' configuration checkers
                                        # and version programs (default: the caller's PATH)

    [transport]
    kind = "local"                      # "local" (same machine) or "ssh"
    registry = "/run/atlas-ha/net"      # local: where running servers register their addresses

    [sync]                              # the deletion guard of Create and Install (SPEC 5.2)
    mass_deletion_percent = 50          # refuse to remove more than this share of the objects
    mass_deletion_min = 20              # ... when that is at least this many objects
    rejected = "report"                 # a PRI config its checker rejects: "report" (and
                                        # sync; the SECs check it too) or "refuse" the Create

    [hooks]                             # event -> commands, for every role
    after_install = ["/usr/local/sbin/reload-changed"]
    [hooks.roles.PRI]                   # extra commands for one role
    before_create = ["/usr/local/sbin/prepare-test-data"]

Hook events: after_identity_install, before_create, after_install, after_cycle.

    [receive]                           # what a received snapshot may hold (layout.policy)
    setuid = "refuse"                   # refuse | flag | allow, per rule
    shadow_files = ["/etc/ssl/private"] # more shadow-class paths (mode within 0640)
"""

from __future__ import annotations

import os
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from atlas_ha import plugins
from atlas_ha.errors import SettingsError
from atlas_ha.layout import policy
from atlas_ha.model import ROLE_RE, toml_line
from atlas_ha.text import bad_byte, shown

DEFAULT_PATH = Path("/etc/atlas-ha/atlas-ha.toml")
ENV_VAR = "ATLAS_HA_CONFIG"
HOOK_EVENTS = ("after_identity_install", "before_create", "after_install", "after_cycle")
TOP_KEYS = {
    "name",
    "system_root",
    "esd_data",
    "sid_data",
    "address",
    "transport",
    "hooks",
    "sync",
    "receive",  # [receive]: layout.policy
    "checker_path",
}
SYNC_KEYS = {"mass_deletion_percent", "mass_deletion_min", "rejected"}
REJECTED = ("report", "refuse")


@dataclass(frozen=True)
class DeletionGuard:
    """How much a Create or an Install may remove before it refuses (SPEC 5.2 guard): more
    than `percent` % of the objects held, when that is at least `minimum` objects."""

    percent: int = 50
    minimum: int = 20

    def exceeded(self, removed: int, held: int) -> bool:
        return removed >= self.minimum and removed * 100 > self.percent * held


@dataclass(frozen=True)
class Settings:
    name: str
    system_root: Path
    esd_data: Path
    sid_data: Path
    config_file: Path
    address: str | None = None
    transport: str = "local"
    transport_options: dict[str, str] = field(default_factory=dict)
    hooks: dict[str, list[list[str]]] = field(default_factory=dict)
    role_hooks: dict[str, dict[str, list[list[str]]]] = field(default_factory=dict)
    deletion_guard: DeletionGuard = field(default_factory=DeletionGuard)
    receive: policy.ReceivePolicy = field(default_factory=policy.ReceivePolicy)
    refuse_rejected: bool = False  # [sync] rejected = "refuse"
    checker_path: str | None = None

    def checker_env(self) -> dict[str, str] | None:
        """The environment of a configuration checker or version program (None: ours)."""
        if self.checker_path is None:
            return None
        return {**os.environ, "PATH": self.checker_path}

    def hooks_for(self, event: str, role: str | None) -> list[list[str]]:
        extra = self.role_hooks.get(role, {}).get(event, []) if role else []
        return self.hooks.get(event, []) + extra


def transport_seconds(settings: Settings, key: str, default: float) -> float:
    """`[transport] KEY = "SECONDS"` (a string, as every transport option): >= 0, where "0"
    means never."""
    text = settings.transport_options.get(key, f"{default:g}")
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:  # also NaN
        raise SettingsError(
            f"{settings.config_file}: [transport] {key} = {text!r}: expected seconds (0: never)"
        )
    return seconds


def locate(explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit
    if env := os.environ.get(ENV_VAR):
        return Path(env)
    return DEFAULT_PATH


def load(path: Path) -> Settings:
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise SettingsError(
            f"{path}: no settings file (use --config or ${ENV_VAR}, or run `atlas-ha init`)"
        ) from exc
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read settings: {exc.strerror}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        number, expected = bad_byte(raw, exc)
        raise SettingsError(f"{shown(str(path))}:{number}: {expected}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = toml_line(exc)
        raise SettingsError(f"{path}:{line or '?'}: expected valid TOML ({exc})") from exc
    return from_dict(data, path)


def from_dict(data: dict[str, object], path: Path) -> Settings:
    unknown = set(data) - TOP_KEYS
    if unknown:
        raise SettingsError(f"{path}: unknown keys {sorted(unknown)}; expected {sorted(TOP_KEYS)}")
    base = path.parent

    def directory(key: str, default: str | None = None) -> Path:
        value = data.get(key, default)
        if not isinstance(value, str) or not value:
            raise SettingsError(f"{path}: {key} = a path (string) is required")
        return (base / value).resolve() if not value.startswith("/") else Path(value)

    name = data.get("name", os.uname().nodename)
    if not isinstance(name, str) or not name or "/" in name:
        raise SettingsError(f"{path}: name = a server name without '/'")
    address = data.get("address")
    if address is not None and not isinstance(address, str):
        raise SettingsError(f"{path}: address = an IP address string")
    transport, options = _transport(data.get("transport", {}), path)
    hooks, role_hooks = _hooks(data.get("hooks", {}), path)
    guard = _deletion_guard(data.get("sync", {}), path)
    sync = data.get("sync", {})
    rejected = sync.get("rejected", "report") if isinstance(sync, dict) else None
    if rejected not in REJECTED:
        raise SettingsError(f"{path}: [sync] rejected = one of {REJECTED}, got {rejected!r}")
    checker_path = data.get("checker_path")
    if checker_path is not None and not isinstance(checker_path, str):
        raise SettingsError(f"{path}: checker_path = a PATH string (directories joined by ':')")
    return Settings(
        name=name,
        system_root=directory("system_root", "/"),
        esd_data=directory("esd_data"),
        sid_data=directory("sid_data"),
        config_file=path.resolve(),
        address=address,
        transport=transport,
        transport_options=options,
        hooks=hooks,
        role_hooks=role_hooks,
        deletion_guard=guard,
        receive=policy.parse_table(data.get("receive", {}), path),
        refuse_rejected=rejected == "refuse",
        checker_path=checker_path,
    )


def _deletion_guard(raw: object, path: Path) -> DeletionGuard:
    if not isinstance(raw, dict):
        raise SettingsError(f"{path}: [sync] must be a table")
    unknown = set(raw) - SYNC_KEYS
    if unknown:
        raise SettingsError(
            f"{path}: [sync] unknown keys {sorted(unknown)}; expected {sorted(SYNC_KEYS)}"
        )
    percent = raw.get("mass_deletion_percent", DeletionGuard.percent)
    minimum = raw.get("mass_deletion_min", DeletionGuard.minimum)
    if type(percent) is not int or not 0 <= percent <= 100:
        raise SettingsError(
            f"{path}: [sync] mass_deletion_percent = an integer 0..100, got {percent!r}"
        )
    if type(minimum) is not int or minimum < 0:
        raise SettingsError(
            f"{path}: [sync] mass_deletion_min = a non-negative integer, got {minimum!r}"
        )
    return DeletionGuard(percent, minimum)  # `rejected`: from_dict


def _transport(raw: object, path: Path) -> tuple[str, dict[str, str]]:
    if not isinstance(raw, dict):
        raise SettingsError(f"{path}: [transport] must be a table")
    kind = raw.get("kind", "local")
    kinds = plugins.names(plugins.TRANSPORTS)
    if kind not in kinds:
        raise SettingsError(f"{path}: [transport] kind = one of {kinds}, got {kind!r}")
    options = {k: v for k, v in raw.items() if k != "kind"}
    if not all(isinstance(v, str) for v in options.values()):
        raise SettingsError(f"{path}: [transport] options must be strings")
    return kind, {k: str(v) for k, v in options.items()}


def _commands(raw: object, path: Path, where: str) -> dict[str, list[list[str]]]:
    if not isinstance(raw, dict):
        raise SettingsError(f"{path}: [{where}] must be a table")
    result: dict[str, list[list[str]]] = {}
    for event, cmds in raw.items():
        if event not in HOOK_EVENTS:
            raise SettingsError(f"{path}: [{where}] {event}: expected one of {HOOK_EVENTS}")
        if not isinstance(cmds, list) or not all(isinstance(c, str) for c in cmds):
            raise SettingsError(f"{path}: [{where}] {event} = a list of command strings")
        result[event] = [shlex.split(c) for c in cmds]
    return result


def _hooks(
    raw: object, path: Path
) -> tuple[dict[str, list[list[str]]], dict[str, dict[str, list[list[str]]]]]:
    if not isinstance(raw, dict):
        raise SettingsError(f"{path}: [hooks] must be a table")
    roles = raw.get("roles", {})
    if not isinstance(roles, dict):
        raise SettingsError(f"{path}: [hooks.roles.<ROLE>] tables expected")
    per_role = {}
    for role, table in roles.items():
        if not ROLE_RE.match(role):
            raise SettingsError(f"{path}: [hooks.roles.{role}]: expected a role PRI or SEC<n>")
        per_role[role] = _commands(table, path, f"hooks.roles.{role}")
    common = _commands({k: v for k, v in raw.items() if k != "roles"}, path, "hooks")
    return common, per_role


def render(s: Settings) -> str:
    """The TOML text of settings written by `atlas-ha init` (no hooks)."""
    lines = [
        f'name = "{s.name}"',
        f'system_root = "{s.system_root}"',
        f'esd_data = "{s.esd_data}"',
        f'sid_data = "{s.sid_data}"',
    ]
    if s.address:
        lines.append(f'address = "{s.address}"')
    lines += ["", "[transport]", f'kind = "{s.transport}"']
    lines += [f'{k} = "{v}"' for k, v in sorted(s.transport_options.items())]
    return "\n".join(lines) + "\n"
