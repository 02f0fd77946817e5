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

    [report]                            # the status model and event log (report/)
    cycle_stale = 1800                  # seconds: an older last SyncCycle is stale
    results_stale = 900                 # seconds: an older check result is UNKNOWN (stale)
    heartbeat_stale = 60                # seconds: an older daemon heartbeat: not alive
    events_keep_days = 90               # the event log and its roll-ups keep this many days
    listen = "127.0.0.1:8470"           # the status page (report/web, docs/web.md): HOST:PORT;
                                        # "" = no page; not loopback: auth required
    [report.auth.users.alice]           # user:password (Basic), the hash only
    role = "operator"                   # viewer | operator
    password = "$scrypt$ln=15,r=8,p=1$SALT$HASH"   # `atlas-ha report hash-password`
    [report.auth.tokens.prometheus]     # a bearer token, its SHA-256 only
    role = "viewer"
    sha256 = "HEX"                      # `atlas-ha report hash-password --token`

Operations (ops/, docs/operating.md)::

    [logs]                              # the run wrapper (ops/run.py)
    destination = "both"                # console | file | both | none (locally started runs)
    remote_destination = "both"         # ... of runs a partner requested (ssh-command, serve)
    daily = ["daemon-run"]              # programs with one log a day; others: one per run
    keep_files = 1000                   # retention: at most this many finished logs ...
    keep_mb = 500                       # ... of at most this many MiB together ...
    min_free_mb = 64                    # ... and old ones go while ESD_DATA has less free

    [limits]                            # the start handler (ops/start.py)
    sid_min_free_mb = 32                # below: refuse the runs that write SID_DATA
    esd_min_free_mb = 16                # below: warn (ESD_DATA), as for:
    root_min_free_mb = 16               # the system root's filesystem
    min_available_memory_mb = 32        # MemAvailable
    max_load_per_cpu = 8.0              # the 1-minute load average / CPUs
    single_instance = ["daemon-run", "sync-cycle", "boot"]  # a second one: warn

    [crashes]                           # the crash handler (ops/crash.py)
    core_dir = "/var/lib/atlas-ha/cores"  # where services' core files appear (no coredumpctl)
    coredumpctl = "auto"                # auto | yes | no
    max_core_mb = 512                   # bigger cores are recorded but not stored
    remove_cores = true                 # remove a core from core_dir once stored

The daemon (settings/daemon.py)::

    [daemon]
    watch = true                        # PRI: a change to a synced path starts a SyncCycle
    debounce = 0.5                      # seconds of quiet before it starts
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
from atlas_ha.settings.daemon import DaemonSettings, _daemon
from atlas_ha.settings.ops import CrashSettings, Limits, LogSettings, _crashes, _limits, _logs
from atlas_ha.settings.raid import RaidSettings, _raid
from atlas_ha.settings.tables import table as _table
from atlas_ha.settings.web import (
    DEFAULT_LISTEN,
    LOCAL_HOSTS,
    WEB_KEYS,
    WEB_ROLES,
    Credential,
    WebSettings,
    _report_web,
    split_listen,
)
from atlas_ha.text import bad_byte, shown

__all__ = [
    "DEFAULT_LISTEN",
    "LOCAL_HOSTS",
    "WEB_ROLES",
    "CrashSettings",
    "Credential",
    "DaemonSettings",
    "Limits",
    "LogSettings",
    "RaidSettings",
    "WebSettings",
    "split_listen",
]

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
    "report",  # [report]: report/ (status model, event log)
    "raid",  # [raid]: RaidSettings
    "logs",  # [logs], [limits], [crashes]: operations (ops/)
    "limits",
    "crashes",
    "checker_path",
    "daemon",  # [daemon]: DaemonSettings
}
SYNC_KEYS = {"mass_deletion_percent", "mass_deletion_min", "rejected"}
REJECTED = ("report", "refuse")


@dataclass(frozen=True)
class ReportSettings:
    """`[report]`: when what the status model reads is too old to be believed (seconds), and
    how long the event log and its roll-ups are kept (days)."""

    cycle_stale: float = 1800.0
    results_stale: float = 900.0
    heartbeat_stale: float = 60.0
    events_keep_days: float = 90.0


STATUS_KEYS = {"cycle_stale", "results_stale", "heartbeat_stale", "events_keep_days"}
REPORT_KEYS = STATUS_KEYS | WEB_KEYS


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
    report: ReportSettings = field(default_factory=ReportSettings)
    raid: RaidSettings = field(default_factory=RaidSettings)
    logs: LogSettings = field(default_factory=lambda: LogSettings())
    limits: Limits = field(default_factory=lambda: Limits())
    crashes: CrashSettings = field(default_factory=lambda: CrashSettings())
    refuse_rejected: bool = False  # [sync] rejected = "refuse"
    checker_path: str | None = None

    def checker_env(self) -> dict[str, str] | None:
        """The environment of a configuration checker or version program (None: ours)."""
        if self.checker_path is None:
            return None
        return {**os.environ, "PATH": self.checker_path}

    web: WebSettings = field(default_factory=lambda: WebSettings())
    daemon: DaemonSettings = field(default_factory=DaemonSettings)

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
        report=_report(data.get("report", {}), path),
        raid=_raid(data.get("raid", {}), path),
        logs=_logs(data.get("logs", {}), path),
        limits=_limits(data.get("limits", {}), path),
        crashes=_crashes(data.get("crashes", {}), path, base),
        refuse_rejected=rejected == "refuse",
        checker_path=checker_path,
        web=_report_web(data.get("report", {}), path),
        daemon=_daemon(data.get("daemon", {}), path),
    )


def _report(raw: object, path: Path) -> ReportSettings:
    raw = _table(raw, path, "report", REPORT_KEYS)
    values: dict[str, float] = {}
    for key in sorted(STATUS_KEYS):
        value = raw.get(key, getattr(ReportSettings, key))
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not value > 0
            or value == float("inf")
        ):
            unit = "days" if key.endswith("_days") else "seconds"
            raise SettingsError(
                f"{path}: [report] {key} = a positive number of {unit}, got {value!r}"
            )
        values[key] = float(value)
    return ReportSettings(**values)


def _deletion_guard(raw: object, path: Path) -> DeletionGuard:
    raw = _table(raw, path, "sync", SYNC_KEYS)
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
