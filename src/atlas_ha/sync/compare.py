"""Snapshot Compare (SPEC 5.7) — PRI only: (PRI, E) against each (SECn, E), SyncFiles side.

States of a SEC in the result (transitions happen in `compare_one`):
  equal       same path lists, every object the same type, content, mode, owner, group, target
  different   at least one difference; each is named with a readable diff
  missing     the SEC has no snapshot at all
  invalid     the SEC's snapshot exists but is not valid (flags, or older than SEV)
A cycle adds `stale` for a SEC that could not be reached this cycle (its last snapshot is
compared, but it has not installed the current one).
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field

from atlas_ha.converters.chain import convert_to_newer
from atlas_ha.errors import AtlasError, RoleError
from atlas_ha.layout.manifest import Entry
from atlas_ha.layout.sid import Area
from atlas_ha.model import role_key
from atlas_ha.sync.context import Server

MAX_DIFF_LINES = 40


@dataclass
class Difference:
    path: str
    what: str
    diff: str = ""


@dataclass
class CompareResult:
    sec: str
    state: str
    env: int
    differences: list[Difference] = field(default_factory=list)
    note: str = ""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def summary(self) -> str:
        if self.state == "equal":
            return f"{self.sec}: equal at Env{self.env}"
        if self.state == "different":
            paths = ", ".join(d.path for d in self.differences[:5])
            return f"{self.sec}: DIFFERENT at Env{self.env}: {paths}"
        return f"{self.sec}: {self.state.upper()} ({self.note})"


def compare(server: Server, secs: list[str] | None = None) -> list[CompareResult]:
    master = server.master()
    if not master.is_pri:
        raise RoleError(f"Snapshot Compare runs on PRI only; this server holds {master.role}")
    env = server.env_id
    pri = server.sid.require_valid("PRI", env)
    wanted = secs if secs is not None else sorted(master.partners, key=role_key)
    return [compare_one(server, pri, sec, env) for sec in wanted]


def compare_one(server: Server, pri: Area, sec: str, env: int) -> CompareResult:
    sid = server.sid
    sev = sid.sev(sec)
    if sev is None and not sid.envs(sec):
        return CompareResult(sec, "missing", env, note="no snapshot received")
    if sev is not None and sev < env and sid.is_valid(sec, sev):
        try:
            convert_to_newer(server, sec, env)
        except AtlasError as exc:
            return CompareResult(sec, "invalid", env, note=f"conversion failed: {exc}")
    reason = sid.validity(sec, env)
    if reason is not None:
        return CompareResult(sec, "invalid", env, note=reason)
    diffs = differences(pri, sid.area(sec, env))
    return CompareResult(sec, "different" if diffs else "equal", env, diffs)


def differences(pri: Area, sec: Area) -> list[Difference]:
    result: list[Difference] = []
    a_paths, b_paths = pri.sync_paths(), sec.sync_paths()
    if a_paths != b_paths:
        diff = "\n".join(difflib.unified_diff(a_paths, b_paths, "PRI", sec.ref.role, lineterm=""))
        result.append(Difference("SyncFilePaths", "path lists differ", diff))
    a = {p: e for (t, p), e in pri.manifest().items() if t == "SyncFiles"}
    b = {p: e for (t, p), e in sec.manifest().items() if t == "SyncFiles"}
    for path in sorted(a.keys() | b.keys()):
        ea, eb = a.get(path), b.get(path)
        if ea is None or eb is None:
            side = "PRI" if eb is None else sec.ref.role
            result.append(Difference(path, f"only on {side}"))
        elif not ea.same_object(eb):
            result.append(_describe(pri, sec, ea, eb))
    return result


def _describe(pri: Area, sec: Area, ea: Entry, eb: Entry) -> Difference:
    what = [
        f"{name} {x} != {y}"
        for name, x, y in (
            ("type", ea.type, eb.type),
            ("mode", oct(ea.mode), oct(eb.mode)),
            ("owner", ea.uid, eb.uid),
            ("group", ea.gid, eb.gid),
            ("link target", ea.target, eb.target),
        )
        if x != y
    ]
    diff = ""
    if ea.type == eb.type == "file" and ea.sha256 != eb.sha256:
        what.append("content differs")
        diff = _text_diff(
            pri.copy_path("SyncFiles", ea.path).read_bytes(),
            sec.copy_path("SyncFiles", eb.path).read_bytes(),
            sec.ref.role,
        )
    return Difference(ea.path, "; ".join(what), diff)


def _text_diff(a: bytes, b: bytes, name: str) -> str:
    try:
        lines_a, lines_b = a.decode().splitlines(), b.decode().splitlines()
    except UnicodeDecodeError:
        return "(binary content differs)"
    out = list(difflib.unified_diff(lines_a, lines_b, "PRI", name, lineterm=""))
    if len(out) > MAX_DIFF_LINES:
        out = [*out[:MAX_DIFF_LINES], f"... {len(out) - MAX_DIFF_LINES} more lines"]
    return "\n".join(out)
