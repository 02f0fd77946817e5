"""Roll-ups of the Verifier's results: hourly and daily buckets per (server, service) holding
the worst state (by go/no-go) and the count of each state, so that the 24-hour and 90-day
strips of a cell are read from at most 24 + 90 rows, whatever the check interval.

SQLite, SID_DATA/<ROLE>/Report/Rollups.sqlite (layout/sid.py), WAL: the web page reads while
the daemon folds. `fold` adds result rows (each bucket is an upsert: worst = max, counts
added), `prune` drops buckets older than the retention. A bucket's `server` is the role
verified (the result's target role).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from atlas_ha.layout.sqlitedb import SqliteDb
from atlas_ha.verifier.profile import Status
from atlas_ha.verifier.verdict import GO_ORDER

HOUR, DAY = 3600, 86400
SIZES = (HOUR, DAY)
SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (
    size INTEGER NOT NULL,
    server TEXT NOT NULL,
    service TEXT NOT NULL,
    start INTEGER NOT NULL,
    worst INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    warning INTEGER NOT NULL,
    critical INTEGER NOT NULL,
    unknown INTEGER NOT NULL,
    PRIMARY KEY (size, server, service, start)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS buckets_start ON buckets (size, start)
"""
UPSERT = (
    "INSERT INTO buckets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (size, server, service, start) DO UPDATE SET "
    "worst = max(worst, excluded.worst), ok = ok + excluded.ok, "
    "warning = warning + excluded.warning, critical = critical + excluded.critical, "
    "unknown = unknown + excluded.unknown"
)
COLUMN = {Status.OK: 0, Status.WARNING: 1, Status.CRITICAL: 2, Status.UNKNOWN: 3}


class Bucket(NamedTuple):
    start: int
    worst: Status
    counts: tuple[int, int, int, int]  # ok, warning, critical, unknown

    @property
    def total(self) -> int:
        return sum(self.counts)

    def to_dict(self) -> dict[str, object]:
        ok, warning, critical, unknown = self.counts
        return {
            "start": self.start,
            "worst": self.worst.name,
            "ok": ok,
            "warning": warning,
            "critical": critical,
            "unknown": unknown,
        }


def bucket_start(t: float, size: int) -> int:
    return int(t // size) * size


class Rollups(SqliteDb):
    """The roll-up database of one role; use as a context manager or close()."""

    schema, schema_version = SCHEMA, SCHEMA_VERSION
    what = "roll-up SQLite database"

    def fold(self, rows: Iterable[tuple[str, str, float, Status]]) -> int:
        """Add results (server, service, started, status) to their hourly and daily buckets."""
        acc: dict[tuple[int, str, str, int], list[int]] = {}
        n = 0
        for server, service, started, status in rows:
            n += 1
            rank = GO_ORDER.index(status)
            for size in SIZES:
                key = (size, server, service, bucket_start(started, size))
                entry = acc.setdefault(key, [rank, 0, 0, 0, 0])
                entry[0] = max(entry[0], rank)
                entry[1 + COLUMN[status]] += 1
        if acc:
            with self.transaction():
                self.db.executemany(UPSERT, [(*k, *v) for k, v in acc.items()])
        return n

    def prune(self, before: float) -> None:
        """Drop the buckets that end before `before`."""
        with self.transaction():
            for size in SIZES:
                self.db.execute(
                    "DELETE FROM buckets WHERE size = ? AND start + ? <= ?", (size, size, before)
                )

    def strips(self, size: int, count: int, now: float) -> dict[tuple[str, str], list[Bucket]]:
        """The last `count` buckets of `size` up to `now` of every (server, service) that has
        any, oldest first (buckets without a result are absent)."""
        first = bucket_start(now, size) - (count - 1) * size
        found: dict[tuple[str, str], list[Bucket]] = {}
        query = (
            "SELECT server, service, start, worst, ok, warning, critical, unknown FROM buckets "
            "WHERE size = ? AND start >= ?"  # by the (size, start) index; sorted here
        )
        for server, service, start, worst, ok, warning, critical, unknown in self.db.execute(
            query, (size, first)
        ):
            bucket = Bucket(start, GO_ORDER[worst], (ok, warning, critical, unknown))
            found.setdefault((server, service), []).append(bucket)
        for buckets in found.values():
            buckets.sort()
        return dict(sorted(found.items()))

    def worsts(
        self, size: int, count: int, now: float, since: float | None = None
    ) -> dict[tuple[str, str], dict[int, int]]:
        """{(server, service): {bucket start: worst (its index in GO_ORDER)}} of the last
        `count` buckets of `size` up to `now` (only those starting at or after `since` when
        given): what the strips show, read without building a Bucket per row (the 90-day
        strips of 200 cells are 18,000 rows)."""
        first = bucket_start(now, size) - (count - 1) * size
        low = first if since is None else max(first, bucket_start(since, size))
        found: dict[tuple[str, str], dict[int, int]] = {}
        query = "SELECT server, service, start, worst FROM buckets WHERE size = ? AND start >= ?"
        for server, service, start, worst in self.db.execute(query, (size, low)):
            cell = found.get((server, service))
            if cell is None:
                cell = found[(server, service)] = {}
            cell[start] = worst
        return found

    def count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM buckets").fetchone()[0])
