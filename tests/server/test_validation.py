"""Reading untrusted input never fails in any way but a validation error."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from server.api.validation import Fields, parse_timestamp
from server.domain import Invalid, canonical_uuid

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)
# No deadline: a busy CI machine must not turn a slow example into a failure.
relaxed = settings(deadline=None)
FIELDS = ["name", "email", "password", "password_hash", "start_time", "event_id"]


@relaxed
@given(st.text())
def test_parse_timestamp_returns_a_time_or_none(text: str) -> None:
    parsed = parse_timestamp(text)
    assert parsed is None or (parsed.tzinfo is None and parsed.microsecond == 0)


@relaxed
@given(st.dictionaries(st.sampled_from(FIELDS), json_values))
def test_fields_only_ever_raise_invalid(data: dict[str, Any]) -> None:
    fields = Fields(data)
    fields.text("name", max_length=10)
    fields.optional_email()
    fields.optional_password()
    fields.optional_timestamp("start_time")
    fields.uuid("event_id")
    try:
        fields.check()
    except Invalid as error:
        assert all(isinstance(m, str) for ms in error.errors.values() for m in ms)


@relaxed
@given(json_values)
def test_canonical_uuid_never_raises(value: Any) -> None:
    result = canonical_uuid(value)
    assert result is None or result == result.lower()


def test_the_reservation_systems_format_and_iso_8601() -> None:
    assert parse_timestamp("2025-01-01 19:00:07") == datetime(2025, 1, 1, 19, 0, 7)
    assert parse_timestamp("2025-01-01T19:00:07+03:00") == datetime(2025, 1, 1, 16, 0, 7)
    assert parse_timestamp(" 2025-01-01 19:00:07 ") == datetime(2025, 1, 1, 19, 0, 7)
    assert parse_timestamp("2025-01-01T19:00:07.123456789Z") == datetime(2025, 1, 1, 19, 0, 7)
    assert parse_timestamp("2025-01-01T19:00:07+03") == datetime(2025, 1, 1, 16, 0, 7)
    for bad in ("2025-01-01", "19:00", "2025-13-01 00:00:00", "9999-12-31T23:00:00-05:00"):
        assert parse_timestamp(bad) is None
