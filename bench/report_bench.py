"""Benchmark: the 24-hour and 90-day strips of every cell from the roll-ups (report/rollups.py).

The data: 90 days of one-minute results of 5 servers x 40 checks (25.9 million results)
as the recorder leaves them: hourly and daily buckets (432,000 + 18,000 rows). The buckets are
written directly with the counts one-minute results give (a fixed random seed: 1 % of the
hours hold a WARNING, 0.3 % a CRITICAL); folding itself is timed on one day of raw results
(288,000 rows through `Rollups.fold`, as the daemon would fold them over a day).

Timed, REPEAT times each: `strips(HOUR, 24)` and `strips(DAY, 90)` for every cell, and
what the web page reads (report/web/strips.py): `worsts` whole (each new hour / day) and
only the newest two buckets of each size (after each fold), median and p95.

    .venv/bin/python bench/report_bench.py [--repeat 20] [--out docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from atlas_ha.report.rollups import COLUMN, DAY, HOUR, UPSERT, Rollups, bucket_start
from atlas_ha.verifier.profile import Status
from atlas_ha.verifier.verdict import GO_ORDER

SECTION = "## Status strips from the roll-ups (issue 11)"

SERVERS = [f"SEC{n}" for n in range(1, 5)] + ["PRI"]
SERVICES = [f"svc{n:02d}" for n in range(40)]
DAYS = 90
NOW = 1_800_000_000.0


def hour_counts(rng: random.Random) -> tuple[Status, list[int]]:
    counts = [0, 0, 0, 0]
    roll = rng.random()
    if roll < 0.003:
        bad, worst = Status.CRITICAL, Status.CRITICAL
    elif roll < 0.013:
        bad, worst = Status.WARNING, Status.WARNING
    else:
        bad, worst = Status.OK, Status.OK
    n_bad = rng.randint(1, 10) if bad != Status.OK else 0
    counts[COLUMN[bad]] += n_bad
    counts[COLUMN[Status.OK]] += 60 - n_bad
    return worst, counts


def populate(rollups: Rollups) -> int:
    rng = random.Random(11)
    first_hour = bucket_start(NOW, HOUR) - (DAYS * 24 - 1) * HOUR
    rows = []
    for server in SERVERS:
        for service in SERVICES:
            days: dict[int, list[int]] = {}
            for h in range(DAYS * 24):
                start = first_hour + h * HOUR
                worst, counts = hour_counts(rng)
                rank = GO_ORDER.index(worst)
                rows.append((HOUR, server, service, start, rank, *counts))
                day = days.setdefault(bucket_start(start, DAY), [0, 0, 0, 0, 0])
                day[0] = max(day[0], rank)
                for i in range(4):
                    day[1 + i] += counts[i]
            rows += [(DAY, server, service, d, *v) for d, v in days.items()]
    with rollups.transaction():
        rollups.db.executemany(UPSERT, rows)
    return len(rows)


def timed(fn: object, repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        samples.append(time.perf_counter() - started)
    samples.sort()
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.95) - 1)]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="atlas-report-bench-", dir="/var/tmp") as tmp:
        path = Path(tmp) / "Rollups.sqlite"
        load_before = load_average()
        with Rollups(path) as rollups:
            started = time.perf_counter()
            n = populate(rollups)
            setup = time.perf_counter() - started
            cells = len(SERVERS) * len(SERVICES)
            strips24 = rollups.strips(HOUR, 24, NOW)
            strips90 = rollups.strips(DAY, 90, NOW)
            assert len(strips24) == cells and all(len(v) == 24 for v in strips24.values())
            assert len(strips90) == cells and all(len(v) == 90 for v in strips90.values())
            h_med, h_p95 = timed(lambda: rollups.strips(HOUR, 24, NOW), args.repeat)
            d_med, d_p95 = timed(lambda: rollups.strips(DAY, 90, NOW), args.repeat)
            # what the page reads (report/web/strips.py): worsts only, whole or the newest two
            wh_med, wh_p95 = timed(lambda: rollups.worsts(HOUR, 24, NOW), args.repeat)
            wd_med, wd_p95 = timed(lambda: rollups.worsts(DAY, 90, NOW), args.repeat)
            recent = [bucket_start(NOW, size) - size for size in (HOUR, DAY)]
            wr_med, wr_p95 = timed(
                lambda: (
                    rollups.worsts(HOUR, 24, NOW, recent[0]),
                    rollups.worsts(DAY, 90, NOW, recent[1]),
                ),
                args.repeat,
            )
            size = path.stat().st_size
        raw = [
            (server, service, NOW - DAY + m * 60 + 0.5, Status.OK if m % 97 else Status.WARNING)
            for server in SERVERS
            for service in SERVICES
            for m in range(1440)
        ]
        with Rollups(Path(tmp) / "fold.sqlite") as fresh:
            started = time.perf_counter()
            fresh.fold(raw)
            fold = time.perf_counter() - started
    load_after = load_average()
    text = f"""{SECTION}

`bench/report_bench.py --repeat {args.repeat}` on {datetime.now(UTC):%Y-%m-%d}
({platform.machine()}, {os.cpu_count()} CPUs shared with other test suites), Python
{platform.python_version()}. 90 days of one-minute results of {len(SERVERS)} servers x
{len(SERVICES)} checks ({len(SERVERS) * len(SERVICES) * 1440 * DAYS:,} results) held as
{n:,} hourly and daily buckets ({size / 1e6:.1f} MB of SQLite; written in {setup:.1f} s).

| read, for all {cells} cells | median | p95 |
|---|---:|---:|
| 24-hour strips (24 hourly buckets each, 4,800 rows) | {ms(h_med)} | {ms(h_p95)} |
| 90-day strips (90 daily buckets each, 18,000 rows) | {ms(d_med)} | {ms(d_p95)} |
| page: 24-hour worsts (`worsts`, whole: each new hour) | {ms(wh_med)} | {ms(wh_p95)} |
| page: 90-day worsts (whole: each new day) | {ms(wd_med)} | {ms(wd_p95)} |
| page, after a fold: the newest 2 hourly + 2 daily | {ms(wr_med)} | {ms(wr_p95)} |

Folding one day of raw results ({len(raw):,} rows) into the buckets: {fold:.2f} s
({len(raw) / fold:,.0f} results/s); a daemon turn every 5 minutes folds ~1,000.
Load average (1, 5, 15 min) before: {load_before}, after: {load_after}.
"""
    print(text)
    if args.out:
        write_section(args.out, text)


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def write_section(path: Path, section: str) -> None:
    """Replace the section of this benchmark in `path` (or append it)."""
    text = path.read_text() if path.exists() else ""
    if SECTION in text:
        start = text.index(SECTION)
        rest = text[start + len(SECTION) :]
        end = rest.find("\n## ")
        tail = rest[end + 1 :] if end >= 0 else ""
        text = text[:start] + section.strip("\n") + "\n" + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section.strip("\n") + "\n"
    path.write_text(text)


if __name__ == "__main__":
    main()
