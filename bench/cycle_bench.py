"""Steady-state SyncCycle benchmark: atlas-ha against the script an admin would write.

For each tree size N (files under the PRI's /etc/app/data, 10 subdirectories, ~4 KB each,
deterministic content) this measures, side by side in one run on one machine:

  atlas-ha   one full SyncCycle driven by the PRI of a 3-server SimGroup (PRI at Env2,
             SEC1 at Env1, SEC2 at Env3): Create + ConvertToOlder on the PRI, Send + SyncUp to
             each SEC (each SEC runs in its own `python -m atlas_ha serve` subprocess: convert,
             install, create, convert down, send back), ConvertToNewer + Compare on the PRI,
             git commits on every server.
  baseline   for each of 2 SEC copies:
               rsync -a --delete SRC/ SECDIR/ && diff -r SRC SECDIR &&
               rsync -a --delete SRC/ REPO/tree/ && git -C REPO add -A &&
               { git -C REPO diff --cached --quiet || git -C REPO commit -q -m x; }

Cases, each after one untimed warm-up (the first run copies everything):
  (a) nothing changed since the previous run;
  (b) one file's content rewritten before each timed run.

The atlas-ha and baseline runs are interleaved (atlas, baseline, atlas, baseline, ...) so
that drift in machine load hits both alike; medians and ratios are reported.

Stat-based change detection is checked by counting calls to
`atlas_ha.layout.objects.hash_file` in this (the PRI's) process only: the SECs' work, and the
PRI's own receive of the SECs' snapshots, happen in `atlas_ha serve` subprocesses and are not
counted.

    python bench/cycle_bench.py [--sizes 2000,20000] [--repeat N] [--out docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import hashlib
import io
import os
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from atlas_ha.lab.group import SimGroup
from atlas_ha.layout import objects
from atlas_ha.sync.cycle import cycle

SUBDIRS = 10
FILE_SIZE = 4096
DEFAULT_REPEAT = {2000: 5, 20000: 3}
LAYOUT = {"A": (2, "PRI"), "B": (1, "SEC1"), "C": (3, "SEC2")}

BASELINE_SCRIPT = r"""
set -e
SRC="$1"; WORK="$2"
for sec in sec1 sec2; do
    rsync -a --delete "$SRC/" "$WORK/$sec/"
    diff -r "$SRC" "$WORK/$sec" >/dev/null
    rsync -a --delete "$SRC/" "$WORK/repo-$sec/tree/"
    git -C "$WORK/repo-$sec" add -A
    git -C "$WORK/repo-$sec" diff --cached --quiet || git -C "$WORK/repo-$sec" commit -q -m x
done
"""


# -- the tree ---------------------------------------------------------------------------------
def file_content(index: int, generation: int = 0) -> bytes:
    """~4 KB of deterministic text for file `index` (a new `generation` = new content)."""
    seed = hashlib.sha256(f"{index}:{generation}".encode()).hexdigest()
    head = f"# bench file {index} generation {generation}\n".encode()
    line = f"key_{seed[:16]} = {seed}\n".encode()
    body = line * ((FILE_SIZE - len(head)) // len(line) + 1)
    return (head + body)[:FILE_SIZE]


def file_path(root: Path, index: int) -> Path:
    return root / f"d{index % SUBDIRS:02d}" / f"f{index:06d}.conf"


def make_tree(root: Path, count: int) -> None:
    for d in range(SUBDIRS):
        (root / f"d{d:02d}").mkdir(parents=True, exist_ok=True)
    for i in range(count):
        file_path(root, i).write_bytes(file_content(i))


def touch_one(root: Path, count: int, generation: int) -> None:
    """Rewrite one file's content (the one in the middle of the tree), same size.

    `rsync -a` (the baseline) compares mtimes to the second: if the rewrite lands in the same
    second as the previous version, the new mtime is moved one second on, so that the
    baseline sees the change as an admin's edit a little later would make it."""
    path = file_path(root, count // 2)
    old = path.stat().st_mtime_ns
    path.write_bytes(file_content(count // 2, generation))
    new = path.stat().st_mtime_ns
    if new // 10**9 <= old // 10**9:
        bumped = (old // 10**9 + 1) * 10**9 + new % 10**9
        os.utime(path, ns=(bumped, bumped))


# -- the two contenders -------------------------------------------------------------------------
@dataclass
class Hashed:
    """Files hashed by the PRI process during one cycle, by kind."""

    create: int = 0  # synced objects read from the PRI's system root (Snapshot Create)
    copies: int = 0  # synced objects inside snapshot areas (conversions, Compare)
    lists: int = 0  # an area's own small files (path lists), hashed for its manifest

    @property
    def objects(self) -> int:
        return self.create + self.copies

    def __str__(self) -> str:
        return f"{self.objects} (Create {self.create}) + {self.lists} path lists"


class HashCounter:
    """Counts `objects.hash_file` calls in this process (module attribute monkeypatched)."""

    def __init__(self, system_root: Path) -> None:
        self.root = system_root.resolve()
        self.hashed = Hashed()
        self._orig = objects.hash_file

    def __enter__(self) -> HashCounter:
        orig = self._orig

        def counting(path: Path) -> str:
            resolved = path.resolve()
            if resolved.is_relative_to(self.root):
                self.hashed.create += 1
            elif {"SyncFiles", "IdentFiles"} & set(resolved.parts):
                self.hashed.copies += 1
            else:
                self.hashed.lists += 1
            return orig(path)

        objects.hash_file = counting
        return self

    def __exit__(self, *exc: object) -> None:
        objects.hash_file = self._orig


class Atlas:
    def __init__(self, base: Path, count: int) -> None:
        self.count = count
        self.group = SimGroup(base)
        self.group.build(LAYOUT)
        self.data = self.group.servers["A"].file("/etc/app/data")
        make_tree(self.data, count)
        with contextlib.redirect_stderr(io.StringIO()):  # first boot: "no valid snapshot" alerts
            for name in LAYOUT:
                self.group.boot(name)
        self.hashed = Hashed()

    def run(self) -> float:
        server = self.group.servers["A"].server(lambda line: None)
        with HashCounter(self.group.servers["A"].root) as counter:
            start = time.perf_counter()
            report = cycle(server)
            elapsed = time.perf_counter() - start
        self.hashed = counter.hashed
        assert report.all_equal, [c.summary() for c in report.compare]
        assert all(s.reached for s in report.secs), report.secs
        return elapsed

    def touch(self, generation: int) -> None:
        touch_one(self.data, self.count, generation)

    def profile(self, top: int = 25) -> str:
        server = self.group.servers["A"].server(lambda line: None)
        prof = cProfile.Profile()
        prof.enable()
        report = cycle(server)
        prof.disable()
        assert report.all_equal
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(top)
        return out.getvalue()


class Baseline:
    def __init__(self, base: Path, count: int) -> None:
        self.count = count
        self.base = base
        self.src = base / "src"
        make_tree(self.src, count)
        for sec in ("sec1", "sec2"):
            repo = base / f"repo-{sec}"
            (repo / "tree").mkdir(parents=True)
            git = ["git", "-C", str(repo)]
            subprocess.run([*git, "init", "-q"], check=True)
            subprocess.run([*git, "config", "user.name", "bench"], check=True)
            subprocess.run([*git, "config", "user.email", "bench@localhost"], check=True)
            subprocess.run([*git, "config", "commit.gpgsign", "false"], check=True)

    def run(self) -> float:
        start = time.perf_counter()
        subprocess.run(
            ["bash", "-c", BASELINE_SCRIPT, "baseline", str(self.src), str(self.base)],
            check=True,
        )
        return time.perf_counter() - start

    def touch(self, generation: int) -> None:
        touch_one(self.src, self.count, generation)


# -- measurement ------------------------------------------------------------------------------
@dataclass
class Row:
    files: int
    case: str
    atlas: list[float] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)
    hashed: list[Hashed] = field(default_factory=list)

    @property
    def atlas_median(self) -> float:
        return statistics.median(self.atlas)

    @property
    def baseline_median(self) -> float:
        return statistics.median(self.baseline)

    @property
    def ratio(self) -> float:
        return self.atlas_median / self.baseline_median


@dataclass
class Warmup:
    files: int
    atlas: float
    baseline: float


def measure(
    work: Path, count: int, repeat: int, log: Callable[[str], None], profile: bool = False
) -> tuple[Warmup, list[Row]]:
    log(f"== {count} files: building trees")
    atlas = Atlas(work / f"atlas-{count}", count)
    baseline = Baseline(work / f"baseline-{count}", count)
    t_atlas, t_base = atlas.run(), baseline.run()
    log(f"   warm-up (full copy): atlas-ha {t_atlas:.2f} s, baseline {t_base:.2f} s")
    warmup = Warmup(count, t_atlas, t_base)
    rows = []
    generation = 0
    for case, change in (("nothing changed", False), ("one file changed", True)):
        row = Row(count, case)
        for rep in range(repeat):
            for contender, times in ((atlas, row.atlas), (baseline, row.baseline)):
                if change:
                    contender.touch(generation + 1)
                times.append(contender.run())
            generation += 1
            row.hashed.append(atlas.hashed)
            log(
                f"   {case} #{rep + 1}: atlas-ha {row.atlas[-1]:.3f} s "
                f"(PRI hashed {atlas.hashed}), baseline {row.baseline[-1]:.3f} s"
            )
        rows.append(row)
    if profile:
        log("   cProfile of one nothing-changed cycle, PRI process only (SECs are subprocesses)")
        log(atlas.profile())
    return warmup, rows


def machine_info() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def version(argv: list[str]) -> str:
        try:
            out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            return "unavailable"
        return out.splitlines()[0].strip()

    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "rsync": version(["rsync", "--version"]),
        "git": version(["git", "--version"]),
    }


def fmt_hashed(values: list[Hashed]) -> str:
    """The counts, or their range over the repetitions."""
    distinct = sorted({str(v) for v in values})
    return distinct[0] if len(distinct) == 1 else " / ".join(distinct)


def table(rows: list[Row]) -> str:
    lines = [
        "| files | case | atlas-ha cycle median (s) | baseline median (s) "
        "| ratio atlas/baseline | PRI files hashed |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.files:,} | {r.case} | {r.atlas_median:.3f} | {r.baseline_median:.3f} "
        f"| {r.ratio:.1f}x | {fmt_hashed(r.hashed)} |"
        for r in rows
    ]
    return "\n".join(lines)


def raw_table(rows: list[Row]) -> str:
    lines = [
        "| files | case | atlas-ha runs (s) | baseline runs (s) |",
        "|---:|---|---|---|",
    ]
    lines += [
        f"| {r.files:,} | {r.case} | {', '.join(f'{t:.3f}' for t in r.atlas)} "
        f"| {', '.join(f'{t:.3f}' for t in r.baseline)} |"
        for r in rows
    ]
    return "\n".join(lines)


def render_doc(
    info: dict[str, str], rows: list[Row], warmups: list[Warmup], repeats: dict[int, int]
) -> str:
    machine = "\n".join(f"- {k}: {v}" for k, v in info.items())
    reps = ", ".join(f"{n:,} files: {k}" for n, k in repeats.items())
    first = "\n".join(
        f"| {w.files:,} | {w.atlas:.1f} | {w.baseline:.1f} | {w.atlas / w.baseline:.1f}x |"
        for w in warmups
    )
    text = f"""# Benchmarks: steady-state SyncCycle

Generated by `python bench/cycle_bench.py` (see `bench/README.md`). Numbers from one run on
one machine; rerun the script to reproduce them on yours.

## Machine

{machine}

## Method

- **Tree.** N regular files under the PRI's `/etc/app/data` (a synced directory),
  {SUBDIRS} subdirectories, {FILE_SIZE} bytes each of deterministic text. The tree is
  written before the first cycle.
- **atlas-ha.** One full SyncCycle (`atlas_ha.sync.cycle.cycle`) driven by the PRI of a
  three-server `SimGroup` on one machine: PRI at Env2, SEC1 at Env1, SEC2 at Env3. A cycle
  is Create + ConvertToOlder on the PRI; for each SEC in parallel, Snapshot Send (rsync)
  and SyncUp, where the SEC (its own `python -m atlas_ha serve` subprocess) runs
  ConvertToNewer, Install, Create, ConvertToOlder and sends its snapshots back (rsync);
  then ConvertToNewer and Compare on the PRI. Every Create, receive and conversion is
  recorded in git on each of the three servers. `report.all_equal` is asserted after
  every cycle.
- **Baseline.** What an admin would script for PRI + 2 SECs on one machine: for each of
  the 2 SEC copies, `rsync -a --delete SRC/ SECDIR/`, `diff -r SRC SECDIR`, then
  `rsync -a --delete SRC/ REPO/tree/ && git -C REPO add -A` and
  `git -C REPO diff --cached --quiet || git -C REPO commit -q -m x` (one git repository
  per SEC copy). Timed as one `bash` script run.
- **Cases.** One untimed warm-up run of each (the first run copies everything), then K
  timed repetitions of (a) nothing changed and (b) one file's content rewritten before
  each run (same file, same size, new content, in both trees). K: {reps}. atlas-ha and
  baseline runs are interleaved so machine noise hits both alike; the table gives medians.
- **PRI files hashed.** Calls to `atlas_ha.layout.objects.hash_file` counted by
  monkeypatching it in the benchmark process, i.e. the PRI's own Create, conversions and
  Compare. The SECs' work and the PRI's receive of the SECs' snapshots run in
  `atlas_ha serve` subprocesses and are **not** counted. Range over the repetitions.

## Results

{table(rows)}

Individual runs:

{raw_table(rows)}

First run (the untimed warm-up: everything copied to every server, one run each):

| files | atlas-ha (s) | baseline (s) | ratio |
|---:|---:|---:|---:|
{first}

## Interpretation

{{interpretation}}
"""
    return text.replace("{interpretation}", interpret(rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="2000,20000", help="comma-separated file counts")
    parser.add_argument("--repeat", type=int, default=0, help="timed runs per case")
    parser.add_argument("--out", default="docs/benchmarks.md", help="markdown report ('' = none)")
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after each size, print a cProfile of one extra cycle (PRI process only)",
    )
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    repeats = {n: args.repeat or DEFAULT_REPEAT.get(n, 3) for n in sizes}

    def log(line: str) -> None:
        print(line, flush=True)

    info = machine_info()
    log("  ".join(f"{k}={v}" for k, v in info.items()))
    work = Path(tempfile.mkdtemp(prefix="atlas-cycle-bench-"))
    rows: list[Row] = []
    warmups: list[Warmup] = []
    try:
        for n in sizes:
            warmup, size_rows = measure(work, n, repeats[n], log, args.profile)
            warmups.append(warmup)
            rows += size_rows
    finally:
        if args.keep:
            log(f"working directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(table(rows))
    if args.out:
        doc = render_doc(info, rows, warmups, repeats)
        Path(args.out).write_text(doc)
        log(f"\nwritten: {args.out}")
    return 0


def interpret(rows: list[Row]) -> str:
    """The interpretation, derived from the numbers of this run."""
    out: list[str] = []
    by_case: dict[str, list[Row]] = {}
    for r in rows:
        by_case.setdefault(r.case, []).append(r)
    unchanged = by_case.get("nothing changed", [])
    changed = by_case.get("one file changed", [])

    if unchanged and all(h.objects == 0 for r in unchanged for h in r.hashed):
        lists = fmt_hashed(unchanged[0].hashed).split("+")[-1].strip()
        out.append(
            "- **Change detection is stat-based.** With nothing changed the PRI hashed no synced "
            "file at all (Create read none from the system root, conversions and Compare read "
            f"none from the areas), at every size. The only files hashed were {lists}: the "
            "few small path-list files of each area rewritten in the cycle (their count does "
            "not grow with the tree)."
        )
    elif unchanged:
        out.append(
            "- **Change detection is NOT purely stat-based:** with nothing changed the PRI "
            f"hashed {', '.join(fmt_hashed(r.hashed) for r in unchanged)} file(s)."
        )
    if changed:
        creates = sorted({h.create for r in changed for h in r.hashed})
        copies = sorted({h.copies for r in changed for h in r.hashed})
        out.append(
            f"- With one file changed, Create hashed {'/'.join(map(str, creates))} file(s) "
            f"from the system root (the changed one) and the PRI's conversions "
            f"{'/'.join(map(str, copies))} more (the old copy of that same file in each "
            "converted area, read once to see whether only metadata changed): hashing "
            "follows what changed, not the tree size."
        )
    for a_row, b_row in zip(unchanged, changed, strict=False):
        out.append(
            f"- {a_row.files:,} files: atlas-ha is **{a_row.ratio:.1f}x** the baseline with "
            f"nothing changed and **{b_row.ratio:.1f}x** with one file changed. The one "
            f"changed file adds {b_row.atlas_median - a_row.atlas_median:.2f} s to the atlas-ha "
            f"cycle and {b_row.baseline_median - a_row.baseline_median:.2f} s to the baseline."
        )
    widest = max(rows, key=lambda r: (max(r.atlas) - min(r.atlas)) / r.atlas_median)
    out.append(
        f"- The machine is noisy: atlas-ha runs spread up to {min(widest.atlas):.1f}-"
        f"{max(widest.atlas):.1f} s ({widest.files:,} files, {widest.case}), hence medians of "
        "interleaved runs; read the ratios as orders of magnitude, not to the decimal."
    )
    if len(unchanged) >= 2:
        small, big = unchanged[0], unchanged[-1]
        span = big.files - small.files
        a_per = (big.atlas_median - small.atlas_median) / span
        b_per = (big.baseline_median - small.baseline_median) / span
        a_fixed = small.atlas_median - a_per * small.files
        b_fixed = small.baseline_median - b_per * small.files
        out.append(
            f"- Scaling (nothing changed, {small.files:,} -> {big.files:,} files): atlas-ha "
            f"costs about {a_per * 1e6:.0f} us per synced file per cycle plus about "
            f"{a_fixed:.1f} s fixed; the baseline about {b_per * 1e6:.0f} us per file plus "
            f"{b_fixed:.2f} s. Nothing is re-copied or re-hashed, yet the per-file cost remains: "
            "every cycle still walks (lstat) every object several times and "
            "parses and re-renders each area's whole manifest, on all three servers."
        )
    out.append(
        "- The comparison is deliberately simple and not like for like. The baseline copies "
        "one tree twice and commits in two git repositories. An atlas-ha cycle involves "
        "three servers (PRI at Env2, SEC1 at Env1, SEC2 at Env3): it converts snapshots "
        "between EnvVersions on each server, transfers them PRI -> SEC and back with rsync, "
        "validates every received snapshot against its Manifest, installs on the SECs, "
        "compares, and records Create, receive and conversion in git on all three servers; "
        "each SEC and each send-back runs in a fresh `python -m atlas_ha serve` process. "
        "All of that shares this one machine's CPUs."
    )
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
