"""CPU per check: the in-process http verifier next to forking check_http for the same probes.

A local nginx (loopback, a free port) serves a site set up by the verifier's own SetUp: a
test page with the cycle token in the document root and one in an auth_basic location. One
check is the same three probes either way:

  in-process  HttpVerifier.verify(): GET the public page (token expected), GET the private
              page without credentials (401 expected), GET it with the verifier's credentials
              (token expected), plus the threshold judgement and the profile;
  forking     three runs of /usr/lib/nagios/plugins/check_http with the same Host, URL,
              expected string (-s), expected status (-e 401) and credentials (-a).

CPU time = user + system of this process and of its waited-for children
(resource.getrusage RUSAGE_SELF + RUSAGE_CHILDREN), over N checks; nginx itself is a child
that is not reaped until the end, so it is not counted on either side. Both sides are
interleaved in blocks so machine load hits both alike. The result is appended to
docs/benchmarks.md.

    python bench/http_verifier_bench.py [--checks 300] [--blocks 5] [--out docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from atlas_ha.lab import services as lab_services
from atlas_ha.lab.group import SimGroup
from atlas_ha.verifier import services as services_mod
from atlas_ha.verifier.api import Context, Target
from atlas_ha.verifier.kinds.http import HttpVerifier
from atlas_ha.verifier.profile import Status
from atlas_ha.verifier.setup import recent_tokens, run_setup, state_dir

CHECK_HTTP = "/usr/lib/nagios/plugins/check_http"
USER, PASSWORD = "atlas_verifier", "bench-password"


def cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def quiet(_line: str) -> None:
    pass


class Bench:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.group = SimGroup(base / "group")
        self.group.build({"A": (2, "PRI")})
        self.sim = self.group.servers["A"]
        self.root = self.sim.root
        self.www = base / "www"
        self.nginx: subprocess.Popen[bytes] | None = None

    def set_up(self) -> None:
        (self.www / "private").mkdir(parents=True)
        (self.www / "index.html").write_text("<h1>bench</h1>\n")
        lab_services.mirror_mount(self.root, self.www, self.www)
        site = (
            lab_services.site(self.www)
            .decode()
            .replace("listen 80;", f"listen 127.0.0.1:{self.port};")
        )
        (self.root / "etc/nginx/sites-enabled/www").write_text(site)
        htpasswd = self.root / "etc/nginx" / lab_services.HTPASSWD
        htpasswd.write_text(lab_services.htpasswd_line(USER, PASSWORD))
        secret = self.root / "etc/atlas-ha/secrets/web"
        secret.parent.mkdir(parents=True, exist_ok=True)
        secret.write_text(f"{USER}:{PASSWORD}\n")
        secret.chmod(0o600)
        services_mod.services_file(self.root).write_text(
            '[service.web]\nkind = "http"\ntimeout = 5\n'
            '[service.web.options]\ncredentials = "/etc/atlas-ha/secrets/web"\n'
        )
        self.server = self.sim.server(quiet)
        report = run_setup(self.server)
        assert not report.errors, report.errors
        self.token = recent_tokens(self.server)[0]
        run = self.base / "run"
        conf = lab_services.write_nginx(self.root, run, "sites-enabled")
        argv = lab_services.nginx_argv(run, run, conf, "-g", "daemon off;")
        self.nginx = subprocess.Popen(argv, start_new_session=True)
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("nginx did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.nginx is not None:
            self.nginx.terminate()  # by PID: the nginx this benchmark started
            self.nginx.wait(timeout=10)

    def in_process(self, n: int) -> float:
        service = services_mod.load(self.root)[0]
        ctx = Context(self.server, "PRI", state_dir=state_dir(self.server))
        verifier = HttpVerifier()
        target = Target("PRI", "127.0.0.1", own=True)
        start = cpu()
        for _ in range(n):
            profile = verifier.verify(ctx, service, target)
            if profile.status != Status.OK:
                raise RuntimeError(f"in-process check failed: {profile.summary}")
        return (cpu() - start) / n

    def forking(self, n: int) -> float:
        common = [CHECK_HTTP, "-H", "www.acme.lan", "-I", "127.0.0.1", "-p", str(self.port)]
        argvs = [
            [*common, "-u", "/atlas-ha-verify.html", "-s", self.token],
            [*common, "-u", "/private/atlas-ha-verify.html", "-e", "401"],
            [
                *common,
                "-u",
                "/private/atlas-ha-verify.html",
                "-a",
                f"{USER}:{PASSWORD}",
                "-s",
                self.token,
            ],
        ]
        start = cpu()
        for _ in range(n):
            for argv in argvs:
                done = subprocess.run(argv, capture_output=True, check=False, timeout=10)
                if done.returncode != 0:
                    raise RuntimeError(f"check_http failed: {done.stdout.decode().strip()}")
        return (cpu() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checks", type=int, default=300, help="checks per block and side")
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--out", default="docs/benchmarks.md")
    args = parser.parse_args()
    if not Path(CHECK_HTTP).exists() or not Path(lab_services.NGINX).exists():
        sys.exit(f"needs {CHECK_HTTP} (monitoring-plugins) and nginx")
    base = Path(tempfile.mkdtemp(prefix="atlas-ha-http-bench-", dir="/var/tmp"))
    base.chmod(0o755)
    bench = Bench(base)
    try:
        bench.set_up()
        bench.in_process(20)  # warm-up: imports, first connections
        bench.forking(5)
        inproc, forked = [], []
        for _ in range(args.blocks):
            inproc.append(bench.in_process(args.checks))
            forked.append(bench.forking(max(1, args.checks // 5)))
    finally:
        bench.stop()
        shutil.rmtree(base)
    report = render(args, inproc, forked)
    print(report)
    if args.out:
        with Path(args.out).open("a") as out:
            out.write("\n" + report)


def render(args: argparse.Namespace, inproc: list[float], forked: list[float]) -> str:
    a, b = statistics.median(inproc), statistics.median(forked)
    ms = lambda xs: ", ".join(f"{x * 1000:.3f}" for x in xs)  # noqa: E731
    version = subprocess.run([CHECK_HTTP, "-V"], capture_output=True, text=True, check=False)
    return f"""# Benchmark: CPU per check, in-process http verifier vs forking check_http

Generated by `python bench/http_verifier_bench.py --checks {args.checks} --blocks {args.blocks}`
on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} CPUs, {platform.release()},
Python {platform.python_version()}, {version.stdout.strip()}.

One check = the same three probes of a local nginx (loopback) either way: the public test
page (token expected), the auth_basic page without credentials (401 expected) and with the
verifier's credentials (token expected). CPU = user + system time of the benchmark process
and its reaped children (`resource.getrusage`, RUSAGE_SELF + RUSAGE_CHILDREN), divided by
the number of checks; nginx is not counted on either side. {args.blocks} interleaved blocks of
{args.checks} in-process checks and {max(1, args.checks // 5)} forking checks (3 check_http
runs each); the table gives the median block.

| side | CPU per check (ms), median | blocks (ms) |
|---|---:|---|
| in-process `HttpVerifier.verify` | {a * 1000:.3f} | {ms(inproc)} |
| forking `check_http` x 3 | {b * 1000:.3f} | {ms(forked)} |

Ratio forking / in-process: **{b / a:.1f}x** (target: at least 10x).
"""


if __name__ == "__main__":
    main()
