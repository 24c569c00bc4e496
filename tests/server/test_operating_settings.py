"""The settings of running the service (connections, the drain, /metrics) and the filter
that keeps a repeated log line to a few a minute."""

from __future__ import annotations

import gc
import logging
from pathlib import Path

import pytest

from server.config import ConfigError, Settings
from server.connection_limits import ConnectionLimits
from server.log_repeats import RepeatFilter
from server.serve import configure_collector, connection_cap

KEY = "k" * 40


def env(tmp_path: Path, **values: str) -> dict[str, str]:
    return {
        "DATABASE_URL": f"sqlite:///{tmp_path}/data/db.sqlite3",
        "SECRET_KEY": KEY,
        "SERVICE_API_KEY": KEY,
        **values,
    }


def test_defaults_and_every_variable(tmp_path: Path) -> None:
    settings = Settings.from_env(env(tmp_path))
    assert settings.connection_limits == ConnectionLimits()
    assert settings.shutdown_drain_seconds == 10
    assert settings.gc_young_threshold == 50_000
    assert settings.metrics_token is None
    assert connection_cap(settings, 1024) == 1024 - 128 - 10
    settings = Settings.from_env(
        env(
            tmp_path,
            SOCKET_FRAMES_PER_SECOND="5",
            SOCKET_BYTES_PER_SECOND="2048",
            CONNECTIONS_PER_IP="100",
            MAX_CONNECTIONS="500",
            HTTP_HEADER_TIMEOUT="3",
            SHUTDOWN_DRAIN_SECONDS="0",
            GC_YOUNG_THRESHOLD="0",
            METRICS_TOKEN="m" * 32,
        )
    )
    assert settings.connection_limits == ConnectionLimits(
        socket_frames_per_second=5,
        socket_bytes_per_second=2048,
        connections_per_ip=100,
        max_connections=500,
        header_timeout=3,
    )
    assert connection_cap(settings, 1024) == 500
    assert settings.shutdown_drain_seconds == 0
    assert settings.gc_young_threshold == 0
    assert settings.metrics_token == "m" * 32
    assert "m" * 32 not in repr(settings)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SOCKET_FRAMES_PER_SECOND", "0"),
        ("SOCKET_BYTES_PER_SECOND", "10"),
        ("CONNECTIONS_PER_IP", "many"),
        ("MAX_CONNECTIONS", "-1"),
        ("HTTP_HEADER_TIMEOUT", "0"),
        ("SHUTDOWN_DRAIN_SECONDS", "3600"),
        ("GC_YOUNG_THRESHOLD", "-1"),
        ("METRICS_TOKEN", "short"),
    ],
)
def test_a_wrong_value_names_its_variable(tmp_path: Path, variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_env(env(tmp_path, **{variable: value}))
    assert error.value.variable == variable


def test_the_collector_is_tuned_as_configured(tmp_path: Path) -> None:
    """Young collections every GC_YOUNG_THRESHOLD allocations (so a broadcast's short-lived
    objects die young instead of growing the old generation); 0 leaves Python's own."""
    saved = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        configure_collector(Settings.from_env(env(tmp_path, GC_YOUNG_THRESHOLD="0")))
        assert gc.get_threshold() == (700, 10, 10)
        configure_collector(Settings.from_env(env(tmp_path)))
        assert gc.get_threshold()[0] == 50_000
        configure_collector(Settings.from_env(env(tmp_path, GC_YOUNG_THRESHOLD="1234")))
        assert gc.get_threshold()[0] == 1234
    finally:
        gc.set_threshold(*saved)


def record(message: str, *args: object, name: str = "server") -> logging.LogRecord:
    return logging.LogRecord(name, logging.WARNING, __file__, 1, message, args, None)


def test_a_repeated_line_is_written_a_few_times_a_minute() -> None:
    now = [0.0]
    repeats = RepeatFilter(interval=60, burst=3, clock=lambda: now[0])
    written = [r for r in (record("refused %s", n) for n in range(100)) if repeats.filter(r)]
    assert [r.getMessage() for r in written] == [
        "refused 0",
        "refused 1",
        "refused 2 (more like this in the next 60 s: counted)",
    ]
    assert repeats.filter(record("another line"))  # each kind counts for itself
    now[0] = 61.0
    later = record("refused %s", 100)
    assert repeats.filter(later)
    assert later.getMessage() == "refused 100 (97 more like this in the last 61 s were not logged)"
    # Requests are lines of their own, however many.
    assert all(repeats.filter(record("GET /", name="aiohttp.access")) for _ in range(10))
