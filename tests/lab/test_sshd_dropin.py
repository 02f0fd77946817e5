"""The sshd drop-in (`atlas-ha keys sshd-config`) against Debian 12's stock sshd_config: a
real `sshd -t`, then a real sshd on a free loopback port in a mount namespace of its own
(the test's directories bound over /root and /srv there, so sshd's StrictModes and root's
`.ssh/authorized_keys` are the stock ones without touching the machine's). The
administrator's own key still gets a shell; atlas-ha's key gets only its forced command."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from atlas_ha.layout.esd import server_authorized_keys
from atlas_ha.layout.sid import role_authorized_keys
from atlas_ha.settings import Settings
from atlas_ha.transport.rolekeys import PublicKey, forced_line
from atlas_ha.transport.sshd_dropin import DROPIN_NAME, sshd_dropin

pytestmark = pytest.mark.lab

SSHD = "/usr/sbin/sshd"
STOCK = Path(__file__).parents[1] / "fixtures" / "stock" / "debian12" / "sshd_config"
SID = Path("/srv/unbound/SID_DATA")  # as sshd sees it (bound from the test's directory)
ESD = Path("/srv/atlas-ha/esd")
MARK = "shell-$((6*7))"  # only a shell prints shell-42


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def keygen(path: Path) -> PublicKey:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return PublicKey.parse(path.with_suffix(".pub").read_text(), path)


def settings(config: Path) -> Settings:
    return Settings(
        name="A",
        system_root=Path("/"),
        esd_data=ESD,
        sid_data=SID,
        config_file=config,
        address="127.0.0.1",
        transport="ssh",
        transport_options={},
    )


def mkdirs(*dirs: Path) -> None:
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
        os.chmod(d, 0o700 if d.name in (".ssh", "SID_DATA", "ssh", "root") else 0o755)


@pytest.fixture
def base() -> Iterator[Path]:
    if os.geteuid() != 0 or not Path(SSHD).exists():
        pytest.skip("needs root and OpenSSH's sshd")
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="atlas-ha-dropin-", dir="/var/tmp"))
    os.chmod(d, 0o755)
    yield d
    subprocess.run(["rm", "-rf", "--one-file-system", str(d)], check=False)


def stock_config(base: Path, port: int) -> Path:
    """Debian's stock sshd_config, its Include pointed at the test's drop-in directory, and
    what a test sshd needs (its own host key, address and PID file) after everything."""
    text = STOCK.read_text()
    assert text.count("Include /etc/ssh/sshd_config.d/*.conf") == 1
    text = text.replace("/etc/ssh/sshd_config.d/", f"{base}/sshd_config.d/")
    text += f"\nHostKey {base}/host_ed25519\nListenAddress 127.0.0.1:{port}\n"
    text += f"PidFile {base}/sshd.pid\n"
    (base / "sshd_config").write_text(text)
    return base / "sshd_config"


def test_the_dropin_passes_sshd_t_with_debians_stock_config(base: Path) -> None:
    (base / "sshd_config.d").mkdir()
    keygen(base / "host_ed25519")
    main = stock_config(base, free_port())
    dropin = sshd_dropin(settings(base / "atlas-ha.toml"))
    (base / "sshd_config.d" / DROPIN_NAME).write_text(dropin)
    checked = subprocess.run([SSHD, "-t", "-f", str(main)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    effective = subprocess.run(
        [SSHD, "-T", "-f", str(main), "-C", "user=root,host=h,addr=127.0.0.1"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    keys_files = next(line for line in effective if line.startswith("authorizedkeysfile "))
    assert keys_files.split()[1:] == [
        ".ssh/authorized_keys",
        ".ssh/authorized_keys2",
        str(role_authorized_keys(SID)),
        str(server_authorized_keys(ESD)),
    ]
    # the stock settings after the Include still apply (no Match swallowed them)
    assert "permitrootlogin without-password" in effective
    assert "x11forwarding yes" in effective and "usepam yes" in effective
    assert "forcecommand none" in effective


@pytest.fixture
def test_sshd(base: Path) -> Iterator[tuple[Path, int]]:
    """sshd with Debian's stock configuration plus the drop-in, /root and /srv bound from
    the test's directories in its own mount namespace; stopped by PID."""
    root, srv = base / "root", base / "srv"
    mkdirs(root / ".ssh", srv / "unbound" / "SID_DATA" / ".ssh", srv / "atlas-ha" / "esd" / "ssh")
    (base / "sshd_config.d").mkdir()
    keygen(base / "host_ed25519")
    port = free_port()
    main = stock_config(base, port)
    (base / "sshd_config.d" / DROPIN_NAME).write_text(sshd_dropin(settings(base / "a.toml")))
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    # the Python that runs atlas-ha stays visible when it lives below the real /root
    python = Path(os.path.realpath(sys.base_prefix))
    keep = ""
    if python.is_relative_to("/root"):
        (base / "realroot").mkdir()
        rel = python.relative_to("/root")
        keep = f" && mkdir -p /root/{rel} && mount --bind {base}/realroot/{rel} /root/{rel}"
        keep = f"mount --bind /root {base}/realroot && " + "{own}" + keep
    own = f"mount --bind {root} /root"
    mounts = keep.format(own=own) if keep else own
    script = (
        f"mount --make-rprivate / && {mounts} && mount --bind {srv} /srv "
        f"&& exec {SSHD} -D -e -f {main}"
    )
    with (base / "sshd.log").open("w") as log:
        proc = subprocess.Popen(
            ["unshare", "--mount", "sh", "-c", script],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, (base / "sshd.log").read_text()
            assert time.monotonic() < deadline, (base / "sshd.log").read_text()
            time.sleep(0.05)
        yield base, port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def ssh(base: Path, port: int, key: Path, command: str) -> subprocess.CompletedProcess[str]:
    argv = ["ssh", "-F", "/dev/null", "-i", str(key), "-p", str(port), "-o", "BatchMode=yes"]
    argv += ["-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no"]
    argv += ["-o", f"UserKnownHostsFile={base / 'known_hosts'}", "-o", "LogLevel=ERROR"]
    return subprocess.run(
        [*argv, "root@127.0.0.1", command],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_admin_key_gets_a_shell_and_the_atlas_key_only_its_forced_command(
    test_sshd: tuple[Path, int],
) -> None:
    base, port = test_sshd
    admin = keygen(base / "admin_key")
    atlas = keygen(base / "atlas_key")
    # the administrator's own line, as ssh-copy-id writes it: no options
    (base / "root/.ssh/authorized_keys").write_text(f"{admin.kind} {admin.blob} admin\n")
    os.chmod(base / "root/.ssh/authorized_keys", 0o600)
    # atlas-ha's line, as `keys authorize` writes it (transport.rolekeys.forced_line)
    role_file = base / "srv/unbound/SID_DATA/.ssh/authorized_keys"
    role_file.write_text(forced_line("SEC1", "127.0.0.1", atlas) + "\n")
    os.chmod(role_file, 0o600)

    shell = ssh(base, port, base / "admin_key", f"echo {MARK}")
    assert shell.returncode == 0, shell.stderr + (base / "sshd.log").read_text()
    assert shell.stdout.strip() == "shell-42"

    forced = ssh(base, port, base / "atlas_key", f"echo {MARK}")
    assert "shell-42" not in forced.stdout + forced.stderr
    assert forced.returncode != 0  # the forced command refused the request
    # it was atlas-ha (found through the drop-in's SetEnv PATH) under the drop-in's
    # ATLAS_HA_CONFIG: the test wrote no settings there, so the forced command says so
    assert f"atlas-ha: error: {base / 'a.toml'}: no settings file" in forced.stderr, (
        forced.stderr,
        (base / "sshd.log").read_text(),
    )
