from __future__ import annotations

from phxpy.origin import OriginPolicy


def test_default_requires_the_requests_own_host() -> None:
    policy = OriginPolicy(True)
    assert policy.allows(None, "example.com")
    assert policy.allows("https://example.com", "example.com:4000")
    assert not policy.allows("http://evil.example", "example.com")
    assert not policy.allows("null", "example.com")


def test_allow_list_matches_each_given_part() -> None:
    policy = OriginPolicy(["https://example.com", "//another.com:888", "//*.other.com"])
    assert policy.allows("https://example.com", None)
    assert not policy.allows("http://example.com", None)
    assert policy.allows("http://another.com:888", None)
    assert not policy.allows("http://another.com", None)
    assert policy.allows("https://other.com", None)
    assert policy.allows("https://a.b.other.com", None)
    assert not policy.allows("https://notother.com", None)


def test_disabled_and_custom() -> None:
    assert OriginPolicy(False).allows("http://anything", None)
    assert OriginPolicy(lambda origin: origin.endswith(".test")).allows("http://a.test", None)
    assert not OriginPolicy(lambda origin: False).allows("http://a.test", None)
