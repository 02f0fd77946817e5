"""The time strips of the grid: the last 24 hours and the last 90 days of each cell, one
slot per hourly or daily bucket of the roll-ups (report/rollups.py, folded by the recorder
after every daemon turn), its worst state; a slot without results is NONE."""

from __future__ import annotations

from atlas_ha.context import Server
from atlas_ha.report.rollups import DAY, HOUR, Bucket, Rollups, bucket_start

HOURS, DAYS = 24, 90
Strip = tuple[str, ...]  # status names, oldest first; "NONE": no result in that slot


def cell_strips(server: Server, role: str, now: float) -> dict[str, tuple[Strip, Strip]]:
    """{"ROLE/service": (24 hourly slots, 90 daily slots)} of the checks of `role`'s disk
    that have roll-ups; {} before the first fold."""
    path = server.sid.rollups_file(role)
    if not path.exists():
        return {}
    with Rollups(path) as rollups:
        hourly = rollups.strips(HOUR, HOURS, now)
        daily = rollups.strips(DAY, DAYS, now)
    found: dict[str, tuple[Strip, Strip]] = {}
    for key in sorted(set(hourly) | set(daily)):
        found[f"{key[0]}/{key[1]}"] = (
            slots(hourly.get(key, []), HOUR, HOURS, now),
            slots(daily.get(key, []), DAY, DAYS, now),
        )
    return found


def slots(buckets: list[Bucket], size: int, count: int, now: float) -> Strip:
    first = bucket_start(now, size) - (count - 1) * size
    by_start = {b.start: b.worst.name for b in buckets}
    return tuple(by_start.get(first + n * size, "NONE") for n in range(count))
