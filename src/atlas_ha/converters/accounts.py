"""Local accounts in two formats.

- ``passwd-hash`` (Env1): ``/etc/passwd`` holds the password hash in its 2nd field;
  ``/etc/group``.
- ``shadow`` (Env2, Env3): ``/etc/passwd`` holds ``x`` in its 2nd field and the hashes live in
  ``/etc/shadow`` (9 fields); ``/etc/group``.

Converting to ``shadow`` writes ``name:hash:::::::`` per user: the aging fields stay empty,
never invented. Converting from ``shadow`` accepts the aging a stock installation writes
(Debian's and RHEL's ``:19700:0:99999:7:::``) because it has no effect (shadow(5)): a line's
aging is *inert* when the account expiry (field 8) and the reserved field (9) are empty and
either the last-change date (3) is empty (aging disabled) or it is a positive day number with
no minimum age (4: empty or 0) and no maximum age (5: empty or 99999 and more, "never"); the
warning (6) and inactivity (7) periods then never apply. Such aging is dropped: coming back
to ``shadow`` it is empty, which means the same (:func:`same_meaning` says so for Compare).
Any other aging (a minimum or maximum age, a forced change ``lastchg=0``, an expiry date)
has no equivalent in ``passwd-hash`` and is refused naming the file, line and field.
``/etc/group`` is passed through unchanged. Files are handled as bytes (no decoding), line
order is kept; comments and blank lines are not allowed, an empty file is. Every problem
raises :class:`ConversionError` naming the file and the line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from atlas_ha.errors import ConversionError

PASSWD_HASH = "passwd-hash"  # noqa: S105 - a format name, not a password
SHADOW_FORMAT = "shadow"
FORMATS: tuple[str, ...] = (PASSWD_HASH, SHADOW_FORMAT)

PASSWD = "/etc/passwd"  # noqa: S105 - a path, not a password
SHADOW = "/etc/shadow"
GROUP = "/etc/group"

_ID = re.compile(rb"[0-9]{1,10}")
# Bytes that may not appear in a user name: whitespace and other control characters.
_BAD_NAME_BYTE = re.compile(rb"[\x00-\x20\x7f]")


@dataclass(frozen=True)
class _Entry:
    """One line of /etc/passwd or /etc/shadow: its 1-based line number and its fields."""

    line: int
    fields: tuple[bytes, ...]

    @property
    def name(self) -> bytes:
        return self.fields[0]

    def shown(self) -> str:
        return self.name.decode("utf-8", "replace")


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown accounts format {fmt!r}; known: {', '.join(FORMATS)}")


def paths(fmt: str) -> tuple[str, ...]:
    """The absolute system paths of the account files of ``fmt``."""
    _check_format(fmt)
    return (PASSWD, GROUP) if fmt == PASSWD_HASH else (PASSWD, SHADOW, GROUP)


# --- reading and writing lines ------------------------------------------------------------------


def _check_name(path: str, line: int, name: bytes) -> None:
    if not name:
        raise ConversionError(path, line, "expected a user name in field 1, found nothing")
    if name[:1] == b"#":
        raise ConversionError(path, line, "comments are not allowed in this file")
    if name[:1] in (b"+", b"-"):
        raise ConversionError(path, line, "NIS compat entries (+/-) are not supported")
    if _BAD_NAME_BYTE.search(name):
        raise ConversionError(path, line, "expected a user name without whitespace or controls")


def _check_passwd_ids(line: int, fields: tuple[bytes, ...]) -> None:
    for what, value in (("uid", fields[2]), ("gid", fields[3])):
        if _ID.fullmatch(value) is None:
            raise ConversionError(PASSWD, line, f"expected a numeric {what} in the passwd line")


def _entries(path: str, data: bytes, nfields: int) -> list[_Entry]:
    """The lines of ``data``, each split into exactly ``nfields`` ':'-separated fields."""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    entries: list[_Entry] = []
    seen: dict[bytes, int] = {}
    for number, text in enumerate(lines, start=1):
        fields = tuple(text.split(b":"))
        _check_name(path, number, fields[0])
        if len(fields) != nfields:
            found = len(fields)
            raise ConversionError(path, number, f"expected {nfields} fields, found {found}")
        if path == PASSWD:
            _check_passwd_ids(number, fields)
        entry = _Entry(number, fields)
        if entry.name in seen:
            first = seen[entry.name]
            raise ConversionError(path, number, f"user {entry.shown()!r} repeats line {first}")
        seen[entry.name] = number
        entries.append(entry)
    return entries


def _join(lines: list[bytes]) -> bytes:
    return b"".join(line + b"\n" for line in lines)


def _with_password(entry: _Entry, password: bytes) -> bytes:
    return b":".join((entry.name, password, *entry.fields[2:]))


# --- the two directions -------------------------------------------------------------------------


def to_shadow(passwd: bytes) -> tuple[bytes, bytes]:
    """A passwd-hash ``/etc/passwd`` -> (``/etc/passwd`` with ``x``, ``/etc/shadow``)."""
    new_passwd: list[bytes] = []
    shadow: list[bytes] = []
    for entry in _entries(PASSWD, passwd, 7):
        password = entry.fields[1]
        if password == b"x":
            raise ConversionError(
                PASSWD, entry.line, f"expected the password hash of {entry.shown()!r}, found 'x'"
            )
        new_passwd.append(_with_password(entry, b"x"))
        shadow.append(entry.name + b":" + password + b":::::::")
    return _join(new_passwd), _join(shadow)


_DAY = re.compile(rb"[0-9]{1,10}")
_NEVER = 99999  # the maximum age shadow tools write for "the password never expires"
_AGING = ("last change", "minimum age", "maximum age", "warning", "inactivity", "expiry")


def _aging_problem(fields: tuple[bytes, ...]) -> str | None:
    """Why the aging fields 3..9 of a shadow line have an effect, or None if they have none."""
    last, low, high, warn, inactive, expire, reserved = fields[2:9]
    for number, value in enumerate(fields[2:8], start=3):
        if value and _DAY.fullmatch(value) is None:
            return f"field {number} ({_AGING[number - 3]}): expected a number of days"
    if expire:
        return "field 8 (account expiry date) has no equivalent in passwd-hash"
    if reserved:
        return "field 9 (reserved) is not empty"
    if not last:
        return None  # shadow(5): an empty last-change date disables aging
    if int(last) == 0:
        return "field 3 = 0 (change the password at next login) has no equivalent"
    if low and int(low) != 0:
        return "field 4 (minimum password age) has no equivalent in passwd-hash"
    if high and int(high) < _NEVER:
        return "field 5 (maximum password age) has no equivalent in passwd-hash"
    del warn, inactive  # without a maximum age they never apply
    return None


def _inert_aging(fields: tuple[bytes, ...]) -> bool:
    return _aging_problem(fields) is None


def _shadow_hashes(shadow: bytes, users: set[bytes]) -> dict[bytes, bytes]:
    """Name -> hash of a shadow file that has an equivalent in passwd-hash."""
    hashes: dict[bytes, bytes] = {}
    for entry in _entries(SHADOW, shadow, 9):
        problem = _aging_problem(entry.fields)
        if problem is not None:
            raise ConversionError(
                SHADOW,
                entry.line,
                f"password aging of {entry.shown()!r}: {problem}; supported: none or the "
                "defaults (min 0, max 99999)",
            )
        if entry.fields[1] == b"x":
            raise ConversionError(
                SHADOW, entry.line, "hash 'x' would read as 'see /etc/shadow' in passwd-hash"
            )
        if entry.name not in users:
            raise ConversionError(
                SHADOW, entry.line, f"user {entry.shown()!r} has no line in {PASSWD}"
            )
        hashes[entry.name] = entry.fields[1]
    return hashes


def from_shadow(passwd: bytes, shadow: bytes) -> bytes:
    """(``/etc/passwd`` with ``x``, ``/etc/shadow``) -> a passwd-hash ``/etc/passwd``.

    Lines keep the order of ``/etc/passwd``.
    """
    users = _entries(PASSWD, passwd, 7)
    hashes = _shadow_hashes(shadow, {entry.name for entry in users})
    lines: list[bytes] = []
    for entry in users:
        if entry.fields[1] != b"x":
            raise ConversionError(
                PASSWD, entry.line, f"expected 'x' in field 2 of {entry.shown()!r} (shadow format)"
            )
        if entry.name not in hashes:
            raise ConversionError(
                SHADOW, None, f"no line for user {entry.shown()!r} ({PASSWD} line {entry.line})"
            )
        lines.append(_with_password(entry, hashes[entry.name]))
    return _join(lines)


def same_meaning(path: str, a: bytes, b: bytes) -> bool:
    """Whether two versions of the account file ``path`` (shadow format) mean the same.

    Only ``/etc/shadow`` has a normal form: inert aging (see the module) reads as empty
    aging. Files that do not parse are compared as bytes.
    """
    if path != SHADOW or a == b:
        return a == b
    try:
        return _normal_shadow(a) == _normal_shadow(b)
    except ConversionError:
        return False


def _normal_shadow(data: bytes) -> list[tuple[bytes, ...]]:
    out = []
    for entry in _entries(SHADOW, data, 9):
        fields = entry.fields
        out.append(fields[:2] + (b"",) * 7 if _inert_aging(fields) else fields)
    return out


def _need(files: Mapping[str, bytes], path: str) -> bytes:
    if path not in files:
        raise ConversionError(path, None, "missing: this account file is expected")
    return files[path]


def convert(src_fmt: str, dst_fmt: str, files: Mapping[str, bytes]) -> dict[str, bytes]:
    """The account files of ``files`` (format ``src_fmt``) in format ``dst_fmt``, by path.

    The same format copies the files unchanged; ``/etc/group`` is always copied unchanged.
    """
    _check_format(src_fmt)
    _check_format(dst_fmt)
    if src_fmt == dst_fmt:
        return {path: _need(files, path) for path in paths(dst_fmt)}
    group = _need(files, GROUP)
    if dst_fmt == SHADOW_FORMAT:
        passwd, shadow = to_shadow(_need(files, PASSWD))
        return {PASSWD: passwd, SHADOW: shadow, GROUP: group}
    return {PASSWD: from_shadow(_need(files, PASSWD), _need(files, SHADOW)), GROUP: group}


FIELDS = {PASSWD: 7, SHADOW: 9, GROUP: 4}


def check(fmt: str, files: Mapping[str, bytes]) -> None:
    """Parse the account files of format ``fmt`` in ``files`` (a missing one or a malformed
    line: ConversionError naming the file and line); `atlas-ha doctor` runs it."""
    _check_format(fmt)
    for path in paths(fmt):
        _entries(path, _need(files, path), FIELDS[path])


def group_id(group: bytes, name: bytes) -> int | None:
    """The gid of group `name` in the /etc/group content `group` (None: no such group)."""
    for line in group.split(b"\n"):
        fields = line.split(b":")
        if len(fields) == 4 and fields[0] == name and _ID.fullmatch(fields[2]):
            return int(fields[2])
    return None
