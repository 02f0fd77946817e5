"""Where the PostgreSQL server configuration lives, in two formats.

- ``pgdata`` (RHEL-like, Env1): beside the data, ``/var/lib/pgsql/data/postgresql.conf`` and
  ``pg_hba.conf``.
- ``debian`` (Env2, Env3): ``/etc/postgresql/15/main/postgresql.conf`` and ``pg_hba.conf``
  (the Debian cluster layout).

The files move between the two directories. Inside ``postgresql.conf``, settings whose value
is a path into the source configuration directory (``hba_file``, ``ident_file``,
``include``, ``include_if_exists``, ``include_dir``) are rewritten to the target directory;
every other line is kept byte for byte. A configuration file the target layout has no place
for (anything else in the directory) raises ConversionError naming it.
"""

from __future__ import annotations

import re

from atlas_ha.errors import ConversionError

PGDATA = "pgdata"
DEBIAN = "debian"
FORMATS: tuple[str, ...] = (PGDATA, DEBIAN)
FILES = ("postgresql.conf", "pg_hba.conf")
_DIRS = {PGDATA: "/var/lib/pgsql/data", DEBIAN: "/etc/postgresql/15/main"}
PATH_SETTINGS = ("hba_file", "ident_file", "include", "include_if_exists", "include_dir")
_SETTING_RE = re.compile(
    r"^(?P<head>\s*(?P<name>[A-Za-z_]+)\s*=?\s*)'(?P<value>(?:[^'\\]|''|\\.)*)'(?P<tail>.*)$"
)


def conf_dir(fmt: str) -> str:
    if fmt not in _DIRS:
        raise ValueError(f"unknown postgresql format {fmt!r}; known: {', '.join(FORMATS)}")
    return _DIRS[fmt]


def paths(fmt: str) -> tuple[str, ...]:
    """The system paths of the synced server configuration in format ``fmt``."""
    return tuple(f"{conf_dir(fmt)}/{name}" for name in FILES)


def rename(src_fmt: str, dst_fmt: str, path: str) -> str:
    """The path in ``dst_fmt`` of a configuration file of a ``src_fmt`` snapshot."""
    src, dst = conf_dir(src_fmt), conf_dir(dst_fmt)
    if src_fmt == dst_fmt or not path.startswith(src + "/"):
        return path
    name = path[len(src) + 1 :]
    if name not in FILES:
        raise ConversionError(
            path, None, f"one of {', '.join(FILES)} (the {dst_fmt} layout has no place for it)"
        )
    return f"{dst}/{name}"


def convert_conf(src_fmt: str, dst_fmt: str, content: bytes, path: str) -> bytes:
    """postgresql.conf with path settings into the source directory moved to the target."""
    src, dst = conf_dir(src_fmt), conf_dir(dst_fmt)
    try:
        text = content.decode()
    except UnicodeDecodeError as exc:
        raise ConversionError(path, None, "UTF-8 text") from exc
    out = []
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        match = _SETTING_RE.match(line.rstrip("\r\n"))
        if match and match["name"].lower() in PATH_SETTINGS:
            value = match["value"]
            if value == src or value.startswith(src + "/"):
                value = dst + value[len(src) :]
            elif value.startswith(dst + "/") or value == dst:
                raise ConversionError(
                    path, number, f"a path outside {dst} (the target directory), got {value}"
                )
            ending = line[len(line.rstrip("\r\n")) :]
            line = f"{match['head']}'{value}'{match['tail']}{ending}"
        out.append(line)
    return "".join(out).encode()
