"""Crash signatures (SPEC 7.3, seed [P404]): a cleaned traceback and its SHA-256.

The cleaned traceback keeps what names the fault and drops what names the machine: for each
exception of the chain (causes first, as Python prints them) its type, and for each frame
its module (the module's own name, `atlas_ha.sync.cycle`, never the path it was installed
under: a version directory, a venv, a temporary copy), its function (qualified name) and its
source line with whitespace normalised — no line numbers, no addresses, no PIDs, no paths.
The signature is the SHA-256 of exactly that text, so a bundle from another site can be
checked line by line (`Crash.verify`). The exception's message is kept beside it, cleaned the
same way (`clean_message`), and is not part of the signature.

A core file's cleaned traceback is its program's name, its signal and the functions of its
backtrace (gdb's, where gdb is installed and resolves them), with libraries by file name.
"""

from __future__ import annotations

import hashlib
import linecache
import re
import sysconfig
import traceback
from dataclasses import dataclass
from pathlib import PurePath
from types import TracebackType

HEX_RE = re.compile(r"0x[0-9a-fA-F]+")
PATH_RE = re.compile(r"(?<![\w.])/(?:[^\s'\":,()\[\]]+/)*([^\s'\":,()\[\]/]*)")
NUMBER_RE = re.compile(r"(?<![\w.])\d{3,}(?![\w.])")
SPACE_RE = re.compile(r"\s+")


@dataclass(frozen=True)
class Crash:
    signature: str  # SHA-256 hex of `cleaned`
    cleaned: str  # the cleaned traceback (what is hashed)
    title: str  # "<type>: <cleaned message>" (for lists; not hashed)
    raw: str  # the traceback as Python (or gdb) printed it, machine specifics and all

    @staticmethod
    def verify(signature: str, cleaned: str) -> bool:
        return hashlib.sha256(cleaned.encode()).hexdigest() == signature


def clean_message(text: str) -> str:
    """A message without addresses, paths (the file name stays) and long numbers (PIDs)."""
    text = HEX_RE.sub("0x?", text)
    text = PATH_RE.sub(lambda m: f"<path>/{m.group(1)}" if m.group(1) else "<path>", text)
    return NUMBER_RE.sub("N", text)


def normalised_line(line: str) -> str:
    return HEX_RE.sub("0x?", SPACE_RE.sub(" ", line.strip()))


def module_of_path(filename: str) -> str:
    """A module name from a file name, when the frame's module did not say: the part after the
    last `atlas_ha`, `site-packages` or the standard library, else the file's stem."""
    path = PurePath(filename)
    parts = list(path.with_suffix("").parts)
    if "atlas_ha" in parts:
        index = len(parts) - 1 - parts[::-1].index("atlas_ha")
        return ".".join(parts[index:])
    for marker in ("site-packages", "dist-packages"):
        if marker in parts:
            index = len(parts) - 1 - parts[::-1].index(marker)
            return ".".join(parts[index + 1 :]) or path.stem
    stdlib = sysconfig.get_paths().get("stdlib")
    if stdlib and str(path).startswith(stdlib.rstrip("/") + "/"):
        return ".".join(PurePath(str(path)[len(stdlib) + 1 :]).with_suffix("").parts)
    return path.stem


def type_name(cls: type[BaseException]) -> str:
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def _frames(tb: TracebackType | None) -> list[str]:
    out = []
    while tb is not None:
        frame, code = tb.tb_frame, tb.tb_frame.f_code
        name = frame.f_globals.get("__name__")
        module = name if isinstance(name, str) and name != "__main__" else None
        module = module or module_of_path(code.co_filename)
        source = normalised_line(linecache.getline(code.co_filename, tb.tb_lineno))
        out.append(f"  at {module}:{code.co_qualname}: {source}")
        tb = tb.tb_next
    return out


def chain(exc: BaseException) -> list[tuple[BaseException, str]]:
    """The exceptions of `exc`'s chain, first cause first, each with how it led to the next."""
    found: list[tuple[BaseException, str]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    how = ""
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        found.append((current, how))
        if current.__cause__ is not None:
            current, how = current.__cause__, "caused"
        elif current.__context__ is not None and not current.__suppress_context__:
            current, how = current.__context__, "during"
        else:
            current = None
    found.reverse()  # each `how` now says how it led to the one after it
    return found


MAX_GROUP_DEPTH = 8  # exception groups nested deeper than this are hashed by type only


def _cleaned(exc: BaseException, depth: int, seen: set[int]) -> list[str]:
    """The cleaned lines of `exc`'s chain; an exception group's members follow its own
    frames, indented, each a chain of its own, in sorted order (the same failures of a task
    group finishing in another order are one signature)."""
    lines: list[str] = []
    for current, leads in chain(exc):
        lines.append(f"exception {type_name(type(current))}")
        lines += _frames(current.__traceback__)
        members = getattr(current, "exceptions", None)
        if isinstance(current, BaseExceptionGroup) and isinstance(members, tuple):
            if depth >= MAX_GROUP_DEPTH or id(current) in seen:
                lines.append("with members (not followed)")
            else:
                seen.add(id(current))
                blocks = sorted(
                    "\n".join("    " + line for line in _cleaned(member, depth + 1, seen))
                    for member in members
                    if isinstance(member, BaseException)
                )
                lines += [f"with {len(blocks)} members", *blocks]
        if leads == "caused":
            lines.append("which caused")
        elif leads == "during":
            lines.append("during whose handling")
    return lines


def of_exception(exc: BaseException) -> Crash:
    """The signature of an uncaught exception: its chain, and an exception group's members."""
    cleaned = "\n".join(_cleaned(exc, 0, set())) + "\n"
    title = f"{type_name(type(exc))}: {clean_message(str(exc))}".rstrip(": ")
    raw = "".join(traceback.format_exception(exc))
    return Crash(hashlib.sha256(cleaned.encode()).hexdigest(), cleaned, title, raw)


# gdb's `bt`: "#3  0x00007f... in func (args) from /lib/x/libc.so.6" or "#0  func (a=1) at f.c:9"
GDB_FRAME_RE = re.compile(
    r"^#\d+\s+(?:0x[0-9a-f]+\s+in\s+)?(?P<func>\S+)\s*(?:\(.*?\))?\s*"
    r"(?:(?:at|from)\s+(?P<where>\S+?)(?::\d+)?)?$"
)


def of_core(program: str, signal_name: str, backtrace: str) -> Crash:
    """The signature of a core of `program` killed by `signal_name`, from gdb's backtrace
    text (may be empty): the resolved functions, libraries by file name."""
    lines = [f"core {PurePath(program).name}", f"signal {signal_name}"]
    for line in backtrace.splitlines():
        match = GDB_FRAME_RE.match(line.strip())
        if match and match["func"] != "??":
            where = f" ({PurePath(match['where']).name})" if match["where"] else ""
            lines.append(f"  at {match['func']}{where}")
    cleaned = "\n".join(lines) + "\n"
    title = f"{PurePath(program).name} killed by {signal_name}"
    raw = f"{program} killed by {signal_name}\n{backtrace}"
    return Crash(hashlib.sha256(cleaned.encode()).hexdigest(), cleaned, title, raw)
