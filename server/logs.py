"""The service's logs: text for a terminal, or JSON (LOG_FORMAT=json), one line per event,
and never a secret.

Secrets stay out in two ways. What is logged is chosen not to hold any: the access log writes
a request's path without its query string (where socket tokens and LongPoll session tokens
travel), and no code logs a body or a header. Behind that, every line is scrubbed before it is
written: the configured keys, the database password, anything shaped like a JWT or a bcrypt
hash, and the value of ``token=`` or ``Bearer`` are replaced by ``[redacted]``.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO
from urllib.parse import unquote, urlsplit

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

from server.config import Settings
from server.log_repeats import RepeatFilter

REDACTED = "[redacted]"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_SECRET_SHAPES = re.compile(
    r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"  # a JWT
    r"|\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}"  # a bcrypt hash
    r"|(?<=[?&;\s]token=)[^&\s\"']+"  # a token parameter
    r"|(?<=[Bb]earer )[^\s\"',]+"  # a bearer credential
    r"|(?<=base64url\.bearer\.phx\.)[^\s\"',]+",  # phoenix.js's authToken sub-protocol
)
# Attributes every LogRecord has: the rest were passed as ``extra`` and go into JSON lines.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class Redactor:
    """Replaces secrets in text: given values, and the shapes of tokens and hashes."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so that a secret containing another is replaced whole.
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return _SECRET_SHAPES.sub(REDACTED, text)


def settings_secrets(settings: Settings) -> list[str]:
    """The configured values no log line may show."""
    secrets = [settings.secret_key, settings.service_api_key]
    if settings.metrics_token:
        secrets.append(settings.metrics_token)
    password = urlsplit(settings.database_url).password
    if password:
        secrets += [password, unquote(password)]
    return secrets


class TextFormatter(logging.Formatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__(TEXT_FORMAT)
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self._redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", ...extra fields, "exception"?}`` per line."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(self._clean(entry), ensure_ascii=False, default=str)

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._redact(value)
        if isinstance(value, dict):
            return {key: self._clean(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean(item) for item in value]
        if isinstance(value, int | float | bool) or value is None:
            return value
        return self._redact(str(value))


def configure_logging(
    settings: Settings, *, stream: TextIO | None = None, level: int = logging.INFO
) -> None:
    """Send every log record to ``stream`` (stderr) in the configured format."""
    redact = Redactor(settings_secrets(settings))
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    formatter = JsonFormatter(redact) if settings.log_format == "json" else TextFormatter(redact)
    handler.setFormatter(formatter)
    # A line repeated thousands of times a second (a flood, an overload) is written a few
    # times a minute, with a count of the rest.
    handler.addFilter(RepeatFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)


class AccessLogger(AbstractAccessLogger):
    """One line per request: who, what path (never the query string), status, size, time."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s %s %s %.1fms",
            request.remote,
            request.method,
            request.path,
            response.status,
            time * 1000,
            extra={
                "remote": request.remote,
                "method": request.method,
                "path": request.path,
                "status": response.status,
                "bytes": response.body_length,
                "duration_ms": round(time * 1000, 1),
            },
        )
