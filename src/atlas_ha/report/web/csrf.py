"""The CSRF token of the operator actions: a signed double submit.

The page sets a random nonce in a cookie (HttpOnly, SameSite=Strict) and renders into each
action's form the HMAC of that nonce and the principal's name under a key of this process.
A POST is accepted only when its form token equals the HMAC of its own cookie's nonce for
the principal making it (constant-time comparison): another site can neither read the
cookie nor compute the HMAC, and a nonce planted in the browser without the key is useless.
A restart of the server changes the key: the next POST of an old page is refused (reload).
"""

from __future__ import annotations

import hmac
import re
import secrets

COOKIE = "atlas_csrf"
FIELD = "csrf"
NONCE_RE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")


class Csrf:
    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    @staticmethod
    def nonce(cookie: str | None) -> tuple[str, bool]:
        """The request's nonce, and whether it is new (then the response must set it)."""
        if cookie is not None and NONCE_RE.match(cookie):
            return cookie, False
        return secrets.token_urlsafe(32), True

    def token(self, nonce: str, principal: str) -> str:
        return hmac.new(self._key, f"{nonce}\0{principal}".encode(), "sha256").hexdigest()

    def valid(self, cookie: str | None, submitted: str | None, principal: str) -> bool:
        if not cookie or not submitted or not NONCE_RE.match(cookie):
            return False
        return hmac.compare_digest(self.token(cookie, principal), submitted)
