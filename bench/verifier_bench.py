"""Benchmark: one Verifier round of 200 checks of which 20 hit hanging services.

Services, all on loopback: one nginx (a real HTTP exchange per check through the `tcp` kind:
send `HEAD / HTTP/1.0`, expect `HTTP/1.1 200`), and 20 TCP servers that accept every
connection and never answer. Checks: 180 against nginx; 10 `tcp` checks against hanging
servers (the verifier's own socket timeout fires) and 10 checks by a verifier that reads
without any timeout (the scheduler must abandon them at the service's timeout).

The claim (issue 5): the round completes within the timeout + 1 s, and the healthy checks
take as long as in a round without hanging services. Each case runs REPEAT times with a fresh
VerifierControl; the report gives the median and the range.

    .venv/bin/python bench/verifier_bench.py [--repeat 5] [--timeout 2] [--out FILE]

--out appends a markdown section to FILE (e.g. docs/benchmarks.md); default: print only.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from atlas_ha.context import Server
from atlas_ha.settings import Settings
from atlas_ha.system import Clock
from atlas_ha.verifier.api import Context, Target, Verifier
from atlas_ha.verifier.control import Check, VerifierControl
from atlas_ha.verifier.kinds.tcp import TcpVerifier
from atlas_ha.verifier.profile import Profile, Status
from atlas_ha.verifier.services import ServiceDef

NGINX = "/usr/sbin/nginx"
TARGET = Target("SEC1", "127.0.0.1")


class BlockingVerifier(Verifier):
    """Reads without a timeout: only the scheduler can stop waiting for it."""

    kind = "blocking"

    def verify(self, ctx: Context, service: ServiceDef, target: Target) -> Profile:
        with socket.create_connection((target.address, int(service.options["port"]))) as s:
            s.recv(1)
        return Profile(Status.OK, "answered")


class Hanging:
    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = int(self.sock.getsockname()[1])
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.conns.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        self.sock.close()
        for c in self.conns:
            c.close()


def start_nginx(base: Path) -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    (base / "www").mkdir()
    (base / "www" / "index.html").write_text("ok\n")
    temps = "".join(
        f"    {k}_temp_path {base}/{k};\n"
        for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = base / "nginx.conf"
    conf.write_text(
        f"daemon off;\nuser root root;\nworker_processes 1;\npid {base}/nginx.pid;\n"
        f"error_log {base}/error.log;\nevents {{ worker_connections 1024; }}\n"
        f"http {{\n    access_log off;\n{temps}"
        f"    server {{\n        listen 127.0.0.1:{port} backlog=1024;\n"
        f"        root {base}/www;\n    }}\n}}\n"
    )
    proc = subprocess.Popen(
        [NGINX, "-p", f"{base}/", "-e", f"{base}/error.log", "-c", str(conf)],
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.terminate()
    raise SystemExit("nginx did not start")


def checks(nginx_port: int, hanging: list[Hanging], timeout: float) -> list[Check]:
    http = {"send": "HEAD / HTTP/1.0\r\n\r\n", "expect": "HTTP/1.1 200"}
    found = [
        Check(
            ServiceDef(f"web{i}", "tcp", timeout=timeout, options={"port": nginx_port, **http}),
            TARGET,
            TcpVerifier(),
        )
        for i in range(200 - len(hanging))
    ]
    for i, h in enumerate(hanging):
        if i % 2 == 0:
            service = ServiceDef(
                f"hung{i}", "tcp", timeout=timeout, options={"port": h.port, "expect": "220"}
            )
            found.append(Check(service, TARGET, TcpVerifier()))
        else:
            service = ServiceDef(f"hung{i}", "blocking", timeout=timeout, options={"port": h.port})
            found.append(Check(service, TARGET, BlockingVerifier()))
    return found


def one_round(ctx: Context, the_checks: list[Check]) -> tuple[float, list[float], dict[str, int]]:
    control = VerifierControl(ctx, the_checks, Clock())
    started = time.monotonic()
    outcomes = control.run_once()
    took = time.monotonic() - started
    healthy = [o.duration for o in outcomes if o.check.service.name.startswith("web")]
    statuses: dict[str, int] = {}
    for o in outcomes:
        statuses[o.profile.status.name] = statuses.get(o.profile.status.name, 0) + 1
    return took, healthy, statuses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="verifier-bench-") as tmp:
        base = Path(tmp)
        settings = Settings("bench", base, base / "esd", base / "sid", base / "atlas-ha.toml")
        ctx = Context(Server(settings), "PRI")
        proc, port = start_nginx(base)
        hanging = [Hanging() for _ in range(20)]
        try:
            cases = {
                "200 checks, none hanging": checks(port, [], args.timeout),
                "200 checks, 20 hanging": checks(port, hanging, args.timeout),
            }
            results = {}
            for name, the_checks in cases.items():
                runs = [one_round(ctx, the_checks) for _ in range(args.repeat)]
                results[name] = runs
                print(_summary(name, runs), flush=True)
        finally:
            for h in hanging:
                h.close()
            proc.terminate()
            proc.wait(timeout=10)
    report = _markdown(results, args.timeout, args.repeat)
    print(report)
    if args.out:
        with open(args.out, "a") as f:
            f.write("\n" + report)
    worst = max(took for took, _h, _s in results["200 checks, 20 hanging"])
    return 0 if worst <= args.timeout + 1.0 else 1


def _summary(name: str, runs: list[tuple[float, list[float], dict[str, int]]]) -> str:
    tooks = [r[0] for r in runs]
    return f"{name}: median {statistics.median(tooks):.3f} s ({min(tooks):.3f}-{max(tooks):.3f})"


def _markdown(
    results: dict[str, list[tuple[float, list[float], dict[str, int]]]],
    timeout: float,
    repeat: int,
) -> str:
    lines = [
        "## Verifier: a round of 200 checks with 20 hanging services",
        "",
        "Generated by `python bench/verifier_bench.py` (see its docstring).",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; nproc: {os.cpu_count()}; "
        f"python: {platform.python_version()}; kernel: {platform.release()}",
        f"- service timeout: {timeout:g} s; {repeat} rounds per case, each with a fresh "
        "VerifierControl (one thread per check)",
        "- healthy checks: `tcp` kind against one nginx on loopback, a real HTTP exchange "
        "(`HEAD /`, expect `HTTP/1.1 200`)",
        "- hanging services: TCP servers that accept and never answer; 10 checked by the `tcp` "
        "kind (its socket timeout fires), 10 by a verifier reading without a timeout (the "
        "scheduler abandons it at the service's timeout)",
        "",
        "| case | round median (s) | round min-max (s) | healthy check median / max (s) "
        "| statuses (last round) |",
        "|---|---:|---:|---:|---|",
    ]
    for name, runs in results.items():
        tooks = [r[0] for r in runs]
        healthy = [d for r in runs for d in r[1]]
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(runs[-1][2].items()))
        lines.append(
            f"| {name} | {statistics.median(tooks):.3f} | {min(tooks):.3f}-{max(tooks):.3f} "
            f"| {statistics.median(healthy):.4f} / {max(healthy):.3f} | {statuses} |"
        )
    hung = [r[0] for r in results["200 checks, 20 hanging"]]
    verdict = "met" if max(hung) <= timeout + 1.0 else "NOT met"
    lines += [
        "",
        f"Claim: a round with 20 hanging services completes within the timeout + 1 s "
        f"({timeout + 1:g} s): **{verdict}** (slowest round {max(hung):.3f} s).",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
