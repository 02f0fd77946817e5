"""The time strips of the grid: the last 24 hours and the last 90 days of each cell, one
slot per hourly or daily bucket of the roll-ups (report/rollups.py, folded by the recorder
after every daemon turn), its worst state; a slot without results is NONE.

`StripCache` keeps them between renders of the page: the hourly buckets read whole when a
new hour begins (their slots move), the daily ones when a new day does, both when the
roll-up database is another file; after a roll-up change in between only the newest two
buckets of each size are read again (a fold after a daemon turn adds to the current hour and
day, and, just after they turned, to the previous ones). An older bucket changed meanwhile
(a recorder hours behind) shows from the next hour (hourly) or day (daily) on. The 90-day
strips of 200 cells are 18,000 buckets: read once a day, not on every fold.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path

from atlas_ha.context import Server
from atlas_ha.report.rollups import DAY, HOUR, Rollups, bucket_start
from atlas_ha.verifier.verdict import GO_ORDER

HOURS, DAYS = 24, 90
Strip = tuple[str, ...]  # status names, oldest first; "NONE": no result in that slot
Worsts = dict[tuple[str, str], dict[int, int]]  # (server, service) -> {start: worst}
NONE = len(GO_ORDER)  # the index of "NONE" in SHOWN
SHOWN = (*(s.name for s in GO_ORDER), "NONE")
SIZES = ((HOUR, HOURS), (DAY, DAYS))
RECENT = 2  # buckets of each size read again after a roll-up change


def cell_strips(server: Server, role: str, now: float) -> dict[str, tuple[Strip, Strip]]:
    """{"ROLE/service": (24 hourly slots, 90 daily slots)} of the checks of `role`'s disk
    that have roll-ups; {} before the first fold."""
    return StripCache().strips(server.sid.rollups_file(role), now, (role,))


@dataclass
class StripCache:
    keys: dict[int, tuple[object, ...]] = field(default_factory=dict)  # size -> read whole at
    worsts: dict[int, Worsts] = field(default_factory=dict)  # size -> what was read
    shown: dict[str, tuple[Strip, Strip]] = field(default_factory=dict)
    changed: object = None  # the roll-ups' state when `shown` was made
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def strips(
        self, path: Path, now: float, key: tuple[object, ...], changed: object = None
    ) -> dict[str, tuple[Strip, Strip]]:
        """The strips of the roll-ups at `path` at `now`; `key` names what may not change
        for a partial read (the file), `changed` what a fold changes (its size and time).
        One render at a time reads or updates them (the page renders in threads)."""
        with self.lock:
            return self._strips(path, now, key, changed)

    def forget(self, *sizes: int) -> None:
        """The next read reads the buckets of `sizes` whole."""
        with self.lock:
            for size in sizes:
                self.keys.pop(size, None)

    def _strips(
        self, path: Path, now: float, key: tuple[object, ...], changed: object
    ) -> dict[str, tuple[Strip, Strip]]:
        keys = {size: (*key, bucket_start(now, size)) for size, _n in SIZES}
        if keys == self.keys and changed is not None and changed == self.changed:
            return self.shown
        if not path.exists():
            self.keys, self.worsts, self.shown = {}, {}, {}
            return {}
        with Rollups(path) as rollups:
            for size, count in SIZES:
                if keys[size] != self.keys.get(size):  # its slots moved: read whole
                    self.worsts[size] = rollups.worsts(size, count, now)
                    continue
                mine = self.worsts[size]
                since = bucket_start(now, size) - (RECENT - 1) * size
                for cell, buckets in rollups.worsts(size, count, now, since).items():
                    mine.setdefault(cell, {}).update(buckets)
        self.keys, self.changed = keys, changed
        hourly, daily = self.worsts[HOUR], self.worsts[DAY]
        self.shown = {
            f"{k[0]}/{k[1]}": (
                slots(hourly.get(k, {}), HOUR, HOURS, now),
                slots(daily.get(k, {}), DAY, DAYS, now),
            )
            for k in sorted(set(hourly) | set(daily))
        }
        return self.shown


def slots(worsts: dict[int, int], size: int, count: int, now: float) -> Strip:
    first = bucket_start(now, size) - (count - 1) * size
    starts = range(first, first + count * size, size)
    return tuple(map(SHOWN.__getitem__, map(worsts.get, starts, repeat(NONE))))
