"""Status page render time: 5 servers x 40 checks x 90 days of one-minute results, as a
site with the default retention holds them.

    .venv/bin/python bench/web_bench.py [--days 90] [--rows 1000] [--requests 60]
                                        [--out docs/benchmarks.md]

What a site keeps after `--days` of one-minute checks with the default retention is not
25.9 million raw rows: the Verifier keeps the newest `[results] keep_rows` (1000) rows of
each check (or `keep_days`, 30, whichever deletes more: at one a minute the 1000 rows,
~17 hours), and the recorder's roll-ups (report/rollups.py) keep an hourly and a daily
bucket per check for `[report] events_keep_days` (90). So the PRI's disk is filled with:

- VerifierResults: `--rows` results of each of the 200 checks, one a minute back from now,
  inserted with `executemany` of the store's own INSERT (verifier/results.py) into the
  real schema at `SidData.verifier_results_file("PRI")` (opened by `VerifierResults`, so
  the schema is the store's);
- Rollups: those raw results folded by the recorder's own `fold` (report/recorder.py), and
  the older results (from `--rows` minutes back to `--days` days back) written directly as
  the hourly and daily buckets they fold into (the same UPSERT, report/rollups.py, into
  `SidData.rollups_file("PRI")`), their counts computed for the same pattern of states
  (a WARNING every 97 minutes per check, a CRITICAL newest result on a few checks); then
  pruned to the retention as the recorder prunes.

The group: a SimGroup whose PRI lists four SECs (SEC1, SEC2 simulated; SEC3, SEC4
unreachable), one real SyncCycle (the page's last cycle), a daemon heartbeat (the `atlas`
cell alive). The page is served by uvicorn on a free loopback port, as the daemon serves it.

Timed, side by side in one run, each `--requests` times (the whole HTTP request, render +
transfer; median and 95th percentile):
- cached: the strips read from the roll-ups are kept between renders (report/web/strips.py
  StripCache), so a request within the same hour and roll-up state reuses them;
- after a fold: one new result folded into the roll-ups before each request (what the
  daemon's recorder does after every turn): the newest buckets are read again;
- first of an hour: the hourly strips forgotten before each request
  (`Source.forget_strips(day=False)`), so each request reads them whole, as the first render
  of each hour does; first of a day: all of them (the 90-day strips too, 18,000 buckets),
  as the first render of each day does.
The fold and the forgetting are not timed.
The 1-minute load average (`/proc/loadavg`) is printed beside each page's rows (the machine
is shared); --out replaces or appends the section "Status page render" of that file.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import socket
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from atlas_ha.context import Server
from atlas_ha.lab.group import SimGroup
from atlas_ha.model import Partner
from atlas_ha.report.recorder import fold
from atlas_ha.report.rollups import DAY, HOUR, UPSERT, Rollups, bucket_start
from atlas_ha.report.web.server import start_background
from atlas_ha.report.web.source import Source
from atlas_ha.settings import load
from atlas_ha.sync.cycle import cycle
from atlas_ha.verifier.profile import Measurement, Profile, Status
from atlas_ha.verifier.results import INSERT, Retention, VerifierResults
from atlas_ha.verifier.verdict import GO_ORDER

ROLES = ("PRI", "SEC1", "SEC2", "SEC3", "SEC4")
SERVICES = 40
SECTION = "## Status page render"
PAGES = ("/", "/api/v1/overview", "/metrics", "/service/svc07", "/server/SEC1", "/readiness")
WARN_EVERY = 97  # minutes: a check's WARNING result


def quiet(_line: str) -> None:
    pass


def status_of(s: int, r: int, k: int) -> Status:
    """The state of the result of check (service s, role r) k minutes back."""
    if k == 0 and (s * 5 + r) % 37 == 0:
        return Status.CRITICAL
    if (s + r + k) % WARN_EVERY == 0:
        return Status.WARNING
    return Status.OK


def warnings_between(s: int, r: int, lo: int, hi: int) -> int:
    """How many k in [lo, hi] have (s + r + k) % WARN_EVERY == 0."""
    c = (-(s + r)) % WARN_EVERY
    return (hi - c) // WARN_EVERY - (lo - 1 - c) // WARN_EVERY


def build(base: Path, rows: int, days: int) -> tuple[Server, float, dict[str, object]]:
    group = SimGroup(base / "group", report=None)  # its [report] below
    group.build({"A": (2, "PRI"), "B": (1, "SEC1"), "C": (3, "SEC2")})
    for name in group.servers:
        group.boot(name)
    sim = group.servers["A"]
    server = sim.server(quiet)
    master = server.master()
    partners = dict(master.partners)
    partners.update({"SEC3": Partner("127.0.2.14"), "SEC4": Partner("127.0.2.15")})
    server.sid.write_master_config(type(master)(master.group, master.role, partners))
    cycle(server)
    with sim.config.open("a") as config:
        config.write(f'\n[report]\nlisten = "127.0.0.1:{free_port()}"\n')
    now = float(int(time.time()) // 60 * 60)  # on a minute: every result on a whole minute
    filled: dict[str, object] = {}
    started = time.perf_counter()
    path = server.sid.verifier_results_file("PRI")
    with VerifierResults(path, Retention()) as results:
        values = []
        for s in range(SERVICES):
            for r, role in enumerate(ROLES):
                for k in range(rows):
                    status = status_of(s, r, k)
                    value = 0.01 + ((s * 7 + r * 3 + k) % 50) / 1000
                    profile = Profile(
                        status,
                        f"svc{s:02d} on {role}: {'answers' if status == Status.OK else 'slow'}",
                        (Measurement("time", value, "s", "ok", warn="0.5", crit="2"),),
                        details=f"GET / -> 200, {1000 + k} bytes",
                    )
                    values.append(
                        (
                            "A",
                            "PRI",
                            f"svc{s:02d}",
                            "http",
                            role,
                            f"127.0.2.{11 + r}",
                            now - 60 * k,
                            value,
                            status.name,
                            profile.summary,
                            json.dumps(profile.to_dict(), sort_keys=True, default=str),
                        )
                    )
        values.sort(key=lambda v: v[6])  # stored oldest first, as the Verifier stores them
        with results.transaction():
            results.db.executemany(INSERT, values)
        total = results.count()
    filled["raw"] = total
    filled["raw_mb"] = path.stat().st_size / 1e6
    filled["raw_s"] = time.perf_counter() - started
    started = time.perf_counter()
    folded, last = fold(server, "PRI", 0)
    while last and (more := fold(server, "PRI", last))[0]:  # the recorder folds in batches
        folded, last = folded + more[0], more[1]
    buckets = older_buckets(now, rows, days)
    with Rollups(server.sid.rollups_file("PRI")) as rollups:
        with rollups.transaction():
            rollups.db.executemany(UPSERT, buckets)
        rollups.prune(now - days * DAY)  # the recorder's retention (events_keep_days)
        filled["buckets"] = rollups.count()
    filled["rollups_mb"] = server.sid.rollups_file("PRI").stat().st_size / 1e6
    filled["rollups_s"] = time.perf_counter() - started
    print(
        f"results: {total} rows ({filled['raw_mb']:.1f} MB) in {filled['raw_s']:.1f} s; "
        f"roll-ups: {folded} folded + {len(buckets)} older buckets -> {filled['buckets']} "
        f"buckets ({filled['rollups_mb']:.1f} MB) in {filled['rollups_s']:.1f} s",
        flush=True,
    )
    beat = server.sid.heartbeat_file
    beat.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    beat.write_text(json.dumps({"heartbeat": time.time() + 3600, "sentence": "bench"}))
    return Server(load(sim.config), log=quiet), now, filled


def older_buckets(now: float, rows: int, days: int) -> list[tuple[object, ...]]:
    """The hourly and daily buckets of the results `rows` .. `days` days back (the raw
    ones, newer, are folded): one result a minute, k minutes back at now - 60 k."""
    oldest = days * 1440 - 1  # k of the oldest result
    found: list[tuple[object, ...]] = []
    for size in (HOUR, DAY):
        first = bucket_start(now - 60 * oldest, size)
        starts = range(first, bucket_start(now, size) + 1, size)
        for s in range(SERVICES):
            for r, role in enumerate(ROLES):
                for b in starts:
                    lo = max(rows, int((now - b - size + 60) // 60))  # k within [b, b + size)
                    hi = min(oldest, int((now - b) // 60))
                    if lo > hi:
                        continue
                    n, w = hi - lo + 1, warnings_between(s, r, lo, hi)
                    worst = GO_ORDER.index(Status.WARNING if w else Status.OK)
                    found.append((size, role, f"svc{s:02d}", b, worst, n - w, w, 0, 0))
    return found


def one_more(server: Server, at: float) -> None:
    """One new result stored and folded (what a Verifier run and the recorder do)."""
    path = server.sid.verifier_results_file("PRI")
    profile = Profile(Status.OK, "svc00 on PRI: answers")
    with VerifierResults(path) as results, results.transaction():
        results.db.execute(
            INSERT,
            (
                "A",
                "PRI",
                "svc00",
                "http",
                "PRI",
                "127.0.2.11",
                at,
                0.01,
                "OK",
                profile.summary,
                json.dumps(profile.to_dict(), sort_keys=True, default=str),
            ),
        )
    with VerifierResults(path) as results:
        last = results.max_id()
    fold(server, "PRI", last - 1)


def load_average() -> str:
    """The 1-minute load average."""
    return Path("/proc/loadavg").read_text().split()[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fetch(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as answer:
        answer.read()
    return time.perf_counter() - started


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=90, help="days of one-minute results")
    parser.add_argument("--rows", type=int, default=1000, help="raw results kept per check")
    parser.add_argument("--requests", type=int, default=60, help="timed requests per page")
    parser.add_argument("--out", default="", help="markdown file to write the section into")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir="/var/tmp", prefix="web-bench-") as tmp:
        server, now, filled = build(Path(tmp), args.rows, args.days)
        background = start_background(server)
        port = server.settings.web.port
        tick = [now]

        def changed() -> None:
            tick[0] += 0.001
            one_more(server, tick[0])

        try:
            lines = []
            source = Source(server)
            source.overview()
            lines.append(
                (
                    "Source.overview() (no HTTP)",
                    timed(source.overview, args.requests),
                    timed(source.overview, args.requests, changed),
                    timed(source.overview, args.requests, hour(source)),
                    timed(source.overview, args.requests, source.forget_strips),
                    load_average(),
                )
            )
            page_source = background.page.source
            for page in PAGES:
                url = f"http://127.0.0.1:{port}{page}"
                fetch(url)
                get = functools.partial(fetch, url)
                lines.append(
                    (
                        f"GET {page}",
                        timed(get, args.requests),
                        timed(get, args.requests, changed),
                        timed(get, args.requests, hour(page_source)),
                        timed(get, args.requests, page_source.forget_strips),
                        load_average(),
                    )
                )
        finally:
            background.stop()
    table = [
        "| what | cached p50 | p95 | after a fold p50 | p95 | first of an hour p50 | p95 "
        "| first of a day p50 | p95 | load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {what} | "
            + " | ".join(f"{ms(statistics.median(t))} | {ms(p95(t))}" for t in times)
            + f" | {load} |"
            for what, *times, load in lines
        ),
    ]
    section = "\n".join(
        [
            SECTION,
            "",
            f"Generated by `python bench/web_bench.py --days {args.days} --rows {args.rows} "
            f"--requests {args.requests}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
            f"; {os.cpu_count()} CPUs, {platform.python_version()}, shared with other work.",
            f"5 servers x {SERVICES} checks x {args.days} days of one-minute results as the "
            f"default retention keeps them: {filled['raw']} raw results ({args.rows} per check, "
            f"{filled['raw_mb']:.1f} MB, written in {filled['raw_s']:.1f} s) and "
            f"{filled['buckets']} hourly and daily buckets for {args.days} days "
            f"({filled['rollups_mb']:.1f} MB, written in {filled['rollups_s']:.1f} s); one real "
            "SyncCycle report; uvicorn on loopback, whole HTTP request timed, in ms. Cached: "
            "the strips kept from the previous request; after a fold: one result folded into "
            "the roll-ups before each request (as after each daemon turn: the newest buckets "
            "read again); first of an hour / of a day: the hourly / all strips read whole "
            "before each request (as in the first render of each hour / day). Load: the "
            "1-minute load average after the row's requests. "
            "See the script's docstring.",
            "",
            *table,
            "",
        ]
    )
    print(section)
    if args.out:
        write_section(Path(args.out), section)
    return 0


def hour(source: Source) -> object:
    """What a new hour does to the strips (the hourly ones read whole)."""
    return functools.partial(source.forget_strips, day=False)


def timed(what: object, count: int, before: object = None) -> list[float]:
    """`count` timings of `what()`, each after `before()` (untimed) when given."""
    times = []
    for _ in range(count):
        if before is not None:
            before()  # type: ignore[operator]
        started = time.perf_counter()
        what()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return times


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def write_section(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else ""
    if SECTION in text:
        start = text.index(SECTION)
        rest = text[start + len(SECTION) :]
        end = rest.find("\n## ")
        tail = rest[end + 1 :] if end >= 0 else ""
        text = text[:start] + section + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
