"""Reading untrusted request input: JSON bodies, fields, ids and times.

Errors are collected per field in Ecto's words ("can't be blank", "is invalid", …) and raised
together as one :class:`~server.domain.Invalid`, which the API turns into a 422.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from server.domain import BLANK, INVALID, Invalid, NotFound, canonical_uuid, is_storable_text
from server.limits import EMAIL_MAX_LENGTH, PASSWORD_MAX_BYTES, PASSWORD_MIN_LENGTH

INVALID_FORMAT = "has invalid format"

# "2025-01-01 19:00:07" (what the reservation system sends) or ISO 8601 with T, optional
# seconds, fraction and offset. Stricter than datetime.fromisoformat, which would also take
# dates without a time.
_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)?",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_ABSENT = object()


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object; an empty body counts as ``{}``.

    Anything else that is not a JSON object is a 400. (A body over the app's client_max_size
    has already been refused with 413 by ``request.read()``.)
    """
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        raise web.HTTPBadRequest() from None
    if not isinstance(value, dict):
        raise web.HTTPBadRequest()
    return value


def nested_object(body: Mapping[str, Any], key: str, *aliases: str) -> Mapping[str, Any]:
    """The object under ``key`` (or the first alias present), e.g. ``{"event": {...}}``."""
    for name in (key, *aliases):
        value = body.get(name)
        if value is not None:
            if not isinstance(value, dict):
                raise Invalid.field(name, INVALID)
            return value
    raise Invalid.field(key, BLANK)


def path_id(request: web.Request, name: str) -> str:
    """A UUID from the path; anything else cannot name a record, so it is a 404."""
    found = canonical_uuid(request.match_info[name])
    if found is None:
        raise NotFound(name)
    return found


def parse_timestamp(value: str) -> datetime | None:
    """A naive UTC datetime, truncated to whole seconds, or None if ``value`` is not a time."""
    value = value.strip()
    if not _TIMESTAMP.fullmatch(value):
        return None
    # fromisoformat takes at most 6 fraction digits; whole seconds are all we keep anyway.
    value = re.sub(r"(\.\d{6})\d+", r"\1", value)
    try:
        parsed = datetime.fromisoformat(value.upper())
    except ValueError:  # e.g. February 30th
        return None
    if parsed.tzinfo is not None:
        try:
            parsed = parsed.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:
            return None
    return parsed.replace(microsecond=0)


class Fields:
    """Reads the fields of one JSON object and collects what is wrong with them.

    Required readers return a placeholder when the field is wrong; call :meth:`check` before
    using any value, which raises Invalid if anything was wrong.
    """

    def __init__(self, data: Mapping[str, Any], errors: dict[str, list[str]] | None = None):
        self._data = data
        self.errors: dict[str, list[str]] = {} if errors is None else errors

    def add_error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    def check(self) -> None:
        if self.errors:
            raise Invalid(self.errors)

    def present(self, name: str) -> bool:
        """Whether the field is there with a value (not absent, not null)."""
        return self._data.get(name) is not None

    # -- text ---------------------------------------------------------------------------------

    def _given(self, name: str, *, required: bool) -> Any:
        """The raw value, or ``_ABSENT`` (with "can't be blank" recorded when it must be
        there, or when it is there but null or blank: as in Ecto, where every field of
        these records is required, present-but-empty is an error even when optional)."""
        raw = self._data.get(name, _ABSENT)
        if raw is _ABSENT:
            if required:
                self.add_error(name, BLANK)
            return _ABSENT
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            self.add_error(name, BLANK)
            return _ABSENT
        return raw

    def text(self, name: str, *, max_length: int) -> str:
        return self.optional_text(name, max_length=max_length, required=True) or ""

    def optional_text(self, name: str, *, max_length: int, required: bool = False) -> str | None:
        """A string, stripped."""
        raw = self._given(name, required=required)
        if raw is _ABSENT:
            return None
        if not isinstance(raw, str) or not is_storable_text(raw):
            self.add_error(name, INVALID)
            return None
        value = raw.strip()
        if len(value) > max_length:
            self.add_error(name, f"should be at most {max_length} character(s)")
            return None
        return value

    def email(self, name: str = "email") -> str:
        return self.optional_email(name, required=True) or ""

    def optional_email(self, name: str = "email", *, required: bool = False) -> str | None:
        """Compared and stored in lower case, so one address cannot sign up twice."""
        value = self.optional_text(name, max_length=EMAIL_MAX_LENGTH, required=required)
        if value is None:
            return None
        if not _EMAIL.fullmatch(value):
            self.add_error(name, INVALID_FORMAT)
            return None
        return value.lower()

    def password(self, names: tuple[str, ...] = ("password", "password_hash")) -> str:
        return self.optional_password(names, required=True) or ""

    def optional_password(
        self,
        names: tuple[str, ...] = ("password", "password_hash"),
        *,
        required: bool = False,
        check_strength: bool = True,
    ) -> str | None:
        """The plain password, from the first of ``names`` present. The fans' app sends it
        as ``password_hash``, but it is what the user typed; only its bcrypt hash is stored."""
        name = next((n for n in names if n in self._data), names[0])
        raw = self._data.get(name, _ABSENT)
        if raw is _ABSENT:
            if required:
                self.add_error(name, BLANK)
            return None
        if raw is None or raw == "":
            self.add_error(name, BLANK)
            return None
        if not isinstance(raw, str) or not is_storable_text(raw):
            self.add_error(name, INVALID)
            return None
        if len(raw.encode("utf-8")) > PASSWORD_MAX_BYTES:
            self.add_error(name, f"should be at most {PASSWORD_MAX_BYTES} byte(s)")
            return None
        if check_strength and len(raw) < PASSWORD_MIN_LENGTH:
            self.add_error(name, f"should be at least {PASSWORD_MIN_LENGTH} character(s)")
            return None
        return raw

    # -- times and ids ------------------------------------------------------------------------

    def timestamp(self, name: str) -> datetime:
        return self.optional_timestamp(name, required=True) or datetime.min

    def optional_timestamp(self, name: str, *, required: bool = False) -> datetime | None:
        raw = self._given(name, required=required)
        if raw is _ABSENT:
            return None
        parsed = parse_timestamp(raw) if isinstance(raw, str) else None
        if parsed is None:
            self.add_error(name, INVALID)
        return parsed

    def integer(
        self, name: str, *, minimum: int, maximum: int, required: bool = True
    ) -> int | None:
        """A whole JSON number within bounds (``600``, not ``"600"`` or ``600.5``)."""
        raw = self._data.get(name)
        if raw is None:
            if required:
                self.add_error(name, BLANK)
            return None
        if not isinstance(raw, int) or isinstance(raw, bool):
            self.add_error(name, INVALID)
            return None
        if raw < minimum:
            self.add_error(name, f"must be greater than or equal to {minimum}")
            return None
        if raw > maximum:
            self.add_error(name, f"must be less than or equal to {maximum}")
            return None
        return raw

    def uuid(self, name: str) -> str:
        """A required UUID field: a reference to another record."""
        raw = self._data.get(name)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            self.add_error(name, BLANK)
            return ""
        value = canonical_uuid(raw)
        if value is None:
            self.add_error(name, INVALID)
            return ""
        return value


def query_int(
    request: web.Request, name: str, errors: dict[str, list[str]], *, minimum: int, maximum: int
) -> int | None:
    """An optional integer query parameter within bounds; problems go into ``errors``."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if not re.fullmatch(r"[0-9]{1,18}", raw.strip()):
        errors.setdefault(name, []).append(INVALID)
        return None
    value = int(raw)
    if value < minimum:
        errors.setdefault(name, []).append(f"must be greater than or equal to {minimum}")
        return None
    if value > maximum:
        errors.setdefault(name, []).append(f"must be less than or equal to {maximum}")
        return None
    return value
