"""smb.conf, read the way Samba reads it, for the smb verifier: sections, disk shares, paths.

Samba's format: `[section]` headers, `name = value` lines (parameter names are case- and
space-insensitive: "Path", "path" and "pa th" are one), comments from `#` or `;` at a line's
start, a trailing backslash continuing the line. `directory` is a synonym of `path`.
`include =` lines are named (their files are not read: the verifier reads the one file the
services file lists) and so are shares whose path holds a substitution (`%S`, `%U`, ...):
they have no one path to put a test file in. Whatever a line holds, parsing never fails: a
line that is neither a header nor a parameter is kept as a problem with its line number.
"""

from __future__ import annotations

from dataclasses import dataclass, field

NOT_DISK = {"global", "homes", "printers"}  # sections that are not one plain disk share


@dataclass
class Share:
    name: str
    line: int  # of its [header]
    params: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> str | None:
        return self.params.get("path", self.params.get("directory"))

    def flag(self, name: str, default: bool) -> bool:
        value = self.params.get(name)
        if value is None:
            return default
        return value.strip().lower() in ("yes", "true", "1", "on")


@dataclass
class SmbConf:
    sections: dict[str, Share] = field(default_factory=dict)  # by lower-case name
    includes: list[tuple[int, str]] = field(default_factory=list)  # (line, value)
    problems: list[str] = field(default_factory=list)

    def disk_shares(self) -> list[Share]:
        """The shares a client can read files from: not [global], [homes], [printers], not
        printable, not `available = no`."""
        return [
            s
            for key, s in self.sections.items()
            if key not in NOT_DISK
            and not s.flag("printable", False)
            and not s.flag("print ok", False)
            and s.flag("available", True)
        ]

    def share(self, name: str) -> Share | None:
        return self.sections.get(name.strip().lower())


def _key(name: str) -> str:
    return " ".join(name.lower().split()).replace(" ", "")


CANONICAL = {"path": "path", "directory": "directory", "printok": "print ok"}


def parse(text: str) -> SmbConf:
    conf = SmbConf()
    current: Share | None = None
    for number, line in _logical_lines(text):
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        if stripped.startswith("["):
            end = stripped.find("]")
            name = stripped[1:end].strip() if end > 0 else ""
            if not name:
                conf.problems.append(f"line {number}: a section header [name], not {stripped!r}")
                current = None
                continue
            current = conf.sections.setdefault(name.lower(), Share(name, number))
            continue
        key, equals, value = stripped.partition("=")
        if not equals or not key.strip():
            conf.problems.append(f"line {number}: name = value, not {stripped[:60]!r}")
            continue
        canonical = _key(key)
        name = CANONICAL.get(canonical, " ".join(key.lower().split()))
        value = value.strip()
        if canonical == "include":
            conf.includes.append((number, value))
            continue
        if current is None:
            current = conf.sections.setdefault("global", Share("global", number))
        current.params[name] = value
    return conf


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first physical line number, line) with backslash continuations joined."""
    lines: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        if pending is not None:
            start, head = pending
            raw, number = head + raw, start
            pending = None
        if raw.rstrip().endswith("\\"):
            pending = (number, raw.rstrip()[:-1])
            continue
        lines.append((number, raw))
    if pending is not None:
        lines.append(pending)
    return lines


def has_substitution(path: str) -> bool:
    return "%" in path
