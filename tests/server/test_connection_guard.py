"""Slow clients and connection floods against ``python -m server`` with few open files: the
caps hold with descriptors to spare, slow request headers are cut off, and running out of
descriptors anyway writes a few log lines, not one per failed accept.

Every loopback address is this machine (127.0.0.0/8), so the clients come from
127.0.0.1, 127.0.0.2, ... as if from different places."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from tests.server.server_process import HOST, ServerProcess, server_process

OPEN_FILES = 256
PER_ADDRESS = 50
HEADER_TIMEOUT = 8
"""Long enough for the test's steps to happen while the slow connections are held, even on
a busy machine."""
PARTIAL_REQUEST = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"  # and never the blank line
WAIT = 30.0  # bounds a failure only


Held = tuple[asyncio.StreamReader, asyncio.StreamWriter, float]
"""A connection a :class:`Slowloris` holds, and when it opened."""


class Slowloris:
    """Connections that start a request and never finish its headers."""

    def __init__(self, port: int, source: str) -> None:
        self.port = port
        self.source = source
        self.held: list[Held] = []
        self.answers: Counter[str] = Counter()

    async def open(self, count: int) -> None:
        async def one() -> None:
            reader, writer = await asyncio.open_connection(
                HOST, self.port, local_addr=(self.source, 0)
            )
            writer.write(PARTIAL_REQUEST)
            self.held.append((reader, writer, time.monotonic()))

        await asyncio.gather(*(one() for _ in range(count)))

    async def refused(self, expected: int) -> None:
        """Sort the connections: the ``expected`` ones the server refuses (they get an
        answer and are closed) from those it holds. Waits for that many answers (a loaded
        machine may take a while), then keeps every connection without one; a held one
        that was answered after all shows in :meth:`cut_off`."""
        reads = {asyncio.ensure_future(held[0].read(64)): held for held in self.held}
        answered: list[tuple[asyncio.Future[bytes], Held]] = []
        pending = set(reads)
        async with asyncio.timeout(WAIT):
            while len(answered) < expected:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                answered += [(read, reads[read]) for read in done]
        for read in pending:
            read.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for read, (_, writer, _) in answered:
            self.answers[read.result().split(b"\r\n")[0].decode() or "closed"] += 1
            writer.close()
        answered_ids = {id(held) for _, held in answered}
        self.held = [held for held in self.held if id(held) not in answered_ids]

    async def cut_off(self) -> list[float]:
        """Wait until the server closes every held connection; how long each one lived."""
        lifetimes = []
        for reader, writer, opened in self.held:
            data = await asyncio.wait_for(reader.read(64), WAIT)
            assert data == b"", data  # closed without an answer: the headers never came
            lifetimes.append(time.monotonic() - opened)
            writer.close()
        self.held = []
        return lifetimes

    def close(self) -> None:
        for _, writer, _ in self.held:
            writer.transport.abort()
        self.held = []


@asynccontextmanager
async def client_from(source: str) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(local_addr=(source, 0), force_close=True)
    async with aiohttp.ClientSession(connector=connector) as http:
        yield http


async def health(server: ServerProcess, source: str) -> int:
    async with client_from(source) as http, http.get(f"{server.url}/healthz") as response:
        return response.status


async def test_caps_and_header_timeouts_hold_with_descriptors_to_spare(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'chat.sqlite3'}"
    env = {"CONNECTIONS_PER_IP": str(PER_ADDRESS), "HTTP_HEADER_TIMEOUT": str(HEADER_TIMEOUT)}
    async with server_process(database_url, tmp_path, env=env, open_files=OPEN_FILES) as server:
        # The cap in all: the open files less a reserve for the database and the rest.
        cap = OPEN_FILES - 128 - 10
        assert f"at most {cap} connections, 50 per address" in server.output()
        attacker = Slowloris(server.port, "127.0.0.1")
        crowd = [Slowloris(server.port, f"127.0.0.{n}") for n in range(3, 7)]
        try:
            # One address opens 120: it keeps its 50, the rest are refused at once.
            await attacker.open(120)
            await attacker.refused(120 - PER_ADDRESS)
            assert attacker.answers == {"HTTP/1.1 429 Too Many Requests": 70}
            assert len(attacker.held) == PER_ADDRESS
            # Someone else is served meanwhile.
            assert await health(server, "127.0.0.2") == 200
            # Four more addresses, one after the other, bring the server to its cap in all:
            # those past it are refused with 503, and the server has files to spare.
            for n, slow in enumerate(crowd, start=2):
                await slow.open(PER_ADDRESS)
                # Held so far: the attacker's and those of the addresses before this one.
                await slow.refused(min(PER_ADDRESS, max(0, n * PER_ADDRESS - cap)))
            refused = sum((slow.answers for slow in crowd), Counter())
            assert refused == {"HTTP/1.1 503 Service Unavailable": 250 - cap}
            assert await health(server, "127.0.0.7") == 503  # full, and says so
            # Slow headers are cut off after HTTP_HEADER_TIMEOUT: the files come back.
            lifetimes = await attacker.cut_off()
            for slow in crowd:
                lifetimes += await slow.cut_off()
            assert len(lifetimes) == cap
            assert min(lifetimes) >= HEADER_TIMEOUT - 0.5, min(lifetimes)
            assert await health(server, "127.0.0.7") == 200
        finally:
            attacker.close()
            for slow in crowd:
                slow.close()
    assert "Too many open files" not in server.output()


async def test_running_out_of_files_logs_a_few_lines_not_a_flood(tmp_path: Path) -> None:
    """Misconfigured so that connections can take every open file: asyncio then fails
    every accept and logs each failure with a traceback; the log gets a few of them."""
    database_url = f"sqlite:///{tmp_path / 'chat.sqlite3'}"
    env = {"MAX_CONNECTIONS": "10000", "CONNECTIONS_PER_IP": "10000", "HTTP_HEADER_TIMEOUT": "2"}
    async with server_process(database_url, tmp_path, env=env, open_files=128) as server:
        attackers = [Slowloris(server.port, f"127.0.0.{n}") for n in range(1, 5)]
        try:
            for attacker in attackers:
                await attacker.open(100)  # the kernel completes connects it cannot accept
            async with asyncio.timeout(WAIT):
                while "out of system resource" not in server.output():  # noqa: ASYNC110
                    await asyncio.sleep(0.05)  # the server's log, written by another process
        finally:
            for attacker in attackers:
                attacker.close()
        # Once the connections are gone, the server accepts again.
        async with asyncio.timeout(WAIT):
            while True:
                try:
                    if await health(server, "127.0.0.9") == 200:
                        break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
    output = server.output()
    failures = output.count("socket.accept() out of system resource")
    assert 1 <= failures <= 10, failures
    assert "more like this in the next" in output
    assert len(output) < 200_000, len(output)
