"""Token buckets and the client's address, the parts the sign-in limits are made of."""

from __future__ import annotations

import pytest

from server.client_ip import address_key, client_address, parse_networks
from server.ratelimit import Rate, RateLimiter, parse_rate, retry_after_header


class Time:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("10/5m", Rate(10, 300)),
        ("300/60", Rate(300, 60)),
        ("300 / 60s", Rate(300, 60)),
        ("5/1h", Rate(5, 3600)),
        ("1/0.5", Rate(1, 0.5)),
        ("off", None),
        ("OFF", None),
    ],
)
def test_rates_are_written_count_per_duration(text: str, rate: Rate | None) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["", "10", "10/", "/5m", "0/5m", "10/0", "10/5d", "ten/5m"])
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rate(text)


def test_a_bucket_allows_a_burst_then_refills_steadily() -> None:
    time = Time()
    limiter = RateLimiter(Rate(3, 30), now=time)
    for _ in range(3):
        assert limiter.wait_time("a") == 0
        limiter.take("a")
    assert limiter.wait_time("a") == pytest.approx(10)
    assert limiter.wait_time("b") == 0  # keys are independent
    time.now += 4
    assert limiter.wait_time("a") == pytest.approx(6)
    time.now += 6
    assert limiter.wait_time("a") == 0
    limiter.take("a")
    assert limiter.wait_time("a") == pytest.approx(10)
    time.now += 10_000
    for _ in range(3):  # full again, never more than full
        limiter.take("a")
    assert limiter.wait_time("a") > 0


def test_a_clock_set_back_does_not_drain_or_fill() -> None:
    time = Time()
    limiter = RateLimiter(Rate(1, 60), now=time)
    limiter.take("a")
    time.now -= 3600
    assert limiter.wait_time("a") == pytest.approx(60)


def test_no_rate_never_limits_and_keeps_nothing() -> None:
    limiter = RateLimiter(None, now=Time())
    for _ in range(1000):
        assert limiter.wait_time("a") == 0
        limiter.take("a")
    assert len(limiter) == 0


def test_the_table_of_keys_is_bounded() -> None:
    time = Time()
    limiter = RateLimiter(Rate(1, 60), now=time, max_keys=100)
    for n in range(500):  # an attacker's random emails
        limiter.take(f"random{n}@example.com")
        assert len(limiter) <= 100
    # The least recently touched key is the one forgotten.
    small = RateLimiter(Rate(1, 60), now=time, max_keys=2)
    small.take("a")
    small.take("b")
    small.take("a")
    small.take("c")
    assert small.wait_time("a") > 0
    assert small.wait_time("c") > 0
    assert small.wait_time("b") == 0


def test_retry_after_is_whole_seconds_at_least_one() -> None:
    assert retry_after_header(0.01) == "1"
    assert retry_after_header(1.0) == "1"
    assert retry_after_header(29.2) == "30"


# -- the client's address --------------------------------------------------------------------

PROXIES = parse_networks(["127.0.0.1", "10.0.0.0/8", "::1"])


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        # No proxy trusted or the peer is not one: the peer, whatever the header says.
        ("203.0.113.7", ["198.51.100.1"], "203.0.113.7"),
        # A trusted proxy: the rightmost address that is not a trusted proxy.
        ("127.0.0.1", ["198.51.100.1"], "198.51.100.1"),
        ("127.0.0.1", ["6.6.6.6, 198.51.100.1, 10.1.2.3"], "198.51.100.1"),
        ("127.0.0.1", ["6.6.6.6", "198.51.100.1"], "198.51.100.1"),
        ("::1", ["2001:db8::5"], "2001:db8::5"),
        ("::ffff:127.0.0.1", ["198.51.100.1"], "198.51.100.1"),
        # Only proxies in the chain, or no header: the last one seen.
        ("127.0.0.1", ["10.0.0.1"], "10.0.0.1"),
        ("127.0.0.1", [], "127.0.0.1"),
        # Garbage stops the walk at the last trustworthy hop.
        ("127.0.0.1", ["198.51.100.1, not-an-ip"], "127.0.0.1"),
        ("127.0.0.1", ["[2001:db8::7]:443"], "2001:db8::7"),
        ("127.0.0.1", ["198.51.100.1:5555"], "198.51.100.1"),
    ],
)
def test_the_client_address_behind_trusted_proxies(
    peer: str, forwarded: list[str], client: str
) -> None:
    found = client_address(peer, forwarded, PROXIES)
    assert str(found) == client


def test_without_trusted_proxies_the_header_is_ignored() -> None:
    assert str(client_address("127.0.0.1", ["198.51.100.1"], ())) == "127.0.0.1"


def test_ipv6_clients_count_per_64() -> None:
    first = client_address("2001:db8:1:2:aaaa::1", [], ())
    second = client_address("2001:db8:1:2:bbbb::9", [], ())
    other = client_address("2001:db8:1:3::1", [], ())
    assert address_key(first) == address_key(second) == "2001:db8:1:2::/64"
    assert address_key(other) != address_key(first)
    assert address_key(client_address("192.0.2.1", [], ())) == "192.0.2.1"
    assert address_key(None) == "unknown"


def test_bad_proxy_entries_are_named() -> None:
    with pytest.raises(ValueError, match="'nope'"):
        parse_networks(["10.0.0.0/8", "nope"])
