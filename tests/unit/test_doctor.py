"""`atlas-ha doctor` (doctor/checks.py): every check fails when its condition is broken, and
says the fix. A server is set up with `atlas-ha init` on Debian 12's stock files in a
temporary system root; the local transport's registry is the only "network"."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from atlas_ha.cli.main import main
from atlas_ha.doctor.checks import (
    FAIL,
    OK,
    SKIP,
    START_HELLO_TIMEOUT,
    Check,
    Report,
    doctor,
    log_doctor,
)
from atlas_ha.errors import EXIT_DOCTOR, SettingsError
from atlas_ha.lab.group import SimGroup
from atlas_ha.layout.esd import REFERENCE, EnvDef, EsdData
from atlas_ha.layout.sid import role_authorized_keys, role_host_key, role_key_file
from atlas_ha.settings import load
from atlas_ha.sync.init import settings_for
from atlas_ha.transport.sshd_dropin import write_sshd_dropin

STOCK = Path(__file__).parents[1] / "fixtures" / "stock" / "debian12"
FILES = {
    "passwd": "etc/passwd",
    "shadow": "etc/shadow",
    "group": "etc/group",
    "hostname": "etc/hostname",
    "interfaces": "etc/network/interfaces",
}


def make_server(
    tmp: Path, transport: str = "local", partners: tuple[str, ...] = ("SEC1=192.0.2.12",)
) -> Path:
    root = tmp / "root"
    for fixture, path in FILES.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(STOCK / fixture, root / path)
    os.chmod(root / "etc/shadow", 0o640)
    config = tmp / "atlas-ha.toml"
    argv = ["--config", str(config), "init", "--name", "A", "--env", "2"]
    argv += ["--system-root", str(root), "--esd-data", str(tmp / "esd")]
    argv += ["--sid-data", str(tmp / "sid"), "--group", "g", "--role", "PRI"]
    for partner in partners:
        argv += ["--partner", partner]
    argv += ["--transport", transport]
    if transport == "local":
        argv += ["--registry", str(tmp / "registry")]
    assert main(argv) == 0
    return config


def named(report: Report, name: str) -> Check:
    found = [c for c in report.checks if c.name == name]
    assert found, [c.name for c in report.checks]
    return found[0]


def failing(config: Path, name: str, online: bool = False) -> Check:
    report = doctor(config, online=online)
    check = named(report, name)
    assert check.status == FAIL, check
    assert check.fix, check
    assert not report.ok
    return check


@pytest.fixture
def local(tmp_path: Path) -> Path:
    return make_server(tmp_path)


def test_a_fresh_server_is_green_offline(local: Path) -> None:
    report = doctor(local, online=False)
    assert report.ok, [c.line() for c in report.failing()]
    names = [c.name for c in report.checks]
    assert {"identity files", "accounts files", "receive policy", "rsync", "git", "ssh"} <= set(
        names
    )
    assert "test conversion to Env1" in names


def test_missing_settings(tmp_path: Path) -> None:
    check = failing(tmp_path / "none.toml", "settings")
    assert "atlas-ha init" in check.fix


def test_missing_system_root(local: Path, tmp_path: Path) -> None:
    shutil.rmtree(tmp_path / "root")
    assert "not a directory" in failing(local, "system root").detail


def test_sid_data_mode_and_owner(local: Path, tmp_path: Path) -> None:
    os.chmod(tmp_path / "sid", 0o755)
    check = failing(local, "SID_DATA")
    assert "0755, not 0700" in check.detail and check.fix == f"chmod 700 {tmp_path / 'sid'}"
    os.chmod(tmp_path / "sid", 0o700)
    if os.geteuid() == 0:
        os.chown(tmp_path / "sid", 4321, -1)
        assert "owned by uid 4321" in failing(local, "SID_DATA").detail


def test_esd_data_missing_or_writable_by_others(local: Path, tmp_path: Path) -> None:
    os.chmod(tmp_path / "esd", 0o777)
    assert "writable by others" in failing(local, "ESD_DATA").detail
    shutil.rmtree(tmp_path / "esd")
    assert "missing" in failing(local, "ESD_DATA").detail


def test_setup_missing(local: Path, tmp_path: Path) -> None:
    (tmp_path / "esd" / "EnvID").unlink()
    assert "atlas-ha init" in failing(local, "setup").fix


def test_identity_files_that_do_not_parse(local: Path, tmp_path: Path) -> None:
    (tmp_path / "root/etc/network/interfaces").write_text("iface eth0 inet static\n")
    check = failing(local, "identity files")
    assert "/etc/network/interfaces" in check.detail


def test_account_files_that_do_not_parse(local: Path, tmp_path: Path) -> None:
    with (tmp_path / "root/etc/passwd").open("a") as f:
        f.write("broken:x:0\n")
    check = failing(local, "accounts files")
    assert "/etc/passwd:" in check.detail and "expected 7 fields" in check.detail


def test_shadow_looser_than_the_receive_policy(local: Path, tmp_path: Path) -> None:
    os.chmod(tmp_path / "root/etc/shadow", 0o644)
    check = failing(local, "receive policy")
    assert "0644" in check.detail and check.fix.startswith("chmod 640 ")


def test_a_test_conversion_that_fails(local: Path, tmp_path: Path) -> None:
    shadow = tmp_path / "root/etc/shadow"
    shadow.write_text(shadow.read_text().replace(":0:99999:7:::", ":0:90:7:::", 1))
    check = failing(local, "test conversion to Env1")
    assert "/etc/shadow:1" in check.detail and "maximum password age" in check.detail


def test_the_hello_to_a_partner_that_does_not_answer(local: Path) -> None:
    check = failing(local, "hello to SEC1 at 192.0.2.12", online=True)
    assert "atlas-ha join" in check.fix


def test_tools_missing(local: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    for tool in ("rsync", "git", "ssh"):
        assert failing(local, tool).detail == "not installed"


def test_services_file_malformed_and_reload_missing(local: Path, tmp_path: Path) -> None:
    services = tmp_path / "root/etc/atlas-ha/services.toml"
    services.parent.mkdir(parents=True)
    services.write_text("[service.web\n")
    assert "valid TOML" in failing(local, "services file").detail
    services.write_text('[service.web]\nkind = "http"\nreload = ["/no/such/nginx", "-s"]\n')
    check = failing(local, "reload of web")
    assert "/no/such/nginx: no such program" in check.detail


def test_cli_exit_code_and_fix_lines(
    local: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(local), "doctor", "--offline"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "doctor: green"
    os.chmod(tmp_path / "sid", 0o755)
    assert main(["--config", str(local), "doctor", "--offline"]) == EXIT_DOCTOR
    out = capsys.readouterr().out
    assert f"       fix: chmod 700 {tmp_path / 'sid'}" in out
    assert out.splitlines()[-1] == "doctor: 1 check(s) FAIL"


# -- the ssh transport ----------------------------------------------------------------------


@pytest.fixture
def ssh(tmp_path: Path) -> Path:
    return make_server(tmp_path, "ssh")


def test_ssh_keys_and_lines_missing(ssh: Path, tmp_path: Path) -> None:
    assert "atlas-ha join" in failing(ssh, "known_hosts").fix
    assert "no line of SEC1" in failing(ssh, "authorized_keys").detail
    assert named(doctor(ssh, online=False), "role key").status == OK
    role_host_key(tmp_path / "sid").unlink()
    assert "keys host-key" in failing(ssh, "role host key").fix
    role_key_file(tmp_path / "sid").unlink()
    assert "keys generate" in failing(ssh, "role key").fix


def test_strict_modes_below_a_world_writable_directory(ssh: Path, tmp_path: Path) -> None:
    # the test's directories live below /var/tmp (or /tmp): sshd would refuse the keys
    check = failing(ssh, "sshd StrictModes")
    assert "never /tmp or /var/tmp" in check.fix


def test_the_forced_command_of_each_line_runs(ssh: Path, tmp_path: Path) -> None:
    line = (
        'command="{}ssh-command --role SEC1",from="192.0.2.12",restrict ssh-ed25519 '
        "AAAAC3NzaC1lZDI1NTE5AAAAIGq2eoBV5Jo0zJyF0c9bxn6zqQeYyYyJ4CjC3q7k1Q9X sec1\n"
    )
    keys = role_authorized_keys(tmp_path / "sid")
    keys.write_text(line.format("atlas-ha "))
    check = named(doctor(ssh, online=False), "forced command of SEC1")
    assert check.status == OK, check  # started, and refused outside ssh
    keys.write_text(line.format("/no/such/atlas-ha "))
    check = failing(ssh, "forced command of SEC1")
    assert "/no/such/atlas-ha ssh-command --role SEC1" in check.detail
    assert "sshd's PATH" in check.fix


def test_the_daemons_start_logs_each_failing_check(local: Path, tmp_path: Path) -> None:
    os.chmod(tmp_path / "sid", 0o755)
    lines: list[str] = []
    report = log_doctor(local, lines.append)  # online: SEC1 is not in the registry
    assert [c.name for c in report.failing()] == ["SID_DATA"]
    assert lines == [
        f"ALERT doctor: SID_DATA: {tmp_path / 'sid'}: mode 0755, not 0700; "
        f"fix: chmod 700 {tmp_path / 'sid'}"
    ]
    os.chmod(tmp_path / "sid", 0o700)
    lines.clear()
    assert not log_doctor(local, lines.append).ok
    assert len(lines) == 1 and lines[0].startswith("ALERT doctor: hello to SEC1 at 192.0.2.12: ")
    assert "fix: run `atlas-ha join`" in lines[0]


def test_init_with_ssh_writes_the_transport(tmp_path: Path) -> None:
    config = make_server(tmp_path, "ssh")
    text = config.read_text()
    assert '[transport]\nkind = "ssh"\n' in text
    with pytest.raises(SettingsError, match="--ssh-user and --ssh-port go with --transport ssh"):
        settings_for(config, "A", tmp_path, tmp_path, tmp_path, None, None, "local", None, "22")
    s = settings_for(config, "A", tmp_path, tmp_path, tmp_path, None, None, "ssh", "atlas", "2222")
    assert s.transport_options == {"user": "atlas", "port": "2222"}


@pytest.fixture
def silent_sshds() -> Iterator[list[socket.socket]]:
    """Two addresses on loopback (127.0.0.2 and .3) that accept a connection and never say
    anything: partners whose sshd hangs (ssh waits for the banner until its ConnectTimeout,
    10 s)."""
    first = socket.create_server(("127.0.0.2", 0))
    port = first.getsockname()[1]
    second = socket.create_server(("127.0.0.3", port))
    yield [first, second]
    first.close()
    second.close()


def test_partners_that_do_not_answer_delay_the_daemons_start_a_few_seconds_only(
    tmp_path: Path, silent_sshds: list[socket.socket]
) -> None:
    port = silent_sshds[0].getsockname()[1]
    config = make_server(tmp_path, "ssh", ("SEC1=127.0.0.2", "SEC2=127.0.0.3"))
    text = config.read_text().replace('kind = "ssh"\n', 'kind = "ssh"\nbind = "any"\n')
    config.write_text(text.replace('kind = "ssh"\n', f'kind = "ssh"\nport = "{port}"\n'))
    lines: list[str] = []
    started = time.monotonic()
    report = log_doctor(config, lines.append)
    took = time.monotonic() - started
    assert took < START_HELLO_TIMEOUT + 3, took  # not 2 x ssh's 10 s, one after the other
    for role, address in (("SEC1", "127.0.0.2"), ("SEC2", "127.0.0.3")):
        check = named(report, f"hello to {role} at {address}")
        assert check.status == FAIL
        assert check.detail == f"no answer within {START_HELLO_TIMEOUT:g} s"
    assert sum("ALERT doctor: hello to SEC" in line for line in lines) == 2
    for listener in silent_sshds:  # both were tried (their ssh connected), at once
        listener.settimeout(0)
        listener.accept()[0].close()
    assert not [t for t in threading.enumerate() if t.name.startswith("doctor-hello-")]


# -- the test conversion up, to a partner's newer EnvVersion ------------------------------


def odd_site(_top: int) -> dict[int, EnvDef]:
    """A site numbering whose Env2 keeps no shadow: a SEC's shadow converts to no older
    EnvVersion (it has none) but not up to its PRI's Env2 when it holds a password age."""
    env1 = {**REFERENCE[1].formats, "identity": "rhel7-ifcfg", "accounts": "shadow"}
    env2 = {**REFERENCE[2].formats, "accounts": "passwd-hash"}
    return {
        1: replace(REFERENCE[1], description="Rocky 9", formats=env1),
        2: replace(REFERENCE[2], description="Debian 12, no shadow", formats=env2),
    }


def test_a_file_that_converts_down_but_not_up_is_named_before_any_cycle(
    tmp_path: Path,
) -> None:
    group = SimGroup(tmp_path / "g", envs=odd_site)
    group.build({"A": (2, "PRI"), "B": (1, "SEC1")})
    for name in group.servers:
        group.boot(name)
    shadow = group.servers["B"].file("/etc/shadow")
    lines = shadow.read_text().splitlines()
    lines[1] = lines[1].split(":")[0] + ":" + lines[1].split(":")[1] + ":19700:0:90:7:::"
    shadow.write_text("\n".join(lines) + "\n")
    pri = doctor(group.servers["A"].config)
    assert named(pri, "test conversion to Env1").status == OK  # down: passwd-hash -> shadow
    sec = doctor(group.servers["B"].config)
    assert named(sec, "hello to PRI at 127.0.2.11").status == OK
    check = named(sec, "test conversion to Env2")  # up: SEC1's snapshot on the PRI
    assert check.status == FAIL, check
    assert check.detail.startswith("/etc/shadow:2: ") and "maximum password age" in check.detail
    assert not (group.servers["A"].base / "unbound/SID_DATA/SEC1").exists()  # no cycle ran
    # without the group's newer definitions the doctor says it cannot test (not green-washed
    # as ok, not red either: the PRI converts with its own)
    (group.servers["B"].base / "esd/envs-newer.toml").unlink()
    check = named(doctor(group.servers["B"].config), "test conversion to Env2")
    assert check.status == SKIP and "envs-newer.toml" in check.detail


def test_a_dropin_written_before_the_first_version_use_is_named_stale(
    ssh: Path, tmp_path: Path
) -> None:
    dropins = tmp_path / "sshd_config.d"
    dropins.mkdir()
    settings = load(ssh)

    def check() -> Check:
        return named(doctor(ssh, online=False, dropin_dir=dropins), "sshd drop-in")

    assert check().status == SKIP  # none yet
    write_sshd_dropin(settings, dropins)
    assert check().status == OK
    # the first `version use` creates ESD_DATA/bin/current: the drop-in's PATH changes
    esd = EsdData(settings.esd_data)
    (esd.versions_dir / "0.2.0" / "bin").mkdir(parents=True)
    esd.current_version_link.symlink_to("0.2.0")
    stale = check()
    assert stale.status == FAIL and "first `version use`" in stale.detail
    assert stale.fix == f"atlas-ha keys sshd-config --write {dropins} and reload sshd"
    write_sshd_dropin(settings, dropins)
    assert check().status == OK
    (dropins / "atlas-ha.conf").write_text("# the admin's own\nPasswordAuthentication no\n")
    assert check().status == SKIP  # not atlas-ha's: left alone
