"""Names of topics and socket ids, in one place so that producers and channels agree."""

from __future__ import annotations

from server.domain import EventId, UserId, canonical_uuid

EVENT_PREFIX = "event:"
USER_PREFIX = "user:"


def event_topic(event_id: EventId) -> str:
    return f"{EVENT_PREFIX}{event_id}"


def user_topic(user_id: UserId) -> str:
    return f"{USER_PREFIX}{user_id}"


def socket_id(user_id: UserId) -> str:
    return f"users_socket:{user_id}"


def id_from_topic(topic: str, prefix: str) -> str | None:
    """The id in ``<prefix><uuid>``, or None unless the uuid is written in its canonical
    form (lower case, with dashes). Every broadcast goes to the canonical topic, so an alias
    (``EVENT:…`` in upper case, without dashes, in braces, ``urn:uuid:``) would be a
    different topic: a room of its own that the real one never hears."""
    if not topic.startswith(prefix):
        return None
    raw = topic[len(prefix) :]
    return raw if canonical_uuid(raw) == raw else None
