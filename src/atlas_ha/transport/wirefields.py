"""The fields of the wire protocol's records (`transport.protocol`): how each travels (its
check, the version that introduced it, whether it is optional) and the checks themselves.
A check returns the value as kept, or raises `Malformed`, which the record turns into the
refusal naming the field (RefusedError or ReceiveError): `Malformed` never leaves a record."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field
from typing import Any

from atlas_ha.errors import AtlasError
from atlas_ha.model import ROLE_RE

DIGEST_RE = re.compile(r"^[0-9a-f]{64}$")


class Malformed(ValueError):
    """A field check's verdict: the value is not what the field holds."""


Check = Callable[[object], Any]


@dataclass(frozen=True)
class Wire:
    """How one field of a record travels."""

    check: Check  # the value as received -> as kept, or raise Malformed
    expected: str  # what the refusal says was expected (naming the field)
    since: int = 1  # the protocol version that introduced the field
    optional: bool = False  # not sent while it holds its default
    error: type[AtlasError] | None = None  # the record's own error class when None


def wire(
    check: Check,
    expected: str,
    *,
    since: int = 1,
    optional: bool = False,
    default: Any = MISSING,
    factory: Callable[[], Any] | None = None,
    error: type[AtlasError] | None = None,
) -> Any:
    meta = {"wire": Wire(check, expected, since, optional, error)}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    if default is not MISSING:
        return field(default=default, metadata=meta)
    if since > 1:
        raise TypeError("a field newer than protocol 1 needs a default (what older peers mean)")
    return field(metadata=meta)


# -- field checks -------------------------------------------------------------------------------
def env_version(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise Malformed
    return value


def env_versions(value: object) -> tuple[int, ...]:
    if not isinstance(value, list):
        raise Malformed
    return tuple(env_version(v) for v in value)


def version(value: object) -> int:
    return env_version(value)  # a positive integer too


def text(value: object) -> str:
    if not isinstance(value, str):
        raise Malformed
    return value


def flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise Malformed
    return value


def role_name_or_none(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not ROLE_RE.match(value):
        raise Malformed
    return value


def role_name(value: object) -> str:
    if value is None:
        raise Malformed
    return str(role_name_or_none(value))


def next_op(value: object) -> str | None:
    if value is not None and value != "syncup":
        raise Malformed
    return None if value is None else "syncup"


def digest_map(value: object) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and DIGEST_RE.match(v) for k, v in value.items()
    ):
        raise Malformed
    return dict(value)


def strings(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Malformed
    return tuple(value)


def _tuples(value: object, size: int) -> tuple[tuple[str, ...], ...]:
    if not isinstance(value, list):
        raise Malformed
    items = []
    for item in value:
        if not (
            isinstance(item, list) and len(item) == size and all(isinstance(x, str) for x in item)
        ):
            raise Malformed
        items.append(tuple(item))
    return tuple(items)


def object_list(value: object) -> tuple[tuple[str, str, str], ...]:
    return _tuples(value, 3)  # type: ignore[return-value]


def need_or_none(value: object) -> tuple[tuple[str, str], ...] | None:
    return None if value is None else _tuples(value, 2)  # type: ignore[return-value]


def target_map(value: object) -> dict[int, str]:
    if not isinstance(value, dict):
        raise Malformed
    out: dict[int, str] = {}
    for key, path in value.items():
        if not (isinstance(key, str) and key.isdigit() and int(key) > 0 and isinstance(path, str)):
            raise Malformed
        out[int(key)] = path
    return out


def anything(value: object) -> object:
    return value
