"""Kinds `health` (fixtures for /proc and /sys) and `connectivity` (real ping on loopback and in
a network namespace of the test's own where nothing answers)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from atlas_ha.system import Completed, Runner
from atlas_ha.verifier.api import Context, Target
from atlas_ha.verifier.kinds.connectivity import (
    ConnectivityVerifier,
    default_gateway,
    ping_profile,
)
from atlas_ha.verifier.kinds.health import HealthVerifier, mdstat
from atlas_ha.verifier.profile import Status, Threshold
from atlas_ha.verifier.services import ServiceDef

SELF = Target("PRI", "127.0.0.1", own=True)
CLEAN = """Personalities : [raid1]
md0 : active raid1 sdb1[1] sda1[0]
      1048512 blocks super 1.2 [2/2] [UU]

unused devices: <none>
"""
DEGRADED = """Personalities : [raid1]
md0 : active raid1 sdb1[1] sda1[0]
      1048512 blocks super 1.2 [2/2] [UU]

md1 : active raid1 sda2[0] sdb2[1](F)
      2096064 blocks super 1.2 [2/1] [U_]

unused devices: <none>
"""
RECOVERING = """Personalities : [raid1]
md0 : active raid1 sdc1[2] sda1[0]
      1048512 blocks super 1.2 [2/2] [UU]
      [==>..................]  recovery = 12.6% (132352/1048512) finish=0.4min speed=33088K/sec

unused devices: <none>
"""


def fixture_roots(
    tmp: Path, mdstat_text: str | None, load5: float, avail_kb: int
) -> dict[str, str]:
    proc, sys_root = tmp / "proc", tmp / "sys"
    proc.mkdir()
    (proc / "loadavg").write_text(f"0.50 {load5} 0.10 1/100 4242\n")
    (proc / "cpuinfo").write_text("processor\t: 0\nmodel\t: x\nprocessor\t: 1\n")
    (proc / "meminfo").write_text(f"MemTotal: 1000 kB\nMemAvailable: {avail_kb} kB\n")
    if mdstat_text is not None:
        (proc / "mdstat").write_text(mdstat_text)
    zone = sys_root / "class" / "thermal" / "thermal_zone0"
    zone.mkdir(parents=True)
    (zone / "temp").write_text("47500\n")
    (zone / "type").write_text("x86_pkg_temp\n")
    return {"proc": str(proc), "sys": str(sys_root)}


def health(options: dict[str, object], **extra: object) -> ServiceDef:
    return ServiceDef("health", "health", options=options, **extra)  # type: ignore[arg-type]


def test_healthy_server(ctx: Context, tmp_path: Path) -> None:
    roots = fixture_roots(tmp_path, CLEAN, load5=1.0, avail_kb=800)
    # free space is the real file system's: judged only against "full" here
    service = health({**roots, "paths": ["/"]}, thresholds={"free": Threshold(0.0, -1.0)})
    profile = HealthVerifier().verify(ctx, service, SELF)
    assert profile.status == Status.OK, profile
    values = {m.label: m for m in profile.measurements}
    assert values["load"].value == 0.5  # 1.0 over 2 CPUs
    assert values["mem_available"].value == 80.0 and values["mem_available"].uom == "%"
    assert values["temp x86_pkg_temp"].value == 47.5
    assert 0 < values["free /"].value <= 100


def test_degraded_array_load_memory_and_disk(ctx: Context, tmp_path: Path) -> None:
    roots = fixture_roots(tmp_path, DEGRADED, load5=9.0, avail_kb=70)
    profile = HealthVerifier().verify(ctx, health(roots), SELF)
    assert profile.status == Status.CRITICAL
    assert "md1 degraded: 1/2 disks [U_]" in profile.summary
    judged = {m.label: m.judgement for m in profile.measurements}
    assert judged["load"] == "unacceptable"  # 4.5 per CPU
    assert judged["mem_available"] == "slow"  # 7 %
    full = HealthVerifier().verify(
        ctx, health(roots, thresholds={"free": Threshold(101, 100)}), SELF
    )
    assert {m.label: m.judgement for m in full.measurements}["free /"] == "unacceptable"


def test_recovering_array_is_warning_and_missing_files_are_not_measured(
    ctx: Context, tmp_path: Path
) -> None:
    assert mdstat(tmp_path / "absent") == (Status.OK, [])
    roots = fixture_roots(tmp_path, RECOVERING, load5=0.1, avail_kb=900)
    profile = HealthVerifier().verify(ctx, health(roots), SELF)
    assert profile.status == Status.WARNING
    assert profile.summary.startswith("md0: recovery 12.6% (finish in 0.4 min)")
    empty = tmp_path / "empty"
    empty.mkdir()
    bare = HealthVerifier().verify(ctx, health({"proc": str(empty), "sys": str(empty)}), SELF)
    assert [m.label for m in bare.measurements] == ["free /"]


def test_health_is_for_the_server_itself(ctx: Context) -> None:
    profile = HealthVerifier().verify(ctx, health({}), Target("SEC1", "127.0.0.1"))
    assert profile.status == Status.UNKNOWN


def test_default_gateway_from_the_route_table(tmp_path: Path) -> None:
    (tmp_path / "net").mkdir()
    (tmp_path / "net" / "route").write_text(
        "Iface\tDestination\tGateway \tFlags\n"
        "eth0\t000200C0\t00000000\t0001\n"
        "eth0\t00000000\t010200C0\t0003\n"
    )
    assert default_gateway(tmp_path) == "192.0.2.1"
    assert default_gateway(tmp_path / "none") is None


def net(**options: object) -> ServiceDef:
    return ServiceDef("net", "connectivity", timeout=5, options=dict(options))


def test_ping_a_partner_and_the_gateway_on_loopback(ctx: Context, tmp_path: Path) -> None:
    profile = ConnectivityVerifier().verify(ctx, net(count=2), Target("SEC1", "127.0.0.1"))
    assert profile.status == Status.OK, profile
    assert profile.summary == "SEC1 127.0.0.1 reachable (2/2 answered)"
    values = {m.label: m for m in profile.measurements}
    assert values["loss"].value == 0 and values["rtt"].uom == "ms"
    (tmp_path / "net").mkdir()
    (tmp_path / "net" / "route").write_text(
        "Iface\tDestination\tGateway\nlo\t00000000\t0100007F\t3\n"
    )
    own = ConnectivityVerifier().verify(ctx, net(count=1, proc=str(tmp_path)), SELF)
    assert own.summary == "gateway 127.0.0.1 reachable (1/1 answered)"
    none = ConnectivityVerifier().verify(ctx, net(proc=str(tmp_path / "x")), SELF)
    assert none.status == Status.UNKNOWN and "no gateway" in none.summary


def test_ping_output_partial_loss_and_failure() -> None:
    out = (
        "--- 10.0.0.12 ping statistics ---\n"
        "5 packets transmitted, 3 received, 40% packet loss, time 812ms\n"
        "rtt min/avg/max/mdev = 0.051/0.090/0.133/0.033 ms\n"
    )
    p = ping_profile(out, "", 0, "SEC1 10.0.0.12", net())
    assert p.status == Status.WARNING  # 40 % is slow by the default [20, 60]
    assert {m.label: m.value for m in p.measurements} == {"loss": 40.0, "rtt": 0.09}
    err = ping_profile("", "ping: connect: Network is unreachable\n", 2, "SEC1 x", net())
    assert err.status == Status.CRITICAL
    assert err.summary == "SEC1 x: ping failed (exit 2): ping: connect: Network is unreachable"


class Isolated(Runner):
    """Runs every program in a fresh network namespace of its own (gone with the process)
    where 198.51.100.2 is on a link nobody answers on."""

    SETUP = (
        "ip link set lo up && ip link add v0 type veth peer name v1 && "
        "ip addr add 198.51.100.1/24 dev v0 && ip link set v0 up && ip link set v1 up && "
        'ip neigh add 198.51.100.2 lladdr 02:00:00:00:00:02 dev v0 && exec "$@"'
    )

    def run(
        self,
        argv: Sequence[str],
        *,
        input_text: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 300.0,
        check: bool = True,
    ) -> Completed:
        wrapped = ["unshare", "--net", "sh", "-c", self.SETUP, "sh", *argv]
        return super().run(
            wrapped, input_text=input_text, env=env, cwd=cwd, timeout=timeout, check=check
        )


@pytest.mark.lab
@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare")
def test_unreachable_partner_is_critical(ctx: Context) -> None:
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("cannot create a network namespace here")
    isolated = replace(ctx, server=replace(ctx.server, runner=Isolated()))
    profile = ConnectivityVerifier().verify(isolated, net(count=3), Target("SEC1", "198.51.100.2"))
    assert profile.status == Status.CRITICAL, profile
    assert profile.summary == "SEC1 198.51.100.2: unreachable (3 sent, none answered)"
    assert {m.label: m.value for m in profile.measurements} == {"loss": 100.0}
