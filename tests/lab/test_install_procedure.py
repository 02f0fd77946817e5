"""The done criterion of issue 15: docs/install.md's procedure, followed literally, takes two
fresh servers with stock files from nothing to an equal first cycle.

The lab's namespace plumbing only makes the two servers: a network namespace each on a bridge
(`lab.net.LabNet`, on the stock files' documentation subnet 192.0.2.0/24, unreachable from the
root namespace), and a mount namespace each (`lab.host.start_daemon`) in which the server's
own directory is bound over /srv, its stock /etc/ssh over /etc/ssh, an empty home over /root
and a /usr/local/bin holding only the `atlas-ha` link of docs/install.md section 1: what a
fresh server has, without touching the machine's. PRI has Debian 12's files
(Env2), SEC1 a stock Rocky 9's (Env1) as its installer leaves them: /etc/hostname, the
comment-only /etc/sysconfig/network, the NetworkManager keyfile (0600), /etc/shadow with the
default aging (0000), all from tests/fixtures/stock, and Debian's stock sshd_config (RHEL's
includes its drop-ins at the top the same way). The group's envs.toml (Rocky 9 = Env1,
Debian 12 = Env2) is the `envs.toml` block of docs/install.md, written once and given to both
servers' `init --envs`. Nothing of `atlas-ha lab` sets anything up: every step under test is
a command of the procedure blocks of docs/install.md, read from the page and run in the
server's namespaces, with only these substitutions: `--system-root` for the test's stock
root, ESD_DATA and the envs.toml below /srv, the settings at $ATLAS_HA_CONFIG, `systemctl
reload ssh(d)` is starting the server's sshd (there is no systemd here; the fresh server's
sshd was not running), and TOKEN is the token the partner's command printed. The commands
are counted.

(It replaced a variant with the reference Env1, `rhel-ifcfg` + `passwd-hash`, on made-up
RHEL-like files: no stock RHEL/Rocky 7+ is that; the reference Env1 stays covered by the
lab's own tests and the scenarios.)
"""

from __future__ import annotations

import grp
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from atlas_ha.lab import host
from atlas_ha.lab.net import LabNet
from atlas_ha.system import Runner

pytestmark = pytest.mark.lab

REPO = Path(__file__).parents[2]
STOCK = REPO / "tests" / "fixtures" / "stock"
INSTALL = REPO / "docs" / "install.md"
SUBNET = "192.0.2.0/24"  # the stock files' documentation addresses, only in our namespaces
ADDRESS = {"PRI": "192.0.2.11", "SEC1": "192.0.2.12"}
CONFIG = "/srv/atlas-ha.toml"
SSHD = "/usr/sbin/sshd"
# the stock files of each server: (fixture, path in its system root)
FILES = {
    "PRI": [
        ("debian12/passwd", "etc/passwd"),
        ("debian12/shadow", "etc/shadow"),
        ("debian12/group", "etc/group"),
        ("debian12/hostname", "etc/hostname"),
        ("debian12/interfaces", "etc/network/interfaces"),
    ],
    "SEC1": [
        ("rocky9/passwd", "etc/passwd"),
        ("rocky9/shadow", "etc/shadow"),
        ("rocky9/group", "etc/group"),
        ("rocky9/hostname", "etc/hostname"),
        ("rocky9/network-empty", "etc/sysconfig/network"),
        ("rocky9/eth0.nmconnection", "etc/NetworkManager/system-connections/eth0.nmconnection"),
    ],
}
ENVS = "/etc/atlas-ha/envs.toml"  # where docs/install.md has the administrator put it
ANCHOR = (
    'mount --bind "$1" /srv && mount --bind "$1/root/etc/ssh" /etc/ssh && '
    'mount --bind "$1/usrlocalbin" /usr/local/bin && '
    'mount --bind /root "$1/realroot" && mount --bind "$1/home" /root && '
    'if [ -n "$3" ]; then mkdir -p "/root/$3" && mount --bind "$1/realroot/$3" "/root/$3"; fi && '
    'hostname "$2" && exec sleep infinity'
)
# the Python running atlas-ha stays visible when it lives below the real /root
PYTHON = Path(os.path.realpath(sys.base_prefix))
KEEP = str(PYTHON.relative_to("/root")) if PYTHON.is_relative_to("/root") else ""
TOKEN_RE = re.compile(r"atlas-ha join (atlas-ha-join:\S+)")


def envs_block() -> str:
    """The group's envs.toml as docs/install.md gives it."""
    marker = "<!-- envs.toml -->\n```toml\n"
    text = INSTALL.read_text()
    assert marker in text, "docs/install.md has no envs.toml block"
    return text.split(marker, 1)[1].split("```", 1)[0]


def procedure(role: str) -> list[str]:
    """The commands of docs/install.md's procedure block for `role`, one a line."""
    text = INSTALL.read_text()
    marker = f"<!-- procedure: {role} -->\n```sh\n"
    assert marker in text, f"docs/install.md has no procedure block for {role}"
    block = text.split(marker, 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.splitlines() if line.strip()]


class Server:
    def __init__(self, role: str, base: Path, ns: str) -> None:
        self.role, self.base, self.ns = role, base, ns
        self.anchor: int | None = None
        self.sshd: subprocess.Popen[bytes] | None = None
        self.commands: list[str] = []

    def make(self) -> None:
        """A fresh server: its stock files and stock /etc/ssh (host keys as the package's
        postinst makes them), an empty home, and the Unbound Data's mount point."""
        root = self.base / "root"
        for fixture, path in FILES[self.role]:
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(STOCK / fixture, root / path)
            os.chmod(root / path, 0o600 if path.endswith(".nmconnection") else 0o644)
        # /etc/shadow as the distributions ship it: Debian root:shadow 0640, RHEL 0000
        shadow_gid = grp.getgrnam("shadow").gr_gid if self.role == "PRI" else 0
        os.chown(root / "etc/shadow", 0, shadow_gid)
        os.chmod(root / "etc/shadow", 0o640 if self.role == "PRI" else 0)
        ssh = root / "etc/ssh"
        (ssh / "sshd_config.d").mkdir(parents=True)
        shutil.copy(STOCK / "debian12/sshd_config", ssh / "sshd_config")
        subprocess.run(["ssh-keygen", "-A", "-f", str(root)], check=True, capture_output=True)
        (self.base / "home").mkdir(mode=0o700)
        (self.base / "realroot").mkdir(mode=0o700)
        # atlas-ha installed as docs/install.md section 1 says (on sshd's PATH)
        (self.base / "usrlocalbin").mkdir(mode=0o755)
        (self.base / "usrlocalbin/atlas-ha").symlink_to(Path(sys.executable).parent / "atlas-ha")
        (self.base / "unbound").mkdir()
        # the group's envs.toml, the same file on every server (atlas-ha's, not the OS's)
        (self.base / "envs.toml").write_text(envs_block())
        for d in [self.base, root, root / "etc", self.base / "unbound"]:
            os.chmod(d, 0o755)
        proc = host.start_daemon(
            [
                *["ip", "netns", "exec", self.ns, "unshare", "--mount", "--uts", "--"],
                *["sh", "-c", ANCHOR, "anchor", str(self.base), self.role.lower(), KEEP],
            ],
            self.base / "anchor.log",
        )
        self.anchor = proc.pid
        deadline = time.monotonic() + 10
        while "/srv" not in Path(f"/proc/{proc.pid}/mountinfo").read_text():
            assert proc.poll() is None and time.monotonic() < deadline, (
                self.base / "anchor.log"
            ).read_text()
            time.sleep(0.02)

    def run(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/sbin:/usr/bin:/sbin:/bin",
            "ATLAS_HA_CONFIG": CONFIG,
            "HOME": "/root",
        }
        return subprocess.run(
            [*host.enter(self.anchor), *argv],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    def step(self, line: str, token: str | None = None) -> str:
        """Run one documented command (see the module's docstring); its output."""
        self.commands.append(line)
        words = shlex.split(line)
        if words[:2] == ["systemctl", "reload"]:
            if self.sshd is not None:  # a reload: the new sshd reads the drop-in
                host.stop(self.sshd.pid)
            self.start_sshd()
            return ""
        assert words[0] == "atlas-ha", line
        words = [w.replace("/var/lib/atlas-ha/esd", "/srv/esd") for w in words]
        words = [w.replace(ENVS, "/srv/envs.toml") for w in words]
        if words[1] == "init":
            words += ["--system-root", "/srv/root"]
        if "TOKEN" in words:
            assert token is not None, line
            words[words.index("TOKEN")] = token
        done = self.run(words)
        assert done.returncode == 0, f"{self.role}: {line}: exit {done.returncode}\n" + (
            done.stdout + done.stderr
        )
        return done.stdout

    def start_sshd(self) -> None:
        """The server's own sshd with its (stock) /etc/ssh, as its service manager starts
        it (no PID file of its own on the machine's /run)."""
        log = (self.base / "sshd.log").open("ab")
        self.sshd = subprocess.Popen(
            [*host.enter(self.anchor), SSHD, "-D", "-e", "-o", "PidFile=none"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        probe = ["bash", "-c", f"exec 3<>/dev/tcp/{ADDRESS[self.role]}/22"]
        while self.run(probe).returncode != 0:
            assert self.sshd.poll() is None, (self.base / "sshd.log").read_text()
            assert time.monotonic() < deadline, (self.base / "sshd.log").read_text()
            time.sleep(0.05)

    def stop(self) -> None:
        if self.sshd is not None:
            host.stop(self.sshd.pid)
        if self.anchor is not None:
            host.stop(self.anchor)


@pytest.fixture
def servers() -> Iterator[dict[str, Server]]:
    if os.geteuid() != 0 or not Path(SSHD).exists() or not shutil.which("ip"):
        pytest.skip("needs root, iproute2 and OpenSSH's sshd")
    base = Path(tempfile.mkdtemp(prefix="atlas-ha-install-", dir="/var/tmp"))
    os.chmod(base, 0o755)
    digest = hashlib.sha1(str(base).encode()).hexdigest()[:4]
    net = LabNet(f"ah{digest}-", Runner(), subnet=SUBNET)
    made = {role: Server(role, base / role.lower(), net.ns(role.lower())) for role in ADDRESS}
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    try:
        net.create([role.lower() for role in ADDRESS])
        for role, server in made.items():
            net.set_address(role.lower(), ADDRESS[role], 24)
            server.base.mkdir()
            server.make()
        yield made
    finally:
        for server in made.values():
            server.stop()
        net.destroy()
        subprocess.run(["rm", "-rf", "--one-file-system", str(base)], check=False)
    assert not net.exists()


def test_the_documented_procedure_reaches_an_equal_first_cycle(
    servers: dict[str, Server],
) -> None:
    pri, sec = servers["PRI"], servers["SEC1"]
    pri_steps, sec_steps = procedure("PRI"), procedure("SEC1")
    # PRI 1: init prints the doctor (offline) and the PRI's join token
    out = pri.step(pri_steps[0])
    assert "init: test conversion to Env1: ok" in out  # Debian 12 -> Rocky 9's formats
    assert "init: doctor (offline" in out
    pri_token = TOKEN_RE.findall(out)
    assert len(pri_token) == 1, out
    # SEC1 1-4: init, the sshd drop-in, sshd, join with the PRI's token (prints the reply)
    out = sec.step(sec_steps[0])
    assert "ok   identity files: nm-keyfile" in out, out  # the stock Rocky 9, unedited
    assert "ok   accounts files: shadow" in out, out
    assert "`sshd -t` accepts it" in sec.step(sec_steps[1])
    sec.step(sec_steps[2])
    out = sec.step(sec_steps[3], pri_token[0])
    reply = TOKEN_RE.findall(out)
    assert len(reply) == 1, out
    # PRI 2-4: the drop-in, sshd, join with SEC1's reply: the doctor, online, green
    assert "`sshd -t` accepts it" in pri.step(pri_steps[1])
    pri.step(pri_steps[2])
    out = pri.step(pri_steps[3], reply[0])
    assert "doctor: green" in out, out
    assert "ok   hello to SEC1 at 192.0.2.12: SEC1, Env1" in out
    assert "ok   sshd drop-in: /etc/ssh/sshd_config.d/atlas-ha.conf: current" in out
    assert "FAIL" not in out
    # no operating-system file was edited by the set-up: only the drop-in was added to
    # /etc/ssh (the first cycle then installs the PRI's accounts on SEC1, as it should)
    for server in (pri, sec):
        stock = (STOCK / "debian12/sshd_config").read_text()
        assert (server.base / "root/etc/ssh/sshd_config").read_text() == stock
        for fixture, path in FILES[server.role]:
            assert (server.base / "root" / path).read_bytes() == (STOCK / fixture).read_bytes()
        added = sorted(p.name for p in (server.base / "root/etc/ssh/sshd_config.d").iterdir())
        assert added == ["atlas-ha.conf"]
    # PRI 5: the first cycle, equal
    out = pri.step(pri_steps[4])
    assert "SEC1: equal at Env2" in out.splitlines(), out
    # the counts (goal: at most 5 per server), every step documented, none left out
    assert pri.commands == pri_steps and len(pri.commands) == 5
    assert sec.commands == sec_steps and len(sec.commands) == 4
    # doctor on SEC1 is green too (its hello to the PRI)
    done = sec.run(["atlas-ha", "doctor"])
    assert done.returncode == 0, done.stdout + done.stderr
    # ... and it test-converted SEC1's files up to the PRI's Env2 (the PRI's ConvertToNewer)
    assert "ok   test conversion to Env2: this server's files convert" in done.stdout
    # the administrator wrote one file of atlas-ha's own (envs.toml), no file of the OS
    assert "--envs /etc/atlas-ha/envs.toml" in pri_steps[0] and ENVS in sec_steps[0]


def test_join_over_ssh_with_the_admins_own_access(servers: dict[str, Server]) -> None:
    """`atlas-ha join --ssh root@SEC1` on the PRI, with the administrator's own key and
    known_hosts (their existing access to a stock server, made here as test plumbing): both
    sides' lines in one command, before the drop-ins change the host key at the addresses."""
    pri, sec = servers["PRI"], servers["SEC1"]
    pri_steps, sec_steps = procedure("PRI"), procedure("SEC1")
    admin = pri.base / "home/.ssh"
    admin.mkdir(mode=0o700)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(admin / "id_ed25519")],
        check=True,
    )
    (sec.base / "home/.ssh").mkdir(mode=0o700)
    shutil.copyfile(admin / "id_ed25519.pub", sec.base / "home/.ssh/authorized_keys")
    server_key = (sec.base / "root/etc/ssh/ssh_host_ed25519_key.pub").read_text().split()
    (admin / "known_hosts").write_text(f"{ADDRESS['SEC1']} {server_key[0]} {server_key[1]}\n")
    sec.start_sshd()  # the stock server's sshd, running before atlas-ha
    pri.step(pri_steps[0])
    sec.step(sec_steps[0])
    out = pri.step(f"atlas-ha join --ssh root@192.0.2.12 --remote-config {CONFIG}")
    assert "join: root@192.0.2.12 accepted this role; accepted SEC1" in out, out
    sec.step(sec_steps[1])
    sec.step(sec_steps[2])
    pri.step(pri_steps[1])
    pri.step(pri_steps[2])
    done = pri.run(["atlas-ha", "doctor"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SEC1: equal at Env2" in pri.step(pri_steps[4]).splitlines()
