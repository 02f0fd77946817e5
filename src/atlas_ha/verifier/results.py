"""VerifierResults (SPEC 8.5): every profile with its history, in SQLite on the Unbound Data.

The database is SID_DATA/<ROLE>/VerifierResults.sqlite: in the area of this disk's role, so it
moves with the disk, but outside the snapshot directories (Env<N>/), so Snapshot Send, receive
and Compare never see it, and ignored by the history (git). Mode 0600 like all of SID_DATA.
WAL mode: `atlas-ha verify results` reads while the scheduler writes.

One row per check run: the server that ran it, its role, the service, kind, target role and
address, when it started (unix seconds), how long it took, the status, the one-line summary
and the whole profile as JSON. Retention: rows older than `keep_days` and all but the newest
`keep_rows` of each check (service, target role) are deleted after every write.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from atlas_ha.layout.sid import SidData
from atlas_ha.layout.sqlitedb import SqliteDb
from atlas_ha.verifier.profile import Profile

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY,
    server TEXT NOT NULL,
    role TEXT NOT NULL,
    service TEXT NOT NULL,
    kind TEXT NOT NULL,
    target_role TEXT NOT NULL,
    target_address TEXT NOT NULL,
    started REAL NOT NULL,
    duration REAL NOT NULL,
    status TEXT NOT NULL,
    summary TEXT NOT NULL,
    profile TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS results_check ON results (service, target_role, started);
CREATE INDEX IF NOT EXISTS results_started ON results (started);
"""
INSERT = (
    "INSERT INTO results (server, role, service, kind, target_role, target_address, started, "
    "duration, status, summary, profile) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
LATEST = (
    "SELECT server, role, service, kind, target_role, target_address, started, duration, "
    "status, summary, profile FROM results WHERE id IN (SELECT id FROM (SELECT id, "
    "ROW_NUMBER() OVER (PARTITION BY service, target_role ORDER BY started DESC, id DESC) "
    "AS n FROM results WHERE ?1 IS NULL OR service = ?1) WHERE n = 1) "
    "ORDER BY service, target_role"
)
HISTORY = (
    "SELECT server, role, service, kind, target_role, target_address, started, duration, "
    "status, summary, profile FROM results WHERE service = ?1 "
    "AND (?2 IS NULL OR target_role = ?2) ORDER BY started DESC, id DESC LIMIT ?3"
)
# The newest row of every check by index seeks only: LATEST ranks every row (~0.4 s for 200
# checks x 1000 rows), `newest` walks the (service, target_role) index (~10 ms).
FIRST_CHECK = "SELECT service, target_role FROM results ORDER BY service, target_role LIMIT 1"
NEXT_ROLE = (
    "SELECT service, target_role FROM results WHERE service = ? AND target_role > ? "
    "ORDER BY service, target_role LIMIT 1"
)
NEXT_SERVICE = (
    "SELECT service, target_role FROM results WHERE service > ? "
    "ORDER BY service, target_role LIMIT 1"
)
NEWEST = (
    "SELECT server, role, service, kind, target_role, target_address, started, duration, "
    "status, summary, profile FROM results WHERE service = ? AND target_role = ? "
    "ORDER BY started DESC, id DESC LIMIT 1"
)


@dataclass(frozen=True)
class Retention:
    keep_days: float = 30.0
    keep_rows: int = 1000  # per check


@dataclass(frozen=True)
class ResultRow:
    server: str
    role: str
    service: str
    kind: str
    target_role: str
    target_address: str
    started: float
    duration: float
    profile: Profile

    @property
    def check(self) -> str:
        return f"{self.service}@{self.target_role}"

    def to_dict(self) -> dict[str, object]:
        return {
            "server": self.server,
            "role": self.role,
            "service": self.service,
            "kind": self.kind,
            "target_role": self.target_role,
            "target_address": self.target_address,
            "started": self.started,
            "duration": round(self.duration, 6),
            "profile": self.profile.to_dict(),
        }


def results_file(sid_root: Path, role: str) -> Path:
    return SidData(sid_root).verifier_results_file(role)


class VerifierResults(SqliteDb):
    """The results database of one role's area; use as a context manager or close()."""

    schema, schema_version = SCHEMA, SCHEMA_VERSION
    what = "VerifierResults SQLite database"

    def __init__(self, path: Path, retention: Retention | None = None) -> None:
        self.retention = retention or Retention()
        super().__init__(path)

    # -- writing ------------------------------------------------------------------------------
    def add(self, rows: list[ResultRow], now: float) -> None:
        """Store `rows` and apply the retention, in one transaction."""
        if not rows:
            return
        with self.transaction():
            self.db.executemany(
                INSERT,
                [_values(r) for r in rows],
            )
            self._prune(now, {(r.service, r.target_role) for r in rows})

    def _prune(self, now: float, checks: set[tuple[str, str]]) -> None:
        cutoff = now - self.retention.keep_days * 86400
        self.db.execute("DELETE FROM results WHERE started < ?", (cutoff,))
        for service, target_role in checks:
            self.db.execute(
                "DELETE FROM results WHERE service = ? AND target_role = ? AND id NOT IN "
                "(SELECT id FROM results WHERE service = ? AND target_role = ? "
                "ORDER BY started DESC, id DESC LIMIT ?)",
                (service, target_role, service, target_role, self.retention.keep_rows),
            )

    # -- reading ------------------------------------------------------------------------------
    def latest(self, service: str | None = None) -> list[ResultRow]:
        """The newest row of every check (of one service), ordered by service and target."""
        return [_row(r) for r in self.db.execute(LATEST, (service,))]

    def newest(self, service: str | None = None) -> list[ResultRow]:
        """What `latest` answers, by index seeks: for a page read on every request."""
        db, rows = self.db, []
        if service is None:
            check = db.execute(FIRST_CHECK).fetchone()
        else:
            check = db.execute(NEXT_ROLE, (service, "")).fetchone()
        while check is not None:
            rows.append(_row(db.execute(NEWEST, check).fetchone()))
            following = db.execute(NEXT_ROLE, check).fetchone()
            if following is None and service is None:  # the next service's first check
                following = db.execute(NEXT_SERVICE, (check[0],)).fetchone()
            check = following
        return rows

    def history(
        self, service: str, target_role: str | None = None, limit: int = 20
    ) -> list[ResultRow]:
        """The newest `limit` rows of one check (or of every target of the service), newest
        first."""
        rows = self.db.execute(HISTORY, (service, target_role, limit))
        return [_row(r) for r in rows]

    def statuses_after(
        self, last_id: int, limit: int = 100_000
    ) -> list[tuple[int, str, str, float, str]]:
        """(id, service, target role, started, status) of the rows stored after row `last_id`,
        oldest first: what report/rollups.py folds into its buckets."""
        rows = self.db.execute(
            "SELECT id, service, target_role, started, status FROM results WHERE id > ? "
            "ORDER BY id LIMIT ?",
            (last_id, limit),
        )
        return [(int(i), str(s), str(t), float(b), str(st)) for i, s, t, b, st in rows]

    def results_after(
        self, last_id: int, limit: int = 100_000
    ) -> list[tuple[int, str, str, float, str, str]]:
        """(id, service, target role, started, status, summary) of the rows stored after row
        `last_id`, oldest first, at most `limit`: what report/alerts/observe.py feeds the
        alert engine (by the primary key: O(rows returned))."""
        rows = self.db.execute(
            "SELECT id, service, target_role, started, status, summary FROM results "
            "WHERE id > ? ORDER BY id LIMIT ?",
            (last_id, limit),
        )
        return [(int(i), str(s), str(t), float(b), str(st), str(m)) for i, s, t, b, st, m in rows]

    def max_id(self) -> int:
        return int(self.db.execute("SELECT coalesce(max(id), 0) FROM results").fetchone()[0])

    def count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM results").fetchone()[0])


def _values(row: ResultRow) -> tuple[object, ...]:
    return (
        row.server,
        row.role,
        row.service,
        row.kind,
        row.target_role,
        row.target_address,
        row.started,
        row.duration,
        row.profile.status.name,
        row.profile.summary,
        json.dumps(row.profile.to_dict(), sort_keys=True, default=str),
    )


def _row(raw: tuple[object, ...]) -> ResultRow:
    server, role, service, kind, t_role, t_addr, started, duration, _s, _sum, profile = raw
    return ResultRow(
        server=str(server),
        role=str(role),
        service=str(service),
        kind=str(kind),
        target_role=str(t_role),
        target_address=str(t_addr),
        started=float(str(started)),
        duration=float(str(duration)),
        profile=Profile.from_dict(json.loads(str(profile))),
    )
