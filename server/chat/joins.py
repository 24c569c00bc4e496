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
  replies (:class:`JoinMessages`). A room's latest page is also kept for the next batches
  (up to ``CACHED_PAGE_BYTES`` of them, the least recently joined forgotten first), and served
  again only while the room's :class:`~server.db.messages.PageMark` — its last seq, its
  moderation version, how many of the page's authors deleted their account — is what it
  was when the page was read: that mark is read for every batch, after the joins' relay
  windows opened, as the page itself would be. So a reply holds exactly what the
  database held when its batch asked, hidden messages and deleted authors included.
"""

from __future__ import annotations

import collections
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
from server.db.messages import Page, PageMark
from server.db.tickets import Claim
from server.domain import ChatMessage, EventId, UserId
from server.render import messages_within


@dataclasses.dataclass(frozen=True, slots=True)
class JoinMessages:
    """A page of messages as join replies carry it: encoded, as many of the newest as fit in
    a reply (``payloads.MAX_REPLY_BYTES``), whether older ones were left out for that
    (``cut``), and the seq of the oldest message the page read."""

    encoded: list[bytes]
    cut: bool
    oldest_seq: int | None

    @classmethod
    def of(cls, messages: list[ChatMessage]) -> JoinMessages:
        encoded, cut = messages_within(messages, payloads.MAX_REPLY_BYTES)
        return cls(encoded, cut, messages[0].seq if messages else None)

    @property
    def size(self) -> int:
        """Roughly the bytes it holds."""
        return sum(map(len, self.encoded)) + 64 * len(self.encoded) + 100


CACHED_PAGE_BYTES = 32 * 1024 * 1024
"""How much of the rooms' latest pages a node keeps between joins (a page of 50 short
messages takes about 20 KiB; one reply's worth, 512 KiB, at most)."""


class JoinQueries:
    """One per node: the joins' database work, batched (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        max_batch: int = MAX_BATCH,
        cached_page_bytes: int = CACHED_PAGE_BYTES,
    ) -> None:
        self._db = db
        self._clock = clock
        self._cached_page_bytes = cached_page_bytes
        self._pages: collections.OrderedDict[Page, tuple[PageMark, JoinMessages]] = (
            collections.OrderedDict()
        )
        self._kept_bytes = 0
        self.pages_read = 0
        """Pages read from the database (a page kept and still current is not read)."""
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
        latest = [page for page in distinct if page.after is None]
        answers: dict[Page, JoinMessages] = {}
        async with self._db.read() as conn:
            # The marks first: a page read after its mark is never older than the mark.
            marks = dict(zip(latest, await message_store.page_marks(conn, latest), strict=True))
            unread = []
            for page in distinct:
                kept = self._pages.get(page)
                if kept is not None and kept[0] == marks.get(page):
                    self._pages.move_to_end(page)
                    answers[page] = kept[1]
                else:
                    unread.append(page)
            found = await message_store.list_messages_many(conn, unread)
        self.pages_read += len(unread)
        for page, messages in zip(unread, found, strict=True):
            answer = answers[page] = JoinMessages.of(messages)
            mark = marks.get(page)
            if mark is not None:
                self._keep(page, mark, answer)
        return [answers[page] for page in pages]

    def _keep(self, page: Page, mark: PageMark, answer: JoinMessages) -> None:
        pages = self._pages
        replaced = pages.pop(page, None)
        if replaced is not None:
            self._kept_bytes -= replaced[1].size
        if answer.size > self._cached_page_bytes:
            return
        pages[page] = (mark, answer)
        self._kept_bytes += answer.size
        while self._kept_bytes > self._cached_page_bytes:
            _, (_, forgotten) = pages.popitem(last=False)
            self._kept_bytes -= forgotten.size
