"""Change on the PRI -> on every SEC: the daemon's change-triggered cycle against lsyncd.

The loopback ssh group of ssh_cycle_bench.py: PRI (Env2) + SEC1 (Env1) + SEC2 (Env3), each
behind its own sshd on 127.0.0.11-13 (port 2322), the lab's keys and forced commands, N
files (~4 KB, 10 subdirectories) in the PRI's /etc/app/data (synced).

  atlas-ha  the PRI's daemon loop (`daemon.loop.Daemon` with its `ChangeWatch`, default
            debounce 0.5 s, interval 3600 s so that no periodic cycle interferes, the SECs'
            connections kept) in this process. One repetition: one file rewritten (same
            size, new content) in /etc/app/data; the time until the daemon says a SyncCycle
            started by that change is done with every SEC compared equal (Compare is the
            last step of the cycle, after Install on every SEC); then the file's content on
            SEC1 and SEC2 is checked.
  lsyncd    Debian's lsyncd, `default.rsyncssh` with its default settings (delay 15 s),
            one sync per SEC, from a copy of the same tree outside every synced path (so
            neither contender sees the other's changes) to a directory of its own on each
            SEC, over the same sshd with the administrator's key (a plain shell). One
            repetition: one file rewritten; the time until both SECs' copies hold its new
            content (polled every 20 ms). lsyncd neither converts nor compares nor records.

Repetitions are interleaved (atlas-ha, lsyncd, atlas-ha, ...) so that the machine's load
hits both alike; each result is printed with the 1-minute load average at that moment (as
`uptime` shows it). p50 and p95 of each, and their ratio, at the end.

Starts three sshd and two lsyncd processes (stopped by PID): run it under the lab lock,

    flock /var/tmp/atlas-ha-lab.lock .venv/bin/python bench/trigger_bench.py [--repeat 10]
        [--files 2000] [--quick] [--out docs/benchmarks.md]

Without lsyncd installed (`apt-get install lsyncd`) the lsyncd side is skipped with a line
saying so, and only atlas-ha is measured.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cycle_bench import file_path, machine_info, make_tree, touch_one
from ssh_cycle_bench import ADDR, LAYOUT, SSHD, Admin, ssh_group, write_section

from atlas_ha.daemon.loop import Daemon
from atlas_ha.daemon.watch import ChangeWatch
from atlas_ha.lab.group import SimGroup
from atlas_ha.settings import DaemonSettings
from atlas_ha.sync.cycle import cycle
from atlas_ha.system import Clock
from atlas_ha.transport.keep import KeptConnections

SECTION = "## Change-triggered cycle against lsyncd"
TIMEOUT = 90.0


class Said:
    """The daemon's sentences with the monotonic time each was said."""

    def __init__(self) -> None:
        self.lines: list[tuple[float, str]] = []
        self.cond = threading.Condition()

    def __call__(self, line: str) -> None:
        with self.cond:
            self.lines.append((time.monotonic(), line))
            self.cond.notify_all()

    def done_after(self, t0: float) -> tuple[float, str]:
        """The first SyncCycle sentence said after `t0` (waits for it)."""
        deadline = t0 + TIMEOUT
        with self.cond:
            while True:
                for when, line in self.lines:
                    if when > t0 and line.startswith(("SyncCycle", "suspended", "no role")):
                        return when, line
                if not self.cond.wait(max(0.0, deadline - time.monotonic())):
                    raise RuntimeError(f"no SyncCycle within {TIMEOUT:g} s: {self.lines[-5:]}")


class AtlasDaemon:
    def __init__(self, group: SimGroup, count: int) -> None:
        self.group, self.count = group, count
        self.said = Said()
        self.server = group.servers["A"].server(lambda _line: None)
        self.keep = KeptConnections(Clock())
        self.data = group.servers["A"].file("/etc/app/data")
        self.debounce = DaemonSettings().debounce
        self.watch = ChangeWatch(self.server, self.debounce, self.said)
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> float:
        """The first cycle (everything copied), then the daemon with its watcher."""
        started = time.perf_counter()
        if not cycle(self.server, self.keep).all_equal:
            raise RuntimeError("first cycle: not all equal")
        first = time.perf_counter() - started
        daemon = Daemon(self.server, 3600, log=self.said, keep=self.keep, watch=self.watch)
        self.thread = threading.Thread(target=daemon.run, args=(self.stop,), daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while str(self.data) not in self.watch._by_dir:
            if time.monotonic() > deadline or self.watch.off:
                raise RuntimeError(f"the daemon does not watch {self.data}: {self.watch.off}")
            time.sleep(0.05)
        return first

    def run(self, generation: int) -> float:
        t0 = time.monotonic()
        touch_one(self.data, self.count, generation)
        when, line = self.said.done_after(t0)
        if "started by a change" not in line or " all equal" not in line:
            raise RuntimeError(f"unexpected turn: {line}")
        want = file_path(self.data, self.count // 2).read_bytes()
        for sec in ("B", "C"):
            got = file_path(self.group.servers[sec].file("/etc/app/data"), self.count // 2)
            if got.read_bytes() != want:
                raise RuntimeError(f"{sec}: the changed file is not installed")
        return when - t0

    def close(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(30)
        self.keep.close_all()


class Lsyncd:
    """lsyncd default.rsyncssh (its default delay), one sync per SEC, a tree of its own."""

    def __init__(self, group: SimGroup, base: Path, count: int, admin: Admin) -> None:
        self.count, self.base = count, base / "lsyncd"
        self.base.mkdir()
        self.src = self.base / "src"
        make_tree(self.src, count)
        self.targets = []
        syncs = []
        options = (
            f'UserKnownHostsFile = "{admin.work / "known_hosts"}", StrictHostKeyChecking = "yes",'
            f' BatchMode = "yes", IdentitiesOnly = "yes", BindAddress = "{ADDR["PRI"]}"'
        )
        for name, (_env, role) in LAYOUT.items():
            if role == "PRI":
                continue
            target = group.servers[name].base / "lsyncd-copy"
            self.targets.append(target)
            syncs.append(
                f'sync {{ default.rsyncssh, source = "{self.src}", host = "root@{ADDR[role]}",\n'
                f'  targetdir = "{target}",\n'
                f'  ssh = {{ port = {admin.port}, identityFile = "{admin.work / "admin_key"}",\n'
                f"    options = {{ {options} }} }} }}\n"
            )
        self.config = self.base / "lsyncd.conf.lua"
        self.config.write_text(
            f'settings {{ nodaemon = true, logfile = "{self.base / "lsyncd.log"}",\n'
            f'  statusFile = "{self.base / "lsyncd.status"}" }}\n' + "".join(syncs)
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        started = time.perf_counter()
        with (self.base / "stdout.log").open("wb") as out:
            self.proc = subprocess.Popen(
                ["lsyncd", "-nodaemon", str(self.config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        last = file_path(self.src, self.count - 1).read_bytes()
        self._until(lambda t: _holds(file_path(t, self.count - 1), last), "the first sync")
        return time.perf_counter() - started

    def run(self, generation: int) -> float:
        t0 = time.monotonic()
        touch_one(self.src, self.count, generation)
        want = file_path(self.src, self.count // 2).read_bytes()
        self._until(lambda t: _holds(file_path(t, self.count // 2), want), "a change")
        return time.monotonic() - t0

    def _until(self, holds: object, what: str) -> None:
        assert callable(holds)
        deadline = time.monotonic() + TIMEOUT
        while not all(holds(t) for t in self.targets):
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"lsyncd exited {self.proc.returncode}: see {self.base}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"lsyncd: {what} not on every SEC after {TIMEOUT:g} s")
            time.sleep(0.02)

    def close(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _holds(path: Path, content: bytes) -> bool:
    try:
        return path.read_bytes() == content
    except OSError:
        return False


def pct(times: list[float], q: int) -> float:
    """The q-th percentile (inclusive method: within the measured range)."""
    if len(times) == 1:
        return times[0]
    return statistics.quantiles(times, n=100, method="inclusive")[q - 1]


def measure(
    base: Path, count: int, repeat: int, port: int
) -> tuple[dict[str, list[tuple[float, float]]], dict[str, float], str]:
    results: dict[str, list[tuple[float, float]]] = {"atlas-ha": []}
    firsts: dict[str, float] = {}
    skipped = ""
    with ssh_group(base, count, port) as g:
        atlas = AtlasDaemon(g, count)
        lsyncd: Lsyncd | None = None
        if shutil.which("lsyncd") is None:
            skipped = "lsyncd: not installed (`apt-get install lsyncd`): skipped"
            print(skipped, flush=True)
        else:
            lsyncd = Lsyncd(g, base, count, Admin(g, base, port))
            results["lsyncd"] = []
        try:
            firsts["atlas-ha"] = atlas.start()
            if lsyncd is not None:
                firsts["lsyncd"] = lsyncd.start()
            print(f"first sync: {firsts}", flush=True)
            for rep in range(repeat):
                contenders: list[tuple[str, AtlasDaemon | Lsyncd]] = [("atlas-ha", atlas)]
                if lsyncd is not None:
                    contenders.append(("lsyncd", lsyncd))
                for name, contender in contenders:
                    time.sleep(1.0)  # the previous repetition's cycle is over everywhere
                    load = os.getloadavg()[0]
                    took = contender.run(rep + 1)
                    results[name].append((took, load))
                    print(f"#{rep + 1} {name}: {took:.3f} s (load {load:.2f})", flush=True)
        finally:
            atlas.close()
            if lsyncd is not None:
                lsyncd.close()
    return results, firsts, skipped


def render(
    info: dict[str, str],
    count: int,
    results: dict[str, list[tuple[float, float]]],
    firsts: dict[str, float],
    skipped: str,
    uptimes: tuple[str, str],
) -> str:
    lines = [
        SECTION,
        "",
        f"Generated by `python bench/trigger_bench.py --files {count} --repeat "
        f"{len(results['atlas-ha'])}` under the lab lock ({info['date']}, {info['nproc']} "
        f"CPUs, {info['rsync']}). Method in the script's docstring: one file of {count:,} "
        "changed on the PRI; atlas-ha: until the daemon's change-triggered SyncCycle is done "
        "with every SEC installed and compared equal (debounce 0.5 s); lsyncd 2.2.3 "
        "`default.rsyncssh` (delay 15 s, its default): until both SECs' copies hold the new "
        "content. Interleaved repetitions, seconds; each run with the 1-minute load average.",
        "",
        "| contender | p50 | p95 | runs (s @ load) |",
        "|---|---:|---:|---|",
    ]
    for name, runs in results.items():
        times = [t for t, _ in runs]
        shown = ", ".join(f"{t:.2f} @ {load:.1f}" for t, load in runs)
        lines.append(f"| {name} | {pct(times, 50):.2f} | {pct(times, 95):.2f} | {shown} |")
    lines.append("")
    if "lsyncd" in results:
        a = [t for t, _ in results["atlas-ha"]]
        b = [t for t, _ in results["lsyncd"]]
        lines.append(
            f"Ratio atlas-ha / lsyncd: p50 {pct(a, 50) / pct(b, 50):.2f}x, "
            f"p95 {pct(a, 95) / pct(b, 95):.2f}x."
        )
    else:
        lines.append(skipped)
    lines += [
        "",
        "First sync (everything copied): "
        + ", ".join(f"{name} {t:.1f} s" for name, t in firsts.items())
        + f". `uptime` before: `{uptimes[0]}`; after: `{uptimes[1]}`.",
        "",
    ]
    return "\n".join(lines)


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--port", type=int, default=2322)
    parser.add_argument("--out", default="", help="markdown file to write the section to")
    parser.add_argument("--quick", action="store_true", help="3 repetitions")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeat = 3
    if os.geteuid() != 0 or not Path(SSHD).exists():
        print("needs root and OpenSSH's sshd", file=sys.stderr)
        return 2
    info = machine_info()
    before = uptime()
    base = Path(tempfile.mkdtemp(prefix="atlas-trigger-bench-", dir="/var/tmp"))
    base.chmod(0o755)
    try:
        results, firsts, skipped = measure(base, args.files, args.repeat, args.port)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    section = render(info, args.files, results, firsts, skipped, (before, uptime()))
    print("\n" + section)
    if args.out:
        write_section(Path(args.out), section, SECTION)
        print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
