"""A role's ssh authority on its disk (transport.rolekeys): the key's place, the
authorized_keys line with the role fixed, re-authorizing a role replaces its line."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from atlas_ha.cli.main import main
from atlas_ha.errors import SettingsError
from atlas_ha.layout.sid import GITIGNORE, SidData, role_authorized_keys, role_key_file
from atlas_ha.model import MasterConfig, Partner
from atlas_ha.settings import Settings, load
from atlas_ha.system import Runner
from atlas_ha.transport.rolekeys import (
    PublicKey,
    authorize_role,
    forced_line,
    generate_role_key,
    line_options_and_key,
    line_role,
)

SEC1, SEC2 = "192.0.2.12", "192.0.2.13"


def settings_for(tmp_path: Path, master: MasterConfig) -> Settings:
    cfg = tmp_path / "atlas-ha.toml"
    cfg.write_text('name = "A"\nsystem_root = "root"\nesd_data = "esd"\nsid_data = "sid"\n')
    settings = load(cfg)
    SidData(settings.sid_data).write_master_config(master)
    return settings


@pytest.fixture
def pri(tmp_path: Path) -> Settings:
    partners = {"SEC1": Partner(SEC1), "SEC2": Partner(SEC2)}
    return settings_for(tmp_path, MasterConfig("acme", "PRI", partners))


def new_key(tmp_path: Path, name: str) -> Path:
    key = tmp_path / "keys" / name
    key.parent.mkdir(exist_ok=True)
    Runner().run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)])
    return key.with_suffix(".pub")


def blob(pub: Path) -> str:
    return pub.read_text().split()[1]


def lines(settings: Settings) -> list[str]:
    return role_authorized_keys(settings.sid_data).read_text().splitlines()


def test_the_role_key_lives_on_the_disk_private_and_ignored(pri: Settings) -> None:
    pub = generate_role_key(pri, Runner())
    key = role_key_file(pri.sid_data)
    assert pub == key.with_suffix(".pub") and key.parent == pri.sid_data / ".ssh"
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert pub.read_text().split()[2] == "atlas-ha-PRI@acme"
    assert "/.ssh/\n" in GITIGNORE
    before = key.read_bytes()
    generate_role_key(pri, Runner())  # once: a second generate keeps the key
    assert key.read_bytes() == before
    assert not (pri.esd_data / "ssh" / "id_ed25519").exists()


def test_a_partner_roles_key_gets_its_role_and_address(pri: Settings, tmp_path: Path) -> None:
    pub = new_key(tmp_path, "sec1")
    done = authorize_role(pri, "SEC1", pub, None)
    assert lines(pri) == [done.line]
    assert done.line.startswith(
        f'command="atlas-ha ssh-command --role SEC1",from="{SEC1}",restrict ssh-ed25519 '
    )
    assert line_role(done.line) == "SEC1" and line_options_and_key(done.line)[1] == blob(pub)
    assert stat.S_IMODE(role_authorized_keys(pri.sid_data).stat().st_mode) == 0o600
    other = authorize_role(pri, "SEC2", new_key(tmp_path, "sec2"), "192.0.2.0/24")
    assert 'from="192.0.2.0/24"' in other.line and lines(pri) == [done.line, other.line]


def test_re_authorizing_a_role_replaces_its_line(pri: Settings, tmp_path: Path) -> None:
    old, new = new_key(tmp_path, "old"), new_key(tmp_path, "new")
    authorize_role(pri, "SEC1", old, None)
    sec2 = authorize_role(pri, "SEC2", new_key(tmp_path, "sec2"), None).line
    again = authorize_role(pri, "SEC1", old, None)
    assert again.replaced == 1 and len(lines(pri)) == 2  # never duplicated
    done = authorize_role(pri, "SEC1", new, None)  # the operator regenerated SEC1's key
    assert done.replaced == 1
    text = role_authorized_keys(pri.sid_data).read_text()
    assert blob(old) not in text and lines(pri) == [sec2, done.line]


def test_one_key_acts_for_one_role_only(pri: Settings, tmp_path: Path) -> None:
    pub = new_key(tmp_path, "sec1")
    authorize_role(pri, "SEC1", pub, None)
    before = role_authorized_keys(pri.sid_data).read_text()
    with pytest.raises(SettingsError, match=r"authorized_keys:1: .*already authorized for SEC1"):
        authorize_role(pri, "SEC2", pub, None)
    assert role_authorized_keys(pri.sid_data).read_text() == before


def test_only_partner_roles_are_authorized(tmp_path: Path) -> None:
    sec = settings_for(tmp_path, MasterConfig("acme", "SEC1", {"PRI": Partner("192.0.2.11")}))
    pub = new_key(tmp_path, "k")
    for role in ("SEC2", "SEC1"):  # a SEC's only partner is its PRI
        with pytest.raises(SettingsError, match=f"{role} is not a partner of .* SEC1"):
            authorize_role(sec, role, pub, None)
    with pytest.raises(SettingsError, match="expected PRI or SEC<n>"):
        authorize_role(sec, "root", pub, None)
    with pytest.raises(SettingsError, match="--from"):
        authorize_role(sec, "PRI", pub, '1.2.3.4" ,command="id')
    assert not role_authorized_keys(sec.sid_data).exists()
    assert 'from="192.0.2.11"' in authorize_role(sec, "PRI", pub, None).line


def test_per_server_key_lines_lose_their_authority(pri: Settings, tmp_path: Path) -> None:
    """Lines of the old per-server keys (no role) are removed; Verifier lines stay, and a
    Verifier key is never made a role's key."""
    esd = pri.esd_data / "ssh" / "authorized_keys"
    esd.parent.mkdir(parents=True)
    verifier = new_key(tmp_path, "verifier")
    kind, vblob = verifier.read_text().split()[:2]
    verifier_line = f'command="echo atlas-ha-verifier-ok",restrict {kind} {vblob} v'
    legacy = f'command="/usr/bin/python3 -m atlas_ha --config /x ssh-command",restrict {kind} AAAA'
    esd.write_text(f"{legacy}\n{verifier_line}\n")
    with pytest.raises(SettingsError, match="already authorized for something else"):
        authorize_role(pri, "SEC1", verifier, None)
    done = authorize_role(pri, "SEC1", new_key(tmp_path, "sec1"), None)
    assert done.legacy_removed == 1 and esd.read_text() == f"{verifier_line}\n"


def test_public_key_lines_are_checked() -> None:
    for text in ("", "ssh-ed25519", "ssh-dss AAAA", "ssh-ed25519 not*base64"):
        with pytest.raises(SettingsError, match="expected an OpenSSH public key line"):
            PublicKey.parse(text, "k.pub")
    key = PublicKey.parse('ssh-ed25519 AAAAC3 a@b "quoted" x\ny', "k.pub")
    assert forced_line("PRI", "192.0.2.11", key) == (
        'command="atlas-ha ssh-command --role PRI",from="192.0.2.11",restrict '
        "ssh-ed25519 AAAAC3 a@b x"
    )


def test_options_with_quoted_spaces_are_parsed() -> None:
    line = 'from="a, b",command="atlas-ha ssh-command --role SEC2",restrict ssh-ed25519 BLOB c'
    assert line_options_and_key(line) == (line.split(" ssh-ed25519")[0], "BLOB")
    assert line_role(line) == "SEC2"
    assert line_role('command="echo ssh-command --role PRI x",restrict k B') is None
    assert line_role("ssh-ed25519 BLOB --role PRI") is None
    assert line_options_and_key("# comment") == ("", None)


def test_keys_cli(pri: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = str(pri.config_file)
    assert main(["--config", cfg, "keys", "generate"]) == 0
    assert capsys.readouterr().out.startswith("ssh-ed25519 ")
    pub = str(new_key(tmp_path, "sec2"))
    assert main(["--config", cfg, "keys", "authorize", "--role", "SEC2", pub]) == 0
    assert "--role SEC2" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # --role is required
        main(["--config", cfg, "keys", "authorize", pub])
    assert os.path.exists(role_key_file(pri.sid_data))


def test_the_ssh_client_key_is_the_roles_never_a_servers(pri: Settings, tmp_path: Path) -> None:
    import dataclasses

    from atlas_ha.errors import TransportError
    from atlas_ha.transport.ssh import SshOptions

    ssh = dataclasses.replace(pri, transport="ssh")
    old = pri.esd_data / "ssh" / "id_ed25519"  # a per-server key of an earlier version
    old.parent.mkdir(parents=True)
    old.write_text("old\n")
    expected = f"{role_key_file(pri.sid_data)}: no ssh key of this server's role"
    with pytest.raises(TransportError, match=re.escape(expected)):
        SshOptions(ssh)
    generate_role_key(pri, Runner())
    assert SshOptions(ssh).key == role_key_file(pri.sid_data)
    pinned = dataclasses.replace(ssh, transport_options={"key": str(old)})
    with pytest.raises(SettingsError, match=r"\[transport\] key: the client key is the role's"):
        SshOptions(pinned)
