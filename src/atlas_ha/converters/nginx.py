"""Where nginx sites live, in two formats.

- ``conf.d`` (Env1): each site is ``/etc/nginx/conf.d/<name>.conf`` (loaded by ``*.conf``).
- ``sites-enabled`` (Env2, Env3): each site is ``/etc/nginx/sites-enabled/<name>`` (loaded
  by ``*``).

Only paths move; file contents are not touched. ``conf.d/X.conf`` <-> ``sites-enabled/X``.
A name with no faithful counterpart (a ``conf.d`` file nginx would not load, a nested
directory, a ``sites-enabled`` name ending in ``.conf``) raises :class:`ConversionError`.
"""

from __future__ import annotations

from atlas_ha.errors import ConversionError

CONF_D = "conf.d"
SITES_ENABLED = "sites-enabled"
FORMATS: tuple[str, ...] = (CONF_D, SITES_ENABLED)

_DIRS = {CONF_D: "/etc/nginx/conf.d", SITES_ENABLED: "/etc/nginx/sites-enabled"}
_SUFFIX = ".conf"


def site_dir(fmt: str) -> str:
    """The absolute system path of the directory holding the sites of ``fmt``."""
    if fmt not in _DIRS:
        raise ValueError(f"unknown nginx format {fmt!r}; known: {', '.join(FORMATS)}")
    return _DIRS[fmt]


def paths(fmt: str) -> tuple[str, ...]:
    """The absolute system paths that hold the nginx sites of ``fmt`` (one directory)."""
    return (site_dir(fmt),)


def _site_name(path: str, name: str) -> None:
    """Reject a relative name that is not a single plain file name."""
    if "/" in name:
        raise ConversionError(path, None, "a nested subdirectory has no equivalent (not loaded)")
    if name in ("", ".", ".."):
        raise ConversionError(path, None, "expected a site file name in the sites directory")


def _from_conf_d(path: str, name: str) -> str:
    stem = name.removesuffix(_SUFFIX)
    if stem == name:
        raise ConversionError(
            path, None, "a file not ending in .conf is not loaded by nginx: no equivalent"
        )
    _site_name(path, stem)
    if stem.endswith(_SUFFIX):
        raise ConversionError(path, None, "a name ending in .conf.conf has no faithful equivalent")
    return stem


def _from_sites_enabled(path: str, name: str) -> str:
    if name.endswith(_SUFFIX):
        raise ConversionError(
            path, None, "a site name ending in .conf has no faithful equivalent in conf.d"
        )
    return name + _SUFFIX


def rename(src_fmt: str, dst_fmt: str, path: str) -> str:
    """The path in ``dst_fmt`` of ``path`` (a path of a ``src_fmt`` snapshot).

    The site directory itself maps to the target site directory; paths outside both site
    directories are returned unchanged. A path already inside the target site directory
    would collide with (or change the meaning of) converted sites: ConversionError.
    """
    src, dst = site_dir(src_fmt), site_dir(dst_fmt)
    if src_fmt == dst_fmt:
        return path
    if path == src:
        return dst
    if path == dst or path.startswith(dst + "/"):
        raise ConversionError(
            path,
            None,
            f"{dst} is where {dst_fmt} keeps its sites; a {src_fmt} snapshot "
            "holding it has no faithful equivalent",
        )
    if not path.startswith(src + "/"):
        return path
    name = path[len(src) + 1 :]
    _site_name(path, name)
    new = _from_conf_d(path, name) if src_fmt == CONF_D else _from_sites_enabled(path, name)
    return f"{dst}/{new}"
