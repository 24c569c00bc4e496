"""The batcher behind the joins: what is asked together is answered by one call, a lone
question waits for nobody, batches are bounded, questions that touch the same thing go one
after the other, and a failed batch fails no question that would not have failed alone."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from server.chat.batching import Batcher


class Answers:
    """Answers questions (strings) with their upper case; records each call. A question
    "bad" makes any call holding it fail."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    async def __call__(self, questions: Sequence[str]) -> list[str]:
        self.calls.append(list(questions))
        await asyncio.sleep(0)  # a query's round trip: others may ask meanwhile
        if "bad" in questions:
            raise ValueError("bad question")
        return [question.upper() for question in questions]


def never_an_outage(error: BaseException) -> bool:
    return False


async def test_what_is_asked_together_is_answered_by_one_call_in_order() -> None:
    answers = Answers()
    batcher = Batcher("test", answers, is_outage=never_an_outage)
    assert await asyncio.gather(*(batcher.ask(q) for q in "abcde")) == list("ABCDE")
    assert answers.calls == [list("abcde")]
    assert await batcher.ask("f") == "F"
    assert answers.calls == [list("abcde"), ["f"]]
    assert (batcher.batches, batcher.asked, batcher.busy) == (2, 6, False)


async def test_a_lone_question_is_answered_in_the_loops_next_turns() -> None:
    answers = Answers()
    batcher = Batcher("test", answers, is_outage=never_an_outage)
    asked = asyncio.ensure_future(batcher.ask("a"))
    # The asker's turn, the batcher's, the answer's round trip, the asker's again: no timer
    # anywhere on the way.
    for _ in range(4):
        await asyncio.sleep(0)
    assert asked.done() and asked.result() == "A"


async def test_what_arrives_during_a_batch_is_the_next_batch() -> None:
    answers = Answers()
    batcher = Batcher("test", answers, is_outage=never_an_outage)
    first = asyncio.ensure_future(batcher.ask("a"))
    await asyncio.sleep(0)  # the batch of "a" is being answered
    later = [asyncio.ensure_future(batcher.ask(q)) for q in "bc"]
    assert await asyncio.gather(first, *later) == ["A", "B", "C"]
    assert answers.calls == [["a"], ["b", "c"]]


async def test_a_batch_holds_at_most_max_batch_questions() -> None:
    answers = Answers()
    batcher = Batcher("test", answers, is_outage=never_an_outage, max_batch=2)
    assert await asyncio.gather(*(batcher.ask(q) for q in "abcde")) == list("ABCDE")
    assert answers.calls == [["a", "b"], ["c", "d"], ["e"]]
    with pytest.raises(ValueError):
        Batcher("test", answers, is_outage=never_an_outage, max_batch=0)


async def test_questions_sharing_a_key_are_answered_one_after_the_other_in_order() -> None:
    answers = Answers()
    # The key is the question's first letter: "x1" and "x2" touch the same thing.
    batcher = Batcher("test", answers, is_outage=never_an_outage, keys=lambda q: (q[0],))
    questions = ["x1", "y1", "x2", "z1", "x3", "y2"]
    assert await asyncio.gather(*(batcher.ask(q) for q in questions)) == [
        q.upper() for q in questions
    ]
    assert answers.calls == [["x1", "y1", "z1"], ["x2", "y2"], ["x3"]]


async def test_a_failed_batch_asks_each_question_again_alone() -> None:
    answers = Answers()
    batcher = Batcher("test", answers, is_outage=never_an_outage)
    results = await asyncio.gather(
        *(batcher.ask(q) for q in ("a", "bad", "c")), return_exceptions=True
    )
    assert results[0] == "A" and results[2] == "C"
    assert isinstance(results[1], ValueError)
    assert answers.calls == [["a", "bad", "c"], ["a"], ["bad"], ["c"]]
    # The batcher goes on.
    assert await batcher.ask("d") == "D"


async def test_an_outage_fails_every_question_of_the_batch_with_its_error() -> None:
    answers = Answers()
    batcher = Batcher("test", answers, is_outage=lambda error: True)
    results = await asyncio.gather(
        *(batcher.ask(q) for q in ("a", "bad", "c")), return_exceptions=True
    )
    assert all(isinstance(result, ValueError) for result in results)
    assert answers.calls == [["a", "bad", "c"]]  # nobody asked again: all would fail alike
    assert await batcher.ask("d") == "D"


async def test_a_question_whose_asker_gave_up_is_left_out() -> None:
    answers = Answers()
    batcher = Batcher("test", answers, is_outage=never_an_outage)
    first = asyncio.ensure_future(batcher.ask("a"))
    await asyncio.sleep(0)  # "a" is being answered
    gone = asyncio.ensure_future(batcher.ask("b"))
    kept = asyncio.ensure_future(batcher.ask("c"))
    await asyncio.sleep(0)
    gone.cancel()
    assert await asyncio.gather(first, kept) == ["A", "C"]
    assert answers.calls == [["a"], ["c"]]
    await batcher.stop()
    assert not batcher.busy


async def test_a_wrong_count_of_answers_is_a_failure_not_a_hang() -> None:
    async def one_answer_short(questions: Sequence[str]) -> list[str]:
        return [q.upper() for q in questions][1:]

    batcher = Batcher("test", one_answer_short, is_outage=never_an_outage)
    results = await asyncio.gather(*(batcher.ask(q) for q in "ab"), return_exceptions=True)
    assert all(isinstance(result, Exception) for result in results)
    assert not batcher.busy
