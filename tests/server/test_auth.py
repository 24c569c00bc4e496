"""Who may call what: the service key, user tokens, expiry and revocation, 401 versus 403."""

from __future__ import annotations

import time
import warnings
from datetime import timedelta

import jwt
import pytest

from server.auth.tokens import authenticate_user_token, issue_token
from server.clock import ManualClock
from server.config import Settings
from server.keys import DB
from tests.server.api_client import SECRET_KEY, SERVICE_KEY, Api

SERVICE_ROUTES = [
    ("POST", "/api/events/create_event"),
    ("POST", "/api/events/update_event"),
    ("DELETE", "/api/events/44d2557e-ec2b-4dc5-a0cc-f8b5cb83bc6f"),
    ("POST", "/api/tickets/create"),
    (
        "PATCH",
        "/api/tickets/44d2557e-ec2b-4dc5-a0cc-f8b5cb83bc6f/assign/"
        "44d2557e-ec2b-4dc5-a0cc-f8b5cb83bc6f",
    ),
]
USER_ROUTES = [
    ("POST", "/api/users/sign_out"),
    ("GET", "/api/users/{me}"),
    ("POST", "/api/users/update"),
    ("DELETE", "/api/users/delete_user/{me}"),
    ("DELETE", "/api/users/delete/{me}"),
    ("GET", "/api/notifications"),
    ("POST", "/api/notifications/44d2557e-ec2b-4dc5-a0cc-f8b5cb83bc6f/read"),
    ("GET", "/api/events/44d2557e-ec2b-4dc5-a0cc-f8b5cb83bc6f/messages"),
]
SHARED_ROUTES = [
    ("GET", "/api/events"),
    ("GET", "/api/events/44d2557e-ec2b-4dc5-a0cc-f8b5cb83bc6f"),
    ("POST", "/api/events/get_chat_room_by_id"),
]
BAD_HEADERS = [
    {},
    {"Authorization": ""},
    {"Authorization": "Bearer"},
    {"Authorization": "Basic dXNlcjpwYXNz"},
    {"Authorization": f"Token {SERVICE_KEY}"},
    {"Authorization": "Bearer not-a-jwt"},
    {"Authorization": f"Bearer {SERVICE_KEY}x"},
    {"Authorization": "Bearer ğüş-ünicode"},
]


@pytest.mark.parametrize(("method", "path"), SERVICE_ROUTES + USER_ROUTES + SHARED_ROUTES)
async def test_no_or_bad_credential_is_401(api: Api, method: str, path: str) -> None:
    fan = await api.sign_up()
    for headers in BAD_HEADERS:
        async with api.client.request(method, path.format(me=fan.id), headers=headers) as resp:
            assert resp.status == 401, (headers, await resp.text())
            assert await resp.json() == {"errors": {"detail": "Unauthorized"}}
            assert resp.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path"), SERVICE_ROUTES)
async def test_a_user_token_on_a_service_route_is_403(api: Api, method: str, path: str) -> None:
    fan = await api.sign_up()
    body = await api.call(method, path, token=fan.token, json_body={}, expected=403)
    assert body == {"errors": {"detail": "Forbidden"}}


@pytest.mark.parametrize(("method", "path"), USER_ROUTES)
async def test_the_service_key_on_a_user_route_is_403(api: Api, method: str, path: str) -> None:
    fan = await api.sign_up()
    await api.call(method, path.format(me=fan.id), service=True, json_body={}, expected=403)


@pytest.mark.parametrize(("method", "path"), SHARED_ROUTES)
async def test_shared_routes_take_either_credential(api: Api, method: str, path: str) -> None:
    fan = await api.sign_up()
    body = {"event_id": "44d2557e-ec2b-4dc5-a0cc-f8b5cb83bc6f"}
    expected = 200 if path == "/api/events" else 404
    await api.call(method, path, token=fan.token, json_body=body, expected=expected)
    await api.call(method, path, service=True, json_body=body, expected=expected)


async def test_the_bearer_scheme_is_case_insensitive(api: Api) -> None:
    await api.get("/api/events", headers={"Authorization": f"bearer {SERVICE_KEY}"}, expected=200)


async def test_a_token_expires_on_the_injected_clock(api: Api, clock: ManualClock) -> None:
    fan = await api.sign_up()  # the tests' settings: tokens live 3600 s
    clock.advance(timedelta(seconds=3599))
    await api.get(f"/api/users/{fan.id}", token=fan.token, expected=200)
    clock.advance(timedelta(seconds=1))
    await api.get(f"/api/users/{fan.id}", token=fan.token, expected=401)


async def test_tokens_signed_with_another_key_or_algorithm_are_refused(api: Api) -> None:
    fan = await api.sign_up()
    claims = jwt.decode(fan.token, options={"verify_signature": False})
    forged = jwt.encode(claims, "another-key-another-key-another-key!!", algorithm="HS256")
    unsigned = jwt.encode(claims, None, algorithm="none")
    with warnings.catch_warnings():  # our key is short for HS512, which is the point
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        hs512 = jwt.encode(claims, SECRET_KEY, algorithm="HS512")
    missing_jti = jwt.encode(
        {k: v for k, v in claims.items() if k != "jti"}, SECRET_KEY, algorithm="HS256"
    )
    for token in (forged, unsigned, hs512, missing_jti):
        await api.get(f"/api/users/{fan.id}", token=token, expected=401)


async def test_the_token_carries_the_documented_claims(api: Api, settings: Settings) -> None:
    fan = await api.sign_up()
    claims = jwt.decode(
        fan.token,
        SECRET_KEY,
        algorithms=["HS256"],
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["sub"] == fan.id
    assert claims["exp"] - claims["iat"] == settings.token_ttl_seconds
    assert claims["jti"] and claims["ver"] == 0


async def test_authenticate_user_token_for_the_socket(
    api: Api, settings: Settings, clock: ManualClock
) -> None:
    """The one function the socket's connect calls: signature, expiry and revocation."""
    engine = api.client.app[DB]
    fan = await api.sign_up()
    assert await authenticate_user_token(engine, settings, fan.token, clock.now()) == fan.id
    assert await authenticate_user_token(engine, settings, "garbage", clock.now()) is None
    later = clock.now() + timedelta(seconds=settings.token_ttl_seconds)
    assert await authenticate_user_token(engine, settings, fan.token, later) is None
    await api.post("/api/users/sign_out", token=fan.token, expected=204)
    assert await authenticate_user_token(engine, settings, fan.token, clock.now()) is None
    # A token for a user who no longer exists.
    ghost = issue_token(
        settings, user_id="0" * 8 + "-0000-4000-8000-" + "0" * 12, token_version=0, now=clock.now()
    )
    assert await authenticate_user_token(engine, settings, ghost, clock.now()) is None


async def test_sign_in_takes_as_long_for_an_unknown_email(
    aiohttp_client: object, settings: Settings
) -> None:
    """Both failures run one bcrypt check; without the dummy check for an unknown email it
    would answer in a fraction of the time and reveal which addresses have accounts."""
    from dataclasses import replace

    from aiohttp.test_utils import TestClient

    from server.app import create_app

    slow = replace(settings, bcrypt_rounds=10)  # about 50 ms a check: measurable
    client: TestClient[object, object] = await aiohttp_client(create_app(slow))  # type: ignore[operator]
    api = Api(client)
    fan = await api.sign_up()

    async def timed(email: str) -> float:
        started = time.perf_counter()
        await api.post(
            "/api/users/sign_in", {"email": email, "password": "wrong password"}, expected=401
        )
        return time.perf_counter() - started

    # Minimums of several tries, and a loose bound, because a busy machine adds noise; without
    # the dummy check the ratio would be about 0.02.
    wrong_password = min([await timed(fan.email) for _ in range(5)])
    unknown_email = min([await timed("nobody@example.com") for _ in range(5)])
    assert unknown_email > 0.3 * wrong_password
