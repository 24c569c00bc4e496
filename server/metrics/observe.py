"""Where the numbers come from: phxpy's telemetry, REST answers, the message writer.

Limits hit, by the name of the limit (the README's Limits table):

- ``socket_frames`` (the socket's budget made it wait: ``SOCKET_FRAMES_PER_SECOND`` or
  ``SOCKET_BYTES_PER_SECOND``), ``frame_bytes`` (``MAX_FRAME_BYTES``), ``frame_containers``
  (``MAX_FRAME_CONTAINERS``), ``longpoll_body``, ``longpoll_posts``, ``outbound_buffer`` (a
  slow client dropped): from phxpy;
- ``sockets_per_user``, ``ticket_guessing``, ``messages_per_second``,
  ``history_per_second``: the chat's refusals;
- ``sign_in``, ``sign_up``, ``password_hashing``, ``request_body``: REST answers 429, 503
  and 413;
- ``connections_per_ip``, ``max_connections``: from :mod:`server.connections`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiohttp import web
from prometheus_client.core import Metric

import phxpy
from phxpy import telemetry
from server.chat.event_channel import (
    TOO_MANY_ATTEMPTS,
    TOO_MANY_MESSAGES,
    TOO_MANY_REQUESTS,
    UNKNOWN_EVENT,
    EventChannel,
)
from server.chat.setup import Chat
from server.chat.user_channel import UserChannel
from server.metrics.registry import OTHER, ServiceMetrics, counter_family, gauge_family

CHANNELS: dict[type, str] = {EventChannel: "event", UserChannel: "user"}
PHXPY_LIMITS = {
    "inbound_budget": "socket_frames",
    "max_frame_size": "frame_bytes",
    "max_frame_containers": "frame_containers",
    "longpoll_max_body": "longpoll_body",
    "longpoll_max_posts": "longpoll_posts",
}
REFUSALS = {
    TOO_MANY_ATTEMPTS: "ticket_guessing",
    TOO_MANY_MESSAGES: "messages_per_second",
    TOO_MANY_REQUESTS: "history_per_second",
}
SOCKET_PATHS = "/socket/"


def _reason(response: Any) -> object:
    return response.get("reason") if isinstance(response, dict) else None


def observe_endpoint(endpoint: phxpy.Endpoint, metrics: ServiceMetrics) -> None:
    """Turn the endpoint's telemetry into metrics. The handlers of the events that come
    with every message (``HandledIn``, ``Broadcasted``) keep the labelled series they
    observe, so a message costs two or three observations and no label lookup."""
    handle_in_series: dict[tuple[type, str, str], Any] = {}
    broadcast_series: dict[str, tuple[Any, Any]] = {}

    def connected(event: telemetry.SocketConnected) -> None:
        status = "" if event.status is None else str(event.status)
        metrics.connects.labels(event.transport, event.result, status).inc()
        if event.status == 429:
            metrics.limit_hit("sockets_per_user")

    def joined(event: telemetry.ChannelJoined) -> None:
        channel = CHANNELS.get(event.channel, OTHER)
        reason = "" if event.result == "ok" else metrics.reasons(_reason(event.response))
        metrics.joins.labels(channel, event.result, reason).inc()
        if event.result == "ok":
            metrics.channels_open.labels(channel).inc()
        elif (limit := REFUSALS.get(reason)) is not None:
            metrics.limit_hit(limit)

    def closed(event: telemetry.ChannelClosed) -> None:
        metrics.channels_open.labels(CHANNELS.get(event.channel, OTHER)).dec()

    def handled(event: telemetry.HandledIn) -> None:
        reason = _reason(event.response) if event.result == "error" else None
        # An event name is the client's: it becomes a label only if a channel knew it.
        name = OTHER if reason == UNKNOWN_EVENT else metrics.events(event.event)
        key = (event.channel, name, event.result)
        series = handle_in_series.get(key)
        if series is None:
            channel = CHANNELS.get(event.channel, OTHER)
            series = handle_in_series[key] = metrics.handle_in.labels(channel, name, event.result)
        series.observe(event.duration)
        if isinstance(reason, str) and (limit := REFUSALS.get(reason)) is not None:
            metrics.limit_hit(limit)

    def broadcasted(event: telemetry.Broadcasted) -> None:
        series = broadcast_series.get(event.event)
        if series is None:
            name = metrics.events(event.event)
            series = (metrics.broadcasts.labels(name), metrics.broadcast_seconds.labels(name))
            if name != OTHER:
                broadcast_series[event.event] = series
        series[0].observe(event.subscribers)
        series[1].observe(event.duration)

    def dropped(event: telemetry.ClientDropped) -> None:
        metrics.dropped.labels(event.transport).inc()
        metrics.limit_hit("outbound_buffer")

    def longpoll_started(event: telemetry.LongPollStarted) -> None:
        metrics.longpoll_open.inc()

    def longpoll_ended(event: telemetry.LongPollEnded) -> None:
        metrics.longpoll_open.dec()
        metrics.longpoll_ended.labels(event.reason).inc()

    def limit(event: telemetry.LimitHit) -> None:
        metrics.limit_hit(PHXPY_LIMITS.get(event.limit, OTHER))

    endpoint.attach(telemetry.SocketConnected, connected)
    endpoint.attach(telemetry.ChannelJoined, joined)
    endpoint.attach(telemetry.ChannelClosed, closed)
    endpoint.attach(telemetry.HandledIn, handled)
    endpoint.attach(telemetry.Broadcasted, broadcasted)
    endpoint.attach(telemetry.ClientDropped, dropped)
    endpoint.attach(telemetry.LongPollStarted, longpoll_started)
    endpoint.attach(telemetry.LongPollEnded, longpoll_ended)
    endpoint.attach(telemetry.LimitHit, limit)


def observe_chat(chat: Chat, metrics: ServiceMetrics) -> None:
    """Figures read when scraped: sockets open, and the message writer's counters."""

    def collect() -> Iterable[Metric]:
        yield gauge_family(
            "sockets_open",
            "Open sockets: WebSockets and LongPoll sessions",
            chat.endpoint.connection_count,
        )
        writer = chat.context.message_writer
        if writer is None:
            return
        yield counter_family("messages_stored", "Chat messages stored", writer.stored)
        yield counter_family(
            "message_batches", "Transactions of the message writer (group commits)", writer.batches
        )
        yield gauge_family(
            "messages_waiting", "Messages waiting for the next group commit", writer.waiting
        )

    metrics.gather(collect)


def rest_limit(path: str, response: web.StreamResponse) -> str | None:
    """The limit a REST answer reports, if it reports one."""
    status = response.status
    if status == 413:
        return "request_body"
    if status == 429:
        # Checks of a current password count against the account's sign-in limit.
        return "sign_up" if path == "/api/users/create" else "sign_in"
    if status == 503 and "Retry-After" in response.headers:
        return "password_hashing"  # (an unhealthy database says 503 without it)
    return None


def observe_rest(app: web.Application, metrics: ServiceMetrics) -> None:
    """Count the REST answers that refuse for a limit (phxpy's own are counted above)."""

    async def on_response(request: web.Request, response: web.StreamResponse) -> None:
        if response.status in (413, 429, 503) and not request.path.startswith(SOCKET_PATHS):
            limit = rest_limit(request.path, response)
            if limit is not None:
                metrics.limit_hit(limit)

    app.on_response_prepare.append(on_response)
