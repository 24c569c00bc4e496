"""The sans-I/O socket protocol: frames in, events and frames out, no event loop."""

from __future__ import annotations

import json
from typing import Any

import pytest

from phxpy.errors import InvalidMessage
from phxpy.protocol import (
    ChannelState,
    JoinRequested,
    LeaveRequested,
    MessageReceived,
    SocketProtocol,
)
from phxpy.serializer import V1, V2


def make(max_channels: int | None = 100, idle_timeout: float | None = 60.0) -> SocketProtocol:
    return SocketProtocol(
        V2,
        lambda topic: topic.startswith("room:"),
        now=0.0,
        idle_timeout=idle_timeout,
        max_channels=max_channels,
    )


def sent(proto: SocketProtocol) -> list[list[Any]]:
    return [json.loads(frame.text()) for frame in proto.data_to_send()]


def joined(proto: SocketProtocol, topic: str = "room:lobby", jr: str = "1") -> None:
    [event] = proto.receive_text(json.dumps([jr, jr, topic, "phx_join", {}]), 0.0)
    assert isinstance(event, JoinRequested)
    proto.join_accepted(topic, jr, jr, {})
    sent(proto)


def test_heartbeat_is_answered_before_any_join() -> None:
    proto = make()
    assert proto.receive_text('[null,"4","phoenix","heartbeat",{}]', 1.0) == []
    assert sent(proto) == [[None, "4", "phoenix", "phx_reply", {"response": {}, "status": "ok"}]]


def test_join_then_accept_replies_ok_with_the_join_refs() -> None:
    proto = make()
    events = proto.receive_text('["1","1","room:lobby","phx_join",{"a":1}]', 0.0)
    assert events == [JoinRequested("room:lobby", "1", "1", {"a": 1})]
    assert proto.state("room:lobby") is ChannelState.JOINING
    proto.join_accepted("room:lobby", "1", "1", {"history": []})
    assert sent(proto) == [
        ["1", "1", "room:lobby", "phx_reply", {"response": {"history": []}, "status": "ok"}]
    ]
    assert proto.state("room:lobby") is ChannelState.JOINED


def test_refused_join_leaves_the_topic_free_and_sends_no_close() -> None:
    proto = make()
    proto.receive_text('["1","1","room:secret","phx_join",{}]', 0.0)
    proto.join_refused("room:secret", "1", "1", {"reason": "unauthorized"})
    assert sent(proto) == [
        [
            "1",
            "1",
            "room:secret",
            "phx_reply",
            {"response": {"reason": "unauthorized"}, "status": "error"},
        ]
    ]
    assert proto.state("room:secret") is None


def test_unmatched_topic_join_replies_with_null_join_ref() -> None:
    proto = make()
    assert proto.receive_text('["1","1","nope","phx_join",{}]', 0.0) == []
    assert sent(proto) == [
        [
            None,
            "1",
            "nope",
            "phx_reply",
            {"response": {"reason": "unmatched topic"}, "status": "error"},
        ]
    ]


def test_message_to_a_topic_never_joined_is_unmatched() -> None:
    proto = make()
    assert proto.receive_text('["1","7","room:other","new_msg",{}]', 0.0) == []
    assert sent(proto) == [
        [
            None,
            "7",
            "room:other",
            "phx_reply",
            {"response": {"reason": "unmatched topic"}, "status": "error"},
        ]
    ]


def test_message_to_a_joined_topic_is_for_the_channel() -> None:
    proto = make()
    joined(proto)
    events = proto.receive_text('["1","2","room:lobby","new_msg",{"body":"hi"}]', 0.0)
    assert events == [MessageReceived("room:lobby", "new_msg", {"body": "hi"}, "2", "1")]
    proto.reply("room:lobby", "1", "2", "ok", {})
    assert sent(proto) == [["1", "2", "room:lobby", "phx_reply", {"response": {}, "status": "ok"}]]


def test_stale_join_ref_is_dropped_silently() -> None:
    proto = make()
    joined(proto, jr="6")
    assert proto.receive_text('["1","8","room:lobby","new_msg",{}]', 0.0) == []
    assert sent(proto) == []


def test_null_join_ref_is_delivered_and_replies_carry_the_channels() -> None:
    proto = make()
    joined(proto, jr="6")
    [event] = proto.receive_text('[null,"8","room:lobby","new_msg",{}]', 0.0)
    assert isinstance(event, MessageReceived) and event.join_ref == "6"


def test_leave_frees_the_topic_and_the_close_follows_the_reply() -> None:
    proto = make()
    joined(proto)
    [event] = proto.receive_text('["1","3","room:lobby","phx_leave",{}]', 0.0)
    assert event == LeaveRequested("room:lobby", "1", "3")
    assert proto.state("room:lobby") is None
    proto.reply("room:lobby", "1", "3", "ok", {})
    proto.leave_done("room:lobby", "1")
    assert sent(proto) == [
        ["1", "3", "room:lobby", "phx_reply", {"response": {}, "status": "ok"}],
        ["1", "1", "room:lobby", "phx_close", {}],
    ]
    proto.receive_text('["1","4","room:lobby","new_msg",{}]', 0.0)
    assert sent(proto)[0][4]["response"] == {"reason": "unmatched topic"}


def test_leave_of_a_topic_not_joined_echoes_the_message_join_ref() -> None:
    proto = make()
    assert proto.receive_text('["4","5","room:none","phx_leave",{}]', 0.0) == []
    assert sent(proto) == [["4", "5", "room:none", "phx_reply", {"response": {}, "status": "ok"}]]


def test_leave_with_a_stale_join_ref_is_ignored() -> None:
    proto = make()
    joined(proto, jr="6")
    assert proto.receive_text('["1","9","room:lobby","phx_leave",{}]', 0.0) == []
    assert sent(proto) == []
    assert proto.state("room:lobby") is ChannelState.JOINED


def test_duplicate_join_replies_then_closes_the_old_join_ref() -> None:
    proto = make()
    joined(proto, jr="1")
    [event] = proto.receive_text('["2","2","room:lobby","phx_join",{}]', 0.0)
    assert isinstance(event, JoinRequested) and event.replaced
    proto.join_accepted("room:lobby", "2", "2", {})
    assert sent(proto) == [
        ["2", "2", "room:lobby", "phx_reply", {"response": {}, "status": "ok"}],
        ["1", "1", "room:lobby", "phx_close", {}],
    ]


def test_duplicate_join_refused_still_closes_the_old_channel() -> None:
    proto = make()
    joined(proto, jr="1")
    proto.receive_text('["2","2","room:lobby","phx_join",{}]', 0.0)
    proto.join_refused("room:lobby", "2", "2", {"reason": "no"})
    frames = sent(proto)
    assert [f[3] for f in frames] == ["phx_reply", "phx_close"]
    assert frames[1][:2] == ["1", "1"]


def test_too_many_channels() -> None:
    proto = make(max_channels=2)
    joined(proto, "room:a", "1")
    joined(proto, "room:b", "2")
    assert proto.receive_text('["3","3","room:c","phx_join",{}]', 0.0) == []
    assert sent(proto) == [
        [
            "3",
            "3",
            "room:c",
            "phx_reply",
            {"response": {"reason": "too many channels joined"}, "status": "error"},
        ]
    ]


def test_crash_sends_phx_error_to_that_topic_and_frees_it() -> None:
    proto = make()
    joined(proto, "room:a", "1")
    joined(proto, "room:b", "2")
    proto.channel_crashed("room:a", "1")
    assert sent(proto) == [["1", "1", "room:a", "phx_error", {"reason": "channel_crash"}]]
    assert proto.state("room:a") is None
    assert proto.state("room:b") is ChannelState.JOINED


def test_server_close_sends_phx_close() -> None:
    proto = make()
    joined(proto)
    proto.channel_closed("room:lobby", "1")
    assert sent(proto) == [["1", "1", "room:lobby", "phx_close", {}]]


def test_push_carries_the_join_ref_and_no_ref() -> None:
    proto = make()
    joined(proto)
    proto.push("room:lobby", "1", "joined", {"status": "connected"})
    assert sent(proto) == [["1", None, "room:lobby", "joined", {"status": "connected"}]]


def test_idle_expiry_is_measured_from_the_last_frame() -> None:
    proto = make(idle_timeout=60.0)
    proto.receive_text('[null,"1","phoenix","heartbeat",{}]', 30.0)
    assert not proto.idle_expired(90.0)
    assert proto.idle_expired(90.5)
    assert not make(idle_timeout=None).idle_expired(1e9)


def test_malformed_frames_raise_invalid_message() -> None:
    proto = make()
    with pytest.raises(InvalidMessage):
        proto.receive_text("hello", 0.0)
    with pytest.raises(InvalidMessage):
        proto.receive_binary(b"\x01", 0.0)


def test_v1_frames_never_carry_join_ref() -> None:
    proto = SocketProtocol(V1, lambda t: True, now=0.0)
    [event] = proto.receive_text(
        '{"topic":"room:lobby","event":"phx_join","payload":{},"ref":"1"}', 0.0
    )
    assert isinstance(event, JoinRequested) and event.join_ref is None
    proto.join_accepted("room:lobby", None, "1", {})
    proto.channel_crashed("room:lobby", None)
    assert [json.loads(f.text()) for f in proto.data_to_send()] == [
        {
            "event": "phx_reply",
            "payload": {"response": {}, "status": "ok"},
            "ref": "1",
            "topic": "room:lobby",
        },
        {
            "event": "phx_error",
            "payload": {"reason": "channel_crash"},
            "ref": None,
            "topic": "room:lobby",
        },
    ]
