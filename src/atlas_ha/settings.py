"""Per-server settings (TOML): system root, ESD_DATA, SID_DATA, transport, hooks.

Found at --config, else $ATLAS_HA_CONFIG, else /etc/atlas-ha/atlas-ha.toml::

    name = "A"                          # this server's name in history and reports
    system_root = "/"                   # every snapshot path lives below it
    esd_data = "/var/lib/atlas-ha/esd"  # Bound Data: EnvID, envs.toml, converters/
    sid_data = "/srv/unbound/SID_DATA"  # Unbound Data: MasterConfig, snapshots, history
    address = "192.0.2.11"              # optional: this server's address (default: from identity)

    [transport]
    kind = "local"                      # "local" (same machine) or "ssh"
    registry = "/run/atlas-ha/net"      # local: where running servers register their addresses

    [sync]                              # the deletion guard of Create and Install (SPEC 5.2)
    mass_deletion_percent = 50          # refuse to remove more than this share of the objects
    mass_deletion_min = 20              # ... when that is at least this many objects

    [hooks]                             # event -> commands, for every role
    after_install = ["/usr/local/sbin/reload-changed"]
    [hooks.roles.PRI]                   # extra commands for one role
    before_create = ["/usr/local/sbin/prepare-test-data"]

Hook events: after_identity_install, before_create, after_install, after_cycle.

    [receive]                           # what a received snapshot may hold (layout.policy)
    setuid = "refuse"                   # refuse | flag | allow, per rule
    shadow_files = ["/etc/ssl/private"] # more shadow-class paths (mode within 0640)

    [report]                            # the status page (report/web, docs/web.md)
    listen = "127.0.0.1:8470"           # HOST:PORT; "" = no page; not loopback: auth required
    [report.auth.users.alice]           # user:password (Basic), the hash only
    role = "operator"                   # viewer | operator
    password = "$scrypt$ln=15,r=8,p=1$SALT$HASH"   # `atlas-ha report hash-password`
    [report.auth.tokens.prometheus]     # a bearer token, its SHA-256 only
    role = "viewer"
    sha256 = "HEX"                      # `atlas-ha report hash-password --token`
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
    "report",  # [report]: the status page, metrics (REPORT_KEYS)
}
SYNC_KEYS = {"mass_deletion_percent", "mass_deletion_min"}


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
    web: WebSettings = field(default_factory=lambda: WebSettings())

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
        web=_report_web(data.get("report", {}), path),
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
    return DeletionGuard(percent, minimum)


# -- [report]: the status page's address and authentication (report/web) -------------------
REPORT_KEYS = {"listen", "auth"}  # the status model may add its own keys beside these
WEB_ROLES = ("viewer", "operator")
DEFAULT_LISTEN = "127.0.0.1:8470"
LOCAL_HOSTS = ("127.0.0.1", "::1", "localhost")  # any other address needs authentication


@dataclass(frozen=True)
class Credential:
    """A user (its scrypt password hash) or a token (its SHA-256) with its role."""

    name: str
    role: str  # viewer | operator
    secret_hash: str


@dataclass(frozen=True)
class WebSettings:
    """`[report] listen` and `[report.auth]`: where the status page listens ("" = nowhere)
    and who may see (viewer) or act (operator)."""

    listen: str = DEFAULT_LISTEN
    users: tuple[Credential, ...] = ()
    tokens: tuple[Credential, ...] = ()

    @property
    def enabled(self) -> bool:
        return bool(self.listen)

    @property
    def auth_configured(self) -> bool:
        return bool(self.users or self.tokens)

    @property
    def host(self) -> str:
        return split_listen(self.listen)[0]

    @property
    def port(self) -> int:
        return split_listen(self.listen)[1]

    @property
    def local(self) -> bool:
        return self.host in LOCAL_HOSTS


def split_listen(listen: str) -> tuple[str, int]:
    """ "HOST:PORT" or "[V6]:PORT" -> (host, port); ValueError when it is neither."""
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(listen)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def _report_web(raw: object, path: Path) -> WebSettings:
    if not isinstance(raw, dict):
        raise SettingsError(f"{path}: [report] must be a table")
    unknown = set(raw) - REPORT_KEYS
    if unknown:
        raise SettingsError(
            f"{path}: [report] unknown keys {sorted(unknown)}; expected {sorted(REPORT_KEYS)}"
        )
    listen = raw.get("listen", DEFAULT_LISTEN)
    if not isinstance(listen, str):
        raise SettingsError(f'{path}: [report] listen = "HOST:PORT" (a string), got {listen!r}')
    if listen:
        try:
            split_listen(listen)
        except ValueError:
            raise SettingsError(
                f'{path}: [report] listen = "HOST:PORT" or "[IPV6]:PORT" or "" (no page), '
                f"got {listen!r}"
            ) from None
    auth = raw.get("auth", {})
    if not isinstance(auth, dict) or set(auth) - {"users", "tokens"}:
        raise SettingsError(f"{path}: [report.auth] holds only users.<NAME> and tokens.<NAME>")
    users = _credentials(auth.get("users", {}), path, "users", "password")
    tokens = _credentials(auth.get("tokens", {}), path, "tokens", "sha256")
    for user in users:
        parts = user.secret_hash.split("$")
        if len(parts) != 5 or parts[1] != "scrypt":
            raise SettingsError(
                f"{path}: [report.auth.users.{user.name}] password = a scrypt hash "
                "($scrypt$ln=N,r=R,p=P$SALT$HASH) from `atlas-ha report hash-password`"
            )
    for token in tokens:
        if len(token.secret_hash) != 64 or set(token.secret_hash) - set("0123456789abcdef"):
            raise SettingsError(
                f"{path}: [report.auth.tokens.{token.name}] sha256 = the 64 hex digits of the "
                "token's SHA-256 (`atlas-ha report hash-password --token`)"
            )
    return WebSettings(listen, users, tokens)


def _credentials(raw: object, path: Path, kind: str, secret: str) -> tuple[Credential, ...]:
    if not isinstance(raw, dict):
        raise SettingsError(f"{path}: [report.auth.{kind}.<NAME>] tables expected")
    found = []
    for name, table in sorted(raw.items()):
        where = f"{path}: [report.auth.{kind}.{name}]"
        if not isinstance(table, dict) or set(table) != {"role", secret}:
            raise SettingsError(f"{where}: expected exactly role and {secret}")
        role, value = table["role"], table[secret]
        if role not in WEB_ROLES:
            raise SettingsError(f"{where}: role = one of {WEB_ROLES}, got {role!r}")
        if not isinstance(value, str) or not value:
            raise SettingsError(f"{where}: {secret} = a string")
        if ":" in name or not name:
            raise SettingsError(f"{where}: a name without ':'")
        found.append(Credential(name, role, value))
    return tuple(found)


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
