"""[report] listen and auth: the status page's address and authentication (report/web,
docs/web.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from atlas_ha.errors import SettingsError

# -- [report]: the status page's address and authentication (report/web) -------------------
WEB_KEYS = {"listen", "auth"}  # of [report]; the status model has its own beside them
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
    # unknown keys of [report] are refused by the status model's parser (settings/__init__)
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
