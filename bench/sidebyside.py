"""The loop every side-by-side benchmark shares (docs/benchmarks.md: machines are noisy).

The contenders run alternately, one repetition each in turn, so that drift in the machine's
load hits all of them alike; every run is printed with the 1-minute load average at its
start, then each contender's median and the ratio of two medians.

    runs = alternate({"new": run_new, "old": run_old}, repeat=5)
    summary(runs, ("new", "old"))
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Mapping

Run = tuple[float, float]  # seconds, 1-minute load average at the start


def alternate(
    contenders: Mapping[str, Callable[[], float | None]],
    repeat: int,
    before: Callable[[str, int], None] | None = None,
    ms: bool = False,
) -> dict[str, list[Run]]:
    """`repeat` runs of each contender, in turn. A contender returns the seconds it measured
    itself (a child process's own timing), or None to be timed here; `before(name, rep)`
    runs untimed before each run (clean-up, `sync`)."""
    runs: dict[str, list[Run]] = {name: [] for name in contenders}
    for rep in range(repeat):
        for name, run in contenders.items():
            if before is not None:
                before(name, rep)
            load = os.getloadavg()[0]
            started = time.perf_counter()
            measured = run()
            took = time.perf_counter() - started if measured is None else measured
            runs[name].append((took, load))
            print(f"#{rep + 1} {name}: {_shown(took, ms)} (load {load:.2f})", flush=True)
    return runs


def medians(runs: Mapping[str, list[Run]]) -> dict[str, float]:
    return {name: statistics.median(t for t, _ in times) for name, times in runs.items()}


def summary(
    runs: Mapping[str, list[Run]], ratio: tuple[str, str] | None = None, ms: bool = False
) -> dict[str, float]:
    """Print each contender's median with its runs ("time @ load"), then `ratio`'s
    first median over its second; return the medians."""
    middle = medians(runs)
    for name, times in runs.items():
        shown = ", ".join(f"{_number(t, ms)} @ {load:.1f}" for t, load in times)
        print(f"{name}: median {_shown(middle[name], ms)} ({shown})")
    if ratio is not None and all(name in middle for name in ratio):
        top, bottom = ratio
        print(f"ratio {top}/{bottom} {middle[top] / middle[bottom]:.2f}")
    return middle


def _number(seconds: float, ms: bool) -> str:
    return f"{seconds * 1000:.1f}" if ms else f"{seconds:.3f}"


def _shown(seconds: float, ms: bool) -> str:
    return f"{_number(seconds, ms)} {'ms' if ms else 's'}"
