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
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sidebyside import alternate, summary

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

        def install(threshold: int) -> Callable[[], float | None]:
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
            return None

        contenders = {
            "grouped": install(grouping),
            "per-file": install(sys.maxsize),
            "cp -a": copy,
        }

        def clean(_name: str, _rep: int) -> None:
            shutil.rmtree(installed, ignore_errors=True)
            shutil.rmtree(top / "cp", ignore_errors=True)
            subprocess.run(["sync"], check=True)

        runs = alternate(contenders, args.repeat, before=clean)
    finally:
        shutil.rmtree(top, ignore_errors=True)
    summary(runs, ("grouped", "per-file"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
