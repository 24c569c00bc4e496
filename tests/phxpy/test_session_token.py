"""LongPoll session tokens: unguessable, unforgeable, safe in URLs and headers."""

from __future__ import annotations

import re
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from phxpy.transports.session_token import SessionSigner


def test_issued_token_verifies_to_its_session_id() -> None:
    signer = SessionSigner(b"secret")
    session_id, token = signer.issue()
    assert signer.verify(token) == session_id


def test_tokens_are_unique_url_and_header_safe() -> None:
    signer = SessionSigner()
    tokens = {signer.issue()[1] for _ in range(200)}
    assert len(tokens) == 200
    for token in tokens:
        assert quote(token, safe="") == token  # encodeURIComponent leaves it as is
        assert re.fullmatch(r"[A-Za-z0-9_.-]+", token)  # a valid HTTP header value


def test_same_secret_verifies_across_signers_other_secret_does_not() -> None:
    _, token = SessionSigner(b"one").issue()
    assert SessionSigner(b"one").verify(token) is not None
    assert SessionSigner(b"two").verify(token) is None
    # Without a secret, each process (signer) has its own random key.
    _, random_token = SessionSigner().issue()
    assert SessionSigner().verify(random_token) is None


def test_tampered_tokens_are_nobody() -> None:
    signer = SessionSigner(b"secret")
    session_id, token = signer.issue()
    other_id, _ = signer.issue()
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    swapped = f"{other_id}.{token.split('.')[1]}"
    for bad in (flipped, swapped, token + "x", token[1:], session_id, "", None, "a.b", " " + token):
        assert signer.verify(bad) is None, bad


@given(st.text(max_size=80))
def test_arbitrary_text_never_verifies_or_raises(text: str) -> None:
    assert SessionSigner(b"secret").verify(text) is None
