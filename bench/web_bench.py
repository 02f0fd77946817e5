"""Status page render time: 5 servers x 40 checks, synthetic results in the real formats.

    .venv/bin/python bench/web_bench.py [--rows 1000] [--requests 60] [--out docs/benchmarks.md]

A SimGroup whose PRI lists four SECs (SEC1, SEC2 simulated; SEC3, SEC4 unreachable, as a
group with two servers down would be), one real SyncCycle (its report is the page's last
cycle), then the PRI's VerifierResults database filled through `VerifierResults.add` with 40
services x 5 target roles x `--rows` results each, one a minute back from now (1000 is the
default retention per check: what a server holds after 17 hours of one-minute checks and
forever after). The page is served by uvicorn on a free loopback port, as the daemon serves
it, and each page is fetched `--requests` times over HTTP after one warm-up; the table gives
the median and the 95th percentile of the whole request (render + transfer).

The results are then folded into the roll-ups as the daemon's recorder does (report/
recorder.py `fold`), so every cell renders its 24-hour and 90-day strips, and a daemon
heartbeat is written (the status model's `atlas` cell: alive). The verdicts are the status
model's (report/loader.py + model.py), as on a real page. The load average (`/proc/loadavg`)
before and after the timed requests is printed with the table. --out replaces or appends the
section "Status page render" of that file.
"""

from __future__ import annotations

import argparse
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
from atlas_ha.report.web.server import start_background
from atlas_ha.report.web.source import Source
from atlas_ha.settings import load
from atlas_ha.sync.cycle import cycle
from atlas_ha.verifier.profile import Measurement, Profile, Status
from atlas_ha.verifier.results import ResultRow, Retention, VerifierResults

ROLES = ("PRI", "SEC1", "SEC2", "SEC3", "SEC4")
SERVICES = 40
SECTION = "## Status page render"
PAGES = ("/", "/service/svc07", "/server/SEC1", "/readiness", "/api/v1/overview", "/metrics")


def quiet(_line: str) -> None:
    pass


def build(base: Path, rows: int) -> Server:
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
    now = time.time()
    path = server.sid.verifier_results_file("PRI")
    with VerifierResults(path, Retention(keep_days=3650, keep_rows=rows)) as results:
        for s in range(SERVICES):
            for r, role in enumerate(ROLES):
                batch = []
                for k in range(rows):
                    status = Status.OK
                    if (s + r + k) % 97 == 0:
                        status = Status.WARNING
                    if k == 0 and (s * 5 + r) % 37 == 0:
                        status = Status.CRITICAL
                    value = 0.01 + ((s * 7 + r * 3 + k) % 50) / 1000
                    profile = Profile(
                        status,
                        f"svc{s:02d} on {role}: {'answers' if status == Status.OK else 'slow'}",
                        (Measurement("time", value, "s", "ok", warn="0.5", crit="2"),),
                        details=f"GET / -> 200, {1000 + k} bytes",
                    )
                    batch.append(
                        ResultRow(
                            "A",
                            "PRI",
                            f"svc{s:02d}",
                            "http",
                            role,
                            f"127.0.2.{11 + r}",
                            now - 60 * k,
                            value,
                            profile,
                        )
                    )
                results.add(batch, now)
        total = results.count()
    print(f"results: {total} rows in {path} ({path.stat().st_size / 1e6:.1f} MB)", flush=True)
    started = time.perf_counter()
    folded, last = fold(server, "PRI", 0)
    while last and (more := fold(server, "PRI", last))[0]:  # the recorder folds in batches
        folded, last = folded + more[0], more[1]
    print(f"folded {folded} results into the roll-ups in {time.perf_counter() - started:.1f} s")
    beat = server.sid.heartbeat_file
    beat.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    beat.write_text(json.dumps({"heartbeat": time.time() + 3600, "sentence": "bench"}))
    return Server(load(sim.config), log=quiet)


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


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
    parser.add_argument("--rows", type=int, default=1000, help="results per check")
    parser.add_argument("--requests", type=int, default=60, help="timed requests per page")
    parser.add_argument("--out", default="", help="markdown file to write the section into")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir="/var/tmp", prefix="web-bench-") as tmp:
        server = build(Path(tmp), args.rows)
        background = start_background(server)
        port = server.settings.web.port
        try:
            load_before = load_average()
            lines = []
            source = Source(server)
            model = []
            for _ in range(args.requests):
                started = time.perf_counter()
                source.overview()
                model.append(time.perf_counter() - started)
            lines.append(("Source.overview() (loader + model + strips, no HTTP)", model))
            for page in PAGES:
                url = f"http://127.0.0.1:{port}{page}"
                fetch(url)
                times = [fetch(url) for _ in range(args.requests)]
                lines.append((f"GET {page}", times))
            load_after = load_average()
        finally:
            background.stop()
    table = [
        "| what | median ms | p95 ms |",
        "|---|---:|---:|",
        *(
            f"| {what} | {statistics.median(t) * 1000:.1f} | {p95(t) * 1000:.1f} |"
            for what, t in lines
        ),
    ]
    section = "\n".join(
        [
            SECTION,
            "",
            f"Generated by `python bench/web_bench.py --rows {args.rows} --requests "
            f"{args.requests}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
            f"{os.cpu_count()} CPUs, {platform.python_version()}, shared with other work.",
            f"5 servers x {SERVICES} checks, {args.rows} results per check in the PRI's "
            f"VerifierResults ({5 * SERVICES * args.rows} rows), one real SyncCycle report; "
            "uvicorn on loopback, whole HTTP request timed (see the script's docstring).",
            "Verdicts from the status model; every cell's 24 h / 90 day strips from the roll-ups "
            f"(the results folded). Load average (1, 5, 15 min) before: {load_before}, after: "
            f"{load_after}.",
            "",
            *table,
            "",
        ]
    )
    print(section)
    if args.out:
        write_section(Path(args.out), section)
    return 0


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
