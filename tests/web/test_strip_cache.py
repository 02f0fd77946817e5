"""The page's strip cache (report/web/strips.py StripCache) over a real roll-up database: a
fold shows at once while only the newest buckets are read again, and what it shows is what
a whole read shows; a new hour reads the hourly buckets whole, a new day the daily ones."""

from __future__ import annotations

from pathlib import Path

from atlas_ha.report.rollups import DAY, HOUR, Rollups
from atlas_ha.report.web.strips import DAYS, HOURS, StripCache, slots
from atlas_ha.verifier.profile import Status

NOW = 1_796_126_400.0 + 1800  # half past an hour


def whole(path: Path, now: float) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    with Rollups(path) as rollups:
        hourly, daily = rollups.worsts(HOUR, HOURS, now), rollups.worsts(DAY, DAYS, now)
    return {
        f"{k[0]}/{k[1]}": (
            slots(hourly.get(k, {}), HOUR, HOURS, now),
            slots(daily.get(k, {}), DAY, DAYS, now),
        )
        for k in sorted(set(hourly) | set(daily))
    }


def test_a_fold_shows_at_once_reading_only_the_newest_buckets(tmp_path: Path) -> None:
    path = tmp_path / "Rollups.sqlite"
    with Rollups(path) as rollups:
        rollups.fold([("SEC1", "web", NOW - d * DAY, Status.OK) for d in range(60)])
    cache = StripCache()
    first = cache.strips(path, NOW, ("file",), "state 1")
    assert first["SEC1/web"][0][-1] == "OK" and first["SEC1/web"][1][-60:] == ("OK",) * 60
    assert cache.strips(path, NOW + 10, ("file",), "state 1") is first  # nothing changed
    with Rollups(path) as rollups:
        rollups.fold([("SEC1", "web", NOW + 20, Status.CRITICAL)])  # this hour, today
        rollups.fold([("SEC2", "db", NOW + 20, Status.WARNING)])  # a new cell
        # an old bucket changed behind the cache's back: not read again within the hour
        rollups.fold([("SEC1", "web", NOW - 30 * DAY, Status.CRITICAL)])
    after = cache.strips(path, NOW + 30, ("file",), "state 2")
    assert after["SEC1/web"][0][-1] == "CRITICAL" and after["SEC1/web"][1][-1] == "CRITICAL"
    assert after["SEC2/db"][0][-1] == "WARNING"
    assert after["SEC1/web"][1][-31] == "OK"  # the partial read: the newest buckets only
    truth = whole(path, NOW + 30)
    assert truth["SEC1/web"][1][-31] == "CRITICAL"
    assert after == {
        **truth,
        "SEC1/web": (truth["SEC1/web"][0], after["SEC1/web"][1]),
    }
    # the next hour: the hourly buckets read whole; the next day: the daily ones too
    hour = cache.strips(path, NOW + HOUR, ("file",), "state 2")
    assert hour["SEC1/web"][0] == whole(path, NOW + HOUR)["SEC1/web"][0]
    assert hour["SEC1/web"][1][-31] == "OK"
    day = cache.strips(path, NOW + DAY, ("file",), "state 2")
    assert day == whole(path, NOW + DAY)
    assert day["SEC1/web"][1][-32] == "CRITICAL"  # 31 days before that day
