"""/proc/mdstat: personalities, arrays, their members, status and progress lines.

    Personalities : [raid1] [raid6] [raid5] [raid4]
    md0 : active raid1 vdc[2](F) vdb[1] vda[0](W)
          7168 blocks super 1.2 [3/2] [UU_]
          [=>...................]  recovery =  6.6% (512/7168) finish=0.2min speed=512K/sec
          bitmap: 1/1 pages [4KB], 65536KB chunk

    unused devices: <none>

`parse` returns an Mdstat or raises FormatError naming the line and what was expected; it
never raises anything else. Indented lines of an array that are of no kind known here are
kept (`Array.extra`): the kernel adds kinds over the years, and health must not fail on one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from atlas_ha.errors import FormatError

FLAGS = {"F": "faulty", "S": "spare", "W": "write-mostly", "R": "replacement", "J": "journal"}
ACTIONS = ("resync", "recovery", "check", "repair", "reshape")

PERSONALITIES_RE = re.compile(r"^Personalities : ?((?:\[[^\]\s]+\] ?)*)$")
ARRAY_RE = re.compile(
    r"^(md[\w.-]*) : (active|inactive)((?: \((?:auto-read-only|read-only)\))?)((?: \S+)*) ?$"
)
MEMBER_RE = re.compile(r"^([^\s\[\]()]+)\[(\d{1,20})\]((?:\([FSWRJ]\))*)$")
BLOCKS_RE = re.compile(
    r"^ +(\d{1,20}) blocks(?: super (\S+))?(.*?)(?: \[(\d{1,20})/(\d{1,20})\] \[([U_]+)\])?$"
)
PROGRESS_RE = re.compile(
    r"^ +\[[=>.]+\] +(\w+) = *(\d{1,20}(?:\.\d{1,20})?)% \((\d{1,20})/(\d{1,20})\) "
    r"finish=(\d{1,20}(?:\.\d{1,20})?)min speed=(\d{1,20})K/sec$"
)
WAITING_RE = re.compile(r"^[ \t]+(\w+)=(DELAYED|PENDING|REMOTE)$")
BITMAP_RE = re.compile(
    r"^ +bitmap: (\d{1,20})/(\d{1,20}) pages \[(\d{1,20})KB\], "
    r"(\d{1,20})(KB|MB|B) chunk(?:, file: (.+))?$"
)
UNUSED_RE = re.compile(r"^unused devices: (.*)$")


@dataclass(frozen=True)
class Member:
    name: str  # the kernel's device name: "sda1", "vdc"
    number: int  # the descriptor number in brackets (not the slot: sysfs dev-*/slot has it)
    flags: tuple[str, ...] = ()  # letters of FLAGS, in the order the kernel printed them

    @property
    def faulty(self) -> bool:
        return "F" in self.flags

    @property
    def spare(self) -> bool:
        return "S" in self.flags


@dataclass(frozen=True)
class Progress:
    action: str  # one of ACTIONS
    percent: float | None = None
    done: int | None = None  # KiB blocks
    total: int | None = None
    finish_min: float | None = None
    speed_kib: int | None = None  # K/sec
    waiting: str | None = None  # "DELAYED", "PENDING", "REMOTE": not running yet


@dataclass(frozen=True)
class Bitmap:
    pages_used: int
    pages_total: int
    kib: int
    chunk: str  # "65536KB"
    file: str | None = None


@dataclass(frozen=True)
class Array:
    name: str
    active: bool
    read_only: str = ""  # "", "auto-read-only", "read-only"
    level: str | None = None
    members: tuple[Member, ...] = ()
    blocks: int | None = None
    superblock: str | None = None
    layout: str = ""  # what the blocks line says between super and the counts
    raid_disks: int | None = None
    working: int | None = None
    status: str | None = None  # "UU_": one letter per slot
    progress: Progress | None = None
    bitmap: Bitmap | None = None
    extra: tuple[str, ...] = ()

    @property
    def degraded(self) -> bool:
        """Fewer working disks than slots, as the kernel counts them."""
        return self.status is not None and "_" in self.status

    @property
    def empty_slots(self) -> tuple[int, ...]:
        return tuple(n for n, c in enumerate(self.status or "") if c == "_")


@dataclass(frozen=True)
class Mdstat:
    personalities: tuple[str, ...] = ()
    arrays: tuple[Array, ...] = ()
    unused: tuple[str, ...] = ()
    path: str = field(default="/proc/mdstat", compare=False)

    def array(self, name: str) -> Array | None:
        short = name.removeprefix("/dev/").removeprefix("md/")
        return next((a for a in self.arrays if a.name == short), None)


def read(path: Path) -> Mdstat | None:
    """The parsed file, or None when it does not exist (no md driver loaded)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise FormatError(path, None, f"cannot read: {exc.strerror}") from exc
    return parse(text, path)


def parse(text: str, where: Path | str = "/proc/mdstat") -> Mdstat:
    personalities: tuple[str, ...] = ()
    arrays: list[Array] = []
    unused: tuple[str, ...] = ()
    current: dict[str, object] | None = None

    def close() -> None:
        nonlocal current
        if current is not None:
            arrays.append(Array(**current))  # type: ignore[arg-type]
            current = None

    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            close()
            continue
        if line.startswith("Personalities"):
            close()
            if not (m := PERSONALITIES_RE.match(line)):
                raise FormatError(where, number, "expected 'Personalities : [raid1] ...'")
            personalities = tuple(re.findall(r"\[([^\]]+)\]", m.group(1)))
        elif line.startswith("unused devices"):
            close()
            if not (m := UNUSED_RE.match(line)):
                raise FormatError(where, number, "expected 'unused devices: <none>' or names")
            unused = () if m.group(1).strip() == "<none>" else tuple(m.group(1).split())
        elif line.startswith("md"):
            close()
            current = _array_line(line, number, where)
        elif line.startswith(" ") and current is not None:
            _inner_line(current, line, number, where)
        else:
            raise FormatError(
                where, number, "expected a Personalities, mdN, indented or 'unused devices' line"
            )
    close()
    return Mdstat(personalities, tuple(arrays), unused, str(where))


def _array_line(line: str, number: int, where: Path | str) -> dict[str, object]:
    m = ARRAY_RE.match(line)
    if not m:
        raise FormatError(where, number, "expected 'mdN : active|inactive [LEVEL] DEV[N] ...'")
    words = m.group(4).split()
    level = None
    if words and m.group(2) == "active" and not MEMBER_RE.match(words[0]):
        level = words.pop(0)
    members = []
    for word in words:
        mm = MEMBER_RE.match(word)
        if not mm:
            raise FormatError(where, number, f"member {word!r}: expected NAME[N] and (F)(S)(W)(R)")
        members.append(Member(mm.group(1), int(mm.group(2)), tuple(re.findall(r"\((.)\)", word))))
    read_only = m.group(3).strip(" ()")
    return {
        "name": m.group(1),
        "active": m.group(2) == "active",
        "read_only": read_only,
        "level": level,
        "members": tuple(members),
    }


def _inner_line(current: dict[str, object], line: str, number: int, where: Path | str) -> None:
    stripped = line.strip()
    if re.match(r"^\d+ blocks", stripped):
        m = BLOCKS_RE.match(line)
        if not m or current.get("blocks") is not None:
            raise FormatError(where, number, "expected one 'N blocks [super V] ... [n/m] [UU_]'")
        raid_disks, working, status = m.group(4), m.group(5), m.group(6)
        if status is not None and len(status) != int(raid_disks):
            raise FormatError(where, number, f"[{status}] has not {raid_disks} slots")
        current.update(
            blocks=int(m.group(1)),
            superblock=m.group(2),
            layout=m.group(3).strip(),
            raid_disks=int(raid_disks) if raid_disks else None,
            working=int(working) if working else None,
            status=status,
        )
    elif stripped.startswith("["):
        m = PROGRESS_RE.match(line)
        if not m or m.group(1) not in ACTIONS:
            raise FormatError(
                where, number, "expected '[==>..] ACTION = P% (D/T) finish=Mmin speed=SK/sec'"
            )
        current["progress"] = Progress(
            m.group(1),
            float(m.group(2)),
            int(m.group(3)),
            int(m.group(4)),
            float(m.group(5)),
            int(m.group(6)),
        )
    elif (m := WAITING_RE.match(line)) and m.group(1) in ACTIONS:
        current["progress"] = Progress(m.group(1), waiting=m.group(2))
    elif stripped.startswith("bitmap:"):
        m = BITMAP_RE.match(line)
        if not m:
            raise FormatError(where, number, "expected 'bitmap: U/T pages [NKB], CKB chunk'")
        current["bitmap"] = Bitmap(
            int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4) + m.group(5), m.group(6)
        )
    else:
        current["extra"] = (*current.get("extra", ()), stripped)  # type: ignore[misc]


def render(stat: Mdstat) -> str:
    """The text the kernel would print for `stat` (tests round-trip through it)."""
    out = ["Personalities : " + "".join(f"[{p}] " for p in stat.personalities)]
    for a in stat.arrays:
        head = f"{a.name} : {'active' if a.active else 'inactive'}"
        if a.read_only:
            head += f" ({a.read_only})"
        if a.level:
            head += f" {a.level}"
        for m in a.members:
            head += f" {m.name}[{m.number}]" + "".join(f"({f})" for f in m.flags)
        out.append(head)
        if a.blocks is not None:
            line = f"      {a.blocks} blocks"
            if a.superblock:
                line += f" super {a.superblock}"
            if a.layout:
                line += f" {a.layout}"
            if a.status is not None:
                line += f" [{a.raid_disks}/{a.working}] [{a.status}]"
            out.append(line)
        p = a.progress
        if p is not None and p.waiting:
            out.append(f"      {p.action}={p.waiting}")
        elif p is not None:
            filled = int((p.percent or 0) / 5)
            bar = "=" * filled + ">" + "." * (19 - min(filled, 19))
            out.append(
                f"      [{bar}]  {p.action} = {p.percent:4.1f}% ({p.done}/{p.total}) "
                f"finish={p.finish_min:g}min speed={p.speed_kib}K/sec"
            )
        if a.bitmap is not None:
            b = a.bitmap
            line = (
                f"      bitmap: {b.pages_used}/{b.pages_total} pages [{b.kib}KB], {b.chunk} chunk"
            )
            out.append(line + (f", file: {b.file}" if b.file else ""))
        out += [f"      {e}" for e in a.extra]
        out.append("")
    out.append("unused devices: " + (" ".join(stat.unused) if stat.unused else "<none>"))
    return "\n".join(out) + "\n"
