"""Rate limits on signing in and up: per account first, per address as a generous backstop.

Thousands of fans at one venue can share one public address, so an address's limits are set
high and are never the only defence; what stops password guessing is the per-account limit,
and what keeps the service up is the bounded hashing pool behind both. Every attempt counts
against its account whether or not the account exists, so the limits tell nothing about which
emails are registered. A check of the current password (changing email or password, deleting
the account) counts against the same account bucket as signing in with that email.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from server.clock import Clock
from server.domain import RateLimited
from server.ratelimit import Rate, RateLimiter

_EPOCH = datetime(1970, 1, 1)

# Ten tries, then one every 30 s: a person who mistypes is not slowed down, a guesser is.
SIGN_IN_PER_ACCOUNT = Rate(10, 300)
# A burst of 300, then 5 a second: a crowd behind one address gets through.
SIGN_IN_PER_IP = Rate(300, 60)
SIGN_UP_PER_ACCOUNT = Rate(10, 600)
SIGN_UP_PER_IP = Rate(300, 60)


@dataclass(frozen=True, slots=True)
class AuthLimits:
    """``None`` turns a limit off."""

    sign_in_per_account: Rate | None = SIGN_IN_PER_ACCOUNT
    sign_in_per_ip: Rate | None = SIGN_IN_PER_IP
    sign_up_per_account: Rate | None = SIGN_UP_PER_ACCOUNT
    """Per email and per username asked for."""
    sign_up_per_ip: Rate | None = SIGN_UP_PER_IP


class AuthThrottle:
    def __init__(self, limits: AuthLimits, clock: Clock) -> None:
        def now() -> float:
            return (clock.now() - _EPOCH).total_seconds()

        self.limits = limits
        self.sign_in_accounts = RateLimiter(limits.sign_in_per_account, now=now)
        self.sign_in_ips = RateLimiter(limits.sign_in_per_ip, now=now)
        self.sign_up_accounts = RateLimiter(limits.sign_up_per_account, now=now)
        self.sign_up_ips = RateLimiter(limits.sign_up_per_ip, now=now)

    def sign_in(self, address: str, email: str) -> None:
        """Count a sign-in attempt, or raise RateLimited (and count nothing)."""
        _take(
            (self.sign_in_ips, address),
            (self.sign_in_accounts, _email_key(email)),
        )

    def password_check(self, email: str) -> None:
        """Count a check of an account's current password, as a sign-in attempt."""
        _take((self.sign_in_accounts, _email_key(email)))

    def sign_up(self, address: str, email: str, username: str) -> None:
        _take(
            (self.sign_up_ips, address),
            (self.sign_up_accounts, _email_key(email)),
            (self.sign_up_accounts, f"username:{username.lower()}"),
        )


def _email_key(email: str) -> str:
    return f"email:{email.lower()}"


def _take(*checks: tuple[RateLimiter, str]) -> None:
    """All or nothing: a refused attempt uses up none of the other limits."""
    wait = max(limiter.wait_time(key) for limiter, key in checks)
    if wait > 0:
        raise RateLimited(wait)
    for limiter, key in checks:
        limiter.take(key)
