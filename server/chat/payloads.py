"""Checks of what clients send on ``event:<id>``; payloads are untrusted.

Each parser returns either the parsed request or the ``reason`` of the error reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.domain import is_readable_text, is_storable_text
from server.limits import (
    CLIENT_ID_MAX_LENGTH,
    HISTORY_DEFAULT_LIMIT,
    HISTORY_MAX_LIMIT,
    MESSAGE_MAX_LENGTH,
    SEQ_MAX,
    TICKET_NUMBER_MAX_LENGTH,
)
from server.limits import LATEST_MESSAGES as LATEST_MESSAGES  # the channel reads them here
from server.limits import MAX_CATCH_UP as MAX_CATCH_UP
from server.limits import MAX_REPLY_BYTES as MAX_REPLY_BYTES

CONTENT_TYPES = frozenset({"text"})

# Error reasons sent to clients.
INVALID_PAYLOAD = "invalid payload"
EMPTY_MESSAGE = "empty message"
TOO_LONG = "message too long"
INVALID_CONTENT = "invalid content"
INVALID_CONTENT_TYPE = "invalid content_type"
INVALID_CLIENT_ID = "invalid client_id"
INVALID_TYPING = "invalid typing"
INVALID_HISTORY = "invalid history request"


@dataclass(frozen=True, slots=True)
class JoinRequest:
    ticket_number: str | None
    """None when the payload has none (a holder's rejoin); "" never reaches here."""
    after_seq: int | None
    invalid_ticket: bool = False
    """A ticket_number was given but is not a usable string (e.g. a list)."""


@dataclass(frozen=True, slots=True)
class NewMessage:
    content: str
    content_type: str
    client_id: str | None


@dataclass(frozen=True, slots=True)
class HistoryRequest:
    before: int | None
    limit: int


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_join(payload: Any) -> JoinRequest:
    """A join never fails on its payload's shape alone: a bad ticket number is an invalid
    ticket, a bad ``after_seq`` is ignored (the reply then carries the latest messages)."""
    if not isinstance(payload, dict):
        return JoinRequest(ticket_number=None, after_seq=None)
    raw_ticket = payload.get("ticket_number")
    ticket: str | None = None
    invalid = False
    if _is_int(raw_ticket):
        ticket = str(raw_ticket)  # apps may send a number typed into a numeric field
    elif isinstance(raw_ticket, str):
        ticket = raw_ticket.strip() or None
        invalid = ticket is not None and (
            len(ticket) > TICKET_NUMBER_MAX_LENGTH or not is_storable_text(ticket)
        )
    elif raw_ticket is not None:
        invalid = True
    after = payload.get("after_seq")
    after_seq = (
        after if isinstance(after, int) and _is_int(after) and 0 <= after <= SEQ_MAX else None
    )
    return JoinRequest(ticket_number=ticket, after_seq=after_seq, invalid_ticket=invalid)


def parse_new_message(payload: Any) -> NewMessage | str:
    if not isinstance(payload, dict):
        return INVALID_PAYLOAD
    content = payload.get("content")
    if not isinstance(content, str):
        return INVALID_CONTENT
    if not content.strip():
        return EMPTY_MESSAGE
    if len(content) > MESSAGE_MAX_LENGTH:
        return TOO_LONG
    if not is_readable_text(content):
        return INVALID_CONTENT
    content_type = payload.get("content_type", "text")
    if content_type is None:
        content_type = "text"
    if not isinstance(content_type, str) or content_type not in CONTENT_TYPES:
        return INVALID_CONTENT_TYPE
    client_id = payload.get("client_id")
    if client_id is not None and not (
        isinstance(client_id, str)
        and 0 < len(client_id) <= CLIENT_ID_MAX_LENGTH
        and is_storable_text(client_id)
    ):
        return INVALID_CLIENT_ID
    return NewMessage(content=content, content_type=content_type, client_id=client_id)


def parse_typing(payload: Any) -> bool | str:
    if not isinstance(payload, dict) or not isinstance(payload.get("typing"), bool):
        return INVALID_TYPING
    return bool(payload["typing"])


def parse_history(payload: Any) -> HistoryRequest | str:
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        return INVALID_HISTORY
    before = payload.get("before")
    limit = payload.get("limit", HISTORY_DEFAULT_LIMIT)
    if before is not None and not (_is_int(before) and 1 <= before <= SEQ_MAX):
        return INVALID_HISTORY
    if limit is None:
        limit = HISTORY_DEFAULT_LIMIT
    if not _is_int(limit) or limit < 1:
        return INVALID_HISTORY
    return HistoryRequest(before=before, limit=min(limit, HISTORY_MAX_LIMIT))
