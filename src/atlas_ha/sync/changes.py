"""`atlas-ha history [PATH]` and `atlas-ha diff`: what changed in SID_DATA (SPEC 5.11).

A system path (/etc/app/app.conf) names its copy in every area of SID_DATA: the SyncFiles
and IdentFiles of every ROLE/EnvN on the disk."""

from __future__ import annotations

from atlas_ha.context import Server
from atlas_ha.layout.history import Change

TREES = ("SyncFiles", "IdentFiles")


def copies_of(server: Server, system_path: str) -> list[str]:
    """The copies of `system_path` in every area, relative to SID_DATA (whether or not the
    area holds one now: history also knows removed objects)."""
    sid = server.sid
    return [
        str(sid.area(role, v).copy_path(tree, system_path).relative_to(sid.root))
        for role in sid.roles()
        for v in sid.envs(role)
        for tree in TREES
    ]


def changes(server: Server, system_path: str | None = None, limit: int = 50) -> list[Change]:
    """The last `limit` recorded changes, newest first (of the copies of `system_path`);
    none when no area could hold that path."""
    paths = copies_of(server, system_path) if system_path else []
    if system_path and not paths:
        return []
    return server.history.log(paths, limit)


def diff(server: Server, rev_a: str, rev_b: str, system_path: str | None = None) -> str:
    """`git diff` text of SID_DATA from `rev_a` to `rev_b` (of the copies of `system_path`).
    Both revisions must name commits (HistoryError), even when no area could hold the path."""
    paths = copies_of(server, system_path) if system_path else []
    if system_path and not paths:
        server.history.verify(rev_a)
        server.history.verify(rev_b)
        return ""
    return server.history.diff(rev_a, rev_b, paths)
