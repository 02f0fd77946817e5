"""`keys sshd-config --write` (transport/sshd_dropin.py): a real `sshd -t` checks the whole
configuration with the new drop-in; a configuration sshd refuses is never left behind (the
earlier drop-in is put back, or none), and the role's host key is the first HostKey."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from atlas_ha.errors import SettingsError
from atlas_ha.layout.sid import role_host_key, role_ssh_dir
from atlas_ha.settings import Settings
from atlas_ha.transport.sshd_dropin import DROPIN_NAME, sshd_dropin, write_sshd_dropin

STOCK = Path(__file__).parents[1] / "fixtures" / "stock" / "debian12" / "sshd_config"


def settings(tmp: Path) -> Settings:
    return Settings(
        name="A",
        system_root=tmp / "root",
        esd_data=tmp / "esd",
        sid_data=tmp / "sid",
        config_file=tmp / "atlas-ha.toml",
        address="192.0.2.11",
        transport="ssh",
        transport_options={},
    )


@pytest.fixture
def etc_ssh(tmp_path: Path) -> Path:
    if shutil.which("sshd", path="/usr/sbin:/usr/bin") is None:
        pytest.skip("needs OpenSSH's sshd")
    ssh = tmp_path / "etc-ssh"
    (ssh / "sshd_config.d").mkdir(parents=True)
    key = ssh / "host_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    text = STOCK.read_text().replace("/etc/ssh/sshd_config.d/", f"{ssh}/sshd_config.d/")
    (ssh / "sshd_config").write_text(text + f"HostKey {key}\n")
    return ssh


def test_sshd_t_accepts_the_dropin(etc_ssh: Path, tmp_path: Path) -> None:
    path, checked = write_sshd_dropin(settings(tmp_path), etc_ssh / "sshd_config.d")
    assert checked and path.read_text() == sshd_dropin(settings(tmp_path))


def test_a_refused_configuration_puts_the_old_dropin_back(etc_ssh: Path, tmp_path: Path) -> None:
    main = etc_ssh / "sshd_config"
    main.write_text(main.read_text() + "NoSuchKeyword yes\n")
    dropin = etc_ssh / "sshd_config.d" / DROPIN_NAME
    with pytest.raises(SettingsError, match="`sshd -t` refuses it"):
        write_sshd_dropin(settings(tmp_path), etc_ssh / "sshd_config.d")
    assert not dropin.exists()
    dropin.write_text("# the administrator's earlier drop-in\n")
    with pytest.raises(SettingsError, match="NoSuchKeyword"):
        write_sshd_dropin(settings(tmp_path), etc_ssh / "sshd_config.d")
    assert dropin.read_text() == "# the administrator's earlier drop-in\n"


def test_the_roles_host_key_comes_first(tmp_path: Path) -> None:
    s = settings(tmp_path)
    assert "HostKey" not in sshd_dropin(s)  # no role host key yet: sshd's own keys
    role_ssh_dir(s.sid_data).mkdir(parents=True)
    role_host_key(s.sid_data).write_text("key\n")
    own = s.system_root / "etc/ssh/ssh_host_rsa_key"
    own.parent.mkdir(parents=True)
    own.write_text("key\n")
    keys = [line for line in sshd_dropin(s).splitlines() if line.startswith("HostKey")]
    assert keys == [f"HostKey {role_host_key(s.sid_data)}", f"HostKey {own}"]
