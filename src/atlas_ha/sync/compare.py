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
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from atlas_ha.context import Server
from atlas_ha.converters.aspects import same_meaning_of
from atlas_ha.errors import AtlasError, RoleError
from atlas_ha.layout import manifest as manifest_mod
from atlas_ha.layout.atomic import read_text_or_none
from atlas_ha.layout.manifest import Entry
from atlas_ha.layout.sid import Area
from atlas_ha.model import role_key
from atlas_ha.sync.convert import convert_to_newer

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
    rejected: list[str] = field(default_factory=list)  # the SEC's checkers (a cycle's report)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def summary(self) -> str:
        """One line, and one more per configuration the SEC's own checkers rejected."""
        return "\n".join([self._state_line(), *(f"  {line}" for line in self.rejected)])

    def _state_line(self) -> str:
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
    results = [compare_one(server, pri, sec, env) for sec in wanted]
    said = last_rejections(server)
    for result in results:  # a cycle replaces them by what this cycle's SyncUp answers say
        result.rejected = said.get(result.sec, [])
    return results


def last_rejections(server: Server) -> dict[str, list[str]]:
    """What each SEC's own checkers said of the configuration it installed, as its answer to
    the last SyncCycle's SyncUp told the PRI ("web: installed but rejected by nginx -t on
    SEC1 (Env1): ..."), from that cycle's report; none when there is no readable report."""
    try:
        data = json.loads(server.sid.last_cycle_file.read_text())
    except (OSError, ValueError):
        return {}
    found: dict[str, list[str]] = {}
    for item in data.get("compare", []) if isinstance(data, dict) else []:
        lines = item.get("rejected") if isinstance(item, dict) else None
        if isinstance(item, dict) and isinstance(lines, list):
            found[str(item.get("sec"))] = [str(line) for line in lines]
    return found


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
    same = same_meaning_of(server.envs[env].formats)
    diffs = differences(pri, sid.area(sec, env), same)
    return CompareResult(sec, "different" if diffs else "equal", env, diffs)


def differences(
    pri: Area, sec: Area, same: Callable[[str, bytes, bytes], bool] | None = None
) -> list[Difference]:
    """The differences of the SyncFiles sides; with ``same``, two files whose contents
    ``same(path, a, b)`` reads as equal in meaning (e.g. inert shadow aging) do not differ."""
    result: list[Difference] = []
    a_paths, b_paths = pri.sync_paths(), sec.sync_paths()
    if a_paths != b_paths:
        diff = "\n".join(difflib.unified_diff(a_paths, b_paths, "PRI", sec.ref.role, lineterm=""))
        result.append(Difference("SyncFilePaths", "path lists differ", diff))
    a, b = _sync_entries(pri, sec)
    for path in sorted(a.keys() | b.keys()):
        ea, eb = a.get(path), b.get(path)
        if ea is None or eb is None:
            side = "PRI" if eb is None else sec.ref.role
            result.append(Difference(path, f"only on {side}"))
        elif not ea.same_object(eb) and not _same_content(pri, sec, ea, eb, same):
            result.append(_describe(pri, sec, ea, eb))
    return result


def _same_content(
    pri: Area, sec: Area, ea: Entry, eb: Entry, same: Callable[[str, bytes, bytes], bool] | None
) -> bool:
    """Whether two files differing only in content have contents ``same`` reads as equal."""
    if same is None or ea.type != "file" or eb.type != "file":
        return False
    if (ea.mode, ea.uid, ea.gid) != (eb.mode, eb.uid, eb.gid):
        return False
    a = pri.copy_path("SyncFiles", ea.path).read_bytes()
    return same(ea.path, a, sec.copy_path("SyncFiles", eb.path).read_bytes())


_STR = r'"(?:[^"\\]|\\.)*"'
# one entry exactly as manifest.render writes it (each key once, in this order)
CANONICAL = re.compile(
    r'\{"gid": \d+, "mode": \d+, "mtime_ns": \d+, "path": '
    + _STR
    + r', "sha256": '
    + _STR
    + r', "size": \d+, "target": '
    + _STR
    + r', "tree": "(SyncFiles|IdentFiles|area)", '
    r'"type": "(?:file|dir|symlink|absent)", "uid": \d+\}'
)


def _sync_entries(pri: Area, sec: Area) -> tuple[dict[str, Entry], dict[str, Entry]]:
    """The SyncFiles entries of both areas by path, leaving out those written as the very same
    line in both Manifests (equal entries; each path has one line per Manifest): in a steady
    state only the few lines that differ (e.g. a converted file's mtime) are parsed."""
    a_lines, b_lines = _sync_lines(pri), _sync_lines(sec)
    if a_lines is None or b_lines is None:
        a_all, b_all = pri.manifest(), sec.manifest()
    else:
        common = set(a_lines) & set(b_lines)
        a_all = _parse_other(a_lines, common, pri)
        b_all = _parse_other(b_lines, common, sec)
    a = {p: e for (t, p), e in a_all.items() if t == "SyncFiles"}
    b = {p: e for (t, p), e in b_all.items() if t == "SyncFiles"}
    return a, b


def _parse_other(lines: list[str], common: set[str], area: Area) -> manifest_mod.Manifest:
    rest = "".join(line + "\n" for line in lines if line not in common)
    return manifest_mod.parse(manifest_mod.HEADER + "\n" + rest, area.manifest_file)


def _sync_lines(area: Area) -> list[str] | None:
    """The Manifest lines of the SyncFiles entries as written, or None unless every line is
    in the form manifest.render writes (then the lines show the entries as they parse)."""
    text = read_text_or_none(area.manifest_file) or ""
    lines = []
    for line in text.split("\n")[1:]:
        if not line:
            continue
        match = CANONICAL.fullmatch(line)
        if match is None:
            return None
        if match.group(1) == "SyncFiles":
            lines.append(line)
    return lines


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
