"""Manifest parse + render of one cycle's areas, with and without the line cache.

A one-file-changed SyncCycle parses and renders the Manifests of every area it touches: the
PRI's areas of each EnvVersion, the SECs' received and re-created ones. They differ from the
previous ones (and from each other) in a few lines. This measures, side by side in one run,
interleaved, for N entries and K Manifests each differing from the last in one line:

  cached    `manifest.parse` + `manifest.render` (the line cache: JSON work only for lines
            not seen before);
  baseline  the same texts through `manifest._parse` + a render that formats every line
            (what both did before the line cache).

    python bench/manifest_bench.py [--entries 2000,20000] [--manifests 9] [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

from atlas_ha.layout import manifest


def entry(i: int, generation: int) -> manifest.Entry:
    digest = f"{i:08x}{generation:08x}".ljust(64, "0")
    return manifest.Entry(
        "SyncFiles",
        f"/etc/app/data/{i % 10}/f{i:06d}",
        "file",
        0o644,
        0,
        0,
        4096,
        1_700_000_000_000_000_000 + i,
        digest,
    )


def texts(n: int, k: int, start: int) -> list[str]:
    entries = [entry(i, 0) for i in range(n)]
    out = []
    for g in range(k):
        entries[(g * 7919) % n] = entry((g * 7919) % n, start + g + 1)
        out.append("".join([manifest.HEADER, "\n", *(manifest._render_line(e) for e in entries)]))
    return out


def cached(batch: list[str]) -> float:
    t = time.perf_counter()
    for text in batch:
        manifest.render(manifest.parse(text, "M").values())
    return time.perf_counter() - t


def baseline(batch: list[str]) -> float:
    t = time.perf_counter()
    for text in batch:
        rows = manifest._parse(text, "M").values()
        ordered = sorted(rows, key=lambda e: (manifest.TREES.index(e.tree), e.path))
        manifest.HEADER + "\n" + "".join(manifest._render_line(e) for e in ordered)
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", default="2000,20000")
    parser.add_argument("--manifests", type=int, default=9)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print("| entries | manifests | cached median s | baseline median s | ratio |")
    print("|---:|---:|---:|---:|---:|")
    for n in (int(x) for x in args.entries.split(",")):
        ours: list[float] = []
        theirs: list[float] = []
        cached(texts(n, args.manifests, 10_000))  # the previous cycle's Manifests, seen once
        for r in range(args.repeat):  # each repetition: the next cycle, one more file changed
            batch = texts(n, args.manifests, r * 100)
            theirs.append(baseline(batch))
            ours.append(cached(batch))
        a, b = statistics.median(ours), statistics.median(theirs)
        print(f"| {n} | {args.manifests} | {a:.3f} | {b:.3f} | {a / b:.2f}x |")


if __name__ == "__main__":
    main()
