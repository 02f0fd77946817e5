"""Scenario 3's on-demand ConvertToNewer at boot, old code against new, side by side.

The local transport's SimGroup replays the seed's Scenario 3 the way bench/boot_bench.py does
in the lab: A (Env2) is PRI with N files (~1.4 KB, 10 subdirectories) in /etc/app/data and
cycles; A's disk goes into B (Env1), which boots as PRI and cycles (now SEV[PRI] = 1, (PRI,2)
is stale, (PRI,3) absent); B and C (Env3) swap disks. What is timed: C's
`convert_to_newer(PRI -> Env3)` of that disk, the two steps (PRI,1) -> (PRI,2) -> (PRI,3)
that `atlas-ha boot` runs before Role/Identity Install. Each repetition starts from a copy of
the disk as it was before C's boot (`cp -a`).

    python bench/convert_bench.py --base /var/tmp/old-checkout [--files 2000] [--repeat 5]

`--base DIR`: a checkout of the code to compare with (its `src` is put first on PYTHONPATH of
the processes that build and time its state); without it, only this tree is timed. The two
codes build their own state (each disk is what that code writes) and are timed alternately,
one repetition each in turn, in fresh processes; medians and the ratio are printed, with the
1-minute load average of every run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sidebyside import alternate, summary

HERE = Path(__file__).resolve()
LAYOUT = {"A": (2, "PRI"), "B": (1, "SEC1"), "C": (3, "SEC2")}


def build(state: Path, files: int) -> None:
    """The disks as they are just before C boots in Scenario 3 (and a pristine copy)."""
    from atlas_ha.lab.group import SimGroup
    from atlas_ha.sync.cycle import cycle

    group = SimGroup(state / "g")
    group.build(LAYOUT)
    with contextlib.redirect_stderr(io.StringIO()):
        for name in group.servers:
            group.boot(name)
        data = group.servers["A"].file("/etc/app/data")
        for i in range(files):
            path = data / f"d{i % 10}" / f"f{i}.conf"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"setting{i} = {i}\n" * 64)
        quiet = group.servers["A"].server(lambda _line: None)
        assert cycle(quiet).all_equal
        group.shutdown("A")
        group.shutdown("B")
        disk_a = group.unplug("A")
        group.unplug("B")
        group.plug(disk_a, "B")
        group.boot("B")  # Scenario 1: B (Env1) is PRI now
        cycle(group.servers["B"].server(lambda _line: None))
        group.shutdown("B")
        group.shutdown("C")
        group.swap_disks("B", "C")
    subprocess.run(["cp", "-a", str(group.disk(disk_a)), str(state / "pristine")], check=True)
    (state / "disk").write_text(disk_a)


def time_once(state: Path) -> float:
    from atlas_ha.lab.group import SimServer
    from atlas_ha.sync.convert import convert_to_newer

    disk = state / "g" / "disks" / (state / "disk").read_text()
    shutil.rmtree(disk)
    subprocess.run(["cp", "-a", str(state / "pristine"), str(disk)], check=True)
    subprocess.run(["sync"], check=True)
    c = SimServer("C", LAYOUT["C"][0], state / "g" / "servers" / "C")
    server = c.server(lambda _line: None)
    assert server.sid.sev("PRI") == 1, server.sid.sev("PRI")
    started = time.perf_counter()
    written = convert_to_newer(server, "PRI", 3)
    took = time.perf_counter() - started
    assert written == [2, 3], written
    server.sid.require_valid("PRI", 3)
    return took


def child(args: list[str], src: Path | None) -> str:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = f"{src}{os.pathsep}{env.get('PYTHONPATH', '')}".rstrip(os.pathsep)
    done = subprocess.run(
        [sys.executable, str(HERE), *args], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}")
    return done.stdout.strip().splitlines()[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--base", type=Path, help="a checkout of the code to compare with")
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--time", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.build:
        build(args.build, args.files)
        print("built")
        return 0
    if args.time:
        print(json.dumps(time_once(args.time)))
        return 0
    top = Path(tempfile.mkdtemp(prefix="atlas-convert-bench-", dir="/var/tmp"))
    codes: dict[str, Path | None] = {"new": HERE.parent.parent / "src"}
    if args.base:
        codes = {"old": args.base / "src", **codes}
    try:
        for name, src in codes.items():
            child(["--build", str(top / name), "--files", str(args.files)], src)
        contenders = {
            name: (lambda name=name, src=src: float(child(["--time", str(top / name)], src)))
            for name, src in codes.items()
        }
        runs = alternate(contenders, args.repeat)
    finally:
        shutil.rmtree(top, ignore_errors=True)
    summary(runs, ("new", "old"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
