"""Bytes and text at the boundaries: file names are any bytes, text files are UTF-8.

A Linux file name is a byte string. atlas-ha holds names as `str` decoded the way os.fsdecode
decodes them (UTF-8, every byte that is not UTF-8 as a lone surrogate U+DC80..U+DCFF,
"surrogateescape"), so every name round-trips to the same bytes through os.fsencode, the
subprocess argv of git and rsync, `encode_name` and the Manifest's JSON escapes ("\\udce9").

Text that is shown to people (the CLI's output, log lines, error messages) renders those
bytes as backslash escapes (`shown`: b"caf\\xe9" -> "caf\\xe9") instead of failing to print.

The files an operator writes that are not lists of names (settings, MasterConfig, envs.toml,
EnvID, SnapshotEnvVersion) are UTF-8 text: `utf8` refuses anything else, naming the file, the
line and the byte.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import TextIO

from atlas_ha.errors import FormatError

NAMES = "surrogateescape"  # the error handler of every name decode and encode
SHOWN = "atlas-ha-shown"  # the error handler of output meant for people


def _escape(exc: UnicodeError) -> tuple[str, int]:
    """Render what cannot be encoded: an undecodable byte as \\xNN, anything else as \\uNNNN."""
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    out = []
    for char in exc.object[exc.start : exc.end]:
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code > 0xFFFF:
            out.append(f"\\U{code:08x}")
        else:
            out.append(f"\\u{code:04x}")
    return "".join(out), exc.end


codecs.register_error(SHOWN, _escape)


def encode_name(name: str) -> bytes:
    """The bytes of a name (os.fsencode for a UTF-8 file system)."""
    return name.encode("utf-8", NAMES)


def decode_name(raw: bytes) -> str:
    """A name's `str` form (os.fsdecode for a UTF-8 file system); never fails."""
    return raw.decode("utf-8", NAMES)


def is_name(name: str) -> bool:
    """True when `name` is the decoded form of some bytes (no other lone surrogates)."""
    if name.isascii():
        return True
    try:
        encode_name(name)
    except UnicodeEncodeError:
        return False
    return True


def shown(name: str) -> str:
    """`name` as printable text: bytes that are not UTF-8 as \\xNN escapes."""
    if name.isascii():
        return name
    return name.encode("utf-8", SHOWN).decode("utf-8")


def show_names_on(*streams: TextIO) -> None:
    """Make `streams` (stdout, stderr) print undecodable bytes of names as \\xNN escapes
    instead of raising UnicodeEncodeError in the middle of a report."""
    for stream in streams:
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors=SHOWN)


def bad_byte(data: bytes, exc: UnicodeDecodeError) -> tuple[int, str]:
    """(line number, description) of the first byte of `data` that is not UTF-8."""
    line = data.count(b"\n", 0, exc.start) + 1
    column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
    return line, f"expected UTF-8 text (byte 0x{data[exc.start]:02x} at column {column} is not)"


def utf8(data: bytes, where: Path | str) -> str:
    """`data` decoded as UTF-8; FormatError naming `where`, the line and the byte if not."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, expected = bad_byte(data, exc)
        raise FormatError(shown(str(where)), line, expected) from None
