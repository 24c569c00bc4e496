"""Wire vectors checked in both directions, and decoding that fails only one way."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phxpy.errors import EncodeError, InvalidMessage
from phxpy.message import Message, RawJSON, reply
from phxpy.serializer import V1, V2, for_vsn, json_dumps

# -- V2 text ------------------------------------------------------------------------------

V2_JOIN = '["1","1","room:lobby","phx_join",{"user":"al"}]'
V2_HEARTBEAT = '[null,"4","phoenix","heartbeat",{}]'
V2_JOIN_OK = '["1","1","room:lobby","phx_reply",{"response":{},"status":"ok"}]'
V2_PUSH = '["1",null,"room:lobby","joined",{"status":"connected"}]'
V2_BROADCAST = '[null,null,"room:lobby","new_msg",{"body":"hi"}]'
V2_UNMATCHED = (
    '[null,"5","room:nope","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]'
)

# -- V2 binary (a worked example: every kind of frame) -----------------------------------

BIN_CLIENT_PUSH = (
    bytes([0, 1, 2, 10, 6]) + b"3" + b"10" + b"room:lobby" + b"upload" + b"\xde\xad\xbe\xef"
)
BIN_REPLY = bytes([1, 1, 2, 10, 2]) + b"3" + b"10" + b"room:lobby" + b"ok" + b"\xde\xad\xbe\xef"
BIN_PUSH = bytes([0, 1, 10, 5]) + b"3" + b"room:lobby" + b"image" + b"\xde\xad\xbe\xef"
BIN_BROADCAST = bytes([2, 10, 5]) + b"room:lobby" + b"image" + b"\xde\xad\xbe\xef"

# -- V1 -----------------------------------------------------------------------------------

V1_JOIN = '{"topic":"room:lobby","event":"phx_join","payload":{},"ref":"1","join_ref":"1"}'
V1_REPLY = (
    '{"event":"phx_reply","payload":{"response":{},"status":"ok"},"ref":"1","topic":"room:lobby"}'
)
V1_BROADCAST = '{"event":"new_msg","payload":{"body":"hi"},"ref":null,"topic":"room:lobby"}'


def test_v2_decodes_client_frames() -> None:
    assert V2.decode_text(V2_JOIN) == Message("room:lobby", "phx_join", {"user": "al"}, "1", "1")
    assert V2.decode_text(V2_HEARTBEAT) == Message("phoenix", "heartbeat", {}, "4", None)


def test_v2_encodes_server_frames_exactly() -> None:
    assert V2.encode(reply("room:lobby", "ok", {}, "1", "1")).text() == V2_JOIN_OK
    assert (
        V2.encode(Message("room:lobby", "joined", {"status": "connected"}, None, "1")).text()
        == V2_PUSH
    )
    assert V2.encode_broadcast("room:lobby", "new_msg", {"body": "hi"}).text() == V2_BROADCAST
    unmatched = reply("room:nope", "error", {"reason": "unmatched topic"}, "5", None)
    assert V2.encode(unmatched).text() == V2_UNMATCHED


def test_v2_ignores_elements_beyond_the_fifth() -> None:
    assert V2.decode_text('["1","2","t","e",{},"extra"]') == Message("t", "e", {}, "2", "1")


def test_binary_client_push_decodes() -> None:
    message = V2.decode_binary(BIN_CLIENT_PUSH)
    assert message == Message("room:lobby", "upload", b"\xde\xad\xbe\xef", "10", "3")


def test_binary_server_frames_encode_exactly() -> None:
    binary_reply = reply("room:lobby", "ok", b"\xde\xad\xbe\xef", "10", "3")
    assert V2.encode(binary_reply).data == BIN_REPLY
    assert V2.encode(binary_reply).binary
    push = Message("room:lobby", "image", b"\xde\xad\xbe\xef", None, "3")
    assert V2.encode(push).data == BIN_PUSH
    assert V2.encode_broadcast("room:lobby", "image", b"\xde\xad\xbe\xef").data == BIN_BROADCAST


def test_binary_header_over_255_bytes_is_an_encode_error() -> None:
    with pytest.raises(EncodeError):
        V2.encode_broadcast("t" * 256, "image", b"x")


def test_v1_round_trip() -> None:
    assert V1.decode_text(V1_JOIN) == Message("room:lobby", "phx_join", {}, "1", "1")
    assert V1.encode(reply("room:lobby", "ok", {}, "1", "1")).text() == V1_REPLY
    assert V1.encode_broadcast("room:lobby", "new_msg", {"body": "hi"}).text() == V1_BROADCAST


def test_v1_cannot_carry_binary_payloads() -> None:
    with pytest.raises(EncodeError):
        V1.encode_broadcast("t", "e", b"x")
    with pytest.raises(InvalidMessage):
        V1.decode_binary(BIN_CLIENT_PUSH)  # a V2 binary push is not V1 JSON


def test_v1_reads_json_from_binary_frames_as_from_text() -> None:
    """Phoenix's V1 serializer ignores the opcode; clients built on Python's ``websockets``
    send JSON as bytes (binary frames)."""
    assert V1.decode_binary(V1_JOIN.encode()) == V1.decode_text(V1_JOIN)
    with pytest.raises(InvalidMessage):
        V1.decode_binary(b"\xff" + V1_JOIN.encode())  # not UTF-8


@pytest.mark.parametrize(
    "text",
    [
        "hello",
        '{"topic":"x"}',  # V2 needs an array
        '["1","2","t","e"]',  # four elements
        '[1,"2","t","e",{}]',  # join_ref must be a string or null
        '["1","2",3,"e",{}]',  # topic must be a string
        '["1","2","t",null,{}]',
        '["1","2","t","e",NaN]',  # not JSON
        "[" * 100_000,  # deeper than any parser should go
    ],
)
def test_v2_rejects_malformed_text(text: str) -> None:
    with pytest.raises(InvalidMessage):
        V2.decode_text(text)


@pytest.mark.parametrize(
    "text",
    [
        '{"topic":"t","event":"e","payload":{}}',
        '["t"]',
        '{"topic":"t","event":1,"payload":{},"ref":null}',
    ],
)
def test_v1_rejects_malformed_text(text: str) -> None:
    with pytest.raises(InvalidMessage):
        V1.decode_text(text)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        bytes([0, 1, 1]),
        bytes([1, 0, 0, 1, 1]) + b"te",  # kind 1 is server-to-client only
        bytes([0, 0, 0, 9, 1]) + b"t",  # lengths overrun the frame
        bytes([0, 0, 0, 2, 1]) + b"\xff\xfee",  # header is not UTF-8
    ],
)
def test_v2_rejects_malformed_binary(data: bytes) -> None:
    with pytest.raises(InvalidMessage):
        V2.decode_binary(data)


def test_lone_surrogates_from_a_client_can_still_be_echoed() -> None:
    message = V2.decode_text('["1","2","t","e",{"s":"\\ud800"}]')
    frame = V2.encode(reply("t", "ok", message.payload, "2", "1"))
    assert V2.decode_text(frame.text()).payload == {"response": {"s": "\ud800"}, "status": "ok"}


def test_unencodable_payload_is_an_encode_error() -> None:
    with pytest.raises(EncodeError):
        V2.encode(Message("t", "e", {"x": object()}))


@pytest.mark.parametrize(
    ("vsn", "expected"),
    [
        (None, V1),
        ("1.0.0", V1),
        ("1.0.9", V1),
        ("2.0.0", V2),
        ("2.0.3", V2),
        ("2.1.0", None),
        ("123.1.1", None),
        ("abc", None),
        ("", None),
        (["2.0.0"], None),
    ],
)
def test_vsn_selects_the_serializer(vsn: Any, expected: Any) -> None:
    assert for_vsn(vsn) is expected


# -- properties -----------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=12,
)
refs = st.none() | st.text(max_size=20)


@given(st.text(), st.text(), json_values, refs, refs)
def test_v2_text_round_trips(topic: str, event: str, payload: Any, ref: Any, join_ref: Any) -> None:
    message = Message(topic, event, payload, ref, join_ref)
    frame = V2.encode(message)
    assert V2.decode_text(frame.text()) == message


@given(st.text(), st.text(), st.dictionaries(st.text(), json_values, max_size=4), refs, refs)
def test_raw_json_payload_is_spliced_byte_for_byte(
    topic: str, event: str, payload: dict[str, Any], ref: Any, join_ref: Any
) -> None:
    """A RawJSON payload gives the very frame its decoded value would."""
    raw = RawJSON(json_dumps(payload))
    for serializer in (V1, V2):
        spliced = serializer.encode(Message(topic, event, raw, ref, join_ref))
        assert spliced.data == serializer.encode(Message(topic, event, payload, ref, join_ref)).data
        assert not spliced.binary
        broadcast = serializer.encode_broadcast(topic, event, raw)
        assert broadcast.data == serializer.encode_broadcast(topic, event, payload).data


def test_raw_json_vectors() -> None:
    raw = RawJSON(b'{"body":"hi"}')
    assert V2.encode_broadcast("room:lobby", "new_msg", raw).text() == V2_BROADCAST
    assert V1.encode_broadcast("room:lobby", "new_msg", raw).text() == V1_BROADCAST
    push = V2.encode(Message("room:lobby", "joined", RawJSON(b'{"status":"connected"}'), None, "1"))
    assert push.text() == V2_PUSH
    assert raw.decode() == {"body": "hi"}


@given(
    st.text(),
    st.sampled_from(["ok", "error"]),
    st.dictionaries(st.text(), json_values, max_size=4),
    refs,
    refs,
)
def test_raw_json_reply_response_is_spliced_byte_for_byte(
    topic: str, status: str, response: dict[str, Any], ref: Any, join_ref: Any
) -> None:
    """A reply's response may be RawJSON too (encoded once, sent as reply and broadcast)."""
    raw = RawJSON(json_dumps(response))
    for serializer in (V1, V2):
        spliced = serializer.encode(reply(topic, status, raw, ref, join_ref))
        assert spliced.data == serializer.encode(reply(topic, status, response, ref, join_ref)).data


def test_raw_json_only_as_a_whole_payload_or_response() -> None:
    """Nested anywhere else it is just an unserializable value."""
    raw = RawJSON(b"{}")
    with pytest.raises(EncodeError):
        V2.encode(reply("t", "ok", {"inner": raw}, "1", "1"))
    with pytest.raises(EncodeError):
        V1.encode(Message("t", "e", {"inner": raw}))


@given(st.text(max_size=60), st.text(max_size=60), st.binary(), refs, refs)
def test_v2_binary_client_push_round_trips(
    topic: str, event: str, payload: bytes, ref: Any, join_ref: Any
) -> None:
    fields = [(join_ref or "").encode(), (ref or "").encode(), topic.encode(), event.encode()]
    frame = bytes((0, *map(len, fields))) + b"".join(fields) + payload
    message = V2.decode_binary(frame)
    assert (message.topic, message.event, message.payload) == (topic, event, payload)
    assert (message.ref, message.join_ref) == (ref or None, join_ref or None)


@given(st.text())
def test_any_text_decodes_or_raises_invalid_message(text: str) -> None:
    for serializer in (V1, V2):
        with contextlib.suppress(InvalidMessage):
            serializer.decode_text(text)


@given(st.binary())
def test_any_bytes_decode_or_raise_invalid_message(data: bytes) -> None:
    for serializer in (V1, V2):
        with contextlib.suppress(InvalidMessage):
            serializer.decode_binary(data)


def test_maps_are_written_in_key_order_like_jason() -> None:
    """Phoenix (Jason) writes small maps sorted by key; so do we, byte for byte."""
    frame = V2.encode(
        reply("room:lobby", "ok", {"joined": True, "echo": {"b": 1, "a": 2}}, "1", "1")
    )
    assert frame.text() == (
        '["1","1","room:lobby","phx_reply",{"response":{"echo":{"a":2,"b":1},"joined":true},'
        '"status":"ok"}]'
    )
