"""The socket's Origin check: pages of the public URL get in, every other origin is refused.

The service here stands behind a proxy at ``https://chat.example.com`` (PUBLIC_URL). The real
phoenix.js, sending the Origin a page from that URL sends, connects over WebSocket and LongPoll;
raw requests show the refusals, DNS rebinding (an Origin whose host matches the ``Host`` header)
included.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from phxpy.transports.longpoll import PREFLIGHT_ALLOWED_HEADERS
from server.app import create_app
from server.chat.alarm import SteppingClock
from server.config import Settings, normalize_database_url
from server.origins import socket_origin_check
from tests.phoenixjs import PhoenixJS, phoenix_version, phoenixjs, ws_url
from tests.server.api_client import SECRET_KEY, SERVICE_KEY, Api
from tests.server.chat_support import TOKEN_TTL
from tests.server.conftest import START, AiohttpClient

__all__ = ["phoenix_version", "phoenixjs"]

PUBLIC_URL = "https://chat.example.com"
PUBLIC_ORIGIN = "https://chat.example.com"
REFUSED_ORIGINS = [
    "https://evil.example",
    "http://chat.example.com",  # another scheme
    "https://chat.example.com:8443",  # another port
    "https://chat.example.com.evil.example",
    "null",  # sandboxed frames, file:// pages
    "not an origin",
]
# The headers a browser (or xhr2) writes itself, which no page and no CORS preflight controls.
BROWSER_HEADERS = {
    "host",
    "origin",
    "connection",
    "content-length",
    "user-agent",
    "accept-encoding",
    "referer",
}


def settings_for(tmp_path: Path, **changes: Any) -> Settings:
    return Settings(
        database_url=normalize_database_url(f"sqlite:///{tmp_path / 'chat.sqlite3'}"),
        secret_key=SECRET_KEY,
        service_api_key=SERVICE_KEY,
        bcrypt_rounds=4,
        token_ttl_seconds=TOKEN_TTL,
        **changes,
    )


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, tmp_path: Path) -> TestClient[Any, Any]:
    settings = settings_for(tmp_path, public_url=PUBLIC_URL)
    return await aiohttp_client(create_app(settings, clock=SteppingClock(START)))


async def ws_status(client: TestClient[Any, Any], token: str, headers: dict[str, str]) -> int:
    try:
        ws = await client.ws_connect(f"/socket/websocket?vsn=2.0.0&token={token}", headers=headers)
    except aiohttp.WSServerHandshakeError as error:
        return error.status
    await ws.close()
    return 101


async def longpoll_status(
    client: TestClient[Any, Any], token: str, headers: dict[str, str], method: str = "GET"
) -> int:
    async with client.request(
        method, f"/socket/longpoll?vsn=2.0.0&token={token}", headers=headers
    ) as response:
        assert response.status == 200  # LongPoll speaks in the body
        return int((await response.json())["status"])


async def test_only_the_public_origin_gets_in(client: TestClient[Any, Any]) -> None:
    fan = await Api(client).sign_up()
    for origin in (PUBLIC_ORIGIN, "https://CHAT.example.com:443"):
        assert await ws_status(client, fan.token, {"Origin": origin}) == 101
        assert await longpoll_status(client, fan.token, {"Origin": origin}) == 410  # a session
    for origin in REFUSED_ORIGINS:
        assert await ws_status(client, fan.token, {"Origin": origin}) == 403, origin
        for method in ("GET", "POST", "OPTIONS"):
            status = await longpoll_status(client, fan.token, {"Origin": origin}, method)
            assert status == 403, (origin, method)
    # No Origin: not a browser; the token decides.
    assert await ws_status(client, fan.token, {}) == 101


async def test_dns_rebinding_is_refused(client: TestClient[Any, Any]) -> None:
    """A page of http://evil.example:PORT whose name the attacker points at this server:
    its Origin and the Host header agree, and neither is the public URL."""
    fan = await Api(client).sign_up()
    port = client.server.port
    rebound = {"Origin": f"http://evil.example:{port}", "Host": f"evil.example:{port}"}
    assert await ws_status(client, fan.token, rebound) == 403
    assert await longpoll_status(client, fan.token, rebound) == 403


async def test_the_longpoll_preflight_allows_what_phoenix_js_sends_and_nothing_asked(
    client: TestClient[Any, Any],
) -> None:
    async with client.options(
        "/socket/longpoll?vsn=2.0.0",
        headers={
            "Origin": PUBLIC_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-evil, cookie",
        },
    ) as response:
        assert response.status == 200
        allowed = response.headers["Access-Control-Allow-Headers"]
    assert allowed == PREFLIGHT_ALLOWED_HEADERS
    assert "x-evil" not in allowed and "cookie" not in allowed


@pytest.mark.parametrize("transport", ["websocket", "longpoll"])
async def test_phoenix_js_on_a_page_of_the_public_url_connects(
    aiohttp_client: AiohttpClient,
    tmp_path: Path,
    phoenixjs: PhoenixJS,
    phoenix_version: str,
    transport: str,
) -> None:
    settings = settings_for(tmp_path, public_url=PUBLIC_URL)
    app = create_app(settings, clock=SteppingClock(START))
    longpoll_headers: set[str] = set()

    async def record(request: web.Request, _: web.StreamResponse) -> None:
        if request.path == "/socket/longpoll":
            longpoll_headers.update(name.lower() for name in request.headers)

    app.on_response_prepare.append(record)
    client = await aiohttp_client(app)
    fan = await Api(client).sign_up()
    url = ws_url(client.server)
    # phoenix.js 1.8 sends the token as authToken (a header over LongPoll); 1.7 as a param.
    credentials: dict[str, Any] = (
        {"auth_token": fan.token} if phoenix_version == "1.8" else {"params": {"token": fan.token}}
    )
    page = await phoenixjs.connect(
        url, version=phoenix_version, transport=transport, origin=PUBLIC_ORIGIN, **credentials
    )
    assert (await page.join(f"user:{fan.id}"))["status"] == "ok"
    reply = await page.push(f"user:{fan.id}", "ping", {})
    assert reply["status"] in ("ok", "error")  # answered: the POSTs got through too

    evil = await phoenixjs.connect(
        url,
        version=phoenix_version,
        transport=transport,
        origin="https://evil.example",
        wait_open=False,
        reconnectAfterMs=[60_000],
        **credentials,
    )
    await evil.expect(event="error")
    assert not (await evil.state())["connected"]
    await evil.forget()

    if transport == "longpoll":
        # What phoenix.js itself set on its requests, a cross-origin page's browser would
        # ask the preflight for: all of it is allowed.
        asked = longpoll_headers - BROWSER_HEADERS
        assert asked <= set(PREFLIGHT_ALLOWED_HEADERS.split(", ")), asked
        if phoenix_version == "1.8":
            assert "x-phoenix-authtoken" in asked


def test_the_default_public_origin_is_where_the_service_listens() -> None:
    base = Settings(
        database_url="sqlite+aiosqlite:///x", secret_key=SECRET_KEY, service_api_key=SERVICE_KEY
    )
    check = socket_origin_check(base)
    assert callable(check)
    for origin in ("http://127.0.0.1:4000", "http://localhost:4000", "http://[::1]:4000"):
        assert check(origin), origin
    for origin in (
        "http://127.0.0.1:4001",
        "https://127.0.0.1:4000",
        "http://127.0.0.1",
        "http://evil.example:4000",
        "http://localhost.evil.example:4000",
    ):
        assert not check(origin), origin

    listening = replace(base, host="0.0.0.0", port=8080)
    assert listening.public_origin == "http://localhost:8080"
    proxied = replace(base, public_url="https://Chat.Example.com/app/")
    assert proxied.public_origin == "https://chat.example.com:443"
    check = socket_origin_check(proxied)
    assert callable(check)
    assert check("https://chat.example.com")
    assert not check("http://localhost:4000")

    assert socket_origin_check(replace(base, allowed_origins=("*",))) is False
    listed = ("https://app.example.com",)
    assert socket_origin_check(replace(base, allowed_origins=listed)) == list(listed)
