"""Drive the real phoenix.js clients (npm ``phoenix`` 1.7 and 1.8, unmodified) from tests.

One Node process (``tests/js/driver.mjs``) hosts any number of named clients. Python sends
it one JSON command per line and reads back answers and asynchronous events::

    async with PhoenixJS.start() as js:
        alice = await js.connect(url, version="1.8", params={"token": "good-token"})
        joined = await alice.join("room:lobby", {"hi": 1})
        assert joined["status"] == "ok"
        reply = await alice.push("room:lobby", "ping", {"n": 1})
        assert reply["response"] == {"n": 1}
        await alice.expect(event="message", topic="room:lobby", name="shout")

Events (``{"event": ..., "client": ...}``), in arrival order in :attr:`PhoenixJS.events`:

* ``ready`` {versions} once at start; ``open`` {transport}; ``close`` {code, reason,
  wasClean, transport} (the socket's onClose); ``error`` {error, transport} (onError).
* ``join`` {topic, status: ok|error|timeout, response | response_b64, join_ref}: every join
  reply, rejoins included.
* ``reply`` {id, topic, name, status: ok|error|timeout, response | response_b64}: the reply to
  the ``push`` command with that ``id``.
* ``leave`` {topic, status: ok|timeout, response}: the reply to a ``leave``.
* ``message`` {topic, name, payload | payload_b64, join_ref}: every application message the
  channel receives (pushes, broadcasts, presence_state/diff); ``name`` is the Phoenix event
  name (``event`` is taken by the stream itself).
* ``channel_error`` {topic, reason} (phx_error from the server, or the socket dropped) and
  ``channel_close`` {topic}.
* ``presence_sync`` {topic, list: {key: metas}}, ``presence_join`` / ``presence_leave``
  {topic, key, current, metas}: from phoenix.js's own ``Presence`` on the channel.
* ``frame`` {join_ref, ref, topic, name, payload | payload_b64}: every inbound message, only
  for clients connected with ``frames=True``.

Waiting is event driven: :meth:`PhoenixJS.expect` returns as soon as a matching event is
there; its timeout only bounds a failure. It consumes the event it returns, as ExUnit's
``assert_receive`` does, so two ``expect`` calls with the same pattern see two events.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from examples.twin import create_app
from phxpy import ENDPOINT, Endpoint

JS_DIR = Path(__file__).resolve().parent / "js"
DRIVER = JS_DIR / "driver.mjs"
VERSIONS = ("1.7", "1.8")
"""The phoenix.js lines the driver carries (npm aliases phoenix17 and phoenix18)."""

DEFAULT_WAIT = 5.0
"""Seconds an ``expect`` waits before failing. Only a failing test ever waits this long."""

Event = dict[str, Any]
Predicate = Callable[[Event], bool]


class DriverError(Exception):
    """The driver answered a command with ``ok: false``, or died."""


def missing_reason() -> str | None:
    """Why the phoenix.js tests cannot run here, or None when they can."""
    if shutil.which("node") is None:
        return "node is not installed (the phoenix.js tests need Node 20+)"
    if not (JS_DIR / "node_modules" / "phoenix18").is_dir():
        return "tests/js/node_modules is missing: run `make setup` (npm ci in tests/js)"
    return None


def ws_url(base: Any, path: str = "/socket") -> str:
    """``ws://host:port/socket`` for an aiohttp ``TestServer`` (or an ``http://`` URL).

    phoenix.js appends ``/websocket`` itself, and LongPoll turns ``ws`` into ``http``."""
    make_url = getattr(base, "make_url", None)
    url = str(make_url(path)) if make_url is not None else str(base).rstrip("/") + path
    if url.startswith("https://"):
        return "wss://" + url.removeprefix("https://")
    return "ws://" + url.removeprefix("http://")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def binary(event: Event, field: str = "payload") -> bytes:
    """The bytes of a binary payload/response in an event (sent as ``<field>_b64``)."""
    value = event.get(f"{field}_b64")
    if value is None:
        raise AssertionError(f"{field} of {event!r} is not binary")
    return base64.b64decode(value)


def matcher(pred: Predicate | None, fields: Mapping[str, Any]) -> Predicate:
    """``pred`` and every ``field == value`` must hold."""

    def match(event: Event) -> bool:
        if any(event.get(key, _MISSING) != value for key, value in fields.items()):
            return False
        return pred is None or pred(event)

    return match


_MISSING = object()


class PhoenixJS:
    """The Python end of the Node driver. Create with :meth:`start`."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.events: list[Event] = []
        """Every event so far, in arrival order. Never trimmed; ``expect`` only marks."""
        self.versions: dict[str, str] = {}
        """The exact npm versions behind "1.7" and "1.8"."""
        self.stderr: deque[str] = deque(maxlen=200)
        self._consumed: set[int] = set()
        self._pending: dict[int, asyncio.Future[Event]] = {}
        self._ids = itertools.count(1)
        self._client_ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._closed = False
        self._tasks = [
            asyncio.create_task(self._read_stdout()),
            asyncio.create_task(self._read_stderr()),
        ]

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    @asynccontextmanager
    async def start(cls, *, wait: float = 20.0) -> AsyncIterator[PhoenixJS]:
        """Start the driver, wait for it to be ready, and stop it (and every client) after."""
        process = await asyncio.create_subprocess_exec(
            "node",
            str(DRIVER),
            cwd=str(JS_DIR),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            # Binary payloads travel base64-encoded on one line: allow big lines.
            limit=64 * 1024 * 1024,
            env={**os.environ, "NODE_NO_WARNINGS": "1"},
        )
        js = cls(process)
        try:
            ready = await js.expect(event="ready", timeout=wait)
            js.versions = dict(ready["versions"])
            yield js
        finally:
            await js.close()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.process.returncode is None:
            with suppress(DriverError, TimeoutError, ConnectionError):
                await asyncio.wait_for(self.command("quit"), 5)
            try:
                await asyncio.wait_for(self.process.wait(), 5)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        try:
            while line := await self.process.stdout.readline():
                message: Event = json.loads(line)
                if "event" in message:
                    async with self._changed:
                        self.events.append(message)
                        self._changed.notify_all()
                else:
                    future = self._pending.pop(message.get("id") or 0, None)
                    if future is not None and not future.done():
                        future.set_result(message)
        finally:
            error = DriverError(f"the phoenix.js driver exited; stderr:\n{self.stderr_tail()}")
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(error)
            self._pending.clear()
            async with self._changed:
                self._changed.notify_all()

    async def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        while line := await self.process.stderr.readline():
            self.stderr.append(line.decode(errors="replace").rstrip())

    def stderr_tail(self, lines: int = 40) -> str:
        return "\n".join(list(self.stderr)[-lines:])

    # ------------------------------------------------------------------- commands

    async def command(self, cmd: str, **fields: Any) -> Event:
        """Send one command and return its answer; raise :class:`DriverError` on ``ok:
        false``. Commands answer at once (``disconnect``/``forget`` once the socket closed);
        their consequences arrive later as events."""
        ident = next(self._ids)
        future: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._pending[ident] = future
        line = json.dumps({"id": ident, "cmd": cmd, **fields}) + "\n"
        stdin = self.process.stdin
        if stdin is None or self.process.returncode is not None:
            raise DriverError(
                f"the phoenix.js driver is not running; stderr:\n{self.stderr_tail()}"
            )
        stdin.write(line.encode())
        await stdin.drain()
        answer = await asyncio.wait_for(future, DEFAULT_WAIT)
        if not answer.get("ok"):
            raise DriverError(f"{cmd} failed: {answer.get('error')}")
        return answer

    async def connect(
        self,
        url: str,
        *,
        version: str = "1.8",
        client: str | None = None,
        params: Mapping[str, Any] | None = None,
        auth_token: str | None = None,
        transport: str = "websocket",
        wait_open: bool = True,
        **options: Any,
    ) -> Client:
        """Create a phoenix.js ``Socket`` and call ``connect()``; by default wait for
        ``open``. ``options`` pass straight to the driver's ``connect`` command:
        ``timeout``, ``heartbeatIntervalMs``, ``longpollerTimeout``, ``longPollFallbackMs``,
        ``reconnectAfterMs`` / ``rejoinAfterMs`` (lists of ms; the last repeats), ``vsn``,
        ``session_storage`` (clients naming the same store share a sessionStorage, like two
        page loads in one tab), ``frames=True`` (stream every inbound message), ``debug=True``
        (phoenix.js's logger to the driver's stderr), ``origin`` (send this ``Origin``, as a
        page served from it would; by default Node sends none), ``options`` (any other
        Socket option)."""
        name = client if client is not None else f"c{next(self._client_ids)}"
        mark = self.mark()
        await self.command(
            "connect",
            client=name,
            url=url,
            version=version,
            params=dict(params or {}),
            authToken=auth_token,
            transport=transport,
            **options,
        )
        handle = Client(self, name, version)
        if wait_open:
            await handle.expect(event="open", since=mark)
        return handle

    # ------------------------------------------------------------------ events

    def mark(self) -> int:
        """A position in :attr:`events`, for ``since=`` and :meth:`events_since`."""
        return len(self.events)

    def events_since(self, mark: int, pred: Predicate | None = None, **fields: Any) -> list[Event]:
        """Events after ``mark`` that match (consumed or not); does not consume."""
        match = matcher(pred, fields)
        return [event for event in self.events[mark:] if match(event)]

    def _take(self, match: Predicate, since: int) -> Event | None:
        for index in range(since, len(self.events)):
            if index not in self._consumed and match(self.events[index]):
                self._consumed.add(index)
                return self.events[index]
        return None

    async def expect(
        self,
        pred: Predicate | None = None,
        *,
        since: int = 0,
        timeout: float = DEFAULT_WAIT,
        **fields: Any,
    ) -> Event:
        """Return (and consume) the first not yet consumed event after ``since`` for which
        ``pred`` and every ``field=value`` hold, waiting up to ``timeout`` for it."""
        match = matcher(pred, fields)
        try:
            async with asyncio.timeout(timeout):
                async with self._changed:
                    while True:
                        event = self._take(match, since)
                        if event is not None:
                            return event
                        if self.process.returncode is not None and self._tasks[0].done():
                            raise DriverError("the phoenix.js driver exited")
                        await self._changed.wait()
        except (TimeoutError, DriverError) as exc:
            described = ", ".join(f"{k}={v!r}" for k, v in fields.items())
            recent = "\n  ".join(
                json.dumps(e) for e in self.events[max(since, len(self.events) - 30) :]
            )
            raise AssertionError(
                f"no event matching ({described}{', pred' if pred else ''}) within {timeout}s"
                f" ({type(exc).__name__}); events since {since}:\n  {recent}\n"
                f"driver stderr:\n{self.stderr_tail()}"
            ) from None

    async def expect_all(
        self, preds: Iterable[Predicate], *, since: int = 0, timeout: float = DEFAULT_WAIT
    ) -> list[Event]:
        """One event per predicate, in any arrival order."""
        return [await self.expect(pred, since=since, timeout=timeout) for pred in preds]


class Client:
    """One phoenix.js ``Socket`` in the driver, with its channels keyed by topic."""

    def __init__(self, js: PhoenixJS, name: str, version: str) -> None:
        self.js = js
        self.name = name
        self.version = version

    def __repr__(self) -> str:
        return f"<phoenix.js {self.version} client {self.name}>"

    async def command(self, cmd: str, **fields: Any) -> Event:
        return await self.js.command(cmd, client=self.name, **fields)

    async def expect(
        self,
        pred: Predicate | None = None,
        *,
        since: int = 0,
        timeout: float = DEFAULT_WAIT,
        **fields: Any,
    ) -> Event:
        """:meth:`PhoenixJS.expect` restricted to this client's events."""
        return await self.js.expect(pred, since=since, timeout=timeout, client=self.name, **fields)

    def events_since(self, mark: int, pred: Predicate | None = None, **fields: Any) -> list[Event]:
        return self.js.events_since(mark, pred, client=self.name, **fields)

    async def join(
        self,
        topic: str,
        payload: Mapping[str, Any] | None = None,
        *,
        dynamic_key: str | None = None,
        dynamic_value: Any = None,
        presence: bool = False,
        timeout_ms: int | None = None,
        wait: float = DEFAULT_WAIT,
    ) -> Event:
        """``socket.channel(topic, params).join()``; return the first ``join`` event (any
        status). Later join events (rejoins) stay in the stream for :meth:`expect`.

        ``dynamic_key``: the params become a function adding ``{dynamic_key: <var>}``, with
        the variable set by :meth:`set_var` (initially ``dynamic_value``; omitted while
        None) — phoenix.js re-evaluates it at every rejoin. ``presence``: attach
        phoenix.js's ``Presence`` before joining, so ``presence_sync`` events follow."""
        mark = self.js.mark()
        await self.command(
            "channel_join",
            topic=topic,
            payload=dict(payload or {}),
            dynamic_key=dynamic_key,
            dynamic_value=dynamic_value,
            presence=presence,
            timeout=timeout_ms,
        )
        return await self.expect(event="join", topic=topic, since=mark, timeout=wait)

    async def push_nowait(
        self,
        topic: str,
        event: str,
        payload: Any = None,
        *,
        binary: bytes | None = None,
        timeout_ms: int | None = None,
    ) -> int:
        """``channel.push(event, payload)``; return the command id that the ``reply``
        event will carry. ``binary`` sends an ArrayBuffer (a binary frame)."""
        fields: dict[str, Any] = {"topic": topic, "event": event, "timeout": timeout_ms}
        if binary is not None:
            fields["payload_b64"] = _b64(binary)
        else:
            fields["payload"] = {} if payload is None else payload
        answer = await self.command("push", **fields)
        return int(answer["id"])

    async def push(
        self,
        topic: str,
        event: str,
        payload: Any = None,
        *,
        binary: bytes | None = None,
        timeout_ms: int | None = None,
        wait: float = DEFAULT_WAIT,
    ) -> Event:
        """Push and return the ``reply`` event (status ok, error or timeout)."""
        ident = await self.push_nowait(topic, event, payload, binary=binary, timeout_ms=timeout_ms)
        return await self.expect(event="reply", id=ident, timeout=wait)

    async def leave(
        self, topic: str, *, timeout_ms: int | None = None, wait: float = DEFAULT_WAIT
    ) -> Event:
        """``channel.leave()``; return the ``leave`` event (status ok or timeout). The
        channel object stays in the driver (state "closed"), so later pushes show what
        phoenix.js does with them; joining the topic again creates a new channel."""
        mark = self.js.mark()
        await self.command("leave", topic=topic, timeout=timeout_ms)
        return await self.expect(event="leave", topic=topic, since=mark, timeout=wait)

    async def disconnect(self, code: int | None = None, reason: str | None = None) -> None:
        """``socket.disconnect()``: returns once phoenix.js has closed the socket. phoenix.js
        does not reconnect after it; :meth:`reconnect` calls ``connect()`` again."""
        await self.command("disconnect", code=code, reason=reason)

    async def reconnect(self) -> None:
        await self.command("reconnect")

    async def forget(self) -> None:
        """Disconnect and remove the client from the driver."""
        await self.command("forget")

    async def presence(self, topic: str) -> dict[str, Any]:
        """Attach phoenix.js's ``Presence`` to an existing channel; return its current list.
        Attach before the join (``join(presence=True)``) to see the initial state."""
        answer = await self.command("presence", topic=topic, start=True)
        return dict(answer["list"])

    async def presence_list(self, topic: str) -> dict[str, Any]:
        answer = await self.command("presence", topic=topic, start=False)
        return dict(answer["list"])

    async def set_var(self, topic: str, value: Any) -> None:
        """Set the value the channel's ``dynamic_key`` sends at its next (re)join."""
        await self.command("set_var", topic=topic, value=value)

    async def set_params(self, params: Mapping[str, Any]) -> None:
        """Replace the socket params sent at the next (re)connect."""
        await self.command("set_params", params=dict(params))

    async def state(self) -> Event:
        """``{connection_state, connected, transport, version, channels: {topic: state}}``."""
        return await self.command("socket_state")


# ---------------------------------------------------------------------------- fixtures
#
# Imported by tests/phxpy/conftest.py; any other conftest can import them the same way.


class Twin:
    """A live conformance twin (examples/twin.py) on a loopback port."""

    def __init__(self, client: TestClient[web.Request, web.Application]) -> None:
        self.client = client
        self.url = ws_url(client.server)
        """``ws://127.0.0.1:PORT/socket``, what phoenix.js is given."""
        self.endpoint: Endpoint = client.server.app[ENDPOINT]

    async def post(self, path: str, body: Any = None, **query: str) -> Any:
        """POST an admin route (``/admin/disconnect``, ``/admin/broadcast``), assert 200."""
        async with self.client.post(path, params=query, json=body) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def disconnect_user(self, user: str) -> None:
        await self.post("/admin/disconnect", user=user)

    async def broadcast(self, topic: str, event: str, payload: Mapping[str, Any]) -> None:
        await self.post("/admin/broadcast", dict(payload), topic=topic, event=event)


MakeTwin = Callable[..., Awaitable[Twin]]


@pytest.fixture
async def phoenixjs() -> AsyncIterator[PhoenixJS]:
    """A running phoenix.js driver (both client lines), stopped after the test."""
    reason = missing_reason()
    if reason is not None:
        pytest.skip(reason)
    async with PhoenixJS.start() as js:
        yield js


@pytest.fixture(params=VERSIONS, ids=[f"phoenix-{v}" for v in VERSIONS])
def phoenix_version(request: pytest.FixtureRequest) -> str:
    """Parametrizes a test over the phoenix.js lines ("1.7", "1.8")."""
    return str(request.param)


@pytest.fixture
def make_twin(aiohttp_client: AiohttpClient) -> MakeTwin:
    """``await make_twin(**options)``: a twin started with ``create_app(**options)``, e.g.
    ``endpoint=Endpoint(clock=FakeClock())`` or ``idle_timeout=...``."""

    async def make(**options: Any) -> Twin:
        return Twin(await aiohttp_client(create_app(**options)))

    return make


@pytest.fixture
async def twin_server(make_twin: MakeTwin) -> Twin:
    """A twin with its default options."""
    return await make_twin()
