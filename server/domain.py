"""Plain data the service passes around, and the errors its rules raise.

Nothing here knows about HTTP or SQL: the db layer returns these dataclasses and raises these
errors, the API turns them into JSON, and the live chat uses them as they are.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

# Ids are canonical lower-case UUID strings (see schema.sql).
UserId = str
EventId = str
TicketId = str
RoomId = str
MessageId = str
NotificationId = str


def canonical_uuid(value: object) -> str | None:
    """The canonical lower-case form of a UUID string, or None if ``value`` is not one (any
    id a client sends, in a path, a body or a topic, goes through here)."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


class RoomStatus(StrEnum):
    INACTIVE = "inactive"
    ACTIVE = "active"
    ARCHIVED = "archived"


class NotificationStatus(StrEnum):
    UNREAD = "unread"
    READ = "read"


class NotificationKind(StrEnum):
    EVENT_UPDATED = "event_updated"
    ROOM_OPENED = "room_opened"
    EVENT_CANCELLED = "event_cancelled"
    REMOVED = "removed"
    """The organisers removed the user from the event's chat room."""
    REINSTATED = "reinstated"
    """The organisers undid the user's removal: they may join the room again."""


@dataclass(frozen=True, slots=True)
class User:
    id: UserId
    username: str
    email: str
    token_version: int
    inserted_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Credentials:
    """What sign in needs; the only dataclass that carries a password hash."""

    user_id: UserId
    password_hash: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ChatRoom:
    id: RoomId
    event_id: EventId
    status: RoomStatus
    last_seq: int
    activated_at: datetime | None
    archived_at: datetime | None
    slow_mode_seconds: int = 0
    moderation_version: int = 0


class AuthorRole(StrEnum):
    MEMBER = "member"
    ORGANISER = "organiser"


@dataclass(frozen=True, slots=True)
class Event:
    id: EventId
    name: str
    description: str
    location: str
    start_time: datetime
    end_time: datetime
    chat_room: ChatRoom
    inserted_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class NewEvent:
    name: str
    description: str
    location: str
    start_time: datetime
    end_time: datetime


@dataclass(frozen=True, slots=True)
class EventChanges:
    """A partial update: None leaves that field as it is (every event field is required)."""

    name: str | None = None
    description: str | None = None
    location: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class EventUpdate:
    event: Event
    changed_fields: frozenset[str]


@dataclass(frozen=True, slots=True)
class UserChanges:
    """A partial update of a user; a new password arrives already hashed."""

    username: str | None = None
    email: str | None = None
    password_hash: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Ticket:
    id: TicketId
    event_id: EventId
    ticket_number: str
    user_id: UserId | None
    used_at: datetime | None
    holder: User | None
    inserted_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ChatMessage:
    id: MessageId
    chat_room_id: RoomId
    user_id: UserId | None
    username: str
    content: str
    content_type: str
    seq: int
    client_id: str | None
    inserted_at: datetime
    author_role: AuthorRole = AuthorRole.MEMBER
    hidden: bool = False
    """Hidden by an organiser: served without its content."""


@dataclass(frozen=True, slots=True)
class MessageDraft:
    """A message to store; the database gives it its id, seq and time. An organiser's
    announcement has no ``user_id``; its ``username`` is the label the organisers chose."""

    chat_room_id: RoomId
    user_id: UserId | None
    username: str
    content: str
    content_type: str = "text"
    client_id: str | None = None
    author_role: AuthorRole = AuthorRole.MEMBER


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A stored message, and whether storing it created it (False: a retry of a
    ``client_id`` the sender already used returns the message stored the first time)."""

    message: ChatMessage
    created: bool


@dataclass(frozen=True, slots=True)
class Notification:
    id: NotificationId
    user_id: UserId
    event_id: EventId | None
    kind: str
    message: str
    status: NotificationStatus
    inserted_at: datetime


@dataclass(frozen=True, slots=True)
class NewNotification:
    user_id: UserId
    event_id: EventId | None
    kind: str
    message: str
    dedupe_key: str | None = None


# Control characters a message may hold: tab and line breaks. The others (C0, DEL, C1) have
# no business in a chat message, and each costs six bytes once JSON-escaped (\u0001), so a
# message of them would weigh six times its length in every history page.
_CONTROLS = frozenset(chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))) - {"\t", "\n", "\r"}


def is_readable_text(value: str) -> bool:
    """Whether ``value`` is storable text with no control characters but tab and newlines."""
    return is_storable_text(value) and _CONTROLS.isdisjoint(value)


# -- the organisers' moderation of a room ---------------------------------------------------

DEFAULT_ACTOR = "organiser"
"""Who the audit log names when the organisers' system sends no actor label."""


@dataclass(frozen=True, slots=True)
class Restriction:
    """A member muted (until ``ends_at``) or removed (``ends_at`` None) by an organiser."""

    user_id: UserId
    username: str
    kind: str
    ends_at: datetime | None
    reason: str | None
    actor: str
    since: datetime


MUTED = "muted"
REMOVED = "removed"


@dataclass(frozen=True, slots=True)
class HiddenMessage:
    message_id: MessageId
    seq: int
    reason: str | None
    actor: str
    hidden_at: datetime


@dataclass(frozen=True, slots=True)
class RoomModeration:
    """A room's moderation state as stored: what every node enforces from memory. Each
    action bumps ``version``, so a node can tell that its copy is older than the database."""

    event_id: EventId
    room_id: RoomId
    version: int
    slow_mode_seconds: int
    restrictions: tuple[Restriction, ...] = ()
    hidden: tuple[HiddenMessage, ...] = ()

    def mutes(self, now: datetime) -> list[Restriction]:
        """The mutes in force at ``now``."""
        return [
            r
            for r in self.restrictions
            if r.kind == MUTED and r.ends_at is not None and r.ends_at > now
        ]

    def removals(self) -> list[Restriction]:
        return [r for r in self.restrictions if r.kind == REMOVED]


@dataclass(frozen=True, slots=True)
class ModerationLogEntry:
    version: int
    action: str
    actor: str
    user_id: UserId | None
    message_id: MessageId | None
    details: Mapping[str, Any]
    inserted_at: datetime


# What an organiser's action changed, for the live side to tell the room.


@dataclass(frozen=True, slots=True)
class MemberMuted:
    user_id: UserId
    until: datetime | None
    """None: the mute was lifted."""


@dataclass(frozen=True, slots=True)
class MemberRemoved:
    user_id: UserId
    reason: str | None


@dataclass(frozen=True, slots=True)
class MemberReinstated:
    user_id: UserId


@dataclass(frozen=True, slots=True)
class SlowModeSet:
    seconds: int


@dataclass(frozen=True, slots=True)
class MessageHidden:
    message_id: MessageId
    seq: int


ModerationChange = MemberMuted | MemberRemoved | MemberReinstated | SlowModeSet | MessageHidden


def is_storable_text(value: str) -> bool:
    """Whether both databases can store ``value`` as TEXT.

    PostgreSQL rejects NUL characters, and neither driver can encode lone surrogates (which
    JSON's ``\\ud800`` escapes can produce); such input must be a validation error, not a crash.
    """
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class DomainError(Exception):
    """A rule of the service said no; the API maps each subclass to one status."""


class NotFound(DomainError):
    def __init__(self, what: str = "resource") -> None:
        super().__init__(f"{what} not found")
        self.what = what


class Forbidden(DomainError):
    def __init__(self) -> None:
        super().__init__("forbidden")


class Unauthorized(DomainError):
    def __init__(self) -> None:
        super().__init__("unauthorized")


class Conflict(DomainError):
    """The request is valid but the current state does not allow it (e.g. a taken ticket)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class RateLimited(DomainError):
    """Too many attempts from one account or address; the next may come in ``retry_after``
    seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited; retry after {retry_after:.1f}s")
        self.retry_after = retry_after


class Invalid(DomainError):
    """Per-field validation errors, shaped like Ecto's: ``{"field": ["message", ...]}``."""

    def __init__(self, errors: Mapping[str, Sequence[str]]) -> None:
        super().__init__(", ".join(f"{k}: {'; '.join(v)}" for k, v in errors.items()))
        self.errors: dict[str, list[str]] = {k: list(v) for k, v in errors.items()}

    @classmethod
    def field(cls, name: str, message: str) -> Invalid:
        return cls({name: [message]})


TAKEN = "has already been taken"
BLANK = "can't be blank"
INVALID = "is invalid"
DOES_NOT_EXIST = "does not exist"


SCHEDULE_FIELDS = frozenset({"start_time", "end_time"})
"""Event fields whose change moves its room's schedule."""
