"""Test conversion before the first cycle (`atlas-ha init` runs it): this server's files, as
the first Create would take them from its system root, converted to every EnvVersion of its
envs.toml, so that a file that cannot be converted faithfully is named (file:line) at
set-up time, not in the first SyncCycle.

Only the files whose *content* a built-in aspect converts are read (identity, accounts,
PostgreSQL's postgresql.conf, chrony's configuration); nginx sites are only renamed.
Nothing is written. A conversion chain stops at its first failure: the older EnvVersions
after it are reported as unreachable from it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from atlas_ha.context import Server
from atlas_ha.converters import accounts, chrony, identity, postgresql
from atlas_ha.converters.identity.debian import INTERFACES_D
from atlas_ha.errors import ConversionError
from atlas_ha.layout.esd import EnvDef

Files = dict[str, bytes]
_Step = Callable[[str, str, Files], Files]


def _identity(src: str, dst: str, files: Files) -> Files:
    return identity.convert(src, dst, files) if files else {}


def _accounts(src: str, dst: str, files: Files) -> Files:
    return accounts.convert(src, dst, files) if accounts.PASSWD in files else {}


def _postgresql(src: str, dst: str, files: Files) -> Files:
    out: Files = {}
    for path, data in files.items():
        new = postgresql.rename(src, dst, path)
        if path.endswith("/postgresql.conf"):
            data = postgresql.convert_conf(src, dst, data, new)
        out[new] = data
    return out


_STEPS: Mapping[str, _Step] = {
    "identity": _identity,
    "accounts": _accounts,
    "postgresql": _postgresql,
    "chrony": chrony.convert,
}


@dataclass(frozen=True)
class TestConversion:
    __test__ = False  # not a pytest class, despite its name
    env: int  # the target EnvVersion
    problem: str | None  # None: converts; else what fails (file:line: expected ...)

    def line(self) -> str:
        if self.problem is None:
            return f"test conversion to Env{self.env}: ok"
        return f"test conversion to Env{self.env}: FAILS: {self.problem}"


def _paths(aspect: str, fmt: str, device: str) -> tuple[str, ...]:
    if aspect == "identity":
        return identity.paths(fmt, device)
    if aspect == "accounts":
        return accounts.paths(fmt)
    if aspect == "chrony":
        return chrony.paths(fmt)
    return postgresql.paths(fmt)


def _read(server: Server, paths: tuple[str, ...]) -> Files:
    root, found = server.settings.system_root, {}
    for path in paths:
        target = root / path.lstrip("/")
        if target.is_file():
            found[path] = target.read_bytes()
        elif target.is_dir():  # chrony's conf.d: every file in it is converted too
            for inner in sorted(p for p in target.rglob("*") if p.is_file()):
                found[f"{path}/{inner.relative_to(target)}"] = inner.read_bytes()
    return found


def test_convert(server: Server) -> list[TestConversion]:
    """Convert this server's files to every older EnvVersion of its envs.toml (ConvertToOlder,
    one adjacent step at a time as a cycle does): one result per target, newest first."""
    return _chain(server, server.envs, list(range(server.env_id - 1, 0, -1)))


def test_convert_newer(
    server: Server, newer: Mapping[int, EnvDef], upto: int
) -> list[TestConversion]:
    """Convert this server's files up to every EnvVersion above its own up to `upto`
    (ConvertToNewer, as the newer partner will do with this server's snapshot), with the
    definitions of the newer EnvVersions in `newer`: one result per target, oldest first."""
    return _chain(server, {**newer, **server.envs}, list(range(server.env_id + 1, upto + 1)))


def _chain(server: Server, envs: Mapping[int, EnvDef], targets: list[int]) -> list[TestConversion]:
    top = server.env_id
    own = envs[top]
    current = {
        name: _read(server, _paths(name, fmt, own.device))
        for name, fmt in own.formats.items()
        if name in _STEPS
    }
    results: list[TestConversion] = []
    failed: str | None = None
    previous = top
    for target in targets:
        if failed is None:
            a, b = envs[previous], envs[target]
            try:
                for name, files in list(current.items()):
                    fa, fb = a.formats.get(name), b.formats.get(name)
                    if fa and fb and fa != fb:
                        current[name] = _STEPS[name](fa, fb, files)
            except ConversionError as exc:
                failed = str(exc)
            results.append(TestConversion(target, failed))
        else:
            results.append(TestConversion(target, f"not reached (Env{previous} fails)"))
        previous = target
    return results


test_convert.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
test_convert_newer.__test__ = False  # type: ignore[attr-defined]


def notes(server: Server) -> list[str]:
    """What the administrator should know about this server's files before the first cycle:
    files the identity's format leaves unread (Debian's interfaces.d)."""
    own = server.envs[server.env_id]
    found = []
    if own.formats.get("identity") == identity.DEBIAN:
        extra = server.settings.system_root / INTERFACES_D.lstrip("/")
        if extra.is_dir() and any(extra.iterdir()):
            names = ", ".join(sorted(p.name for p in extra.iterdir()))
            found.append(
                f"{INTERFACES_D} holds {names}: not part of the identity, and not read after "
                "an Identity Install (the rendered interfaces has no `source` line)"
            )
    return found
