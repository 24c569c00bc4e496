"""How a delivery is signed, and how a receiver checks it.

Each request carries its Unix time in ``Webhook-Timestamp`` and, in ``Webhook-Signature``,
``v1=`` and the hex HMAC-SHA256, keyed with NOTIFICATION_WEBHOOK_SECRET, of the timestamp, a
dot, and the raw body bytes. A receiver recomputes it over the bytes it received (before any
JSON parsing), compares in constant time, and refuses a timestamp too far from its own clock
(a replayed request). ``Idempotency-Key`` (the notification's id, the same at every attempt)
lets it drop what it already handled.
"""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "Webhook-Timestamp"
SIGNATURE_HEADER = "Webhook-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
ATTEMPT_HEADER = "Webhook-Attempt"
VERSION = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Webhook-Signature`` header's value."""
    signed = str(timestamp).encode("ascii") + b"." + body
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"{VERSION}={digest}"


def verify(
    secret: str,
    *,
    timestamp: str,
    signature_header: str,
    body: bytes,
    now: float,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """What a receiver does: the signature matches the body and the timestamp is recent."""
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent_at) > tolerance:
        return False
    expected = signature(secret, sent_at, body)
    return hmac.compare_digest(
        expected.encode("ascii"), signature_header.encode("ascii", "replace")
    )
