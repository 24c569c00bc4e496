"""SQLAlchemy Core mirror of ``schema.sql`` (the canonical DDL).

Queries are built from these tables; the DDL itself always comes from schema.sql, and
tests/server/test_schema_sql.py checks that a database built from it matches these definitions.
"""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    text,
)

SCHEMA_VERSION = 1

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _id() -> Column[str]:
    return Column("id", Text, primary_key=True)


def _timestamp(name: str, *, nullable: bool = False) -> Column[object]:
    return Column(name, DateTime(), nullable=nullable)


schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    _timestamp("applied_at"),
)

users = Table(
    "users",
    metadata,
    _id(),
    Column("username", Text, nullable=False, unique=True),
    Column("email", Text, nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("token_version", Integer, nullable=False, server_default=text("0")),
    _timestamp("inserted_at"),
    _timestamp("updated_at"),
)

events = Table(
    "events",
    metadata,
    _id(),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("location", Text, nullable=False),
    _timestamp("start_time"),
    _timestamp("end_time"),
    _timestamp("inserted_at"),
    _timestamp("updated_at"),
    CheckConstraint("end_time > start_time", name="end_after_start"),
    Index(None, "start_time"),
)

tickets = Table(
    "tickets",
    metadata,
    _id(),
    Column("event_id", Text, ForeignKey("events.id", ondelete="CASCADE"), nullable=False),
    Column("ticket_number", Text, nullable=False, unique=True),
    Column("user_id", Text, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    _timestamp("used_at", nullable=True),
    _timestamp("inserted_at"),
    _timestamp("updated_at"),
    Index(None, "event_id", "user_id"),
    Index(None, "user_id"),
)

chat_rooms = Table(
    "chat_rooms",
    metadata,
    _id(),
    Column(
        "event_id",
        Text,
        ForeignKey("events.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    Column("status", Text, nullable=False, server_default=text("'inactive'")),
    Column("last_seq", Integer, nullable=False, server_default=text("0")),
    _timestamp("activated_at", nullable=True),
    _timestamp("archived_at", nullable=True),
    _timestamp("inserted_at"),
    _timestamp("updated_at"),
    CheckConstraint("status IN ('inactive', 'active', 'archived')", name="status"),
)

messages = Table(
    "messages",
    metadata,
    _id(),
    Column("chat_room_id", Text, ForeignKey("chat_rooms.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Text, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("username", Text, nullable=False),
    Column("content", Text, nullable=False),
    Column("content_type", Text, nullable=False, server_default=text("'text'")),
    Column("seq", Integer, nullable=False),
    Column("client_id", Text, nullable=True),
    _timestamp("inserted_at"),
    UniqueConstraint("chat_room_id", "seq"),
    UniqueConstraint("chat_room_id", "user_id", "client_id"),
    Index(None, "user_id"),
)

notifications = Table(
    "notifications",
    metadata,
    _id(),
    Column("user_id", Text, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("event_id", Text, ForeignKey("events.id", ondelete="CASCADE"), nullable=True),
    Column("kind", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("status", Text, nullable=False, server_default=text("'unread'")),
    Column("dedupe_key", Text, nullable=True),
    _timestamp("inserted_at"),
    UniqueConstraint("user_id", "dedupe_key"),
    CheckConstraint("status IN ('unread', 'read')", name="status"),
    Index(None, "user_id", "status"),
    Index(None, "event_id"),
)

revoked_tokens = Table(
    "revoked_tokens",
    metadata,
    Column("jti", Text, primary_key=True),
    Column("user_id", Text, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    _timestamp("expires_at"),
    _timestamp("revoked_at"),
    Index(None, "expires_at"),
    Index(None, "user_id"),
)
