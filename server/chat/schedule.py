"""The rooms' schedule: ``inactive`` → ``active`` at start - 2 h → ``archived`` at the end.

Nothing is kept in memory but a wake-up time. Each pass asks the database which rooms' status
differs from what their event's times say at the clock's ``now`` and takes each step with a
conditional UPDATE (``WHERE status = <what we saw>``). So:

* a restart catches up on whatever came due while it was down, once (the first pass);
* two timers or two nodes racing for a step: one UPDATE wins, and only the winner broadcasts
  ``room_status`` and stores the opening's notifications, in the step's transaction, with a
  dedupe key that makes them at-most-once per holder even so;
* a moved event is re-planned by simply running a pass (steps back included) and waking the
  loop, whose next wake-up is recomputed from the database.

In cluster mode (``cluster=True``) a pass runs under a PostgreSQL advisory lock, so the
nodes' timers do not all read and race for the same steps: a timer that finds another
node's pass running skips its own (that pass takes the steps), while a pass asked for by a
REST call waits its turn, so that the room is in step when the call returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from server.chat.alarm import sleep_until_woken
from server.chat.announce import Announcer
from server.clock import Clock
from server.db import chat as chat_store
from server.db import notifications as notification_store
from server.db.database import Database
from server.db.locks import ROOM_SCHEDULE, exclusive
from server.domain import Notification, NotificationKind, RoomStatus

log = logging.getLogger(__name__)

ACTIVATION_LEAD = timedelta(hours=2)
RETRY_AFTER = timedelta(seconds=5)


def opening_notice(event_name: str) -> str:
    return f"The chat for {event_name} is open"


def opening_dedupe_key(room_id: str) -> str:
    return f"room_opened:{room_id}"


class RoomScheduler:
    def __init__(
        self, clock: Clock, announcer: Announcer, *, webhook: bool = False, cluster: bool = False
    ) -> None:
        self._clock = clock
        self._cluster = cluster
        self._announcer = announcer
        self._webhook = webhook
        """Queue the opening's notifications for the operator's webhook too."""
        self._db: Database | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pass_lock = asyncio.Lock()

    # ----------------------------------------------------------- lifecycle

    async def start(self, db: Database) -> None:
        """Catch up (awaited, so the app serves nothing stale), then keep time."""
        self._db = db
        await self.run_due()
        self._task = asyncio.get_running_loop().create_task(self._keep_time())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def wake(self) -> None:
        """Recompute the next wake-up (an event was created or moved)."""
        self._wake.set()

    # --------------------------------------------------------------- steps

    async def run_due(self, *, wait: bool = True) -> int:
        """Take every step that is due at ``now``; returns how many this node took. In
        cluster mode, without ``wait`` nothing is done while another node runs a pass."""
        db = self._require_db()
        # One pass at a time on this node; other nodes are kept apart by the UPDATEs.
        async with self._pass_lock:
            if not self._cluster:
                return await self._pass(db)
            async with exclusive(db, ROOM_SCHEDULE, wait=wait) as mine:
                return await self._pass(db) if mine else 0

    async def _pass(self, db: Database) -> int:
        now = self._clock.now()
        async with db.read() as conn:
            steps = await chat_store.rooms_out_of_step(conn, now=now, lead=ACTIVATION_LEAD)
        taken = 0
        for step in steps:
            notified: list[Notification] = []
            async with db.write() as conn:
                if not await chat_store.take_room_step(conn, step, now=now):
                    continue  # another timer or node took it
                if step.target is RoomStatus.ACTIVE:
                    notified = await notification_store.notify_event_holders(
                        conn,
                        event_id=step.event_id,
                        kind=NotificationKind.ROOM_OPENED.value,
                        message=opening_notice(step.event_name),
                        dedupe_key=opening_dedupe_key(step.room_id),
                        now=now,
                        webhook=self._webhook,
                    )
            taken += 1
            log.info(
                "room %s of event %s: %s -> %s",
                step.room_id,
                step.event_id,
                step.current.value,
                step.target.value,
            )
            # After the commit: never announce what could still roll back.
            await self._announcer.room_status(step.event_id, step.target)
            if notified:
                await self._announcer.notifications(notified)
        return taken

    async def next_step_time(self) -> datetime | None:
        async with self._require_db().read() as conn:
            return await chat_store.next_step_time(
                conn, now=self._clock.now(), lead=ACTIVATION_LEAD
            )

    # ---------------------------------------------------------------- loop

    async def _keep_time(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.run_due(wait=False)
                due = await self.next_step_time()
            except Exception:
                log.exception("room schedule pass failed; retrying")
                due = self._clock.now() + RETRY_AFTER
            # A minute at most: events created or moved through another node (or through
            # REST here, which has no hook into this loop) are noticed within it.
            await sleep_until_woken(self._clock, due, self._wake)

    def _require_db(self) -> Database:
        if self._db is None:
            raise RuntimeError("the room scheduler has not been started")
        return self._db
