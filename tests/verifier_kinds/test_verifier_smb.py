"""The smb kind against a real smbd on loopback: SetUp's test files, reads, locks, a guest."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from tests.verifier_kinds.conftest import Daemons, free_port, service, target, wait_tcp

from atlas_ha.system import Clock
from atlas_ha.verifier.api import Context
from atlas_ha.verifier.kinds.smb import TEST_FILE, SmbVerifier, content
from atlas_ha.verifier.profile import Status
from atlas_ha.verifier.services import ServiceDef
from atlas_ha.verifier.setup import new_token

SMBD = Path(shutil.which("smbd") or "/usr/sbin/smbd")
SMBPASSWD = shutil.which("smbpasswd") or "/usr/bin/smbpasswd"
ADDRESS = "127.0.0.1"  # smbd's `interfaces` take an interface's own address
USER = "atlas-lab"  # .ci/setup creates it
PASSWORD = "verifier-smb-pw"  # a test account
SECRET = "/etc/atlas-ha/secrets/smb"
SHARES = {"data": "", "private": f"valid users = {USER}\n"}


@dataclass
class Smbd:
    root: Path  # the verifying server's system root (smb.conf with system paths)
    port: int
    conf: Path  # what smbd reads: the same shares at root/<path>
    proc: subprocess.Popen[bytes]


def smb_conf(shares: dict[str, str], prefix: str = "") -> str:
    text = "[global]\n  map to guest = bad user\n  server role = standalone server\n"
    for name, extra in shares.items():
        text += f"[{name}]\n  path = {prefix}/srv/{name}\n  read only = no\n{extra}"
    return text


def start_smbd(daemons: Daemons, tmp: Path, shares: dict[str, str]) -> Smbd:
    if not SMBD.exists():
        pytest.skip("needs Samba's smbd (Debian package samba)")
    try:
        uid = pwd.getpwnam(USER).pw_uid
    except KeyError:
        pytest.skip(f"needs the unix user {USER} (.ci/setup)")
    if os.geteuid() != 0:
        pytest.skip("smbd serves other users' files as root")
    for directory in (tmp, *tmp.parents):  # pytest's are private: smbd serves as USER
        if str(directory) in ("/", "/tmp", "/var/tmp") or directory.stat().st_mode & 0o001:
            break
        directory.chmod(0o755)
    root = tmp / "root"
    state = tmp / "samba"
    for name in ("private", "lock", "state", "cache", "pid", "ncalrpc"):
        (state / name).mkdir(parents=True, exist_ok=True)
    for name in shares:
        (root / "srv" / name).mkdir(parents=True, exist_ok=True)
    (root / "etc/samba").mkdir(parents=True, exist_ok=True)
    (root / "etc/samba/smb.conf").write_text(smb_conf(shares))
    secret = root / SECRET.lstrip("/")
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o600)
    port = free_port(ADDRESS)
    global_ = (
        f"  smb ports = {port}\n  interfaces = {ADDRESS}\n  bind interfaces only = yes\n"
        "  disable netbios = yes\n  load printers = no\n  printcap name = /dev/null\n"
        "  disable spoolss = yes\n"
        f"  private dir = {state / 'private'}\n  lock directory = {state / 'lock'}\n"
        f"  state directory = {state / 'state'}\n  cache directory = {state / 'cache'}\n"
        f"  pid directory = {state / 'pid'}\n  ncalrpc dir = {state / 'ncalrpc'}\n"
        f"  passdb backend = tdbsam:{state / 'private/passdb.tdb'}\n"
        f"  log file = {tmp / 'smbd.%m.log'}\n"
    )
    conf = tmp / "smbd.conf"
    conf.write_text(smb_conf(shares, str(root)).replace("[global]\n", "[global]\n" + global_))
    subprocess.run(
        [SMBPASSWD, "-c", str(conf), "-s", "-a", USER],
        input=f"{PASSWORD}\n{PASSWORD}\n".encode(),
        check=True,
        capture_output=True,
    )
    argv = [str(SMBD), "-F", "--no-process-group", "--debug-stdout", "-s", str(conf)]
    # its own session: smbd's parent signals its whole process group when it stops
    with (tmp / "smbd.log").open("wb") as log:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    daemons.procs.append(proc)  # stopped by its PID at the end of the test
    wait_tcp(ADDRESS, port)
    assert uid > 0
    return Smbd(root, port, conf, proc)


def ctx(root: Path, token: str = "", role: str = "SEC1") -> Context:
    server = SimpleNamespace(clock=Clock(), settings=SimpleNamespace(system_root=root))
    return Context(server=cast(Any, server), role=role, token=token)


def svc(smbd: Smbd, **options: Any) -> ServiceDef:
    opts = {"port": smbd.port, "user": USER, "password_file": SECRET, **options}
    return service("smb", timeout=10, **opts)


def set_up(smbd: Smbd, **options: Any) -> tuple[str, list[str]]:
    token = new_token(Clock().now())
    result = SmbVerifier().setup(ctx(smbd.root, token, "PRI"), svc(smbd, **options))
    return token, result.data


def verify(smbd: Smbd, **options: Any) -> tuple[Status, str]:
    profile = SmbVerifier().verify(ctx(smbd.root), svc(smbd, **options), target(ADDRESS))
    return profile.status, profile.summary


@pytest.fixture
def smbd(daemons: Daemons, tmp_path: Path) -> Smbd:
    return start_smbd(daemons, tmp_path, SHARES)


def test_setup_writes_the_token_in_every_share_and_lists_it(smbd: Smbd) -> None:
    token, data = set_up(smbd)
    assert data == [f"/srv/data/{TEST_FILE}", f"/srv/private/{TEST_FILE}", data[-1]]
    assert data[-1].endswith("/test-smb.token")
    for name in SHARES:
        written = smbd.root / "srv" / name / TEST_FILE
        assert written.read_text() == content(token)
        assert (written.stat().st_mode & 0o777) == 0o644


def test_setup_gives_the_test_file_the_share_directory_owner(smbd: Smbd) -> None:
    uid = pwd.getpwnam(USER).pw_uid
    os.chown(smbd.root / "srv/data", uid, uid)
    set_up(smbd)
    assert (smbd.root / "srv/data" / TEST_FILE).stat().st_uid == uid
    assert (smbd.root / "srv/private" / TEST_FILE).stat().st_uid == 0


def test_ok_with_the_right_token_read_and_locked_in_every_share(smbd: Smbd) -> None:
    set_up(smbd)
    profile = SmbVerifier().verify(ctx(smbd.root), svc(smbd), target(ADDRESS))
    assert profile.status == Status.OK, profile.summary
    assert "2 shares read and locked, 2 restricted refused to a guest" in profile.summary
    assert {m.label for m in profile.measurements} == {"connect", "read", "lock"}
    assert "share [private]: refused to a guest" in profile.details


def test_a_stale_token_is_critical_naming_share_and_file(smbd: Smbd) -> None:
    set_up(smbd)
    stale = smbd.root / "srv/private" / TEST_FILE
    stale.write_text(content("1000-0123456789abcdef"))
    status, summary = verify(smbd)
    assert status == Status.CRITICAL
    assert f"share [private]: {TEST_FILE} holds token 1000-0123456789abcdef" in summary
    assert "share [data]" not in summary


def test_a_share_of_smb_conf_the_server_lacks_is_critical_naming_it(smbd: Smbd) -> None:
    set_up(smbd)
    conf = smbd.root / "etc/samba/smb.conf"
    conf.write_text(conf.read_text() + "[archive]\n  path = /srv/data\n")
    status, summary = verify(smbd)
    assert status == Status.CRITICAL
    assert summary == "share [archive]: the server has no such share"


def test_a_share_named_in_the_options_but_not_in_smb_conf_is_critical(smbd: Smbd) -> None:
    set_up(smbd)
    status, summary = verify(smbd, shares=["data", "scans"])
    assert status == Status.CRITICAL
    assert "share [scans] is not a disk share of smb.conf" in summary


def test_a_wrong_password_is_critical_login_refused(smbd: Smbd) -> None:
    set_up(smbd)
    (smbd.root / SECRET.lstrip("/")).write_text("not-the-password\n")
    status, summary = verify(smbd)
    assert status == Status.CRITICAL
    assert f"login as {USER} refused: STATUS_LOGON_FAILURE" in summary


def test_a_stopped_server_is_critical_no_connection(daemons: Daemons, smbd: Smbd) -> None:
    set_up(smbd)
    daemons.stop(smbd.proc)
    status, summary = verify(smbd)
    assert status == Status.CRITICAL
    assert f"smb {ADDRESS}:{smbd.port}: no connection" in summary


def test_a_missing_test_file_is_critical(smbd: Smbd) -> None:
    set_up(smbd)
    (smbd.root / "srv/data" / TEST_FILE).unlink()
    status, summary = verify(smbd)
    assert status == Status.CRITICAL
    assert f"share [data]: cannot read {TEST_FILE}: STATUS_OBJECT_NAME_NOT_FOUND" in summary


def test_a_lock_the_server_does_not_keep_is_critical(daemons: Daemons, tmp_path: Path) -> None:
    # `locking = no`: smbd grants every lock request without keeping any
    smbd = start_smbd(daemons, tmp_path, {"data": "  locking = no\n"})
    set_up(smbd)
    status, summary = verify(smbd)
    assert status == Status.CRITICAL
    assert summary == f"share [data]: a lock on {TEST_FILE} is not kept"


def test_a_restricted_share_a_guest_can_open_is_critical(daemons: Daemons, tmp_path: Path) -> None:
    shares = {"data": "", "private": "  guest ok = yes\n"}
    smbd = start_smbd(daemons, tmp_path, shares)
    set_up(smbd)
    assert verify(smbd)[0] == Status.OK  # guest ok = yes: a public share by smb.conf
    status, summary = verify(smbd, restricted=["private"])
    assert status == Status.CRITICAL
    assert summary == "share [private] is restricted but a guest can open it"


def test_a_moved_share_gets_its_test_file_at_the_new_path(smbd: Smbd) -> None:
    set_up(smbd)
    conf = smbd.root / "etc/samba/smb.conf"
    conf.write_text(conf.read_text().replace("/srv/data", "/srv/moved"))
    (smbd.root / "srv/moved").mkdir()
    _token, data = set_up(smbd)
    assert f"/srv/moved/{TEST_FILE}" in data
    assert f"/srv/data/{TEST_FILE}" not in data  # setup.py retires it from the PRI and SECs


def test_setup_names_includes_and_shares_without_a_fixed_path(smbd: Smbd) -> None:
    conf = smbd.root / "etc/samba/smb.conf"
    conf.write_text(conf.read_text() + "include = /etc/samba/extra.conf\n[u]\n  path = /home/%U\n")
    result = SmbVerifier().setup(ctx(smbd.root, "1-ab", "PRI"), svc(smbd))
    assert "include at line" in result.notes[0] and "/etc/samba/extra.conf" in result.notes[0]
    assert "share [u]: no fixed absolute path ('/home/%U')" in result.notes
    assert result.configs == ["/etc/samba/smb.conf", SECRET]


def test_a_server_that_accepts_and_never_answers_is_critical_at_the_timeout(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    (root / "etc/samba").mkdir(parents=True)
    (root / "etc/samba/smb.conf").write_text(smb_conf(SHARES))
    (root / SECRET.lstrip("/")).parent.mkdir(parents=True)
    (root / SECRET.lstrip("/")).write_text("x\n")
    (root / SECRET.lstrip("/")).chmod(0o600)
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        opts = {"port": port, "user": USER, "password_file": SECRET}
        started = time.monotonic()
        profile = SmbVerifier().verify(
            ctx(root), service("smb", timeout=1.5, **opts), target(ADDRESS)
        )
        elapsed = time.monotonic() - started
        conn, _ = silent.accept()  # the verifier's connection, abandoned at the timeout
        with conn:
            conn.settimeout(1.0)
            while conn.recv(4096):  # its negotiate request, then the close
                pass
    assert profile.status == Status.CRITICAL
    assert profile.summary == f"smb {ADDRESS}:{port}: no answer within 1.5 s"
    assert elapsed < 3


def test_without_smbprotocol_the_kind_is_disabled_naming_the_extra() -> None:
    code = (
        "import sys; sys.modules['smbprotocol'] = None\n"
        "from atlas_ha import plugins\n"
        "loaded, disabled = plugins.load_all(plugins.VERIFIERS)\n"
        "print('smb' in loaded, 'http' in loaded)\n"
        "print([d for d in disabled if \"'smb'\" in d])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    first, second = done.stdout.splitlines()
    assert first == "False True"
    assert "needs smbprotocol" in second and "install atlas-ha[smb]" in second


def test_a_share_whose_directory_is_gone_is_critical_naming_it(smbd: Smbd) -> None:
    set_up(smbd)
    shutil.rmtree(smbd.root / "srv/data")  # the share's path, as smbd serves it
    status, summary = verify(smbd)
    assert status == Status.CRITICAL
    assert summary.startswith("share [data]: ")
    assert "share [private]" not in summary
