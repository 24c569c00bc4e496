-- Version 1 -> 2: the organisers' moderation (slow mode, announcements, hidden messages, mutes
-- and removals, the audit log) and the outbox of the notification webhook.
--
-- Applied by server/db/schema.py in one transaction, under the start-up lock, only to a
-- database at version 1: it either runs whole or not at all. Everything it adds is also in
-- schema.sql, with the new columns at the end of their tables, so an upgraded database and a
-- new one have the same tables.

ALTER TABLE chat_rooms ADD COLUMN slow_mode_seconds INTEGER NOT NULL DEFAULT 0;
ALTER TABLE chat_rooms ADD COLUMN moderation_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN author_role TEXT NOT NULL DEFAULT 'member'
    CONSTRAINT ck_messages_author_role CHECK (author_role IN ('member', 'organiser'));

-- An announcement retried with the same client_id is stored once (a member's client_ids are
-- kept apart by uq_messages_chat_room_id_user_id_client_id; an announcement has no user_id).
CREATE UNIQUE INDEX IF NOT EXISTS uq_messages_chat_room_id_client_id_organiser
    ON messages (chat_room_id, client_id) WHERE author_role = 'organiser';

-- Messages an organiser hid: history and catch-up serve them without their content (the seq
-- stays, so clients see no gap). The content itself stays in messages, for the record.
CREATE TABLE IF NOT EXISTS hidden_messages (
    chat_room_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT,
    hidden_at TIMESTAMP NOT NULL,
    CONSTRAINT pk_hidden_messages PRIMARY KEY (chat_room_id, seq),
    CONSTRAINT uq_hidden_messages_message_id UNIQUE (message_id),
    CONSTRAINT fk_hidden_messages_message_id_messages FOREIGN KEY (message_id)
        REFERENCES messages (id) ON DELETE CASCADE
);

-- What organisers imposed on a member of a room: 'muted' until ends_at, or 'removed' (ends_at
-- NULL: until reinstated). Lifting one deletes its row; moderation_log keeps the story.
CREATE TABLE IF NOT EXISTS room_restrictions (
    chat_room_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    ends_at TIMESTAMP,
    reason TEXT,
    actor TEXT NOT NULL,
    inserted_at TIMESTAMP NOT NULL,
    CONSTRAINT pk_room_restrictions PRIMARY KEY (chat_room_id, user_id, kind),
    CONSTRAINT fk_room_restrictions_chat_room_id_chat_rooms FOREIGN KEY (chat_room_id)
        REFERENCES chat_rooms (id) ON DELETE CASCADE,
    CONSTRAINT fk_room_restrictions_user_id_users FOREIGN KEY (user_id)
        REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT ck_room_restrictions_kind CHECK (kind IN ('muted', 'removed'))
);

CREATE INDEX IF NOT EXISTS ix_room_restrictions_user_id ON room_restrictions (user_id);

-- Every moderation action that changed something: who (the actor label the organisers' system
-- sent), when, what. Numbered per room by chat_rooms.moderation_version. user_id and
-- message_id have no foreign key: the log outlives the accounts and messages it names.
CREATE TABLE IF NOT EXISTS moderation_log (
    chat_room_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    action TEXT NOT NULL,
    actor TEXT NOT NULL,
    user_id TEXT,
    message_id TEXT,
    -- A JSON object: the action's parameters (duration, reason, seq, ...).
    details TEXT NOT NULL,
    inserted_at TIMESTAMP NOT NULL,
    CONSTRAINT pk_moderation_log PRIMARY KEY (chat_room_id, version),
    CONSTRAINT fk_moderation_log_chat_room_id_chat_rooms FOREIGN KEY (chat_room_id)
        REFERENCES chat_rooms (id) ON DELETE CASCADE
);

-- Notifications on their way to the operator's webhook (only while one is configured): queued
-- in the transaction that stores the notification, deleted once the receiver acknowledged it.
-- No foreign key: what was promised is delivered even if the notification is gone meanwhile.
CREATE TABLE IF NOT EXISTS webhook_outbox (
    -- The notification's id, which the receiver also gets as the idempotency key.
    notification_id TEXT NOT NULL,
    -- The JSON body, fixed when queued: every attempt sends the same bytes.
    body TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    last_error TEXT,
    inserted_at TIMESTAMP NOT NULL,
    CONSTRAINT pk_webhook_outbox PRIMARY KEY (notification_id)
);

CREATE INDEX IF NOT EXISTS ix_webhook_outbox_next_attempt_at ON webhook_outbox (next_attempt_at);

INSERT INTO schema_version (version, applied_at) VALUES (2, CURRENT_TIMESTAMP)
    ON CONFLICT DO NOTHING;
