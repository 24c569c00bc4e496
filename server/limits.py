"""The sizes the service accepts, in one place: the REST validators, the chat's checks of
client payloads and the OpenAPI document all read these names (the README lists them).
Lengths count characters unless a name says bytes."""

from __future__ import annotations

USERNAME_MAX_LENGTH = 50
EMAIL_MAX_LENGTH = 160
PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_BYTES = 72
"""bcrypt reads no further (and bcrypt 5 refuses longer input instead of truncating it)."""

EVENT_NAME_MAX_LENGTH = 200
EVENT_LOCATION_MAX_LENGTH = 200
EVENT_DESCRIPTION_MAX_LENGTH = 5000

TICKET_NUMBER_MAX_LENGTH = 100
"""For creating a ticket over REST and for joining a room with one: a number the chat
accepts is one that can exist."""

MESSAGE_MAX_LENGTH = 4000
"""A chat message, a member's or an organiser's announcement."""
CLIENT_ID_MAX_LENGTH = 100
"""A message's ``client_id``, the sender's key for retrying a post without a duplicate."""

HISTORY_DEFAULT_LIMIT = 50
"""Messages in a page of history (REST ``?limit=``, the chat's ``history``) unless asked."""
HISTORY_MAX_LIMIT = 100
"""The most messages a page of history holds, however many are asked for."""
LATEST_MESSAGES = 50
"""How many of the latest messages a plain join's reply carries."""
MAX_CATCH_UP = 200
"""At most this many missed messages in a rejoin's reply; beyond it the reply says
``more``."""
MAX_REPLY_BYTES = 512 * 1024
"""At most this many bytes of messages in one answer (a join's reply, a catch-up, a page of
history over the socket or REST): beyond it the answer holds fewer messages and the client
pages back. A page of long messages full of characters that JSON escapes would otherwise be
megabytes."""

SEQ_MAX = 2**31 - 1
"""The largest seq (or moderation version) a client may name in a query: INTEGER columns are
32-bit on PostgreSQL, so a larger number would be a driver error instead of no match."""

PARTICIPANTS_DEFAULT_LIMIT = 50
PARTICIPANTS_MAX_LIMIT = 200
"""Participants in a page of ``GET /api/events/:id/participants``."""

MUTE_MAX_SECONDS = 30 * 24 * 3600
"""A mute lasts at most 30 days (removing a member is for longer)."""
SLOW_MODE_MAX_SECONDS = 3600
MODERATION_ACTOR_MAX_LENGTH = 100
MODERATION_REASON_MAX_LENGTH = 500
MODERATION_LOG_DEFAULT_LIMIT = 50
MODERATION_LOG_MAX_LIMIT = 200
"""Entries in a page of a room's moderation audit log."""

MAX_FRAME_BYTES = 64 * 1024
"""The largest frame a socket accepts, a LongPoll POST's frames included (bigger ones close
a WebSocket with 1009, and get 413 over LongPoll). The largest legitimate one is a post of
MESSAGE_MAX_LENGTH characters: 16 KB of UTF-8 at most, 48 KB if a client escapes every
character as JSON's \\uXXXX pairs."""
MAX_FRAME_CONTAINERS = 100
"""JSON arrays and objects in one frame (phoenix.js's frames hold a handful); a frame with
more is refused before it is decoded, its connection closed with 1009."""
