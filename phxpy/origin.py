"""The ``check_origin`` rules of Phoenix, as a pure function of the request's headers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

OriginCheck = bool | Sequence[str] | Callable[[str], bool]
"""``True``: the Origin's host must be the request's own host. ``False``: no check.
A list such as ``["https://example.com", "//*.other.com", "//another.com:888"]``: every part
that an entry gives (scheme, host, port) must match, ``*.host`` matching sub-domains too.
A callable receives the Origin header and answers."""


@dataclass(frozen=True, slots=True)
class _Allowed:
    scheme: str | None
    host: str
    port: int | None

    def matches(self, scheme: str, host: str, port: int | None) -> bool:
        if self.scheme is not None and self.scheme != scheme:
            return False
        if self.port is not None and self.port != port:
            return False
        if self.host.startswith("*."):
            bare = self.host[2:]
            return host == bare or host.endswith("." + bare)
        return host == self.host


def _parse_allowed(entry: str) -> _Allowed:
    parts = urlsplit(entry if "//" in entry else "//" + entry)
    host = (parts.hostname or "").lower()
    if not host:
        raise ValueError(f"check_origin entry without a host: {entry!r}")
    return _Allowed(parts.scheme.lower() or None, host, parts.port)


def _default_port(scheme: str) -> int | None:
    return {"http": 80, "https": 443, "ws": 80, "wss": 443}.get(scheme)


class OriginPolicy:
    """Decides whether a request's ``Origin`` header is acceptable."""

    def __init__(self, check: OriginCheck = True) -> None:
        self._check = check
        self._allowed: list[_Allowed] = []
        if not isinstance(check, bool) and not callable(check):
            self._allowed = [_parse_allowed(entry) for entry in check]

    def allows(self, origin: str | None, request_host: str | None) -> bool:
        """``request_host`` is the request's ``Host`` header, used by the default rule."""
        if origin is None or self._check is False:
            return True
        if callable(self._check):
            return bool(self._check(origin))
        try:
            parts = urlsplit(origin)
            host = (parts.hostname or "").lower()
            port = parts.port or _default_port(parts.scheme.lower())
        except ValueError:
            return False
        if not host:
            return False  # "null" and other host-less origins
        if self._check is True:
            if not request_host:
                return False
            try:
                own = (urlsplit("//" + request_host).hostname or "").lower()
            except ValueError:
                return False
            return host == own
        scheme = parts.scheme.lower()
        return any(allowed.matches(scheme, host, port) for allowed in self._allowed)
