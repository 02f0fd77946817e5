"""Role-bound authority without a lab: the forced command's `--role`, the op/role checks, the
grants bound to the key's role (transport.authority, transport.forced)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from atlas_ha.cli.main import main
from atlas_ha.errors import RefusedError
from atlas_ha.layout.sid import grant_file, send_grant_file
from atlas_ha.settings import load
from atlas_ha.transport import authority
from atlas_ha.transport.forced import forced_command, granted_root, granted_send_root

PEER = "192.0.2.11"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings of a server whose sshd runs the forced command for a client at PEER."""
    cfg = tmp_path / "atlas-ha.toml"
    cfg.write_text(
        'name = "B"\nsystem_root = "root"\nesd_data = "esd"\nsid_data = "sid"\n'
        '[transport]\nkind = "ssh"\n'
    )
    (tmp_path / "sid" / "PRI").mkdir(parents=True)
    monkeypatch.setenv("SSH_CLIENT", f"{PEER} 40000 22")
    return cfg


def write_grant(path: Path, role: str, **extra: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    grant = {"role": role, "envs": [1], "expires": time.time() + 60, **extra}
    path.write_text(json.dumps(grant))


def refuse_exec(*argv: object) -> None:
    raise AssertionError(f"the forced command would have run {argv}")


def ssh_command(config: Path, *role: str) -> int:
    return main(["--config", str(config), "ssh-command", *role])


def test_a_line_without_a_role_has_no_authority(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SSH_ORIGINAL_COMMAND", "atlas-ha serve")
    assert ssh_command(config) == RefusedError.exit_code
    err = capsys.readouterr().err
    assert f"refused from {PEER}" in err and "fixes no role" in err
    assert "keys authorize --role" in err


def test_a_session_is_not_started_without_a_role(config: Path) -> None:
    started: list[bool] = []

    def session(_peer: str, _key_role: str) -> int:
        started.append(True)
        raise AssertionError("no session without a role")

    with pytest.raises(RefusedError, match="fixes no role"):
        forced_command(load(config), None, session)
    assert started == []


@pytest.mark.parametrize("role", ["pri", "SEC0", "SEC1;id", ""])
def test_a_malformed_role_is_refused(config: Path, role: str) -> None:
    with pytest.raises(RefusedError, match="is not PRI or SEC<n>"):
        authority.checked_key_role(role, PEER)


def test_the_role_reaches_the_rsync_grant_check(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--role SEC1` on the command line is the role the rsync's grant is checked against:
    a receive grant a PRI-key session made for this address is not SEC1's to use."""
    sid = config.parent / "sid"
    write_grant(grant_file(sid, PEER), "PRI")
    monkeypatch.setenv("SSH_ORIGINAL_COMMAND", "rsync --server -logDtpre.iLsfxCIvu . Env1/")
    monkeypatch.setattr(os, "execv", refuse_exec)  # were it allowed: no rsync in this process
    assert ssh_command(config, "--role", "SEC1") == RefusedError.exit_code
    err = capsys.readouterr().err
    assert "the receive grant is for PRI's key; the key that connected is SEC1's" in err
    assert list((sid / "PRI").iterdir()) == []


def test_a_receive_grant_is_used_only_by_a_key_of_its_role(config: Path) -> None:
    sid = config.parent / "sid"
    write_grant(grant_file(sid, PEER), "PRI")
    assert granted_root(sid, PEER, "PRI") == (sid / "PRI", [1])
    for other in ("SEC1", "SEC2"):
        with pytest.raises(RefusedError, match=f"grant is for PRI's key.*is {other}'s"):
            granted_root(sid, PEER, other)


def test_a_send_grant_is_pulled_only_by_the_pri_key(config: Path) -> None:
    sid = config.parent / "sid"
    (sid / "SEC2").mkdir()
    write_grant(send_grant_file(sid, PEER), "SEC2", **{"for": "PRI"})
    assert granted_send_root(sid, PEER, "PRI") == (sid / "SEC2", [1])
    for other in ("SEC1", "SEC2"):
        with pytest.raises(RefusedError, match="send grant is for PRI's key"):
            granted_send_root(sid, PEER, other)
    write_grant(send_grant_file(sid, PEER), "SEC2")  # one that names no key role: nobody's
    with pytest.raises(RefusedError, match="send grant is for None's key"):
        granted_send_root(sid, PEER, "PRI")


def test_the_claim_must_be_the_keys_own_role() -> None:
    authority.check_claim("PRI", "PRI", PEER)
    with pytest.raises(RefusedError) as refused:
        authority.check_claim("SEC1", "PRI", PEER)
    message = str(refused.value)
    assert "SEC1's" in message and "claims PRI" in message and PEER in message


@pytest.mark.parametrize("op", authority.RECEIVE_OPS)
def test_receives_only_of_the_keys_role(op: str) -> None:
    authority.check_op("SEC1", op, "SEC1", PEER)
    authority.check_op("PRI", op, "PRI", PEER)
    with pytest.raises(RefusedError, match="may send only SEC1's snapshot"):
        authority.check_op("SEC1", op, "PRI", PEER)
    with pytest.raises(RefusedError, match="may send only PRI's snapshot"):
        authority.check_op("PRI", op, "SEC1", PEER)


def test_syncup_only_from_the_pri_key() -> None:
    authority.check_op("PRI", "syncup", "PRI", PEER)
    for key_role in ("SEC1", "SEC2"):
        with pytest.raises(RefusedError, match="only the PRI's key may request SyncUp"):
            authority.check_op(key_role, "syncup", "PRI", PEER)  # whatever the request says
