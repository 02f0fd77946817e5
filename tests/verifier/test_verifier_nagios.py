"""Kind `nagios` against Debian's real monitoring-plugins (check_http, check_tcp) and a real
nginx on loopback."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from tests.verifier.conftest import Nginx, free_port

from atlas_ha.verifier.api import Context, Target
from atlas_ha.verifier.kinds.nagios import NagiosVerifier
from atlas_ha.verifier.profile import Status, Threshold
from atlas_ha.verifier.services import ServiceDef

PLUGINS = Path("/usr/lib/nagios/plugins")
pytestmark = pytest.mark.skipif(
    not (PLUGINS / "check_http").exists(), reason="monitoring-plugins not installed"
)
TARGET = Target("SEC1", "127.0.0.1")


def service(command: list[str], timeout: float = 5.0, **extra: Any) -> ServiceDef:
    return ServiceDef("web", "nagios", timeout=timeout, options={"command": command}, **extra)


def test_check_http_ok_with_perfdata(ctx: Context, nginx: Nginx) -> None:
    command = ["check_http", "-H", "{address}", "-p", str(nginx.port), "-u", "/index.html"]
    svc = service([*command, "-s", "atlas-ha verifier test"])
    profile = NagiosVerifier().verify(ctx, svc, TARGET)
    assert profile.status == Status.OK, profile
    assert profile.summary.startswith("HTTP OK")
    labels = {m.label: m for m in profile.measurements}
    assert labels["time"].uom == "s" and 0 <= labels["time"].value < 5
    assert labels["size"].uom == "B" and labels["size"].value > 0
    assert profile.data["argv"][:3] == [str(PLUGINS / "check_http"), "-H", "127.0.0.1"]

    wrong = NagiosVerifier().verify(ctx, service([*command, "-s", "not on the page"]), TARGET)
    assert wrong.status == Status.CRITICAL
    assert "not on the page" in wrong.summary


def test_check_tcp_critical_when_the_port_is_closed(ctx: Context) -> None:
    port = free_port()  # nothing listens there
    profile = NagiosVerifier().verify(
        ctx, service(["check_tcp", "-H", "{address}", "-p", str(port)]), TARGET
    )
    assert profile.status == Status.CRITICAL
    assert "Connection refused" in profile.summary


def test_check_tcp_warning_by_its_own_and_by_the_service_thresholds(
    ctx: Context, nginx: Nginx
) -> None:
    command = ["check_tcp", "-H", "{address}", "-p", str(nginx.port)]
    ok = NagiosVerifier().verify(ctx, service(command), TARGET)
    assert ok.status == Status.OK, ok
    # the plugin's own warning threshold: 1 microsecond
    own = NagiosVerifier().verify(ctx, service([*command, "-w", "0.000001"]), TARGET)
    assert own.status == Status.WARNING, own
    assert own.data["plugin_status"] == "WARNING"
    (time_m,) = [m for m in own.measurements if m.label == "time"]
    assert time_m.warn == "0.000001" and time_m.judgement == "slow"
    # the plugin says OK, the service's threshold on its `time` perfdata says slow
    slow = NagiosVerifier().verify(
        ctx, service(command, thresholds={"time": Threshold(0.0, 60.0)}), TARGET
    )
    assert slow.data["plugin_status"] == "OK"
    assert slow.status == Status.WARNING
    (time_s,) = [m for m in slow.measurements if m.label == "time"]
    assert time_s.judgement == "slow" and time_s.crit == "60"


def test_exit_codes_outside_the_contract_are_unknown(ctx: Context) -> None:
    svc = service(["/bin/sh", "-c", "echo 'strange | x=1;;;'; exit 7"])
    profile = NagiosVerifier().verify(ctx, svc, TARGET)
    assert profile.status == Status.UNKNOWN
    assert profile.summary == "exit 7 (not a plugin status): strange"
    assert [m.label for m in profile.measurements] == ["x"]


def test_a_plugin_past_the_timeout_is_killed(ctx: Context, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    svc = service(["/bin/sh", "-c", f"echo $$ > {pidfile}; exec sleep 30"], timeout=1.0)
    started = time.monotonic()
    profile = NagiosVerifier().verify(ctx, svc, TARGET)
    took = time.monotonic() - started
    assert profile.status == Status.CRITICAL
    assert profile.summary == "sh: no answer within 0.9 s (killed)"
    assert took < 1.5
    pid = int(pidfile.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_missing_command_is_a_clear_error(ctx: Context) -> None:
    with pytest.raises(Exception, match=r"service web: options.command = \[plugin, args...\]"):
        NagiosVerifier().verify(ctx, ServiceDef("web", "nagios"), TARGET)
