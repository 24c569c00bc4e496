"""Sign up, sign in, sign out, and a user's own record."""

from __future__ import annotations

from typing import Any

import pytest

from tests.server.api_client import PASSWORD, Api, snapshot
from tests.server.conftest import RecordingRealtime


def sign_up_body(**fields: Any) -> dict[str, Any]:
    user = {"username": "ayla", "email": "ayla@example.com", "password_hash": PASSWORD}
    return {"user_params": {**user, **fields}}


async def test_sign_up_returns_the_user_and_a_working_token(api: Api) -> None:
    body = await api.post("/api/users/create", sign_up_body(), expected=201)
    user, token = body["data"]["user"], body["data"]["token"]
    assert user["username"] == "ayla"
    assert user["email"] == "ayla@example.com"
    assert set(user) == {"id", "username", "email"}
    shown = await api.get(f"/api/users/{user['id']}", token=token, expected=200)
    assert shown["data"] == user


async def test_sign_up_accepts_password_as_well_as_password_hash(api: Api) -> None:
    body = sign_up_body(password="another secret")
    del body["user_params"]["password_hash"]
    await api.post("/api/users/create", body, expected=201)
    await api.post(
        "/api/users/sign_in",
        {"email": "ayla@example.com", "password": "another secret"},
        expected=200,
    )


async def test_emails_are_case_insensitive(api: Api) -> None:
    await api.post("/api/users/create", sign_up_body(email="Ayla@Example.COM"), expected=201)
    signed_in = await api.post(
        "/api/users/sign_in",
        {"email": "AYLA@example.com", "password_hash": PASSWORD},
        expected=200,
    )
    assert signed_in["data"]["user"]["email"] == "ayla@example.com"
    taken = await api.post("/api/users/create", sign_up_body(username="other"), expected=422)
    assert taken == {"errors": {"email": ["has already been taken"]}}


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"username": ""}, {"username": ["can't be blank"]}),
        ({"username": None}, {"username": ["can't be blank"]}),
        ({"username": 42}, {"username": ["is invalid"]}),
        ({"username": "x" * 51}, {"username": ["should be at most 50 character(s)"]}),
        ({"email": "not-an-email"}, {"email": ["has invalid format"]}),
        ({"email": ["a@b.c"]}, {"email": ["is invalid"]}),
        ({"password_hash": "short"}, {"password_hash": ["should be at least 8 character(s)"]}),
        ({"password_hash": "é" * 37}, {"password_hash": ["should be at most 72 byte(s)"]}),
        ({"password_hash": 12345678}, {"password_hash": ["is invalid"]}),
        (
            {"username": " ", "email": "", "password_hash": ""},
            {
                "username": ["can't be blank"],
                "email": ["can't be blank"],
                "password_hash": ["can't be blank"],
            },
        ),
    ],
)
async def test_sign_up_refuses_invalid_fields(
    api: Api, fields: dict[str, Any], errors: dict[str, list[str]]
) -> None:
    before = await snapshot(api)
    body = await api.post("/api/users/create", sign_up_body(**fields), expected=422)
    assert body == {"errors": errors}
    assert await snapshot(api) == before


async def test_sign_up_needs_user_params(api: Api) -> None:
    body = await api.post("/api/users/create", {"username": "ayla"}, expected=422)
    assert body == {"errors": {"user_params": ["can't be blank"]}}
    body = await api.post("/api/users/create", {"user_params": "ayla"}, expected=422)
    assert body == {"errors": {"user_params": ["is invalid"]}}


async def test_a_password_of_exactly_72_bytes_is_fine(api: Api) -> None:
    password = "é" * 36  # 72 bytes in UTF-8
    await api.post("/api/users/create", sign_up_body(password_hash=password), expected=201)
    await api.post(
        "/api/users/sign_in", {"email": "ayla@example.com", "password": password}, expected=200
    )


async def test_taken_username_and_email(api: Api) -> None:
    await api.post("/api/users/create", sign_up_body(), expected=201)
    body = await api.post("/api/users/create", sign_up_body(), expected=422)
    assert body == {
        "errors": {"username": ["has already been taken"], "email": ["has already been taken"]}
    }


async def test_sign_in_failures_all_look_the_same(api: Api) -> None:
    fan = await api.sign_up()
    wrong_password = await api.post(
        "/api/users/sign_in",
        {"email": fan.email, "password_hash": "wrong password"},
        expected=401,
    )
    unknown_email = await api.post(
        "/api/users/sign_in",
        {"email": "nobody@example.com", "password_hash": PASSWORD},
        expected=401,
    )
    assert wrong_password == unknown_email == {"errors": {"detail": "Unauthorized"}}


async def test_sign_in_with_missing_or_oversized_fields_is_422(api: Api) -> None:
    body = await api.post("/api/users/sign_in", {}, expected=422)
    assert body == {"errors": {"email": ["can't be blank"], "password": ["can't be blank"]}}
    body = await api.post(
        "/api/users/sign_in", {"email": "a@b.c", "password_hash": "x" * 73}, expected=422
    )
    assert body == {"errors": {"password_hash": ["should be at most 72 byte(s)"]}}


async def test_show_user_is_only_for_that_user(api: Api) -> None:
    ayla, bora = await api.sign_up(), await api.sign_up()
    await api.get(f"/api/users/{ayla.id}", expected=401)
    await api.get(f"/api/users/{ayla.id}", token="not-a-token", expected=401)
    await api.get(f"/api/users/{ayla.id}", token=bora.token, expected=403)
    await api.get("/api/users/not-a-uuid", token=bora.token, expected=403)
    await api.get(f"/api/users/{ayla.id.upper()}", token=ayla.token, expected=200)


async def test_update_user_changes_own_fields(api: Api) -> None:
    ayla = await api.sign_up()
    body = await api.post(
        "/api/users/update",
        {
            "id": ayla.id,
            "user_params": {"username": "ayla2", "email": "New@Example.com"},
            "current_password": ayla.password,
        },
        token=ayla.token,
        expected=200,
    )
    assert body == {"data": {"id": ayla.id, "username": "ayla2", "email": "new@example.com"}}
    # No password change: the token keeps working and no new one is issued.
    await api.get(f"/api/users/{ayla.id}", token=ayla.token, expected=200)


async def test_update_user_refusals(api: Api) -> None:
    ayla, bora = await api.sign_up(), await api.sign_up()
    before = await snapshot(api)
    params = {"user_params": {"username": "new"}}
    await api.post("/api/users/update", {"id": ayla.id, **params}, expected=401)
    await api.post("/api/users/update", {"id": ayla.id, **params}, token="x.y.z", expected=401)
    await api.post("/api/users/update", {"id": bora.id, **params}, token=ayla.token, expected=403)
    missing_id = await api.post("/api/users/update", params, token=ayla.token, expected=422)
    assert missing_id == {"errors": {"id": ["can't be blank"]}}
    taken = await api.post(
        "/api/users/update",
        {
            "id": ayla.id,
            "user_params": {"username": bora.username, "email": bora.email},
            "current_password": ayla.password,
        },
        token=ayla.token,
        expected=422,
    )
    assert taken == {
        "errors": {"username": ["has already been taken"], "email": ["has already been taken"]}
    }
    blank = await api.post(
        "/api/users/update",
        {"id": ayla.id, "user_params": {"username": "", "password_hash": "x" * 80}},
        token=ayla.token,
        expected=422,
    )
    assert blank == {
        "errors": {
            "username": ["can't be blank"],
            "password_hash": ["should be at most 72 byte(s)"],
            "current_password": ["can't be blank"],
        }
    }
    assert await snapshot(api) == before


async def test_password_change_revokes_older_tokens(api: Api, realtime: RecordingRealtime) -> None:
    ayla = await api.sign_up()
    other_device = (
        await api.post(
            "/api/users/sign_in", {"email": ayla.email, "password": ayla.password}, expected=200
        )
    )["data"]["token"]
    body = await api.post(
        "/api/users/update",
        {
            "id": ayla.id,
            "user_params": {"password": "a new password"},
            "current_password": ayla.password,
        },
        token=ayla.token,
        expected=200,
    )
    fresh = body["token"]
    await api.get(f"/api/users/{ayla.id}", token=ayla.token, expected=401)
    await api.get(f"/api/users/{ayla.id}", token=other_device, expected=401)
    await api.get(f"/api/users/{ayla.id}", token=fresh, expected=200)
    await api.post(
        "/api/users/sign_in", {"email": ayla.email, "password": ayla.password}, expected=401
    )
    await api.post(
        "/api/users/sign_in", {"email": ayla.email, "password": "a new password"}, expected=200
    )
    assert ("user_sessions_revoked", ayla.id) in realtime.calls


@pytest.mark.parametrize("path", ["/api/users/delete_user/{id}", "/api/users/delete/{id}"])
async def test_delete_user(api: Api, realtime: RecordingRealtime, path: str) -> None:
    ayla, bora = await api.sign_up(), await api.sign_up()
    await api.delete(path.format(id=ayla.id), expected=401)
    await api.delete(path.format(id=ayla.id), token=bora.token, expected=403)
    await api.delete(path.format(id=ayla.id), service=True, expected=403)
    await api.delete(
        path.format(id=ayla.id),
        json_body={"current_password": ayla.password},
        token=ayla.token,
        expected=204,
    )
    assert realtime.calls == [("user_sessions_revoked", ayla.id)]
    # The account and every token of it are gone; the address is free again.
    await api.get(f"/api/users/{ayla.id}", token=ayla.token, expected=401)
    await api.post(
        "/api/users/sign_in", {"email": ayla.email, "password": ayla.password}, expected=401
    )
    await api.sign_up(username=ayla.username, email=ayla.email)
    await api.get(f"/api/users/{bora.id}", token=bora.token, expected=200)


async def test_changing_email_or_password_needs_the_current_password(api: Api) -> None:
    ayla = await api.sign_up()
    before = await snapshot(api)
    for user_params in ({"email": "thief@example.com"}, {"password": "the thief's one"}):
        missing = await api.post(
            "/api/users/update",
            {"id": ayla.id, "user_params": user_params},
            token=ayla.token,
            expected=422,
        )
        assert missing == {"errors": {"current_password": ["can't be blank"]}}
        wrong = await api.post(
            "/api/users/update",
            {"id": ayla.id, "user_params": user_params, "current_password": "a guess"},
            token=ayla.token,
            expected=422,
        )
        assert wrong == {"errors": {"current_password": ["is not valid"]}}
        wrong = await api.post(
            "/api/users/update",
            {"id": ayla.id, "user_params": user_params, "current_password_hash": "a guess"},
            token=ayla.token,
            expected=422,
        )
        assert wrong == {"errors": {"current_password_hash": ["is not valid"]}}
    assert await snapshot(api) == before
    # The token still works: a wrong current password is not a reason to sign out.
    await api.get(f"/api/users/{ayla.id}", token=ayla.token, expected=200)
    # The name in the style of password_hash is accepted too.
    body = await api.post(
        "/api/users/update",
        {
            "id": ayla.id,
            "user_params": {"email": "ayla.new@example.com"},
            "current_password_hash": ayla.password,
        },
        token=ayla.token,
        expected=200,
    )
    assert body["data"]["email"] == "ayla.new@example.com"


async def test_changing_only_the_username_needs_no_password(api: Api) -> None:
    ayla = await api.sign_up()
    body = await api.post(
        "/api/users/update",
        {"id": ayla.id, "user_params": {"username": "ayla_renamed"}},
        token=ayla.token,
        expected=200,
    )
    assert body["data"]["username"] == "ayla_renamed"
    # One that is given must be right, though.
    await api.post(
        "/api/users/update",
        {"id": ayla.id, "user_params": {"username": "x"}, "current_password": "wrong"},
        token=ayla.token,
        expected=422,
    )


@pytest.mark.parametrize("path", ["/api/users/delete_user/{id}", "/api/users/delete/{id}"])
async def test_deleting_the_account_needs_the_current_password(api: Api, path: str) -> None:
    ayla = await api.sign_up()
    before = await snapshot(api)
    missing = await api.delete(path.format(id=ayla.id), token=ayla.token, expected=422)
    assert missing == {"errors": {"current_password": ["can't be blank"]}}
    wrong = await api.delete(
        path.format(id=ayla.id),
        json_body={"current_password": "a guess"},
        token=ayla.token,
        expected=422,
    )
    assert wrong == {"errors": {"current_password": ["is not valid"]}}
    assert await snapshot(api) == before
    await api.delete(
        path.format(id=ayla.id),
        json_body={"current_password_hash": ayla.password},
        token=ayla.token,
        expected=204,
    )


async def test_a_stolen_token_guesses_no_faster_than_signing_in(api: Api) -> None:
    """Current-password checks count against the account's sign-in limit (10 at once)."""
    ayla = await api.sign_up()
    for n in range(10):
        await api.delete(
            f"/api/users/delete_user/{ayla.id}",
            json_body={"current_password": f"guess {n}"},
            token=ayla.token,
            expected=422,
        )
    await api.delete(
        f"/api/users/delete_user/{ayla.id}",
        json_body={"current_password": ayla.password},
        token=ayla.token,
        expected=429,
    )
    await api.post(
        "/api/users/sign_in", {"email": ayla.email, "password": ayla.password}, expected=429
    )
    await api.get(f"/api/users/{ayla.id}", token=ayla.token, expected=200)


async def test_sign_out_revokes_that_token_only(api: Api, realtime: RecordingRealtime) -> None:
    ayla = await api.sign_up()
    second = (
        await api.post(
            "/api/users/sign_in", {"email": ayla.email, "password": ayla.password}, expected=200
        )
    )["data"]["token"]
    await api.post("/api/users/sign_out", token=ayla.token, expected=204)
    assert realtime.calls == [("user_sessions_revoked", ayla.id)]
    await api.get(f"/api/users/{ayla.id}", token=ayla.token, expected=401)
    await api.post("/api/users/sign_out", token=ayla.token, expected=401)
    await api.get(f"/api/users/{ayla.id}", token=second, expected=200)


async def test_sign_out_needs_a_user(api: Api) -> None:
    await api.post("/api/users/sign_out", expected=401)
    await api.post("/api/users/sign_out", service=True, expected=403)
