"""The database work of joins that arrive together, done together.

A join of ``event:<id>`` asks three things of the database: its facts (the room, the user's
name, whether the user already joined with a ticket), for a first join a ticket claim, and
the messages of its reply. Each is a :class:`~server.chat.batching.Batcher` here: every join
waiting at that step is answered by one query (``server.db``'s ``…_many`` functions), so a
burst of joins (a node restarted, a venue's doors opening) costs a few queries per batch
instead of a few per join, and one round trip to PostgreSQL each. A lone join is answered in
the loop's next turn, as before.

* **Facts**: the ``(event, user)`` pairs in, one row each out.
* **Claims**: at most one claim per ticket and per user of an event in a batch (a second
  one waits for the next batch and then sees what the first did), so each claim is decided
  exactly as a claim on its own: a ticket is claimed once, and refusals are the same.
* **Messages**: each room's latest messages (or those after a rejoin's seq) once per batch,
  however many of the batch join that room, read and encoded once and shared by their
  replies (:class:`JoinMessages`). Nothing is kept across batches: a reply holds what the
  database held when its batch read it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from server.chat import payloads
from server.chat.batching import MAX_BATCH, Batcher
from server.clock import Clock
from server.db import chat as chat_store
from server.db import messages as message_store
from server.db import tickets as ticket_store
from server.db.chat import JoinFacts
from server.db.database import Database, is_outage
from server.db.messages import Page
from server.db.tickets import Claim
from server.domain import ChatMessage, EventId, UserId
from server.render import messages_within


@dataclasses.dataclass(slots=True)
class JoinMessages:
    """The messages of a page, oldest first, shared by every join of the batch that asked for
    the same page; encoded for a reply the first time one needs it."""

    messages: list[ChatMessage]
    _encoded: tuple[list[bytes], bool] | None = None

    def encoded(self) -> tuple[list[bytes], bool]:
        """The messages as JSON, as many of the newest as fit in a reply
        (``payloads.MAX_REPLY_BYTES``), and whether older ones were left out."""
        if self._encoded is None:
            self._encoded = messages_within(self.messages, payloads.MAX_REPLY_BYTES)
        return self._encoded


class JoinQueries:
    """One per node: the joins' database work, batched (see the module docstring)."""

    def __init__(self, db: Database, clock: Clock, *, max_batch: int = MAX_BATCH) -> None:
        self._db = db
        self._clock = clock
        self.facts_batcher: Batcher[tuple[EventId, UserId], JoinFacts | None] = Batcher(
            "join facts", self._facts, is_outage=is_outage, max_batch=max_batch
        )
        self.claims_batcher: Batcher[Claim, bool] = Batcher(
            "ticket claims",
            self._claims,
            is_outage=is_outage,
            keys=ticket_store.claim_keys,
            max_batch=max_batch,
        )
        self.messages_batcher: Batcher[Page, JoinMessages] = Batcher(
            "join messages", self._messages, is_outage=is_outage, max_batch=max_batch
        )

    async def facts(self, event_id: EventId, user_id: UserId) -> JoinFacts | None:
        """The event's room and the user's standing; None when there is no such event."""
        return await self.facts_batcher.ask((event_id, user_id))

    async def claim(self, claim: Claim) -> bool:
        """Whether the claim succeeded (``server.db.tickets.claim_tickets``)."""
        return await self.claims_batcher.ask(claim)

    async def messages(self, page: Page) -> JoinMessages:
        return await self.messages_batcher.ask(page)

    async def stop(self) -> None:
        """Answer every join already asking (before the database closes)."""
        batchers = (self.facts_batcher, self.claims_batcher, self.messages_batcher)
        # A join answered at one step may ask at the next meanwhile: until all are idle.
        while any(batcher.busy for batcher in batchers):
            for batcher in batchers:
                await batcher.stop()

    # ------------------------------------------------------------ the batches

    async def _facts(self, pairs: Sequence[tuple[EventId, UserId]]) -> list[JoinFacts | None]:
        async with self._db.read() as conn:
            return await chat_store.join_facts_many(conn, pairs)

    async def _claims(self, claims: Sequence[Claim]) -> list[bool]:
        # Single statements each (a transaction of its own on SQLite): no BEGIN and COMMIT
        # round trips around them.
        async with self._db.autocommit() as conn:
            return await ticket_store.claim_tickets(conn, claims, now=self._clock.now())

    async def _messages(self, pages: Sequence[Page]) -> list[JoinMessages]:
        distinct = list(dict.fromkeys(pages))
        async with self._db.read() as conn:
            found = await message_store.list_messages_many(conn, distinct)
        shared = {
            page: JoinMessages(messages) for page, messages in zip(distinct, found, strict=True)
        }
        return [shared[page] for page in pages]
