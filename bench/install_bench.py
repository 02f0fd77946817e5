"""Snapshot Install of N new files on a SEC: grouped durability against one fsync per file.

A local SimGroup (PRI Env2, SEC1 Env1, SEC2 Env3) with N files (~1.4 KB, 10 subdirectories)
in the PRI's /etc/app/data cycles once; then SEC1's installed /etc/app/data is removed and
`install()` puts it back from the valid (PRI,1) snapshot, the first copy of a new SEC. Timed,
in one process, alternately:

  grouped    Install as it is (layout/staged.py: all new files under temporary names, one
             syncfs, renames, one syncfs);
  per-file   the same Install with the grouping threshold out of reach, so that every file
             is written by its own `atomic_write` (fsync of the file and of its directory);
  cp -a      `cp -a` of the same tree into an empty directory (no fsync at all), for scale.

Before each run the page cache's dirty pages are written (`sync`), so neither contender pays
for the other's writes.

    python bench/install_bench.py [--files 2000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

LAYOUT = {"A": (2, "PRI"), "B": (1, "SEC1"), "C": (3, "SEC2")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    from atlas_ha.lab.group import SimGroup
    from atlas_ha.sync import install as install_mod
    from atlas_ha.sync.cycle import cycle

    top = Path(tempfile.mkdtemp(prefix="atlas-install-bench-", dir="/var/tmp"))
    try:
        group = SimGroup(top / "g")
        group.build(LAYOUT)
        with contextlib.redirect_stderr(io.StringIO()):
            for name in group.servers:
                group.boot(name)
        data = group.servers["A"].file("/etc/app/data")
        for i in range(args.files):
            path = data / f"d{i % 10}" / f"f{i}.conf"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"setting{i} = {i}\n" * 64)
        assert cycle(group.servers["A"].server(lambda _line: None)).all_equal
        b = group.servers["B"]
        installed = b.file("/etc/app/data")
        grouping = install_mod.GROUP_FROM

        def install(threshold: int) -> Callable[[], None]:
            def run() -> None:
                install_mod.GROUP_FROM = threshold
                try:
                    changed = install_mod.install(b.server(lambda _line: None))
                finally:
                    install_mod.GROUP_FROM = grouping
                assert len(changed) >= args.files, len(changed)

            return run

        def copy() -> None:
            subprocess.run(["cp", "-a", str(data), str(top / "cp")], check=True)

        contenders = {
            "grouped": install(grouping),
            "per-file": install(sys.maxsize),
            "cp -a": copy,
        }
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in contenders}
        for rep in range(args.repeat):
            for name, run in contenders.items():
                shutil.rmtree(installed, ignore_errors=True)
                shutil.rmtree(top / "cp", ignore_errors=True)
                subprocess.run(["sync"], check=True)
                load = os.getloadavg()[0]
                started = time.perf_counter()
                run()
                took = time.perf_counter() - started
                runs[name].append((took, load))
                print(f"#{rep + 1} {name}: {took:.3f} s (load {load:.2f})", flush=True)
    finally:
        shutil.rmtree(top, ignore_errors=True)
    medians = {name: statistics.median(t for t, _ in times) for name, times in runs.items()}
    for name, times in runs.items():
        shown = ", ".join(f"{t:.3f} @ {load:.1f}" for t, load in times)
        print(f"{name}: median {medians[name]:.3f} s ({shown})")
    print(f"ratio grouped/per-file {medians['grouped'] / medians['per-file']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
