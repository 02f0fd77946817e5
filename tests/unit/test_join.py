"""`atlas-ha join` (sync/join.py) and `keys host-key` / `keys known-hosts`
(transport/hostkeys.py): a token is checked, never trusted, and nothing is written before it
passed; accepting writes the role-bound authorized_keys line and the host key under its
alias. Two servers (PRI Debian-like, SEC1) set up with `atlas-ha init --transport ssh`."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from atlas_ha.cli.main import main
from atlas_ha.context import Server
from atlas_ha.errors import JoinTokenError, SettingsError
from atlas_ha.layout.esd import server_known_hosts
from atlas_ha.layout.sid import role_authorized_keys
from atlas_ha.settings import load
from atlas_ha.sync.join import accept, offer, parse_token
from atlas_ha.transport.hostkeys import add_known_host_file, host_key_line, known_roles
from atlas_ha.transport.rolekeys import line_role

STOCK = Path(__file__).parents[1] / "fixtures" / "stock"


def make(tmp: Path, name: str, role: str, partner: str, address: str) -> Server:
    base = tmp / name
    root = base / "root"
    (root / "etc/network").mkdir(parents=True)
    for f in ("passwd", "shadow", "group"):
        shutil.copyfile(STOCK / "debian12" / f, root / "etc" / f)
    (root / "etc/shadow").chmod(0o640)
    (root / "etc/hostname").write_text(f"{name.lower()}\n")
    text = (STOCK / "debian12/interfaces").read_text().replace("192.0.2.11", address)
    (root / "etc/network/interfaces").write_text(text)
    config = base / "atlas-ha.toml"
    argv = ["--config", str(config), "init", "--name", name, "--env", "2", "--transport", "ssh"]
    argv += ["--system-root", str(root), "--esd-data", str(base / "esd")]
    argv += ["--sid-data", str(base / "sid"), "--group", "g", "--role", role]
    assert main([*argv, "--partner", partner]) == 0
    return Server(load(config))


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Server, Server]:
    pri = make(tmp_path, "A", "PRI", "SEC1=192.0.2.12", "192.0.2.11")
    sec = make(tmp_path, "B", "SEC1", "PRI=192.0.2.11", "192.0.2.12")
    return pri, sec


def nothing_written(server: Server) -> bool:
    keys = role_authorized_keys(server.settings.sid_data)
    return not keys.exists() and not server_known_hosts(server.settings.esd_data).exists()


def forged(token: str, **changes: object) -> str:
    """`token` with fields changed and a checksum made to fit (a token made by someone who
    knows the format: only the checks against this disk can refuse it)."""
    _prefix, _v, body, _sum = token.split(":")
    data = json.loads(base64.urlsafe_b64decode(body))
    data.update(changes)
    new = base64.urlsafe_b64encode(json.dumps(data).encode()).decode()
    return f"atlas-ha-join:1:{new}:{hashlib.sha256(new.encode()).hexdigest()[:16]}"


def test_offer_accept_reply_accept(pair: tuple[Server, Server]) -> None:
    pri, sec = pair
    token = offer(pri).token()
    joined = accept(sec, token)
    assert joined.role == "PRI" and joined.reply is not None
    line = role_authorized_keys(sec.settings.sid_data).read_text().strip()
    assert line_role(line) == "PRI" and 'from="192.0.2.11"' in line and ",restrict " in line
    assert set(known_roles(sec.settings)) == {"PRI"}
    back = accept(pri, joined.reply)
    assert back.role == "SEC1" and back.reply is None  # a reply asks for nothing more
    assert known_roles(pri.settings)["SEC1"].blob == parse_token(joined.reply).host_key.blob
    # accepting again replaces the role's line: one line per role
    accept(sec, token)
    assert len(role_authorized_keys(sec.settings.sid_data).read_text().splitlines()) == 1


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda t: t[:-1] + ("0" if t[-1] != "0" else "1"), "checksum does not match"),
        (lambda t: t[: len(t) // 2], "expected one line atlas-ha-join:1:"),  # cut short
        (lambda t: t.replace("eyJ", "eyK", 1), "checksum does not match"),  # altered
        (lambda t: "ssh-ed25519 AAAA", "expected one line atlas-ha-join:1:"),
        (lambda t: t.replace("atlas-ha-join:1:", "atlas-ha-join:2:"), "version 2"),
    ],
)
def test_damaged_tokens_are_refused(pair: tuple[Server, Server], damage, message: str) -> None:  # type: ignore[no-untyped-def]
    pri, sec = pair
    with pytest.raises(JoinTokenError, match=message):
        accept(sec, damage(offer(pri).token()))
    assert nothing_written(sec)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"group": "other"}, "of group 'other', this disk's group is 'g'"),
        ({"role": "SEC2"}, "of SEC2, not a partner of this disk's role SEC1"),
        ({"role": "SEC1"}, "of SEC1, not a partner"),
        ({"address": "192.0.2.99"}, "MasterConfig gives PRI the address 192.0.2.11"),
        ({"key": "ssh-ed25519 not*base64"}, "expected an OpenSSH public key"),
        ({"reply": "yes"}, "reply is a flag"),
        ({"extra": 1}, "expected exactly the fields"),
    ],
)
def test_tokens_that_do_not_fit_this_disk_are_refused(
    pair: tuple[Server, Server], changes: dict[str, object], message: str
) -> None:
    pri, sec = pair
    with pytest.raises(JoinTokenError, match=message):
        accept(sec, forged(offer(pri).token(), **changes))
    assert nothing_written(sec)


def test_a_token_carrying_this_roles_own_key_is_refused(pair: tuple[Server, Server]) -> None:
    pri, sec = pair
    own = offer(sec)
    token = forged(
        offer(pri).token(), key=f"{own.key.kind} {own.key.blob}"
    )  # pasted on the wrong side
    with pytest.raises(JoinTokenError, match="this role's own"):
        accept(sec, token)
    assert nothing_written(sec)


def test_cli_join_prints_the_reply_and_runs_the_doctor(
    pair: tuple[Server, Server], capsys: pytest.CaptureFixture[str]
) -> None:
    pri, sec = pair
    config = ["--config", str(sec.settings.config_file)]
    assert main([*config, "join", offer(pri).token()]) == 0
    out = capsys.readouterr().out
    reply = [w for w in out.split() if w.startswith("atlas-ha-join:")]
    assert len(reply) == 1 and "paste on PRI" in out
    # the PRI accepts the reply; its doctor then tries the hello (no sshd here: it fails)
    code = main(["--config", str(pri.settings.config_file), "join", reply[0]])
    out = capsys.readouterr().out
    assert "join: both sides done; doctor:" in out and "FAIL hello to SEC1" in out
    assert code == 67


def test_host_key_and_known_hosts_commands(pair: tuple[Server, Server], tmp_path: Path) -> None:
    pri, sec = pair
    line = host_key_line(pri.settings, pri.runner)
    assert line.startswith("atlas-PRI ssh-ed25519 ")
    printed = tmp_path / "pri-host.txt"
    printed.write_text(line + "\n")
    add_known_host_file(sec.settings, "PRI", printed)
    assert known_roles(sec.settings)["PRI"].blob == line.split()[2]
    with pytest.raises(SettingsError, match="not of atlas-SEC2"):
        add_known_host_file(sec.settings, "SEC2", printed)
    printed.write_text(" ".join(line.split()[1:]) + "\n")  # a plain .pub
    with pytest.raises(SettingsError, match="not a partner"):
        add_known_host_file(sec.settings, "SEC2", printed)
    assert set(known_roles(sec.settings)) == {"PRI"}
