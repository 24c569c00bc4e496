"""Questions asked at the same moment, answered together: the join's share of group commit.

A :class:`Batcher` is handed one function that answers a list of questions at once (one
query for all of them). Callers ``await batcher.ask(question)``; the batcher takes every
question waiting, answers them with one call, and then takes what arrived meanwhile. As with
the message writer, nothing waits for company: the first question of an idle batcher is
answered in the event loop's next turn (which also collects everything else asked in the
current one), and under load the batch grows to whatever waits while the previous one is
being answered, up to ``max_batch``.

Questions whose answers depend on each other (two claims of one ticket) name what they
touch (``keys``): a batch never holds two questions sharing a key, and of two such questions
the earlier one is answered first, in an earlier batch.

A failed batch never fails a question that would not have failed alone: when the failure is
the database's as a whole (unreachable, locked), each question of the batch gets that error,
as it would have alone; any other failure may be one question's doing, so each is asked
again on its own and gets its own answer or its own error. The batcher itself goes on.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

Q = TypeVar("Q")
A = TypeVar("A")

MAX_BATCH = 500
"""Questions answered by one call at most (a query's arrays stay small)."""


@dataclass(slots=True)
class _Asked(Generic[Q, A]):
    question: Q
    answer: asyncio.Future[A]


class Batcher(Generic[Q, A]):
    """See the module docstring. ``answer(questions)`` returns one answer per question, in
    order; ``is_outage(error)`` says whether its failure is one every question would meet
    alone; ``keys(question)``, when given, what a question must not share with another of
    its batch."""

    def __init__(
        self,
        name: str,
        answer: Callable[[Sequence[Q]], Awaitable[Sequence[A]]],
        *,
        is_outage: Callable[[BaseException], bool],
        keys: Callable[[Q], Iterable[Hashable]] | None = None,
        max_batch: int = MAX_BATCH,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.name = name
        self.max_batch = max_batch
        self._answer = answer
        self._is_outage = is_outage
        self._keys = keys
        self._waiting: collections.deque[_Asked[Q, A]] = collections.deque()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        """Calls of ``answer`` for a batch (asking again one by one after a failure not
        counted)."""
        self.asked = 0

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def busy(self) -> bool:
        """Whether questions are waiting or being answered."""
        return self._task is not None

    async def ask(self, question: Q) -> A:
        """The answer to ``question``, or the error answering it raised."""
        loop = asyncio.get_running_loop()
        asked: _Asked[Q, A] = _Asked(question, loop.create_future())
        self._waiting.append(asked)
        self.asked += 1
        if self._task is None:
            # The task's first turn comes after everything already due in this turn of the
            # loop, so the joins that arrived together are all waiting by then.
            self._task = loop.create_task(self._serve(), name=f"batcher {self.name}")
        return await asked.answer

    async def stop(self) -> None:
        """Wait until every question asked so far is answered."""
        task = self._task
        if task is not None:
            await asyncio.shield(task)

    async def _serve(self) -> None:
        try:
            while self._waiting:
                batch = self._take()
                if batch:
                    await self._settle(batch)
        finally:
            self._task = None
            # Cancelled (the loop is closing): nobody is left to answer what still waits.
            for asked in self._waiting:
                asked.answer.cancel()
            self._waiting.clear()

    def _take(self) -> list[_Asked[Q, A]]:
        """The next batch: the oldest questions, up to ``max_batch`` of them, leaving for
        later any that shares a key with one before it."""
        waiting = self._waiting
        if self._keys is None:
            count = min(self.max_batch, len(waiting))
            return [
                asked
                for asked in (waiting.popleft() for _ in range(count))
                if not asked.answer.done()  # (its asker gave up meanwhile)
            ]
        batch: list[_Asked[Q, A]] = []
        later: list[_Asked[Q, A]] = []
        touched: set[Hashable] = set()
        # At most max_batch questions looked at, so a crowd of conflicting ones costs each
        # batch a bounded scan.
        while waiting and len(batch) + len(later) < self.max_batch:
            asked = waiting.popleft()
            if asked.answer.done():
                continue
            keys = list(self._keys(asked.question))
            (batch if touched.isdisjoint(keys) else later).append(asked)
            touched.update(keys)
        waiting.extendleft(reversed(later))
        return batch

    async def _settle(self, batch: list[_Asked[Q, A]]) -> None:
        self.batches += 1
        try:
            answers = await self._answer([asked.question for asked in batch])
            if len(answers) != len(batch):
                raise RuntimeError(f"{len(batch)} {self.name} got {len(answers)} answers")
        except asyncio.CancelledError:
            for asked in batch:
                asked.answer.cancel()
            raise
        except Exception as error:
            if len(batch) == 1 or self._is_outage(error):
                for asked in batch:
                    _fail(asked.answer, error)
                return
            log.warning(
                "a batch of %d %s failed (%r): each is asked again alone",
                len(batch),
                self.name,
                error,
            )
            await asyncio.gather(*(self._alone(asked) for asked in batch))
            return
        for asked, answer in zip(batch, answers, strict=True):
            if not asked.answer.done():
                asked.answer.set_result(answer)

    async def _alone(self, asked: _Asked[Q, A]) -> None:
        if asked.answer.done():
            return
        try:
            [answer] = await self._answer([asked.question])
        except Exception as error:
            _fail(asked.answer, error)
        else:
            if not asked.answer.done():
                asked.answer.set_result(answer)


def _fail(future: asyncio.Future[A], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
