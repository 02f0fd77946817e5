"""One history record (SPEC 5.11) of one changed file in a SID_DATA of many areas: the commit
by write-tree + commit-tree + update-ref against a plain `git commit`, side by side.

A SID_DATA with R areas (default 6, as a SEC of a three-server group holds: 3 of the PRI's
role, 3 of its own) of N files (~1.4 KB, default 2,000 each) is recorded once; then, in one
process, alternately: one file of the first area and its Manifest change, and
`History.record` commits them, once as it is (`History._commit`: write-tree, commit-tree,
update-ref) and once with the commit step a plain `git commit -F -` (what it was before:
git first refreshes the whole index, an lstat of every file of every area). The `add` and
`diff --cached` before the commit are the same in both and timed with them.

    python bench/history_bench.py [--files 2000] [--areas 6] [--repeat 9]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--areas", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args(argv)

    from atlas_ha.layout.history import History
    from atlas_ha.system import Runner

    top = Path(tempfile.mkdtemp(prefix="atlas-history-bench-", dir="/var/tmp"))
    try:
        root = top / "SID_DATA"
        roles = ["PRI" if a < args.areas // 2 else "SEC2" for a in range(args.areas)]
        areas = [f"{role}/Env{a % 3 + 1}" for a, role in enumerate(roles)]
        for area in areas:
            for i in range(args.files):
                path = root / area / "SyncFiles/etc/app/data" / f"d{i % 10}" / f"f{i}.conf"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(f"setting{i} = {i}\n" * 64)
            (root / area / "Manifest").write_text("atlas-ha manifest 1\n")
        history = History(root, "SEC2", Runner())
        history.ensure()
        history.record("create", "PRI", 1, areas)
        changed = root / areas[0] / "SyncFiles/etc/app/data/d1/f1.conf"

        def plain(message: str) -> str:
            history.git("commit", "-q", "--no-verify", "-F", "-", input_text=message)
            return history._head()

        contenders = {"write-tree": history._commit, "git commit": plain}
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in contenders}
        for rep in range(args.repeat):
            for name, commit in contenders.items():
                changed.write_text(f"{name} {rep}\n")
                with (root / areas[0] / "Manifest").open("a") as manifest:
                    manifest.write(f"{name} {rep}\n")
                history._commit = commit  # type: ignore[method-assign]
                load = os.getloadavg()[0]
                started = time.perf_counter()
                rev = history.record("create", "PRI", 1, [areas[0]])
                took = time.perf_counter() - started
                assert rev is not None
                runs[name].append((took, load))
                print(f"#{rep + 1} {name}: {took * 1000:.1f} ms (load {load:.2f})", flush=True)
    finally:
        shutil.rmtree(top, ignore_errors=True)
    medians = {name: statistics.median(t for t, _ in times) for name, times in runs.items()}
    for name, times in runs.items():
        shown = ", ".join(f"{t * 1000:.0f}" for t, _ in times)
        print(f"{name}: median {medians[name] * 1000:.1f} ms ({shown})")
    print(f"ratio write-tree/commit {medians['write-tree'] / medians['git commit']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
