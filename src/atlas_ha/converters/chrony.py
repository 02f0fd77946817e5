"""Where chrony's configuration lives, in two formats (the distributions' own packages).

- ``debian`` (Env2, Env3): ``/etc/chrony/chrony.conf``, which includes
  ``confdir /etc/chrony/conf.d`` (``*.conf``) and ``sourcedir /etc/chrony/sources.d``
  (``*.sources``); the key file is ``/etc/chrony/chrony.keys``.
- ``rhel`` (Env1): ``/etc/chrony.conf`` (chronyd's compiled-in location), no configuration
  directory; the key file is ``/etc/chrony.keys``.

The main file moves between the two places. Inside it, the one directive whose stock value
names the configuration directory, ``keyfile``, follows it (the key file itself is each
server's own, not synced); every other line is kept byte for byte. The Debian-only
directories have no place in the RHEL layout: going there, their ``confdir``/``sourcedir``
lines are dropped when the directories hold nothing, and a file in them raises
ConversionError naming it (its directives belong in chrony.conf first). Going to Debian the
RHEL file gains no line (a Debian chronyd without ``confdir`` reads what the file says)
and the snapshot gains Debian's two directories, empty, as its package ships them.

Compare (at a Debian EnvVersion) therefore reads two Debian files as the same when they
differ only by those stock ``confdir``/``sourcedir`` lines: a file that went through the
RHEL layout lost them, and it could only do so when the directories held nothing.
"""

from __future__ import annotations

import re

from atlas_ha.errors import ConversionError

DEBIAN = "debian"
RHEL = "rhel"
FORMATS: tuple[str, ...] = (RHEL, DEBIAN)
DEBIAN_CONF = "/etc/chrony/chrony.conf"
DEBIAN_DIRS = ("/etc/chrony/conf.d", "/etc/chrony/sources.d")
RHEL_CONF = "/etc/chrony.conf"
KEYFILES = {DEBIAN: "/etc/chrony/chrony.keys", RHEL: "/etc/chrony.keys"}
# a directive line: leading blanks, the (case-insensitive) name, blanks, its first argument
_LINE_RE = re.compile(rb"^(?P<head>[ \t]*(?P<name>[A-Za-z]+)[ \t]+)(?P<arg>\S+)(?P<tail>.*)$", re.S)


def conf_path(fmt: str) -> str:
    """The absolute system path of the main configuration file of ``fmt``."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown chrony format {fmt!r}; known: {', '.join(FORMATS)}")
    return DEBIAN_CONF if fmt == DEBIAN else RHEL_CONF


def paths(fmt: str) -> tuple[str, ...]:
    """The absolute system paths that hold chrony's configuration in ``fmt``."""
    return (conf_path(fmt), *(DEBIAN_DIRS if fmt == DEBIAN else ()))


def convert(src: str, dst: str, files: dict[str, bytes]) -> dict[str, bytes]:
    """The files of ``src`` ({path: content}, those under `paths(src)`) in ``dst``."""
    main, target = conf_path(src), conf_path(dst)
    if src == dst:
        return dict(files)
    if dst == RHEL:
        extra = sorted(p for p in files if p != main)
        if extra:
            raise no_place(src, extra[0])
    return {target: convert_conf(src, dst, files[main])} if main in files else {}


def same_meaning(a: bytes, b: bytes) -> bool:
    """Whether two Debian chrony.conf mean the same but for the stock lines naming Debian's
    own (empty) directories."""
    return _without_debian_dirs(a) == _without_debian_dirs(b)


def _without_debian_dirs(content: bytes) -> list[bytes]:
    return [ln for ln in content.splitlines(keepends=True) if not _names_debian_dir(ln)]


def _names_debian_dir(line: bytes) -> bool:
    m = _LINE_RE.match(line)
    if m is None or m["name"].lower() not in (b"confdir", b"sourcedir"):
        return False
    named = [a.rstrip("/") for a in (m["arg"] + m["tail"]).decode(errors="replace").split()]
    return all(a in DEBIAN_DIRS for a in named)


def no_place(src: str, path: str) -> ConversionError:
    """The error for a file of Debian's configuration directories going to RHEL."""
    main = conf_path(src)
    return ConversionError(
        path,
        None,
        f"only {main} (the RHEL layout has no {path.rsplit('/', 1)[0]}: move its "
        f"directives into {main} to sync it to an RHEL-like environment)",
    )


def convert_conf(src: str, dst: str, content: bytes) -> bytes:
    """chrony.conf of ``src`` as ``dst`` reads it: ``keyfile`` in the source's stock place
    moves to the target's; Debian's ``confdir``/``sourcedir`` of its own directories are
    dropped going to RHEL; every other line byte for byte."""
    out = []
    for number, line in enumerate(content.splitlines(keepends=True), start=1):
        m = _LINE_RE.match(line)
        if m is None:
            out.append(line)
            continue
        name, arg = m["name"].lower(), m["arg"].decode(errors="replace")
        if name == b"keyfile" and arg == KEYFILES[src]:
            out.append(m["head"] + KEYFILES[dst].encode() + m["tail"])
        elif name in (b"confdir", b"sourcedir") and dst == RHEL:
            named = [a.rstrip("/") for a in (m["arg"] + m["tail"]).decode(errors="replace").split()]
            ours = [a for a in named if a in DEBIAN_DIRS]
            if ours and len(ours) < len(named):
                raise ConversionError(
                    conf_path(src), number, f"{ours[0]} alone on its {name.decode()} line"
                )
            if not ours:
                out.append(line)
            # else: the directory has no place there, and it held nothing (convert)
        else:
            out.append(line)
    return b"".join(out)
