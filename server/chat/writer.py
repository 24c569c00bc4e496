"""Group commit: every message waiting at one moment, of every room, stored in one transaction.

Channels hand their posts to the node's :class:`MessageWriter` and go on reading. The writer
takes whatever is waiting, stores it with one transaction (a few statements however many
messages and rooms: :func:`server.db.messages.store_messages`), and only after the commit
calls each post's ``deliver`` — the ok reply, then the broadcast — in the order the posts
arrived, which is seq order within each room. While a batch commits the next one gathers,
so the batch grows with the load and nothing ever waits for company: an idle node commits
a lone message at once.

A failed commit fails its whole batch: every post of it gets an error, none is broadcast. A
batch that lost a race on PostgreSQL (the same ``client_id`` from two nodes, or two nodes
locking two rooms in opposite orders) is stored again from the start.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from server.clock import Clock
from server.db import messages as message_store
from server.db.database import Database, IntegrityError, TransactionConflict
from server.domain import DomainError, MessageDraft

log = logging.getLogger(__name__)

STORE_FAILED = "message not stored, please retry"
"""The reason a post gets when its batch could not be committed."""

Outcome = message_store.Outcome | str
"""A stored message, a domain refusal, or STORE_FAILED."""
Deliver = Callable[[Outcome], Awaitable[None]]


@dataclass(slots=True)
class _Post:
    draft: MessageDraft
    deliver: Deliver


class MessageWriter:
    """One per node; see the module docstring."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        max_batch: int = 1000,
        max_waiting: int = 20_000,
        attempts: int = 3,
    ) -> None:
        self._db = db
        self._clock = clock
        self.max_batch = max_batch
        self.max_waiting = max_waiting
        self._attempts = attempts
        self._waiting: collections.deque[_Post] = collections.deque()
        self._work = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.batches = 0
        self.stored = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="writer")

    async def stop(self) -> None:
        """Store and deliver everything already submitted, then stop."""
        self._stopping = True
        self._work.set()
        task, self._task = self._task, None
        if task is not None:
            await task

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def submit(self, draft: MessageDraft, deliver: Deliver) -> None:
        """Queue a post; ``deliver(outcome)`` is called once it is decided. Waits only while
        the node has ``max_waiting`` posts queued (so the posting connection stops being read
        and TCP slows its client down)."""
        while len(self._waiting) >= self.max_waiting:
            self._room.clear()
            await self._room.wait()
        self._waiting.append(_Post(draft, deliver))
        self._work.set()

    async def _run(self) -> None:
        while True:
            if not self._waiting:
                if self._stopping:
                    return
                self._work.clear()
                await self._work.wait()
                continue
            batch = [
                self._waiting.popleft() for _ in range(min(self.max_batch, len(self._waiting)))
            ]
            if len(self._waiting) < self.max_waiting:
                self._room.set()
            outcomes = await self._store([post.draft for post in batch])
            self.batches += 1
            for post, outcome in zip(batch, outcomes, strict=True):
                try:
                    await post.deliver(outcome)
                except Exception:
                    log.exception("delivering a stored message failed")

    async def _store(self, drafts: Sequence[MessageDraft]) -> list[Outcome]:
        for attempt in range(1, self._attempts + 1):
            try:
                async with self._db.write() as conn:
                    outcomes = await message_store.store_messages(
                        conn, drafts, now=self._clock.now()
                    )
            except (IntegrityError, TransactionConflict) as error:
                if attempt < self._attempts:
                    log.info("message batch lost a race (%s); storing it again", error)
                    continue
                log.error("message batch of %d not stored: %s", len(drafts), error)
            except Exception:
                log.exception("message batch of %d not stored", len(drafts))
            else:
                self.stored += sum(1 for o in outcomes if not isinstance(o, DomainError))
                return list(outcomes)
            break
        return [STORE_FAILED] * len(drafts)
