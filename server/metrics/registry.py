"""Every metric the service exposes, in a registry of the app's own (tests run many apps in
one process; the global registry would mix them up).

Label values come from the service's own code (channel names, refusal reasons, limit
kinds), never straight from a client: an event name a client sent is a label only once a
channel has handled it, and :class:`BoundedLabels` keeps even those few.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

PREFIX = "ticket_chat"
OTHER = "other"
FAST = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
FANOUT = (1, 2, 5, 10, 50, 100, 500, 1000, 5000, 10000, 50000)


class BoundedLabels:
    """At most ``limit`` distinct values of one label; later new ones are ``"other"``."""

    def __init__(self, limit: int = 50, longest: int = 64) -> None:
        self._known: set[str] = set()
        self._limit = limit
        self._longest = longest

    def __call__(self, value: object) -> str:
        if not isinstance(value, str) or not value or len(value) > self._longest:
            return OTHER
        if value in self._known:
            return value
        if len(self._known) >= self._limit:
            return OTHER
        self._known.add(value)
        return value


class _Gathered(Collector):
    """Figures read only when scraped (the writer's counters, sockets open)."""

    def __init__(self, collect: Callable[[], Iterable[Metric]]) -> None:
        self._collect = collect

    def collect(self) -> Iterable[Metric]:
        return self._collect()


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.events = BoundedLabels()
        self.reasons = BoundedLabels()

        def counter(name: str, doc: str, labels: Iterable[str] = ()) -> Counter:
            return Counter(f"{PREFIX}_{name}", doc, list(labels), registry=registry)

        self.connects = counter(
            "socket_connects",
            "Socket connects (WebSocket, or a LongPoll session's first poll), by outcome",
            ("transport", "result", "status"),
        )
        self.joins = counter(
            "channel_joins",
            "Channel joins, by outcome and refusal reason",
            ("channel", "result", "reason"),
        )
        self.handle_in = Histogram(
            f"{PREFIX}_handle_in_seconds",
            "Time a channel took to handle a message from its client",
            ["channel", "event", "result"],
            buckets=FAST,
            registry=registry,
        )
        self.broadcasts = Histogram(
            f"{PREFIX}_broadcast_subscribers",
            "Subscribers on this node a broadcast was delivered to (the fan-out)",
            ["event"],
            buckets=FANOUT,
            registry=registry,
        )
        self.broadcast_seconds = Histogram(
            f"{PREFIX}_broadcast_seconds",
            "Time a broadcast's delivery to this node's subscribers took",
            ["event"],
            buckets=FAST,
            registry=registry,
        )
        self.dropped = counter(
            "slow_clients_dropped",
            "Clients disconnected for letting too much pile up unread",
            ("transport",),
        )
        self.longpoll_ended = counter(
            "longpoll_sessions_ended", "LongPoll sessions ended, by why", ("reason",)
        )
        self.limits = counter(
            "limits_hit",
            "Requests, connections and frames that ran into a limit, by limit",
            ("limit",),
        )
        self.database = Histogram(
            f"{PREFIX}_database_seconds",
            "Time a database connection was held: a read, a transaction, a single write",
            ["operation"],
            buckets=FAST,
            registry=registry,
        )
        self.channels_open = Gauge(
            f"{PREFIX}_channels_open", "Joined channels", ["channel"], registry=registry
        )
        self.longpoll_open = Gauge(
            f"{PREFIX}_longpoll_sessions_open", "LongPoll sessions", registry=registry
        )

    def limit_hit(self, limit: str) -> None:
        self.limits.labels(limit).inc()

    def gather(self, collect: Callable[[], Iterable[Metric]]) -> None:
        """Add figures computed at scrape time."""
        self.registry.register(_Gathered(collect))


def counter_family(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(f"{PREFIX}_{name}", doc, value=value)


def gauge_family(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}_{name}", doc, value=value)
