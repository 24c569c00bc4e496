"""Who is calling: the reservation system (service key) or a signed-in user (JWT)."""

from __future__ import annotations

from dataclasses import dataclass

from server.auth.tokens import TokenClaims


@dataclass(frozen=True, slots=True)
class ServiceCaller:
    """The reservation system, holding the service key."""


@dataclass(frozen=True, slots=True)
class UserCaller:
    claims: TokenClaims

    @property
    def user_id(self) -> str:
        return self.claims.user_id


Caller = ServiceCaller | UserCaller
