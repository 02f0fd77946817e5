"""Path lists (SyncFilePaths, IdentFilePaths, SyncFilePathsSpecial ...): one path a line.

A line is a file name, and a file name is bytes: a list is read with every byte that is not
UTF-8 kept as its name's surrogate escape (atlas_ha.text), so any name can be listed and is
written back with exactly its bytes.
"""

from __future__ import annotations

from pathlib import Path

from atlas_ha.errors import FormatError
from atlas_ha.text import decode_name, is_name

BLANKS = " \t\r"  # around a line's path; a name may hold any other character, \x85 or U+2028


def normalise(path: str, where: Path | str, line: int | None) -> str:
    """Check that `path` is absolute and clean (no '..', no '.', no '//'); return it."""
    if not path.startswith("/") or path == "/":
        raise FormatError(where, line, f"an absolute path below /, got {path!r}")
    parts = path.split("/")[1:]
    if any(p in ("", ".", "..") for p in parts) or "\0" in path:
        raise FormatError(where, line, f"a clean absolute path (no '.', '..', '//'), got {path!r}")
    if not is_name(path):
        raise FormatError(where, line, f"a file name (bytes), got {path!r}")
    return path  # checked clean: PurePosixPath(path) would render it unchanged


def parse(text: str, where: Path | str) -> list[str]:
    """Parse a path list: one path a line (lines end at LF only), blanks around it dropped;
    '#' starts a comment line; duplicates are an error."""
    result: list[str] = []
    seen: set[str] = set()
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip(BLANKS)
        if not line or line.startswith("#"):
            continue
        path = normalise(line, where, number)
        if path in seen:
            raise FormatError(where, number, f"each path once; {path} repeats")
        seen.add(path)
        result.append(path)
    return result


def render(paths: list[str], comment: str | None = None) -> str:
    head = f"# {comment}\n" if comment else ""
    return head + "".join(p + "\n" for p in paths)


def read(path: Path) -> list[str]:
    try:
        return parse(decode_name(path.read_bytes()), path)
    except FileNotFoundError:
        return []


def covered(path: str, listed: list[str]) -> bool:
    """True when `path` is one of `listed` or lies inside a listed directory."""
    return any(path == p or path.startswith(p + "/") for p in listed)
