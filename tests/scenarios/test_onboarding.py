"""Issue 15, the small things of onboarding on real servers: `init` test-converts this
server's stock files and prints what it wrote and what to run next; `status` shows the last
compare's time and age without a doubled word; `daemon stop` waits for the process itself;
`daemon units` names the installed program and the --config given; a cycle where this host
lacks the role's address stops before Create; the sshd drop-in's content."""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from tests.initargv import init_argv

from atlas_ha.cli.main import main
from atlas_ha.context import Server
from atlas_ha.daemon import control
from atlas_ha.daemon.systemd import unit_files
from atlas_ha.errors import GuardError, StillRunningError
from atlas_ha.lab.group import SimGroup
from atlas_ha.settings import DEFAULT_PATH, Settings
from atlas_ha.sync.address import check_address_here
from atlas_ha.sync.cycle import cycle
from atlas_ha.system import console_script
from atlas_ha.transport.sshd_dropin import sshd_dropin

STOCK = Path(__file__).parents[1] / "fixtures" / "stock" / "debian12"


def quiet(_line: str) -> None:
    pass


def debian_root(root: Path) -> None:
    """A system root holding Debian 12's stock identity and account files."""
    for name, path in (
        ("passwd", "etc/passwd"),
        ("shadow", "etc/shadow"),
        ("group", "etc/group"),
        ("hostname", "etc/hostname"),
        ("interfaces", "etc/network/interfaces"),
    ):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(STOCK / name, root / path)


def pri_init(base: Path, *more: str) -> list[str]:
    return init_argv(base, "A", 2, "PRI", "SEC1=192.0.2.12", *more)


def test_init_test_converts_stock_files_and_prints_what_next(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    debian_root(tmp_path / "root")
    (tmp_path / "root/etc/network/interfaces.d").mkdir()
    (tmp_path / "root/etc/network/interfaces.d/50-cloud").write_text("auto eth1\n")
    assert main(pri_init(tmp_path)) == 0
    out = capsys.readouterr().out
    assert f"init: wrote settings {tmp_path / 'atlas-ha.toml'}" in out
    assert "init: test conversion to Env1: ok" in out
    assert "interfaces.d holds 50-cloud" in out
    steps = out.split("next:")[1]
    # the local transport: no ssh, so no keys, no sshd; only what applies
    assert "sshd" not in steps and "keys " not in steps, steps
    assert f"atlas-ha --config {tmp_path / 'atlas-ha.toml'} boot" in steps
    assert "sync cycle" in steps


def test_init_with_ssh_prints_the_sshd_steps_and_nothing_of_them_for_local(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    debian_root(tmp_path / "root")
    assert main(pri_init(tmp_path, "--transport", "ssh")) == 0
    steps = capsys.readouterr().out.split("next:")[1].splitlines()
    assert "keys sshd-config --write /etc/ssh/sshd_config.d" in steps[1]
    assert steps[2].strip().startswith("systemctl reload ssh")
    assert "atlas-ha join atlas-ha-join:" in steps[3] and "sync cycle" in steps[4]
    assert not any("&& sshd -t &&" in step or "keys generate" in step for step in steps)


def test_init_names_a_file_that_cannot_convert_before_the_first_cycle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    debian_root(tmp_path / "root")
    shadow = tmp_path / "root/etc/shadow"
    lines = shadow.read_text().splitlines()
    lines[3] = lines[3].replace(":0:99999:7:::", ":0:90:7:::")  # a maximum password age
    shadow.write_text("\n".join(lines) + "\n")
    assert main(pri_init(tmp_path)) == 4  # ConversionError's exit code
    out = capsys.readouterr().out
    assert "init: test conversion to Env1: FAILS: /etc/shadow:4:" in out
    assert "maximum password age" in out
    assert "next:" not in out
    assert (tmp_path / "sid").is_dir()  # what init wrote stays: init again after the fix


def test_status_shows_the_compare_time_and_age_and_no_doubled_word(
    group: SimGroup, capsys: pytest.CaptureFixture[str]
) -> None:
    a = group.servers["A"]
    cycle(a.server(quiet))
    # an area newer than SnapshotEnvVersion: its reason starts with its own name
    b = group.servers["B"]
    area = b.server(quiet).sid.area("SEC1", 2).path
    area.mkdir(parents=True, exist_ok=True)
    capsys.readouterr()
    assert main(["--config", str(a.config), "status"]) == 0
    out = capsys.readouterr().out
    assert "last compare SEC1: equal at " in out and " UTC, " in out and " s ago" in out
    assert main(["--config", str(b.config), "status"]) == 0
    out = capsys.readouterr().out
    words = out.split()
    assert not any(w == v for w, v in itertools.pairwise(words) if w.startswith("Env"))
    assert "Env2 invalid: is newer than SnapshotEnvVersion[SEC1]=1" in out


LINGER = """
import os, signal, sys, time
pid_file, linger = sys.argv[1], float(sys.argv[2])
def on_term(_s, _f):
    os.unlink(pid_file)  # as the daemon's release() does, before the process is gone
    time.sleep(linger)
    os._exit(0)
signal.signal(signal.SIGTERM, on_term if linger >= 0 else signal.SIG_IGN)
open(pid_file + ".ready", "w").close()
time.sleep(60)
"""


def fake_daemon(group: SimGroup, linger: float) -> subprocess.Popen[bytes]:
    """A process /proc shows as `... atlas_ha daemon run` that removes its PID file at
    SIGTERM and exits `linger` s later (linger < 0: ignores SIGTERM)."""
    server = group.servers["A"].server(quiet)
    pid_file = control.pid_file(server)
    argv = [sys.executable, "-c", LINGER, str(pid_file), str(linger), "atlas_ha", "daemon", "run"]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    pid_file.write_text(f"{proc.pid}\n")
    ready = Path(f"{pid_file}.ready")
    deadline = time.monotonic() + 10
    while not ready.exists():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert control.running_pid(server) == proc.pid
    return proc


def test_daemon_stop_returns_only_when_the_process_exited(group: SimGroup) -> None:
    proc = fake_daemon(group, linger=1.0)
    try:
        assert control.stop(group.servers["A"].server(quiet), timeout=10) == proc.pid
        assert proc.poll() is not None or not control.process_alive(proc.pid)
    finally:
        proc.kill()
        proc.wait()


def test_daemon_stop_says_still_running_after_the_timeout_and_kills_nothing(
    group: SimGroup,
) -> None:
    proc = fake_daemon(group, linger=-1)
    try:
        with pytest.raises(StillRunningError, match=f"daemon {proc.pid} is still running"):
            control.stop(group.servers["A"].server(quiet), timeout=0.5)
        assert proc.poll() is None  # still there: not SIGKILLed
        assert StillRunningError.exit_code == 50
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def test_units_name_the_installed_program_and_the_config_given(tmp_path: Path) -> None:
    config = tmp_path / "etc" / "atlas.toml"
    units = unit_files(console_script(), config)
    run = units["atlas-ha.service"]
    assert f"ExecStart={console_script()} --config {config} daemon run" in run
    boot = units["atlas-ha-identity.service"]
    assert f"ExecStart={console_script()} --config {config} boot" in boot
    assert f"ConditionPathExists={config}" in boot
    default = unit_files(Path("/usr/bin/atlas-ha"), DEFAULT_PATH)["atlas-ha.service"]
    assert "ExecStart=/usr/bin/atlas-ha daemon run" in default
    out = subprocess.run(
        [sys.executable, "-m", "atlas_ha", "--config", str(config), "daemon", "units"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"ExecStart={console_script()} --config {config} daemon run" in out
    assert "/usr/local/bin" not in out


def test_a_cycle_without_the_roles_address_here_stops_before_create(group: SimGroup) -> None:
    a = group.servers["A"].server(quiet)
    cycle(a)
    manifest = a.sid.area("PRI", 2).manifest_file
    before = manifest.read_bytes()
    group.servers["A"].file("/etc/app/new.conf").parent.mkdir(parents=True, exist_ok=True)
    group.servers["A"].file("/etc/app/new.conf").write_text("changed\n")
    # 192.0.2.0/24 is TEST-NET-1: no interface of this host has it
    ssh = replace(a.settings, transport="ssh", address="192.0.2.77", transport_options={})
    with pytest.raises(
        GuardError, match=r"no interface of this host has the address 192\.0\.2\.77"
    ):
        cycle(Server(ssh, log=quiet))
    assert manifest.read_bytes() == before  # no Create ran
    # where the address is configured (loopback), the check passes
    here = replace(ssh, address="127.0.0.1")
    assert check_address_here(Server(here, log=quiet), "SyncCycle") == "127.0.0.1"


def test_the_sshd_dropin_adds_files_and_restricts_nothing(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    text = sshd_dropin(settings, Path("/usr/bin/atlas-ha"))
    directives = [line.split()[0] for line in text.splitlines() if line and line[0] != "#"]
    assert directives == ["AuthorizedKeysFile", "ClientAliveInterval", "ClientAliveCountMax"]
    keys = next(line for line in text.splitlines() if line.startswith("AuthorizedKeysFile"))
    assert keys.split()[1:3] == [".ssh/authorized_keys", ".ssh/authorized_keys2"]
    assert f"{tmp_path}/sid/.ssh/authorized_keys" in keys
    for word in ("Match", "ForceCommand", "PermitRootLogin"):
        assert word not in text.replace("No Match block", "")
    # elsewhere installed, other settings: SetEnv tells the forced command where
    other = replace(settings, config_file=tmp_path / "a.toml")
    text = sshd_dropin(other, Path("/opt/atlas-ha/bin/atlas-ha"))
    assert 'SetEnv "PATH=/opt/atlas-ha/bin:/usr/local/bin' in text
    assert f'"ATLAS_HA_CONFIG={tmp_path / "a.toml"}"' in text


def _settings(base: Path) -> Settings:
    return Settings(
        name="A",
        system_root=Path("/"),
        esd_data=base / "esd",
        sid_data=base / "sid",
        config_file=DEFAULT_PATH,
        address="192.0.2.11",
        transport="ssh",
        transport_options={},
    )
