"""Costly frames from one free account, run in a process of its own as an attacker's script
would be.

    python -m tests.server.frame_flood URL TOKEN SECONDS

For SECONDS, at once:

* 10 WebSockets send heartbeats whose payload is JSON that is slow to decode: a megabyte
  of empty arrays (~350,000 of them), 64 KiB of them, and 64 KiB of zeros (one array, but
  tens of thousands of values); each socket sends its kind again and again, as fast as the
  server takes them, and connects again whenever the server closes it;
* 80 LongPoll POSTs at a time, each 8 MiB of frames of empty arrays, to four of the
  account's LongPoll sessions, again and again.

The sockets are written by hand (a masked frame is a few bytes of header) so that the
attacker can hang up at its deadline whatever the server does: a client library would wait
to close politely behind megabytes the server is in no hurry to read.

Prints ``started`` once the first frames are out, then one JSON line: how many frames and
POSTs went out, how the server closed the sockets and what the POSTs got.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
import sys
from collections import Counter
from contextlib import suppress
from urllib.parse import urlsplit

SOCKETS = 10
POSTS = 80
POST_BYTES = 8 * 1024 * 1024


def heartbeat(payload_json: str) -> bytes:
    return f'[null,"1","phoenix","heartbeat",{payload_json}]'.encode()


def arrays(size: int) -> bytes:
    return heartbeat("[" + ",".join(["[]"] * (size // 3)) + "]")


def zeros(size: int) -> bytes:
    return heartbeat("[" + ",".join(["0"] * (size // 2 - 40)) + "]")


def client_frame(data: bytes) -> bytes:
    """A masked text frame (a zero mask: the bytes go as they are)."""
    size = len(data)
    if size < 126:
        head = bytes((0x81, 0x80 | size))
    elif size < 65536:
        head = struct.pack("!BBH", 0x81, 0x80 | 126, size)
    else:
        head = struct.pack("!BBQ", 0x81, 0x80 | 127, size)
    return head + b"\0\0\0\0" + data


FRAMES = [
    client_frame(arrays(1024 * 1024)),
    client_frame(arrays(64 * 1024 - 64)),
    client_frame(zeros(64 * 1024 - 64)),
]


async def flood(url: str, token: str, seconds: float) -> Counter[str]:
    outcome: Counter[str] = Counter()
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    started = asyncio.Event()

    async def request(head: str, body: bytes = b"") -> tuple[int, bytes]:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(head.encode() + body)
            status_line = await reader.readline()
            headers = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in headers.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            return int(status_line.split()[1]), await reader.readexactly(length)
        finally:
            writer.transport.abort()

    async def socket(frame: bytes) -> None:
        while True:
            reader, writer = await asyncio.open_connection(host, port)
            try:
                key = base64.b64encode(os.urandom(16)).decode()
                writer.write(
                    f"GET /socket/websocket?vsn=2.0.0&token={token} HTTP/1.1\r\nHost: x\r\n"
                    f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                    "Sec-WebSocket-Version: 13\r\n\r\n".encode()
                )
                answer = await reader.readuntil(b"\r\n\r\n")
                if b" 101 " not in answer.split(b"\r\n")[0]:
                    outcome[f"refused {answer.split()[1].decode()}"] += 1
                    continue
                outcome["connected"] += 1
                closing = asyncio.ensure_future(reader.read(2 + 125))
                while not closing.done():
                    writer.write(frame)
                    await writer.drain()  # as fast as the server reads, no faster
                    outcome["frames sent"] += 1
                    started.set()
                data = closing.result()
                if data[:1] == b"\x88" and len(data) >= 4:
                    outcome[f"closed {int.from_bytes(data[2:4], 'big')}"] += 1
            except (ConnectionError, asyncio.IncompleteReadError) as error:
                outcome[type(error).__name__] += 1
            finally:
                writer.transport.abort()

    async def session_token() -> str:
        _, body = await request(
            f"GET /socket/longpoll?vsn=2.0.0&token={token} HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        return str(json.loads(body)["token"])

    line = arrays(60 * 1024)
    body = b"\n".join([line] * (POST_BYTES // len(line)))

    async def poster(session: str) -> None:
        head = (
            f"POST /socket/longpoll?vsn=2.0.0&token={token}&token={session} HTTP/1.1\r\n"
            f"Host: x\r\nContent-Type: application/x-ndjson\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        while True:
            try:
                status, _ = await request(head, body)
                outcome[f"POST {status}"] += 1
            except (ConnectionError, asyncio.IncompleteReadError) as error:
                outcome[f"POST {type(error).__name__}"] += 1

    sessions = [await session_token() for _ in range(4)]
    tasks = [asyncio.create_task(socket(FRAMES[n % len(FRAMES)])) for n in range(SOCKETS)]
    tasks += [asyncio.create_task(poster(sessions[n % 4])) for n in range(POSTS)]
    await asyncio.wait_for(started.wait(), 30)
    print("started", flush=True)
    await asyncio.sleep(seconds)
    for task in tasks:
        task.cancel()
    for task in tasks:
        with suppress(asyncio.CancelledError):
            await task
    return outcome


def main() -> None:
    url, token, seconds = sys.argv[1:4]
    print(json.dumps(asyncio.run(flood(url, token, float(seconds)))), flush=True)


if __name__ == "__main__":
    main()
