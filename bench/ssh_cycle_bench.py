"""Steady-state SyncCycle over real OpenSSH + rsync, against the administrator's script.

PRI (Env2) + SEC1 (Env1) + SEC2 (Env3), each with its own sshd on a loopback address
(127.0.0.11-13, port 2322 by default, so it never collides with the lab tests on 2222), keys
and forced commands exactly as the lab sets them up (`atlas_ha.lab.keys.setup_keys`).
N files (~4 KB, 10 subdirectories) under the PRI's /etc/app/data, a synced directory.

  atlas-ha   `python -m atlas_ha --config PRI sync cycle` (what a timer runs): Create +
             ConvertToOlder on the PRI; per SEC in parallel, over one multiplexed ssh
             connection, Send (rsync) + SyncUp (the SEC converts, installs, creates, converts
             down, sends back over the same connection: the PRI pulls); ConvertToNewer +
             Compare on the PRI; git history on all three servers. Exit 0 (= every SEC
             equal) is asserted.
  daemon     the same SyncCycle as the daemon runs it (`atlas-ha daemon run`): in a
             long-running process, `cycle(server, keep)` with the SECs' connections kept
             from one cycle to the next (`[transport] keep`, transport.keep): no login and
             no start-up of the SEC's side per cycle. Every SEC equal is asserted.
  admin      one bash script run on the PRI with an administrator's key (a plain shell on
             the SECs: sshd runs the command it is given), for SEC1 then SEC2:
               rsync -aAX --delete -e ssh PRI_TREE/ root@SEC:COPY/      (push)
               rsync -aAX --delete -e ssh root@SEC:COPY/ BACK/<sec>/     (pull back)
               diff -r PRI_TREE BACK/<sec>
             then git add -A + commit (if anything is staged) of BACK in one repository.
             COPY is a directory of its own on each SEC (not the SEC's /etc/app/data, which
             atlas-ha installs), so neither contender does the other's work.

Cases, after one untimed warm-up each: nothing changed; one file rewritten before each run.
Runs are interleaved (atlas, admin, atlas, admin, ...); medians and the ratio are reported.

first-copy (3 interleaved repetitions, `--first-copy N`): before each atlas-ha run, the SECs
become new ones: every snapshot on them is removed (SID_DATA/PRI; their own areas but for the
path lists `atlas-ha init` wrote) with their installed /etc/app/data, and so are the PRI's
copies of the SECs' areas; then one `sync cycle` copies, converts, installs, creates, sends back and
compares everything. Against it a plain `rsync -a` over ssh of the same tree to the same sshd
of each SEC in turn, into a directory removed before each run (the admin's key).

Starts three sshd processes (stopped by PID at the end): run it under the lab lock,

    flock /var/tmp/atlas-ha-lab.lock .venv/bin/python bench/ssh_cycle_bench.py [--files 2000]
        [--repeat 5] [--port 2322] [--out docs/benchmarks.md]

`--out` appends (or replaces) the section "Steady-state cycle over ssh" of that file.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cycle_bench import machine_info, make_tree, touch_one

from atlas_ha.lab.group import SimGroup
from atlas_ha.lab.keys import setup_keys, sshd_config
from atlas_ha.sync.cycle import cycle
from atlas_ha.system import Clock, Runner
from atlas_ha.transport.keep import KeptConnections
from atlas_ha.transport.ssh import generate_key

ADDR = {"PRI": "127.0.0.11", "SEC1": "127.0.0.12", "SEC2": "127.0.0.13"}
LAYOUT = {"A": (2, "PRI"), "B": (1, "SEC1"), "C": (3, "SEC2")}
SSHD = "/usr/sbin/sshd"
SECTION = "## Steady-state cycle over ssh"
FIRST_COPY = "first full copy"

ADMIN_SCRIPT = r"""
set -e
SRC="$1"; WORK="$2"; shift 2
SSH="ssh -i $WORK/admin_key -p $PORT -o BatchMode=yes -o IdentitiesOnly=yes \
 -o UserKnownHostsFile=$WORK/known_hosts -o StrictHostKeyChecking=yes -b $PRI_ADDR"
while [ $# -gt 0 ]; do
    sec="$1"; addr="$2"; copy="$3"; shift 3
    rsync -aAX --delete -e "$SSH" "$SRC/" "root@$addr:$copy/"
    rsync -aAX --delete -e "$SSH" "root@$addr:$copy/" "$WORK/repo/$sec/"
    diff -r "$SRC" "$WORK/repo/$sec" >/dev/null
done
git -C "$WORK/repo" add -A
git -C "$WORK/repo" diff --cached --quiet || git -C "$WORK/repo" commit -q -m cycle
"""


def wait_listening(address: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex((address, port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"sshd on {address}:{port} did not start")


@contextlib.contextmanager
def ssh_group(base: Path, count: int, port: int) -> Iterator[SimGroup]:
    """The three servers, their sshd (stopped by PID on exit), the tree on the PRI."""
    g = SimGroup(base / "g", addresses=ADDR)
    g.build(LAYOUT)
    roles = {name: role for name, (_env, role) in LAYOUT.items()}
    setup_keys(g, roles, port)
    make_tree(g.servers["A"].file("/etc/app/data"), count)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for name, sim in g.servers.items():
            cfg = sim.base / "esd/ssh/sshd_config"
            host_key = g.disk(f"disk-{name}") / "ssh/host_ed25519"
            cfg.write_text(sshd_config(sim, ADDR[roles[name]], port, host_key))
            with (sim.base / "sshd.log").open("w") as log:
                procs.append(
                    subprocess.Popen(
                        [SSHD, "-D", "-e", "-f", str(cfg)], stdout=log, stderr=subprocess.STDOUT
                    )
                )
            wait_listening(ADDR[roles[name]], port)
        with contextlib.redirect_stderr(io.StringIO()):  # first boot: "no valid snapshot"
            for name in g.servers:
                g.boot(name)
        yield g
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class Atlas:
    def __init__(self, group: SimGroup, count: int) -> None:
        self.group, self.count = group, count
        self.argv = [sys.executable, "-m", "atlas_ha", "--config", str(group.servers["A"].config)]
        self.data = group.servers["A"].file("/etc/app/data")

    def run(self) -> float:
        start = time.perf_counter()
        done = subprocess.run(
            [*self.argv, "sync", "cycle"], capture_output=True, text=True, check=False
        )
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"cycle exit {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return elapsed

    def touch(self, generation: int) -> None:
        touch_one(self.data, self.count, generation)

    def make_secs_new(self) -> None:
        """Every snapshot on the SECs, their installed tree, the PRI's copies of theirs."""
        pri_sid = self.group.servers["A"].server().sid.root
        for name, (_env, role) in LAYOUT.items():
            if role == "PRI":
                continue
            sim = self.group.servers[name]
            sid = sim.server().sid.root
            for area_dir in (sid / "PRI", pri_sid / role):
                shutil.rmtree(area_dir, ignore_errors=True)
            for own in (sid / role).glob("Env*"):  # as `atlas-ha init` leaves it
                for child in own.iterdir():
                    if child.name in ("SyncFilePaths", "SyncFilePathsSpecial", "IdentFilePaths"):
                        continue
                    if child.is_dir():
                        shutil.rmtree(child)
                    else:
                        child.unlink()
            (sid / role / "SnapshotEnvVersion").unlink(missing_ok=True)
            shutil.rmtree(sim.file("/etc/app/data"), ignore_errors=True)


class Daemon:
    """The daemon's turn, in this process: one cycle over the kept connections."""

    def __init__(self, group: SimGroup) -> None:
        self.server = group.servers["A"].server(lambda _line: None)
        self.keep = KeptConnections(Clock())

    def run(self) -> float:
        start = time.perf_counter()
        report = cycle(self.server, self.keep)
        elapsed = time.perf_counter() - start
        if not report.all_equal:
            raise RuntimeError(f"daemon cycle: not all equal: {report.as_dict()}")
        return elapsed

    def close(self) -> None:
        self.keep.close_all()


class Admin:
    """The administrator's script, with its own key accepted as a plain shell by each SEC."""

    def __init__(self, group: SimGroup, base: Path, port: int) -> None:
        self.group, self.work, self.port = group, base / "admin", port
        self.work.mkdir(parents=True)
        key = self.work / "admin_key"
        generate_key(Runner(), key, "admin@pri")
        shell = self.work / "shell"
        shell.write_text('#!/bin/sh\nexec /bin/sh -c "$SSH_ORIGINAL_COMMAND"\n')
        shell.chmod(0o755)
        kind, blob = key.with_suffix(".pub").read_text().split()[:2]
        known = []
        self.targets: list[str] = []
        for name, (_env, role) in LAYOUT.items():
            sim = group.servers[name]
            host = group.disk(f"disk-{name}") / "ssh/host_ed25519.pub"
            known.append(f"[{ADDR[role]}]:{port} {' '.join(host.read_text().split()[:2])}\n")
            if role == "PRI":
                continue
            auth = sim.base / "esd/ssh/authorized_keys"
            before = auth.read_text() if auth.exists() else ""
            auth.write_text(before + f'command="{shell}",restrict {kind} {blob} admin\n')
            copy = sim.base / "admin-copy"
            self.targets += [role.lower(), ADDR[role], str(copy)]
        (self.work / "known_hosts").write_text("".join(known))
        repo = self.work / "repo"
        repo.mkdir()
        for args in (
            ["init", "-q"],
            ["config", "user.name", "admin"],
            ["config", "user.email", "admin@localhost"],
            ["config", "commit.gpgsign", "false"],
        ):
            subprocess.run(["git", "-C", str(repo), *args], check=True)
        self.src = group.servers["A"].file("/etc/app/data")

    def first_copy(self) -> float:
        """A plain `rsync -a` over ssh of the tree to each SEC in turn, into an empty place."""
        env = {**os.environ, "PORT": str(self.port), "PRI_ADDR": ADDR["PRI"]}
        ssh = (
            f"ssh -i {self.work}/admin_key -p {self.port} -o BatchMode=yes "
            f"-o IdentitiesOnly=yes -o UserKnownHostsFile={self.work}/known_hosts "
            f"-o StrictHostKeyChecking=yes -b {ADDR['PRI']}"
        )
        dests = []
        for addr, copy in zip(self.targets[1::3], self.targets[2::3], strict=True):
            dest = Path(copy).with_name("first-copy")
            shutil.rmtree(dest, ignore_errors=True)
            dests.append((addr, dest))
        start = time.perf_counter()
        for addr, dest in dests:
            subprocess.run(
                ["rsync", "-a", "-e", ssh, f"{self.src}/", f"root@{addr}:{dest}/"],
                check=True,
                env=env,
            )
        return time.perf_counter() - start

    def run(self) -> float:
        env = {**os.environ, "PORT": str(self.port), "PRI_ADDR": ADDR["PRI"]}
        argv = ["bash", "-c", ADMIN_SCRIPT, "admin", str(self.src), str(self.work), *self.targets]
        start = time.perf_counter()
        subprocess.run(argv, check=True, env=env)
        return time.perf_counter() - start


@dataclass
class Row:
    case: str
    atlas: list[float] = field(default_factory=list)
    admin: list[float] = field(default_factory=list)
    daemon: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return statistics.median(self.atlas) / statistics.median(self.admin)

    @property
    def daemon_ratio(self) -> float:
        return statistics.median(self.daemon) / statistics.median(self.admin)


def measure(
    base: Path, count: int, repeat: int, port: int, first_copies: int = 3
) -> tuple[list[Row], float, float]:
    with ssh_group(base, count, port) as g:
        atlas, admin, daemon = Atlas(g, count), Admin(g, base, port), Daemon(g)
        try:
            first_atlas, first_admin = atlas.run(), admin.run()
            print(f"warm-up: atlas-ha {first_atlas:.2f} s, admin {first_admin:.2f} s", flush=True)
            reset_peak()  # building the tree and the warm-ups are not the daemon's memory
            print(f"daemon's first cycle (connecting): {daemon.run():.2f} s", flush=True)
            rows = _interleaved(atlas, admin, daemon, repeat)
            print(memory_line(base), flush=True)
        finally:
            daemon.close()
        if first_copies:
            rows.append(_first_copies(atlas, admin, first_copies))
        return rows, first_atlas, first_admin


def _first_copies(atlas: Atlas, admin: Admin, repeat: int) -> Row:
    """The first full copy to new SECs against a plain `rsync -a` over ssh, interleaved."""
    row = Row(FIRST_COPY)
    for rep in range(repeat):
        atlas.make_secs_new()
        row.atlas.append(atlas.run())
        row.admin.append(admin.first_copy())
        print(
            f"{FIRST_COPY} #{rep + 1}: atlas-ha {row.atlas[-1]:.3f} s, "
            f"rsync -a {row.admin[-1]:.3f} s ({_load()})",
            flush=True,
        )
    return row


def reset_peak() -> None:
    """Reset this process's peak resident memory (VmHWM) to its current resident memory
    (Linux: `5` into /proc/self/clear_refs); nothing where that is not possible."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _own_peak_mb() -> float:
    status = Path("/proc/self/status").read_text()
    hwm = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
    if hwm:
        return int(hwm.group(1)) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_line(base: Path) -> str:
    """Peak resident memory of the daemon's side: this process since `reset_peak` (it ran
    the daemon's cycles, the PRI's part of them in process; it also holds the benchmark's
    own state: an upper bound) and each SEC session the daemon keeps (a forced command under
    one of this run's sshd, alive between cycles)."""
    own = _own_peak_mb()
    parents: dict[int, int] = {}
    cmdlines: dict[int, bytes] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat_line = (entry / "stat").read_text()
            cmdlines[int(entry.name)] = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat_line.rsplit(")", 1)[1].split()[1])
    ours = {pid for pid, cmd in cmdlines.items() if b"sshd" in cmd and str(base).encode() in cmd}

    def our_sshd(pid: int) -> int | None:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid in ours:
                return pid
        return None

    sessions = []
    for pid, cmd in cmdlines.items():
        sshd = our_sshd(pid) if b"ssh-command" in cmd and b"python" in cmd else None
        if sshd is None:
            continue
        with contextlib.suppress(OSError):
            status = Path(f"/proc/{pid}/status").read_text()
            hwm = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
            server = re.search(rb"/servers/(\w+)/esd/", cmdlines[sshd])
            if hwm:
                name = server.group(1).decode() if server else str(pid)
                sessions.append(f"{name} {int(hwm.group(1)) / 1024:.0f} MB")
    shown = ", ".join(sorted(sessions)) or "none found"
    return f"peak RSS: daemon process (PRI) {own:.0f} MB; kept SEC sessions: {shown}"


def _load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def _interleaved(atlas: Atlas, admin: Admin, daemon: Daemon, repeat: int) -> list[Row]:
    rows, generation = [], 0
    for case, change in (("nothing changed", False), ("one file changed", True)):
        row = Row(case)
        for rep in range(repeat):
            for contender, times in ((atlas, row.atlas), (daemon, row.daemon)):
                if change:
                    generation += 1
                    atlas.touch(generation)  # one tree: every contender sees a change
                times.append(contender.run())
            row.admin.append(admin.run())
            print(
                f"{case} #{rep + 1}: atlas-ha {row.atlas[-1]:.3f} s, "
                f"daemon {row.daemon[-1]:.3f} s, admin {row.admin[-1]:.3f} s",
                flush=True,
            )
        rows.append(row)
    return rows


def render(info: dict[str, str], count: int, rows: list[Row], first: tuple[float, float]) -> str:
    lines = [
        SECTION,
        "",
        f"Generated by `python bench/ssh_cycle_bench.py --files {count}` under the lab lock "
        f"({info['date']}, {info['nproc']} CPUs, {info['rsync']}). Method in the script's "
        "docstring: `atlas-ha sync cycle`, and the daemon's cycle over connections kept "
        "between cycles, of PRI (Env2) + SEC1 (Env1) + SEC2 (Env3), each "
        "behind its own sshd on 127.0.0.11-13 with the lab's keys and forced commands, "
        f"{count:,} files of 4 KB in the PRI's /etc/app/data, against the administrator's "
        "script (per SEC: `rsync -aAX --delete` push over ssh, rsync back, `diff -r`; then "
        "`git add -A` + commit) run from the PRI over the same sshd. Interleaved runs, "
        "medians, seconds.",
        "",
        "| case | atlas-ha median | daemon median | admin median | ratio atlas/admin | "
        "ratio daemon/admin | atlas-ha runs | daemon runs | admin runs |",
        "|---|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for r in rows:
        if r.case == FIRST_COPY:
            continue
        lines.append(
            f"| {r.case} | {statistics.median(r.atlas):.3f} | {statistics.median(r.daemon):.3f} "
            f"| {statistics.median(r.admin):.3f} | {r.ratio:.2f}x | {r.daemon_ratio:.2f}x "
            f"| {_runs(r.atlas)} | {_runs(r.daemon)} | {_runs(r.admin)} |"
        )
    lines += [
        "",
        f"First cycle (everything copied): atlas-ha {first[0]:.1f} s, admin {first[1]:.1f} s.",
        "",
    ]
    for r in rows:
        if r.case == FIRST_COPY:
            lines += _first_copy_table(r)
    return "\n".join(lines)


def _first_copy_table(r: Row) -> list[str]:
    return [
        f"First full copy to both SECs made new (every snapshot but the path lists of `init`, "
        f"the installed tree and the PRI's copies of theirs removed before each run), "
        "`atlas-ha sync cycle` against a plain `rsync -a` over ssh of the same tree to each "
        f"SEC in turn; {len(r.atlas)} interleaved runs, {_load()} at the end "
        "(2 CPUs shared with other work):",
        "",
        "| case | atlas-ha median | rsync -a median | ratio | atlas-ha runs | rsync -a runs |",
        "|---|---:|---:|---:|---|---|",
        f"| {r.case} | {statistics.median(r.atlas):.3f} | {statistics.median(r.admin):.3f} "
        f"| {r.ratio:.2f}x | {_runs(r.atlas)} | {_runs(r.admin)} |",
        "",
    ]


def _runs(times: list[float]) -> str:
    return ", ".join(f"{t:.2f}" for t in times)


def write_section(out: Path, section: str, title: str = SECTION) -> None:
    """Replace the section `title` in `out` (up to the next `## `), or append it."""
    text = out.read_text() if out.exists() else ""
    pattern = re.compile(re.escape(title) + r"\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    out.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--port", type=int, default=2322)
    parser.add_argument("--out", default="", help="markdown file to append the section to")
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    parser.add_argument(
        "--first-copy",
        type=int,
        default=3,
        metavar="N",
        help="interleaved repetitions of the first full copy to new SECs (0: none)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="2,000 files, 3 interleaved repetitions; the last line is "
        "`ratio nothing-changed X.XX one-file Y.YY` (CLI cycle over the admin's script)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.files, args.repeat = 2000, 3
    if os.geteuid() != 0 or not Path(SSHD).exists():
        print("needs root and OpenSSH's sshd", file=sys.stderr)
        return 2
    info = machine_info()
    base = Path(tempfile.mkdtemp(prefix="atlas-ssh-bench-", dir="/var/tmp"))
    try:
        rows, first_atlas, first_admin = measure(
            base, args.files, args.repeat, args.port, args.first_copy
        )
    finally:
        if args.keep:
            print(f"kept: {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    section = render(info, args.files, rows, (first_atlas, first_admin))
    print("\n" + section)
    if args.out:
        write_section(Path(args.out), section)
        print(f"written: {args.out}")
    print(quick_line(rows))
    return 0


def quick_line(rows: list[Row]) -> str:
    """The one line anyone can compare across machines: CLI cycle over the admin's script."""
    ratio = {r.case: r.ratio for r in rows}
    return (
        f"ratio nothing-changed {ratio['nothing changed']:.2f} "
        f"one-file {ratio['one file changed']:.2f}"
    )


if __name__ == "__main__":
    sys.exit(main())
