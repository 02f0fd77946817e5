"""Who asks the status page: a user (HTTP Basic, its password checked against a scrypt hash)
or a token (HTTP Bearer, checked against its SHA-256), each with a role: viewer (sees) or
operator (sees and acts). Only hashes are stored (`[report.auth]` in the settings).

Without any credential configured — allowed on a loopback address only (server.py refuses
the rest) — every request is the anonymous viewer: operator actions need a configured
operator, even on loopback. With credentials configured every request must present one,
whatever address it came from.

Hash format: `$scrypt$ln=LOG2N,r=R,p=P$SALT$HASH` (salt and hash base64 without padding). A
verified password is remembered (an HMAC under a key of this process, never the password) so
that a page's every request does not pay scrypt's cost again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass

from atlas_ha.settings import Credential, WebSettings

LOG2_N, R, P = 15, 8, 1
SALT_BYTES, HASH_BYTES = 16, 32
MAX_LOG2_N, MAX_R, MAX_P = 20, 32, 16  # what a settings file may ask for
MAXMEM = 1 << 30
CACHE_SIZE = 256
OPERATOR, VIEWER = "operator", "viewer"


@dataclass(frozen=True)
class Principal:
    name: str
    role: str  # viewer | operator
    how: str  # anonymous | password | token

    @property
    def can_act(self) -> bool:
        return self.role == OPERATOR


ANONYMOUS = Principal("anonymous", VIEWER, "anonymous")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def hash_password(password: str, log2_n: int = LOG2_N) -> str:
    """The stored form of `password` (what `atlas-ha report hash-password` prints)."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=1 << log2_n, r=R, p=P, dklen=HASH_BYTES, maxmem=MAXMEM
    )
    return f"$scrypt$ln={log2_n},r={R},p={P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches `stored` (constant-time); False for a malformed hash."""
    try:
        _, kind, params, salt_text, hash_text = stored.split("$")
        fields = dict(item.split("=", 1) for item in params.split(","))
        log2_n, r, p = int(fields["ln"]), int(fields["r"]), int(fields["p"])
        salt, expected = _unb64(salt_text), _unb64(hash_text)
    except (ValueError, KeyError, binascii.Error):
        return False
    if kind != "scrypt" or not (1 <= log2_n <= MAX_LOG2_N and 1 <= r <= MAX_R and 1 <= p <= MAX_P):
        return False
    try:
        digest = hashlib.scrypt(
            password.encode(),
            salt=salt,
            n=1 << log2_n,
            r=r,
            p=p,
            dklen=len(expected),
            maxmem=MAXMEM,
        )
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(digest, expected)


def new_token() -> tuple[str, str]:
    """A fresh bearer token and the SHA-256 (hex) to put in the settings."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Authenticator:
    """Turns an Authorization header into a Principal (None: refused)."""

    def __init__(self, web: WebSettings) -> None:
        self.users = {u.name: u for u in web.users}
        self.tokens = web.tokens
        self.required = web.auth_configured
        self._key = secrets.token_bytes(32)
        self._verified: dict[bytes, Principal] = {}
        self._lock = threading.Lock()

    def identify(self, authorization: str | None) -> Principal | None:
        if not self.required:
            return ANONYMOUS
        if not authorization:
            return None
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer":
            return self._token(value.strip())
        if scheme.lower() == "basic":
            return self._basic(value.strip())
        return None

    def _token(self, presented: str) -> Principal | None:
        digest = token_hash(presented)
        found: Credential | None = None
        for token in self.tokens:  # every token compared: the time tells nothing
            if hmac.compare_digest(digest, token.secret_hash):
                found = token
        return Principal(found.name, found.role, "token") if found else None

    def _basic(self, value: str) -> Principal | None:
        try:
            user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        credential = self.users.get(user)
        if not sep or credential is None:
            return None
        memo = hmac.new(
            self._key, f"{user}\0{password}\0{credential.secret_hash}".encode(), "sha256"
        ).digest()
        with self._lock:
            if memo in self._verified:
                return self._verified[memo]
        if not verify_password(password, credential.secret_hash):
            return None
        principal = Principal(user, credential.role, "password")
        with self._lock:
            if len(self._verified) >= CACHE_SIZE:
                self._verified.clear()
            self._verified[memo] = principal
        return principal
