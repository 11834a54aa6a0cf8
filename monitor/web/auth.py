"""Who may read the web view: a bearer token, or basic auth against a hashed password.

Hashes are the standard library's scrypt, written `scrypt$N$r$p$salt$hash` (hex), so a
leaked monitor.toml does not give the password away. Comparisons take constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from typing import TYPE_CHECKING

from monitor.errors import ConfigError

if TYPE_CHECKING:
    from monitor.config import WebAuthConfig

SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_PREFIX = "scrypt"


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """A hash for `[web.auth] password_hash`."""
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **SCRYPT, dklen=32)
    return f"{_PREFIX}${SCRYPT['n']}${SCRYPT['r']}${SCRYPT['p']}${salt.hex()}${digest.hex()}"


_NOT_A_HASH = "not a password hash (make one with `monitor web --hash-password`)"


def _parts(stored: str) -> tuple[int, int, int, bytes, bytes]:
    fields = stored.split("$")
    if len(fields) != 6 or fields[0] != _PREFIX:
        raise ValueError(_NOT_A_HASH)
    try:
        n, r, p = (int(field) for field in fields[1:4])
        salt, digest = bytes.fromhex(fields[4]), bytes.fromhex(fields[5])
    except ValueError:
        raise ValueError(
            "not a password hash (make one with `monitor web --hash-password`)"
        ) from None
    if n < 2 or n & (n - 1) or not 1 <= r <= 64 or not 1 <= p <= 16 or len(digest) < 16:
        raise ValueError(
            "scrypt parameters out of range (make a hash with `monitor web --hash-password`)"
        )
    return n, r, p, salt, digest


def check_hash_format(stored: str) -> None:
    """Refuse a malformed hash when the config is read, not at the first login."""
    _parts(stored)


def verify_password(password: str, stored: str) -> bool:
    n, r, p, salt, digest = _parts(stored)
    found = hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, dklen=len(digest), maxmem=2**27
    )
    return hmac.compare_digest(found, digest)


class Credentials:
    """Checks an Authorization header against the configured scheme."""

    def __init__(
        self, *, token: str | None = None, username: str | None = None, password_hash: str = ""
    ) -> None:
        self.token = token
        self.username = username
        self.password_hash = password_hash
        self._accepted: set[str] = set()  # headers already verified: scrypt is slow on purpose

    @property
    def scheme(self) -> str:
        return "Bearer" if self.token is not None else "Basic"

    def allows(self, header: str | None) -> bool:
        if not header:
            return False
        if header in self._accepted:
            return True
        kind, _, value = header.partition(" ")
        ok = False
        if self.token is not None and kind.lower() == "bearer":
            ok = hmac.compare_digest(value.strip().encode(), self.token.encode())
        elif self.username is not None and kind.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value.strip()).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return False
            ok = hmac.compare_digest(user.encode(), self.username.encode()) and verify_password(
                password, self.password_hash
            )
        if ok and len(self._accepted) < 100:
            self._accepted.add(header)
        return ok


def credentials_for(auth: WebAuthConfig | None) -> Credentials | None:
    """The configured scheme, the token read from its environment variable now; a missing
    or empty variable is a ConfigError naming it."""
    if auth is None:
        return None
    if auth.token_env is not None:
        token = os.environ.get(auth.token_env, "")
        if not token.strip():
            raise ConfigError(
                f"web.auth.token_env: the environment variable {auth.token_env} is not set"
            )
        return Credentials(token=token.strip())
    return Credentials(username=auth.username, password_hash=auth.password_hash or "")
