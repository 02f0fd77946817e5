"""[report] settings, the password and token hashes, the authenticator and the binding rule:
an address other than 127.0.0.1, ::1 or localhost needs authentication."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from tests.web.site import HASHES

from atlas_ha import settings as settings_mod
from atlas_ha.errors import ReportServeError, SettingsError
from atlas_ha.report.web.auth import (
    ANONYMOUS,
    Authenticator,
    hash_password,
    new_token,
    verify_password,
)
from atlas_ha.report.web.csrf import Csrf
from atlas_ha.report.web.server import check_binding
from atlas_ha.settings import WebSettings


def web(tmp_path: Path, report: dict[str, object]) -> WebSettings:
    data = {"esd_data": "e", "sid_data": "s", "report": report}
    return settings_mod.from_dict(data, tmp_path / "atlas-ha.toml").web


def users(**roles: str) -> dict[str, object]:
    return {"users": {n: {"role": r, "password": HASHES[n]} for n, r in roles.items()}}


def test_the_default_is_loopback_8470_without_auth(tmp_path: Path) -> None:
    default = settings_mod.from_dict({"esd_data": "e", "sid_data": "s"}, tmp_path / "x.toml").web
    assert (default.host, default.port, default.local) == ("127.0.0.1", 8470, True)
    assert not default.auth_configured
    check_binding(default, "x.toml")  # allowed


@pytest.mark.parametrize("listen", ["0.0.0.0:8470", "192.0.2.5:80", "127.0.0.2:8470", "[::]:1"])
def test_an_address_beyond_loopback_without_auth_is_refused(tmp_path: Path, listen: str) -> None:
    settings = web(tmp_path, {"listen": listen})
    with pytest.raises(ReportServeError, match=r"not a loopback address.*\[report.auth\]"):
        check_binding(settings, "x.toml")
    check_binding(web(tmp_path, {"listen": listen, "auth": users(alice="operator")}), "x.toml")


@pytest.mark.parametrize(
    ("report", "expected"),
    [
        ({"listen": "8470"}, "HOST:PORT"),
        ({"listen": "127.0.0.1:99999"}, "HOST:PORT"),
        ({"listen": 8470}, "a string"),
        ({"port": 1}, "unknown keys"),
        ({"auth": {"users": {"a": {"role": "admin", "password": "$scrypt$x$y$z"}}}}, "role ="),
        ({"auth": {"users": {"a": {"role": "viewer", "password": "plain"}}}}, "scrypt hash"),
        ({"auth": {"users": {"a": {"role": "viewer"}}}}, "exactly role and password"),
        ({"auth": {"tokens": {"t": {"role": "viewer", "sha256": "abc"}}}}, "64 hex digits"),
        ({"auth": {"groups": {}}}, "only users"),
    ],
)
def test_malformed_report_settings_name_the_file_and_what_was_expected(
    tmp_path: Path, report: dict[str, object], expected: str
) -> None:
    with pytest.raises(SettingsError, match=expected) as info:
        web(tmp_path, report)
    assert "atlas-ha.toml" in str(info.value)


def test_passwords_are_stored_as_scrypt_hashes_only() -> None:
    stored = hash_password("correct horse", log2_n=10)
    assert stored.startswith("$scrypt$ln=10,r=8,p=1$") and "correct horse" not in stored
    assert verify_password("correct horse", stored)
    assert not verify_password("correct hors", stored)
    assert hash_password("correct horse", log2_n=10) != stored  # salted
    assert not verify_password("x", "$scrypt$ln=99,r=8,p=1$AAAA$AAAA")  # bounded cost
    assert not verify_password("x", "garbage")


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_the_authenticator_knows_users_tokens_and_roles(tmp_path: Path) -> None:
    token, digest = new_token()
    settings = web(
        tmp_path,
        {
            "listen": "0.0.0.0:8470",
            "auth": {
                **users(alice="operator", bob="viewer"),
                "tokens": {"prom": {"role": "viewer", "sha256": digest}},
            },
        },
    )
    auth = Authenticator(settings)
    alice = auth.identify(basic("alice", "alice-operator-pw"))
    assert alice is not None and alice.can_act and alice.how == "password"
    assert auth.identify(basic("alice", "alice-operator-pw")) == alice  # remembered
    bob = auth.identify(basic("bob", "bob-viewer-pw"))
    assert bob is not None and not bob.can_act
    prom = auth.identify(f"Bearer {token}")
    assert prom is not None and (prom.name, prom.role, prom.how) == ("prom", "viewer", "token")
    for refused in (
        None,
        "",
        basic("alice", "wrong"),
        basic("eve", "x"),
        "Bearer nope",
        "Basic !!!",
        "Digest x",
        basic("bob", "alice-operator-pw"),
    ):
        assert auth.identify(refused) is None, refused
    assert Authenticator(web(tmp_path, {})).identify(None) == ANONYMOUS


def test_a_csrf_token_belongs_to_its_cookie_and_its_principal() -> None:
    csrf = Csrf()
    nonce, new = csrf.nonce(None)
    assert new and csrf.nonce(nonce) == (nonce, False)
    token = csrf.token(nonce, "alice")
    assert csrf.valid(nonce, token, "alice")
    assert not csrf.valid(nonce, token, "bob")
    assert not csrf.valid(csrf.nonce(None)[0], token, "alice")
    assert not csrf.valid(nonce, None, "alice") and not csrf.valid(None, token, "alice")
    assert not Csrf().valid(nonce, token, "alice")  # another process's key
