"""LongPoll session tokens: a random session id and its HMAC-SHA256 signature.

A token is the only thing that ties an HTTP request to a LongPoll session, so it must be
neither guessable (128 random bits) nor forgeable (signed with the application secret).
Tokens are ``<id>.<signature>`` in the URL-safe base64 alphabet without padding: they pass
through ``encodeURIComponent`` unchanged and are valid HTTP header values (phoenix.js on
Phoenix's main branch sends them in ``X-Phoenix-Longpoll-Token``). On a node of a cluster the
id names its owner first, ``<node>~<random>`` (:mod:`phxpy.longpoll_relay`).

No I/O: the only side effect is drawing random bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

from ..longpoll_relay import OWNER_SEPARATOR

_ID_BYTES = 16
_CONTEXT = b"phxpy longpoll session v1"
# An optional owner node, 22 characters of id, a dot, 43 of signature. Checked before any
# base64 or HMAC work, so a junk token costs a regex match.
_TOKEN = re.compile(r"(?:[A-Za-z0-9_-]{1,64}~)?[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class SessionSigner:
    """Issues and checks session tokens.

    ``secret`` is the application secret (``SocketOptions.secret_key``); ``None`` draws a
    random key, valid for this process only (sessions do not survive a restart anyway).
    The signing key is derived from the secret, so a token is useless as a signature of
    anything else the application signs with the same secret.
    """

    def __init__(self, secret: bytes | None = None, *, node: str | None = None) -> None:
        master = secret if secret is not None else secrets.token_bytes(32)
        self._key = hmac.new(master, _CONTEXT, hashlib.sha256).digest()
        self._prefix = f"{node}{OWNER_SEPARATOR}" if node else ""
        """Ids name ``node`` as their owner (signed with the rest of the id)."""

    def issue(self) -> tuple[str, str]:
        """A new ``(session_id, token)``."""
        session_id = self._prefix + _b64(secrets.token_bytes(_ID_BYTES))
        return session_id, f"{session_id}.{self._sign(session_id)}"

    def verify(self, token: str | None) -> str | None:
        """The session id ``token`` was issued for, or ``None`` for anything else
        (missing, malformed, tampered, or signed with another key)."""
        if not token or _TOKEN.fullmatch(token) is None:
            return None
        session_id, _, signature = token.partition(".")
        if not hmac.compare_digest(signature, self._sign(session_id)):
            return None
        return session_id

    def _sign(self, session_id: str) -> str:
        digest = hmac.new(self._key, session_id.encode("ascii"), hashlib.sha256).digest()
        return _b64(digest)
