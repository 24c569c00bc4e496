"""A sign-in flood, run in a process of its own as an attacker's script would be.

    python -m tests.server.flood URL COUNT GIVE_UP_SECONDS (same|each)

Sends COUNT sign-ins at once for unknown emails (the same one, or a new one each), every
client hanging up GIVE_UP_SECONDS after its request went out. Prints ``sent`` once every
request has been written (or failed to connect), then one JSON line: how many got each status
(``"gave up"`` for those that hung up).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from types import SimpleNamespace

import aiohttp


async def flood(url: str, count: int, give_up: float, same_email: bool) -> Counter[str]:
    accounted = 0  # requests written, or that failed before being written

    def account() -> None:
        nonlocal accounted
        accounted += 1
        if accounted == count:
            print("sent", flush=True)

    async def on_headers_sent(
        session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestHeadersSentParams,
    ) -> None:
        request = context.trace_request_ctx
        if not request.sent:
            request.sent = True
            account()

    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(on_headers_sent)
    outcomes: Counter[str] = Counter()
    # The client hangs up GIVE_UP seconds after its request went out, however long it took
    # to connect (hundreds of connections at once can take a while on a busy machine).
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=60, sock_read=give_up)

    async def one(session: aiohttp.ClientSession, n: int) -> None:
        email = "nobody@example.com" if same_email else f"nobody{n}@example.com"
        context = SimpleNamespace(sent=False)
        try:
            async with session.post(
                f"{url}/api/users/sign_in",
                json={"email": email, "password": "a guess"},
                timeout=timeout,
                trace_request_ctx=context,
            ) as response:
                await response.read()
                outcomes[str(response.status)] += 1
                if response.status in (429, 503) and "Retry-After" not in response.headers:
                    outcomes["no Retry-After"] += 1
        except TimeoutError:
            outcomes["gave up"] += 1
        except aiohttp.ClientError as error:
            outcomes[type(error).__name__] += 1
        finally:
            if not context.sent:
                account()

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
