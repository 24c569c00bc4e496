"""Logs: JSON with LOG_FORMAT=json, one line per event, and no secret in any line.

The end-to-end test runs ``python -m server`` as deployed and goes through what handles
secrets (sign up and in, a wrong password, a password change, tokens in socket URLs, LongPoll
session tokens, phoenix.js 1.8's authToken, a join, sign out), then reads everything the process
wrote.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server.logs import REDACTED, JsonFormatter, Redactor
from tests.server.api_client import SECRET_KEY, SERVICE_KEY
from tests.server.server_process import server_process

PASSWORD = "a password nobody may read"
NEW_PASSWORD = "another password nobody may read"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def call(
    session: aiohttp.ClientSession, method: str, url: str, expected: int, **kwargs: Any
) -> Any:
    async with session.request(method, url, **kwargs) as response:
        body = await response.read()
        assert response.status == expected, body
        return json.loads(body) if body else None


async def test_json_logs_hold_no_secret(tmp_path: Path) -> None:
    secrets = [SECRET_KEY, SERVICE_KEY, PASSWORD, NEW_PASSWORD]
    database_url = f"sqlite:///{tmp_path / 'chat.sqlite3'}"
    async with (
        server_process(database_url, tmp_path, env={"LOG_FORMAT": "json"}) as server,
        aiohttp.ClientSession() as session,
    ):
        api, service = f"{server.url}/api", {"Authorization": f"Bearer {SERVICE_KEY}"}
        user = {"username": "ayla", "email": "ayla@example.com", "password": PASSWORD}
        body = await call(session, "POST", f"{api}/users/create", 201, json={"user_params": user})
        token, user_id = body["data"]["token"], body["data"]["user"]["id"]
        body = await call(
            session,
            "POST",
            f"{api}/users/sign_in",
            200,
            json={"email": user["email"], "password_hash": PASSWORD},
        )
        secrets += [token, body["data"]["token"]]
        await call(
            session,
            "POST",
            f"{api}/users/sign_in",
            401,
            json={"email": user["email"], "password": PASSWORD + "!"},
        )
        secrets.append(PASSWORD + "!")
        event = (
            await call(
                session,
                "POST",
                f"{api}/events/create_event",
                201,
                headers=service,
                json={
                    "event": {
                        "name": "concert",
                        "description": "d",
                        "location": "here",
                        "start_time": "2030-01-01 19:00:00",
                        "end_time": "2030-01-01 23:00:00",
                    }
                },
            )
        )["data"]
        ticket = (
            await call(
                session,
                "POST",
                f"{api}/tickets/create",
                201,
                headers=service,
                json={"ticket": {"ticket_number": "T-1", "event_id": event["id"]}},
            )
        )["data"]
        await call(
            session, "PATCH", f"{api}/tickets/{ticket['id']}/assign/{user_id}", 200, headers=service
        )

        # The token in a socket URL, and a join.
        ws = await session.ws_connect(f"{server.url}/socket/websocket?vsn=2.0.0&token={token}")
        await ws.send_str(f'["1","1","event:{event["id"]}","phx_join",{{"ticket_number":"T-1"}}]')
        assert (await ws.receive_json())[3] == "phx_reply"
        await ws.close()
        # A refused one, with a forged token.
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await session.ws_connect(f"{server.url}/socket/websocket?vsn=2.0.0&token={token}x")
        # LongPoll: the user token in the query, then the session token; and authToken.
        longpoll = f"{server.url}/socket/longpoll?vsn=2.0.0"
        first = await call(session, "GET", f"{longpoll}&token={token}", 200)
        session_token = first["token"]
        secrets.append(session_token)
        frame = f'["2","2","user:{user_id}","phx_join",{{}}]'
        await call(
            session,
            "POST",
            f"{longpoll}&token={token}&token={session_token}",
            200,
            data=frame,
            headers={"Content-Type": "application/x-ndjson"},
        )
        await call(session, "GET", longpoll, 200, headers={"X-Phoenix-AuthToken": token})

        # A password change (with the current one), a refused one, sign out.
        changed = await call(
            session,
            "POST",
            f"{api}/users/update",
            200,
            headers=bearer(token),
            json={
                "id": user_id,
                "user_params": {"password": NEW_PASSWORD},
                "current_password": PASSWORD,
            },
        )
        fresh = changed["token"]
        secrets.append(fresh)
        await call(session, "GET", f"{api}/users/{user_id}", 401, headers=bearer(token))
        await call(session, "POST", f"{api}/users/sign_out", 204, headers=bearer(fresh))
        await call(session, "GET", f"{server.url}/nowhere?token={fresh}&password={PASSWORD}", 404)

    assert server.process.returncode == 0  # stopped as asked, by SIGTERM
    output = server.output()  # stdout and stderr
    for secret in secrets:
        assert secret not in output, f"a secret was logged: {secret[:12]}…"
    assert "$2b$" not in output
    # One JSON object per line, each an event.
    events = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert all({"time", "level", "logger", "message"} <= set(event) for event in events)
    access = [event for event in events if event["logger"] == "aiohttp.access"]
    paths = {(event["method"], event["path"], event["status"]) for event in access}
    assert ("POST", "/api/users/sign_in", 401) in paths
    assert ("GET", "/socket/websocket", 101) in paths
    assert ("GET", "/nowhere", 404) in paths


def test_the_redactor_scrubs_secret_shapes_and_values() -> None:
    redact = Redactor(["configured-secret-value"])
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    bcrypt_hash = "$2b$12$" + "a" * 53
    for text in (
        f"GET /socket/websocket?vsn=2.0.0&token={jwt}",
        "/socket/longpoll?token=SFMyNTY.g2gDbQ.abcdef&vsn=2.0.0",
        f"Authorization: Bearer {jwt}",
        "Authorization: Bearer opaque-service-key-1234",
        f"Sec-WebSocket-Protocol: phoenix, base64url.bearer.phx.{jwt}",
        f"stored {bcrypt_hash}",
        "the key is configured-secret-value, see",
    ):
        scrubbed = redact(text)
        assert REDACTED in scrubbed, text
        for secret in (jwt, bcrypt_hash, "SFMyNTY.g2gDbQ.abcdef", "opaque-service-key-1234"):
            assert secret not in scrubbed
        assert "configured-secret-value" not in scrubbed
    assert redact("GET /api/events 200") == "GET /api/events 200"


def test_a_json_line_carries_the_exception_and_extra_fields_on_one_line() -> None:
    formatter = JsonFormatter(Redactor(["hunter22"]))
    try:
        raise ValueError("bad value hunter22")
    except ValueError:
        record = logging.getLogger("x").makeRecord(
            "x",
            logging.ERROR,
            __file__,
            1,
            "failed for %s",
            ("al",),
            sys.exc_info(),
            extra={"path": "/api/x", "status": 500},
        )
    line = formatter.format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "failed for al"
    assert (entry["path"], entry["status"], entry["level"]) == ("/api/x", 500, "ERROR")
    assert "ValueError: bad value [redacted]" in entry["exception"]
