"""One history record (SPEC 5.11) of one changed file in a SID_DATA of many areas: the
targeted stage (only the objects whose Manifest entries changed, by `update-index`) against
the whole-area `git add -A`, and the commit by write-tree + commit-tree + update-ref against
a plain `git commit`, side by side.

A SID_DATA with R areas (default 6, as a SEC of a three-server group holds: 3 of the PRI's
role, 3 of its own) of N files (~1.4 KB, default 2,000 each), each with its real Manifest,
is recorded once; then, in one process, alternately: one file of the first area changes and
its Manifest is rewritten, and `History.record` commits them:

- "targeted": `record(..., targeted=True)` (what Create, conversions and receive-commit
  use): HEAD's copy of the old Manifest read back, the two compared, `update-index` of the
  changed file and the Manifest, write-tree, commit-tree, update-ref;
- "full add": `record(...)`: `git add -A` of the whole area, `diff --cached`, write-tree,
  commit-tree, update-ref (what every record did before);
- "git commit": the full add with a plain `git commit -F -` as the commit step (before that:
  git first refreshes the whole index, an lstat of every file of every area).

    python bench/history_bench.py [--files 2000] [--areas 6] [--repeat 9] [--no-split-index]
        [--without-commit]

`--no-split-index`: git's index as one file (what the history had before core.splitIndex),
so that each contender rewrites all of it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sidebyside import alternate, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--areas", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--without-commit", action="store_true", help="leave out git commit")
    parser.add_argument(
        "--no-split-index", action="store_true", help="one whole index file, as before"
    )
    args = parser.parse_args(argv)

    from atlas_ha.layout import manifest as manifest_mod
    from atlas_ha.layout import objects
    from atlas_ha.layout.history import History
    from atlas_ha.system import Runner

    top = Path(tempfile.mkdtemp(prefix="atlas-history-bench-", dir="/var/tmp"))
    try:
        root = top / "SID_DATA"
        roles = ["PRI" if a < args.areas // 2 else "SEC2" for a in range(args.areas)]
        areas = [f"{role}/Env{a % 3 + 1}" for a, role in enumerate(roles)]
        first: dict[tuple[str, str], manifest_mod.Entry] = {}
        for number, area in enumerate(areas):
            rows = {}
            for i in range(args.files):
                rel = f"/etc/app/data/d{i % 10}/f{i}.conf"
                path = root / area / "SyncFiles" / rel.lstrip("/")
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(f"setting{i} = {i}\n" * 64)
                entry = objects.entry_of("SyncFiles", rel, path, path.lstat())
                rows[entry.key] = entry
            (root / area / "Manifest").write_text(manifest_mod.render(rows.values()))
            if number == 0:
                first = rows
        history = History(root, "SEC2", Runner())
        history.ensure()
        if args.no_split_index:
            history.git("config", "core.splitIndex", "false")
        history.record("create", "PRI", 1, areas)
        rel = "/etc/app/data/d1/f1.conf"
        changed = root / areas[0] / "SyncFiles" / rel.lstrip("/")
        full_commit = history._commit

        def plain(message: str) -> str:
            history.git("commit", "-q", "--no-verify", "-F", "-", input_text=message)
            return history._head()

        contenders: dict[str, tuple[bool, Callable[[str], str]]] = {
            "targeted": (True, full_commit),
            "full add": (False, full_commit),
            "git commit": (False, plain),
        }
        if args.without_commit:
            del contenders["git commit"]

        def change(name: str, rep: int) -> None:  # untimed: what a Create wrote before
            changed.write_text(f"{name} {rep}\n")
            entry = objects.entry_of("SyncFiles", rel, changed, changed.lstat())
            first[entry.key] = entry
            (root / areas[0] / "Manifest").write_text(manifest_mod.render(first.values()))
            history._commit = contenders[name][1]  # type: ignore[method-assign]

        def record(targeted: bool) -> Callable[[], float | None]:
            def run() -> None:
                assert history.record("create", "PRI", 1, [areas[0]], targeted=targeted)

            return run

        runs = alternate(
            {name: record(targeted) for name, (targeted, _c) in contenders.items()},
            args.repeat,
            before=change,
            ms=True,
        )
        tree = history.git("rev-parse", "HEAD^{tree}").stdout.strip()
        history.git("add", "-A", "--force", "--", *areas)
        assert history.git("write-tree").stdout.strip() == tree  # the targeted ones were right
    finally:
        shutil.rmtree(top, ignore_errors=True)
    medians = summary(runs, ("targeted", "full add"), ms=True)
    if "git commit" in medians:
        print(f"ratio write-tree/commit {medians['full add'] / medians['git commit']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
