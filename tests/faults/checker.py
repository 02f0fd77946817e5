"""What must hold after every fault trial, whatever the fault (the campaign's checker).

After the faulty cycle (each disk read holding the locks its writers hold):
  * every valid area on every disk is exactly what its Manifest says (every listed object
    there with its type, size, checksum and link target, nothing unlisted), and all valid
    areas of one role on one disk hold the same synced test files (conversions copy them);
  * no torn file: every tracked file on every server is one whole version that was written.
After one clean cycle:
  * every SEC compares equal and holds the latest version of every tracked file;
  * no temporary file of a dead process is left (`.NAME.atlas-tmp.PID` in a system root or a
    SID_DATA), no ssh control directory of a dead process, no partner session or rsync of
    the group still running.
Each check returns the problems it found as sentences (an empty list: it held).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from atlas_ha.lab.group import SimGroup
from atlas_ha.layout import objects, rundir
from atlas_ha.layout.sid import SidData
from atlas_ha.layout.tempnames import alive

TMP_RE = re.compile(r"^\..*\.atlas-tmp\.(\d+)$")
SSH_DIR_RE = re.compile(r"^atlas-ssh-")


class Versions:
    """Every content each tracked file (a system path, synced from the PRI) ever had."""

    def __init__(self) -> None:
        self.seen: dict[str, set[bytes]] = {}
        self.latest: dict[str, bytes] = {}

    def write(self, group: SimGroup, path: str, content: bytes) -> None:
        target = group.servers["A"].file(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        self.seen.setdefault(path, set()).add(content)
        self.latest[path] = content


LOCK_WAIT = 120.0  # seconds a writer may still hold a disk's locks after the fault


def area_problems(group: SimGroup, tracked: list[str]) -> list[str]:
    """Each disk's valid areas, read as Send and Compare read them: holding the locks its
    writers hold (`disk_locks`). A fault of one process leaves the others running: a
    PRI killed mid-cycle leaves each SEC's session finishing its SyncUp (Create, then
    ConvertToOlder of its own role), and validity read before that Create and files read
    after it would be two different moments, not one state of the disk."""
    problems = []
    for disk in sorted((group.base / "disks").iterdir()):
        sid = SidData(disk / "SID_DATA")
        with disk_locks(sid) as held:
            if not held:
                problems.append(f"{disk.name}: its locks still held after {LOCK_WAIT:.0f} s")
                continue
            problems += _disk_problems(disk.name, sid, tracked)
    return problems


@contextlib.contextmanager
def disk_locks(sid: SidData, wait: float = LOCK_WAIT) -> Iterator[bool]:
    """Hold what every writer of `sid`'s areas holds (the cycle lock: Create, conversions,
    SyncUp, restores; each role's area lock: a receive's begin and commit), in their order;
    True once held, False when a writer kept one for `wait` seconds."""
    names = ["cycle"] + [f"area-{role}" for role in sid.roles()]
    deadline = time.monotonic() + wait
    sid.locks_dir.mkdir(mode=0o700, exist_ok=True)
    with contextlib.ExitStack() as stack:
        for name in names:
            fd = os.open(sid.locks_dir / name, os.O_RDWR | os.O_CREAT, 0o600)
            stack.callback(os.close, fd)
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        yield False
                        return
                    time.sleep(0.05)
        yield True


def _disk_problems(name: str, sid: SidData, tracked: list[str]) -> list[str]:
    problems = []
    for role in sid.roles():
        trees: set[str] = set()
        for v in sid.valid_envs(role):
            area = sid.area(role, v)
            problems += _against_manifest(f"{name} ({role},{v})", area.path)
            digest = hashlib.sha256()
            for path in tracked:
                copy = area.copy_path("SyncFiles", path)
                digest.update(path.encode() + b"\0")
                digest.update(copy.read_bytes() if copy.is_file() else b"-")
            trees.add(digest.hexdigest())
        if len(trees) > 1:
            problems.append(f"{name} {role}: its valid areas hold different files")
    return problems


def _against_manifest(where: str, area: Path) -> list[str]:
    from atlas_ha.layout import manifest as manifest_mod

    try:
        entries = manifest_mod.parse((area / "Manifest").read_text(), area / "Manifest")
    except Exception as exc:  # a valid area whose Manifest cannot be read is a defect
        return [f"{where}: valid, but its Manifest: {exc}"]
    problems = []
    listed: dict[str, object] = {}
    for (tree, path), entry in entries.items():
        if tree == "area":
            fs = area / path
        else:
            fs = area / tree / path.lstrip("/")
            listed[f"{tree}{path}"] = entry
        st = objects.lstat_or_none(fs)
        if entry.type == "absent":
            if st is not None:
                problems.append(f"{where}: {tree}{path} is there, the Manifest says absent")
            continue
        if st is None:
            problems.append(f"{where}: {tree}{path} is missing")
            continue
        kind = objects.object_type(st)
        if kind != entry.type:
            problems.append(f"{where}: {tree}{path} is a {kind}, the Manifest says {entry.type}")
        elif kind == "file" and (st.st_size != entry.size or objects.hash_file(fs) != entry.sha256):
            problems.append(f"{where}: {tree}{path} does not match its Manifest (torn?)")
        elif kind == "symlink" and os.readlink(fs) != entry.target:
            problems.append(f"{where}: {tree}{path} links elsewhere than its Manifest says")
    for tree in ("SyncFiles", "IdentFiles"):
        for top in objects.tops_of(area / tree):
            for system_path, _fs, st in objects.walk(area / tree, top):
                key = f"{tree}{system_path}"
                if st is None or key in listed or stat.S_ISDIR(st.st_mode):
                    continue
                problems.append(f"{where}: {key} is not in the Manifest")
    return problems


def torn_files(group: SimGroup, versions: Versions) -> list[str]:
    """Tracked files on any server that are not one whole version that was written."""
    problems = []
    for name, sim in group.servers.items():
        for path, seen in versions.seen.items():
            target = sim.file(path)
            if target.is_file() and target.read_bytes() not in seen:
                problems.append(f"{name}: {path} holds no version that was ever written (torn)")
    return problems


def stale_copies(group: SimGroup, versions: Versions) -> list[str]:
    """After a clean cycle: tracked files on a SEC that are not the latest version."""
    problems = []
    for name, sim in group.servers.items():
        if name == "A":
            continue
        for path, latest in versions.latest.items():
            target = sim.file(path)
            if not target.is_file() or target.read_bytes() != latest:
                problems.append(f"{name}: {path} is not the PRI's latest version")
    return problems


def leftover_temp_files(group: SimGroup) -> list[str]:
    """`.NAME.atlas-tmp.PID` files of dead processes in system roots and SID_DATA."""
    problems = []
    places = [sim.root for sim in group.servers.values()]
    places += [disk / "SID_DATA" for disk in (group.base / "disks").iterdir()]
    for place in places:
        for dirpath, dirnames, filenames in os.walk(place):
            dirnames[:] = [d for d in dirnames if d != ".git"]
            for name in filenames + dirnames:
                match = TMP_RE.match(name)
                if match and not alive(int(match.group(1))):
                    problems.append(f"leftover temporary file {Path(dirpath, name)}")
    return problems


def leftover_connection_dirs(group: SimGroup) -> list[str]:
    """ssh connection directories (ESD_DATA/run/ssh.PID.*, layout.rundir) of dead processes."""
    problems = []
    for name, sim in group.servers.items():
        base = rundir.control_base(sim.server().settings.esd_data)
        for entry in base.iterdir() if base.is_dir() else []:
            match = rundir.CONTROL_RE.match(entry.name)
            if match and not alive(int(match.group("pid"))):
                problems.append(f"{name}: connection directory {entry} of a dead process")
    return problems


def ssh_dirs() -> set[str]:
    """Old-style ssh control directories (atlas-ssh-*) in the temporary directory."""
    tmp = Path(tempfile.gettempdir())
    return {p.name for p in tmp.iterdir() if SSH_DIR_RE.match(p.name)}


def group_processes(group: SimGroup) -> list[tuple[int, str]]:
    """Processes working for this group (their command line names its directory) other than
    the sshd listeners the fixture started."""
    found = []
    base = str(group.base)
    me = os.getpid()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == me:
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        line = " ".join(a.decode(errors="replace") for a in argv if a)
        if (base in line or cwd.startswith(base)) and " -D -e -f " not in line:
            found.append((int(proc.name), line))
    return found


def lingering_processes(group: SimGroup, grace: float = 20.0) -> list[str]:
    """Sessions and rsyncs of the group still running `grace` seconds after the last cycle."""
    deadline = time.monotonic() + grace
    while True:
        found = group_processes(group)
        if not found or time.monotonic() > deadline:
            return [f"still running after {grace:.0f} s: pid {pid} {line}" for pid, line in found]
        time.sleep(0.2)
