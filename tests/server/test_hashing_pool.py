"""The bounded pool password hashes run in: workers, a short queue, nothing for a gone client.

Jobs here are functions that block on a ``threading.Event`` the test releases, so which job
runs when is decided by the test, not by how fast the machine is.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import pytest

from server.auth.hashing_pool import ClientGone, HashingPool, PoolBusy

WAIT = 5.0


class Job:
    """A job that says when it starts and finishes when released."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self) -> str:
        self.log.append(self.name)
        self.started.set()
        assert self.release.wait(WAIT), f"{self.name} never released"
        return self.name

    async def wait_started(self) -> None:
        assert await asyncio.to_thread(self.started.wait, WAIT), f"{self.name} never started"


@pytest.fixture
async def pool() -> AsyncIterator[HashingPool]:
    pool = HashingPool(workers=2, queue=2)
    yield pool
    pool.close()


async def queued() -> None:
    """Let tasks just created run to where they wait: their first step, which is one pass
    of the loop (they were scheduled before this task's wake-up)."""
    await asyncio.sleep(0)


async def test_workers_run_the_queue_waits_and_the_rest_is_refused(pool: HashingPool) -> None:
    log: list[str] = []
    jobs = {name: Job(name, log) for name in ("a", "b", "c", "d")}
    tasks = {name: asyncio.create_task(pool.run(job)) for name, job in jobs.items()}
    await jobs["a"].wait_started()
    await jobs["b"].wait_started()
    await queued()
    assert pool.waiting == 2
    assert (pool.running, pool.waiting) == (2, 2)

    with pytest.raises(PoolBusy) as busy:
        await pool.run(Job("e", log))
    assert busy.value.retry_after >= 1

    jobs["a"].release.set()
    assert await tasks["a"] == "a"
    await jobs["c"].wait_started()  # first in, first served
    for name in ("b", "c", "d"):
        jobs[name].release.set()
    assert [await tasks[name] for name in ("b", "c", "d")] == ["b", "c", "d"]
    assert log == ["a", "b", "c", "d"]
    assert (pool.running, pool.waiting, pool.hashed) == (0, 0, 4)


async def test_nothing_runs_for_a_client_that_left_while_queued(pool: HashingPool) -> None:
    log: list[str] = []
    a, b = Job("a", log), Job("b", log)
    running = [asyncio.create_task(pool.run(job)) for job in (a, b)]
    await a.wait_started()
    await b.wait_started()
    present = {"gone": True, "stays": True}
    gone = asyncio.create_task(pool.run(Job("gone", log), still_wanted=lambda: present["gone"]))
    stays_job = Job("stays", log)
    stays = asyncio.create_task(pool.run(stays_job, still_wanted=lambda: present["stays"]))
    await queued()
    assert pool.waiting == 2

    present["gone"] = False  # its client hangs up while it waits
    a.release.set()
    with pytest.raises(ClientGone):
        await gone
    await stays_job.wait_started()
    b.release.set()
    stays_job.release.set()
    assert await stays == "stays"
    assert [await task for task in running] == ["a", "b"]
    assert "gone" not in log


async def test_a_client_already_gone_is_not_even_queued(pool: HashingPool) -> None:
    with pytest.raises(ClientGone):
        await pool.run(Job("x", []), still_wanted=lambda: False)
    assert (pool.running, pool.waiting, pool.hashed) == (0, 0, 0)


async def test_gone_clients_make_room_in_a_full_queue(pool: HashingPool) -> None:
    log: list[str] = []
    a, b = Job("a", log), Job("b", log)
    running = [asyncio.create_task(pool.run(job)) for job in (a, b)]
    await a.wait_started()
    await b.wait_started()
    present = {"n": True}
    abandoned = [
        asyncio.create_task(pool.run(Job(f"q{n}", log), still_wanted=lambda: present["n"]))
        for n in range(2)
    ]
    await queued()
    assert pool.waiting == 2
    present["n"] = False
    newcomer_job = Job("newcomer", log)
    newcomer = asyncio.create_task(pool.run(newcomer_job))
    for task in abandoned:
        with pytest.raises(ClientGone):
            await task
    assert pool.waiting == 1
    a.release.set()
    await newcomer_job.wait_started()
    b.release.set()
    newcomer_job.release.set()
    assert await newcomer == "newcomer"
    await asyncio.gather(*running)
    assert log == ["a", "b", "newcomer"]


async def test_a_cancelled_request_keeps_its_worker_until_the_thread_is_done(
    pool: HashingPool,
) -> None:
    log: list[str] = []
    a, b, c = Job("a", log), Job("b", log), Job("c", log)
    task_a = asyncio.create_task(pool.run(a))
    task_b = asyncio.create_task(pool.run(b))
    await a.wait_started()
    await b.wait_started()
    task_c = asyncio.create_task(pool.run(c))
    await queued()
    assert pool.waiting == 1

    task_a.cancel()  # its thread keeps hashing: the slot stays taken
    with pytest.raises(asyncio.CancelledError):
        await task_a
    assert (pool.running, pool.waiting) == (2, 1)
    a.release.set()
    await c.wait_started()
    b.release.set()
    c.release.set()
    assert await task_b == "b"
    assert await task_c == "c"


async def test_a_cancelled_waiter_leaves_the_queue(pool: HashingPool) -> None:
    log: list[str] = []
    a, b = Job("a", log), Job("b", log)
    running = [asyncio.create_task(pool.run(job)) for job in (a, b)]
    await a.wait_started()
    await b.wait_started()
    waiter = asyncio.create_task(pool.run(Job("w", log)))
    await queued()
    assert pool.waiting == 1
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert pool.waiting == 0
    a.release.set()
    b.release.set()
    await asyncio.gather(*running)
    assert log == ["a", "b"]
    assert pool.running == 0
