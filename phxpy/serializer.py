"""Serializers: bytes and text to and from :class:`~phxpy.message.Message`, without I/O.

V1 (``vsn`` 1.0.x) is one JSON object per frame (text or binary: the opcode does not matter)
and never carries ``join_ref`` out.
V2 (``vsn`` 2.0.x, what phoenix.js speaks) is a JSON array ``[join_ref, ref, topic, event,
payload]`` per text frame, plus binary frames whose header strings are length-prefixed by
one byte::

    client push   0 | len(join_ref) len(ref) len(topic) len(event) | strings | payload
    server push   0 | len(join_ref) len(topic) len(event)          | strings | payload
    server reply  1 | len(join_ref) len(ref) len(topic) len(status)| strings | payload
    broadcast     2 | len(topic) len(event)                        | strings | payload

Decoding never raises anything but :class:`~phxpy.errors.InvalidMessage`.
"""

from __future__ import annotations

import json
from typing import Any, Final, Protocol

from .errors import EncodeError, InvalidMessage
from .message import PHX_REPLY, Frame, Message, RawJSON
from .types import Event, Payload, Topic

_KIND_PUSH: Final = 0
_KIND_REPLY: Final = 1
_KIND_BROADCAST: Final = 2
_MAX_HEADER_FIELD: Final = 255


class Serializer(Protocol):
    """Turns frames into messages and back. Implementations are pure and stateless."""

    vsn: str

    def decode_text(self, text: str) -> Message: ...

    def decode_binary(self, data: bytes) -> Message: ...

    def encode(self, message: Message) -> Frame: ...

    def encode_broadcast(self, topic: Topic, event: Event, payload: Payload) -> Frame: ...


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity; JSON (and Phoenix's Jason) does not, and
    # echoing them would send invalid JSON to every other subscriber.
    raise ValueError(f"{name} is not valid JSON")


_decoder = json.JSONDecoder(parse_constant=_reject_constant)
# Keys sorted: Phoenix's Jason writes small maps (up to 32 keys, i.e. nearly all) in key
# order, so frames come out byte for byte as Phoenix's. The cost is paid once per broadcast.
_encoder = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, sort_keys=True
)
_ascii_encoder = json.JSONEncoder(
    ensure_ascii=True, separators=(",", ":"), allow_nan=False, sort_keys=True
)


def json_dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON, as Jason writes it. Raises :class:`EncodeError`."""
    try:
        return _encoder.encode(value).encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (a client may send "\\ud800") cannot be UTF-8; \\u escapes can.
        return _ascii_encoder.encode(value).encode("ascii")
    except (TypeError, ValueError, RecursionError) as exc:
        raise EncodeError(f"payload is not JSON-serializable: {exc}") from None


def json_loads(text: str) -> Any:
    """Strict JSON. Raises :class:`InvalidMessage` for anything that is not JSON."""
    try:
        return _decoder.decode(text)
    except (ValueError, RecursionError) as exc:
        raise InvalidMessage(f"invalid JSON: {exc}") from None


def _ref(value: Any, field: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise InvalidMessage(f"{field} must be a string or null")


def _name(value: Any, field: str) -> str:
    if isinstance(value, str):
        return value
    raise InvalidMessage(f"{field} must be a string")


class V1JSONSerializer:
    """``vsn`` 1.0.0: ``{"topic", "event", "payload", "ref"[, "join_ref"]}``; no binary
    payloads."""

    vsn = "1.0.0"

    def decode_text(self, text: str) -> Message:
        obj = json_loads(text)
        if not isinstance(obj, dict):
            raise InvalidMessage("a V1 message is a JSON object")
        try:
            topic, event, payload, ref = obj["topic"], obj["event"], obj["payload"], obj["ref"]
        except KeyError as exc:
            raise InvalidMessage(f"a V1 message needs the key {exc.args[0]!r}") from None
        return Message(
            _name(topic, "topic"),
            _name(event, "event"),
            payload,
            _ref(ref, "ref"),
            _ref(obj.get("join_ref"), "join_ref"),
        )

    def decode_binary(self, data: bytes) -> Message:
        """The same JSON object in a binary frame: Phoenix's V1 serializer ignores the
        opcode, and clients built on Python's ``websockets`` send bytes as binary frames."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidMessage("a V1 binary frame must hold UTF-8 JSON") from None
        return self.decode_text(text)

    def encode(self, message: Message) -> Frame:
        if _has_binary(message):
            raise EncodeError("the V1 serializer cannot carry binary payloads")
        # V1 never sends join_ref.
        payload = _raw_reply(message) or message.payload
        if isinstance(payload, RawJSON):
            # Spliced in where sort_keys puts "payload": between "event" and "ref".
            head = json_dumps({"event": message.event})[:-1]
            tail = json_dumps({"ref": message.ref, "topic": message.topic})[1:]
            return Frame(b"".join((head, b',"payload":', payload.data, b",", tail)))
        obj = {
            "event": message.event,
            "payload": message.payload,
            "ref": message.ref,
            "topic": message.topic,
        }
        return Frame(json_dumps(obj))

    def encode_broadcast(self, topic: Topic, event: Event, payload: Payload) -> Frame:
        return self.encode(Message(topic, event, payload))


class V2JSONSerializer:
    """``vsn`` 2.0.0: ``[join_ref, ref, topic, event, payload]`` text frames, binary frames."""

    vsn = "2.0.0"

    def decode_text(self, text: str) -> Message:
        arr = json_loads(text)
        if not isinstance(arr, list) or len(arr) < 5:
            raise InvalidMessage(
                "a V2 message is a JSON array [join_ref, ref, topic, event, payload]"
            )
        join_ref, ref, topic, event, payload = arr[:5]
        return Message(
            _name(topic, "topic"),
            _name(event, "event"),
            payload,
            _ref(ref, "ref"),
            _ref(join_ref, "join_ref"),
        )

    def decode_binary(self, data: bytes) -> Message:
        if len(data) < 5:
            raise InvalidMessage("binary frame shorter than its header")
        if data[0] != _KIND_PUSH:
            raise InvalidMessage(f"binary frame kind {data[0]} is not a client push")
        lengths = data[1], data[2], data[3], data[4]
        fields: list[str] = []
        offset = 5
        for length in lengths:
            end = offset + length
            if end > len(data):
                raise InvalidMessage("binary frame header overruns the frame")
            try:
                fields.append(data[offset:end].decode("utf-8"))
            except UnicodeDecodeError:
                raise InvalidMessage("binary frame header is not UTF-8") from None
            offset = end
        join_ref, ref, topic, event = fields
        return Message(topic, event, data[offset:], ref or None, join_ref or None)

    def encode(self, message: Message) -> Frame:
        payload = message.payload
        if isinstance(payload, bytes):
            return Frame(
                _binary(
                    _KIND_PUSH, (message.join_ref or "", message.topic, message.event), payload
                ),
                binary=True,
            )
        if message.event == PHX_REPLY and isinstance(payload, dict):
            response = payload.get("response")
            if isinstance(response, bytes):
                status = str(payload.get("status"))
                header = (message.join_ref or "", message.ref or "", message.topic, status)
                return Frame(_binary(_KIND_REPLY, header, response), binary=True)
        payload = _raw_reply(message) or payload
        if isinstance(payload, RawJSON):
            return Frame(
                _splice([message.join_ref, message.ref, message.topic, message.event], payload)
            )
        return Frame(
            json_dumps([message.join_ref, message.ref, message.topic, message.event, payload])
        )

    def encode_broadcast(self, topic: Topic, event: Event, payload: Payload) -> Frame:
        if isinstance(payload, bytes):
            return Frame(_binary(_KIND_BROADCAST, (topic, event), payload), binary=True)
        if isinstance(payload, RawJSON):
            return Frame(_splice([None, None, topic, event], payload))
        return Frame(json_dumps([None, None, topic, event, payload]))


def _raw_reply(message: Message) -> RawJSON | None:
    """A reply whose response is a :class:`RawJSON`, as one RawJSON payload (the response
    spliced in as it is), so that a response encoded once can be sent as a reply and a
    broadcast alike; None for anything else."""
    payload = message.payload
    if message.event != PHX_REPLY or not isinstance(payload, dict):
        return None
    response = payload.get("response")
    if not isinstance(response, RawJSON):
        return None
    status = json_dumps(payload.get("status"))
    return RawJSON(b"".join((b'{"response":', response.data, b',"status":', status, b"}")))


def _splice(header: list[Any], payload: RawJSON) -> bytes:
    """``[*header, payload]`` with the payload's bytes as they are: the header's closing
    bracket makes way for them."""
    return b"".join((json_dumps(header)[:-1], b",", payload.data, b"]"))


def _binary(kind: int, fields: tuple[str, ...], payload: bytes) -> bytes:
    try:
        encoded = [field.encode("utf-8") for field in fields]
    except UnicodeEncodeError:
        raise EncodeError("binary header fields must be valid Unicode") from None
    for field in encoded:
        if len(field) > _MAX_HEADER_FIELD:
            raise EncodeError("binary header fields are limited to 255 bytes")
    return b"".join((bytes((kind, *map(len, encoded))), *encoded, payload))


def _has_binary(message: Message) -> bool:
    payload = message.payload
    if isinstance(payload, bytes):
        return True
    return isinstance(payload, dict) and isinstance(payload.get("response"), bytes)


V1 = V1JSONSerializer()
V2 = V2JSONSerializer()


def for_vsn(vsn: Any) -> Serializer | None:
    """The serializer for a ``vsn`` connect parameter (absent means 1.0.0), or ``None``.

    Like Phoenix's ``~> 1.0.0`` / ``~> 2.0.0`` requirements: any 1.0.x or 2.0.x.
    """
    if vsn is None:
        return V1
    if not isinstance(vsn, str):
        return None
    parts = vsn.split(".")
    if len(parts) != 3 or not all(p.isascii() and p.isdigit() for p in parts):
        return None
    if parts[0] == "1" and parts[1] == "0":
        return V1
    if parts[0] == "2" and parts[1] == "0":
        return V2
    return None
