"""A sign-in flood, run in a process of its own as an attacker's script would be.

    python -m tests.server.flood URL COUNT GIVE_UP_SECONDS (same|each)

Sends COUNT sign-ins at once for unknown emails (the same one, or a new one each), every
client hanging up after GIVE_UP_SECONDS. Prints ``sent`` once every request has been written,
then one JSON line: how many got each status (``"gave up"`` for those that hung up).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from types import SimpleNamespace

import aiohttp


async def flood(url: str, count: int, give_up: float, same_email: bool) -> Counter[str]:
    sent = 0

    async def on_headers_sent(
        session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestHeadersSentParams,
    ) -> None:
        nonlocal sent
        sent += 1
        if sent == count:
            print("sent", flush=True)

    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(on_headers_sent)
    outcomes: Counter[str] = Counter()

    async def one(session: aiohttp.ClientSession, n: int) -> None:
        email = "nobody@example.com" if same_email else f"nobody{n}@example.com"
        try:
            async with session.post(
                f"{url}/api/users/sign_in",
                json={"email": email, "password": "a guess"},
                timeout=aiohttp.ClientTimeout(total=give_up),
            ) as response:
                await response.read()
                outcomes[str(response.status)] += 1
                if response.status in (429, 503) and "Retry-After" not in response.headers:
                    outcomes["no Retry-After"] += 1
        except TimeoutError:
            outcomes["gave up"] += 1

    connector = aiohttp.TCPConnector(limit=0)  # one connection per request, all at once
    async with aiohttp.ClientSession(connector=connector, trace_configs=[trace]) as session:
        await asyncio.gather(*(one(session, n) for n in range(count)))
    return outcomes


def main() -> None:
    url, count, give_up, emails = sys.argv[1:5]
    outcomes = asyncio.run(flood(url, int(count), float(give_up), emails == "same"))
    print(json.dumps(outcomes), flush=True)


if __name__ == "__main__":
    main()
