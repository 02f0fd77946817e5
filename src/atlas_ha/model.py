"""Pure values of the SPEC's vocabulary (no I/O): Role, MasterConfig, SnapshotRef."""

from __future__ import annotations

import ipaddress
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from atlas_ha.errors import FormatError

ROLE_RE = re.compile(r"^(PRI|SEC[1-9][0-9]*)$")
GROUP_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def check_role(text: str, where: Path | str = "<role>", line: int | None = None) -> str:
    """Return `text` if it is a role name (PRI, SEC1, SEC2, ...), else raise FormatError."""
    if not ROLE_RE.match(text):
        raise FormatError(where, line, f"a role PRI or SEC<n> (n >= 1), got {text!r}")
    return text


# EnvVersions are small: a new one per change of some synced file's format or place. The bound
# keeps a number from a file or a peer from sizing anything (1..EnvID ranges, conversions).
MAX_ENV = 9999


def check_env(text: str, where: Path | str, line: int | None = None) -> int:
    """The EnvVersion `text` names (1..MAX_ENV, decimal), else FormatError naming `where`."""
    value = text.strip()
    if not (value.isascii() and value.isdigit() and len(value) <= len(str(MAX_ENV))) or not (
        1 <= int(value) <= MAX_ENV
    ):
        raise FormatError(where, line, f"one EnvVersion 1..{MAX_ENV}, got {value[:40]!r}")
    return int(value)


def role_key(role: str) -> tuple[int, int]:
    """Sort key: PRI first, then SEC1, SEC2, ... numerically."""
    return (0, 0) if role == "PRI" else (1, int(role[3:]))


@dataclass(frozen=True)
class SnapshotRef:
    """Snapshot (R, V): role R in the form of EnvVersion V."""

    role: str
    env: int

    def __str__(self) -> str:
        return f"({self.role},{self.env})"


@dataclass(frozen=True)
class Partner:
    address: str
    ssh_port: int | None = None
    ssh_user: str | None = None


@dataclass(frozen=True)
class MasterConfig:
    """The Unbound Data's MasterConfig: this disk's role, its group and the partners' addresses."""

    group: str
    role: str
    partners: dict[str, Partner] = field(default_factory=dict)

    @property
    def is_pri(self) -> bool:
        return self.role == "PRI"

    def render(self) -> str:
        lines = [f'group = "{self.group}"', f'role = "{self.role}"']
        for name in sorted(self.partners, key=role_key):
            p = self.partners[name]
            lines += ["", f"[partners.{name}]", f'address = "{p.address}"']
            if p.ssh_port is not None:
                lines.append(f"ssh_port = {p.ssh_port}")
            if p.ssh_user is not None:
                lines.append(f'ssh_user = "{p.ssh_user}"')
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, text: str, where: Path | str = "MasterConfig") -> MasterConfig:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise FormatError(where, toml_line(exc), f"valid TOML ({exc})") from exc
        return cls.from_dict(data, where)

    @classmethod
    def from_dict(cls, data: dict[str, object], where: Path | str) -> MasterConfig:
        unknown = set(data) - {"group", "role", "partners"}
        if unknown:
            raise FormatError(
                where, None, f"only keys group, role, partners; got {sorted(unknown)}"
            )
        group, role = data.get("group"), data.get("role")
        if not isinstance(group, str) or not GROUP_RE.match(group):
            raise FormatError(where, None, f"group = a name of [A-Za-z0-9._-], got {group!r}")
        if not isinstance(role, str):
            raise FormatError(where, None, 'role = "PRI" or "SEC<n>"')
        check_role(role, where)
        raw = data.get("partners", {})
        if not isinstance(raw, dict):
            raise FormatError(where, None, "[partners.<ROLE>] tables")
        partners = {check_role(k, where): _partner(k, v, where) for k, v in raw.items()}
        if role in partners:
            raise FormatError(where, None, f"partners must not list the disk's own role {role}")
        if role != "PRI" and set(partners) - {"PRI"}:
            raise FormatError(where, None, "a SEC's MasterConfig lists only [partners.PRI]")
        return cls(group=group, role=role, partners=partners)


def _partner(name: str, value: object, where: Path | str) -> Partner:
    if not isinstance(value, dict):
        raise FormatError(where, None, f"[partners.{name}] to be a table")
    unknown = set(value) - {"address", "ssh_port", "ssh_user"}
    if unknown:
        raise FormatError(
            where,
            None,
            f"[partners.{name}] keys address, ssh_port, ssh_user; got {sorted(unknown)}",
        )
    address = value.get("address")
    try:
        ipaddress.ip_address(str(address))
    except ValueError as exc:
        raise FormatError(
            where, None, f"[partners.{name}] address = an IP address, got {address!r}"
        ) from exc
    port = value.get("ssh_port")
    if port is not None and (not isinstance(port, int) or not 0 < port < 65536):
        raise FormatError(where, None, f"[partners.{name}] ssh_port = 1..65535, got {port!r}")
    user = value.get("ssh_user")
    if user is not None and not isinstance(user, str):
        raise FormatError(where, None, f"[partners.{name}] ssh_user = a string")
    return Partner(address=str(address), ssh_port=port, ssh_user=user)


def toml_line(exc: tomllib.TOMLDecodeError) -> int | None:
    """The line number a TOML decode error names, if any."""
    match = re.search(r"line (\d+)", str(exc))
    return int(match.group(1)) if match else None
