"""Settings, read once from the environment at start.

Nothing else in the service reads ``os.environ``. A wrong value raises :class:`ConfigError`
naming the variable, which ``python -m server`` prints as one line before exiting with status 2.
Secrets are kept out of ``repr`` and never appear in error messages.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from server.auth.throttle import AuthLimits
from server.client_ip import IPNetwork, parse_networks
from server.connection_limits import ConnectionLimits
from server.dev_secrets import MIN_SECRET_LENGTH, load_or_create_secret
from server.ratelimit import Rate, parse_rate

DEFAULT_DATABASE_URL = "sqlite:///data/ticket_chat.sqlite3"
DEFAULT_DATA_DIR = Path("data")
SERVICE_KEY_FILE = "service_api_key"
SECRET_KEY_FILE = "secret_key"
DEFAULT_TOKEN_TTL_SECONDS = 7 * 24 * 3600
DEFAULT_BCRYPT_ROUNDS = 12
# JSON bodies of this API are small; anything bigger is refused with 413 before it is parsed.
DEFAULT_MAX_BODY_BYTES = 64 * 1024
DEFAULT_DATABASE_POOL_SIZE = 10
DEFAULT_CHAT_MESSAGES_PER_SECOND = 5.0
DEFAULT_CHAT_MESSAGE_BURST = 10
DEFAULT_CHAT_SOCKETS_PER_USER = 20
DEFAULT_PRESENCE_LIST_LIMIT = 1000
# Requests waiting for a password hash beyond the ones running; more are answered 503.
DEFAULT_PASSWORD_HASH_QUEUE = 16
# Seconds over which a shutdown spreads the closing of sockets (1012: clients reconnect).
DEFAULT_SHUTDOWN_DRAIN_SECONDS = 10
# Allocations between the garbage collector's young collections (phxpy.tune_collector).
DEFAULT_GC_YOUNG_THRESHOLD = 50_000
DEFAULT_CLUSTER_DOWN_AFTER = 5
"""Seconds of silence after which a node of a cluster is taken for dead."""
MAX_WORKERS = 64
_WILDCARD_HOSTS = ("", "0.0.0.0", "::", "[::]")
LOG_FORMATS = ("text", "json")


def default_hash_workers() -> int:
    """Hashes at a time: one per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


DEFAULT_WEBHOOK_TIMEOUT_SECONDS = 10
DEFAULT_WEBHOOK_CONCURRENCY = 4
DEFAULT_WEBHOOK_RETRY_BASE_MS = 1000
DEFAULT_WEBHOOK_RETRY_MAX_MS = 3600 * 1000


@dataclass(frozen=True)
class WebhookSettings:
    """Where every notification is also delivered (see ``server.webhooks``)."""

    url: str
    secret: str = field(repr=False)
    """Signs each delivery (HMAC-SHA256); the receiver checks the signature with it."""
    timeout_seconds: float = DEFAULT_WEBHOOK_TIMEOUT_SECONDS
    """How long one delivery attempt may take before it counts as failed."""
    concurrency: int = DEFAULT_WEBHOOK_CONCURRENCY
    """Deliveries in flight at once."""
    retry_base_seconds: float = DEFAULT_WEBHOOK_RETRY_BASE_MS / 1000
    """The wait after the first failed attempt; it doubles after each further failure..."""
    retry_max_seconds: float = DEFAULT_WEBHOOK_RETRY_MAX_MS / 1000
    """...up to this."""


class ConfigError(Exception):
    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


@dataclass(frozen=True)
class Settings:
    database_url: str
    """``sqlite:///path`` or ``postgresql://…`` (as :func:`normalize_database_url` makes it)."""
    secret_key: str = field(repr=False)
    """Signs the users' JWTs (HS256)."""
    service_api_key: str = field(repr=False)
    """The reservation system's bearer key."""
    host: str = "127.0.0.1"
    port: int = 4000
    token_ttl_seconds: int = DEFAULT_TOKEN_TTL_SECONDS
    allowed_origins: tuple[str, ...] = ()
    bcrypt_rounds: int = DEFAULT_BCRYPT_ROUNDS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    database_pool_size: int = DEFAULT_DATABASE_POOL_SIZE
    """PostgreSQL connections kept open (SQLite: one writer and a few readers, always)."""
    chat_messages_per_second: float = DEFAULT_CHAT_MESSAGES_PER_SECOND
    """Each user's sustained posting rate in the chat (all rooms, all tabs of this node)."""
    chat_message_burst: int = DEFAULT_CHAT_MESSAGE_BURST
    """How many posts a user may make at once before the rate applies."""
    chat_sockets_per_user: int = DEFAULT_CHAT_SOCKETS_PER_USER
    """Open connections (WebSocket or LongPoll) one user may hold on a node."""
    presence_list_limit: int = DEFAULT_PRESENCE_LIST_LIMIT
    """Above this many members online, a room's members get a count instead of the list."""
    public_url: str | None = None
    """Where browsers reach the service; None: ``http://HOST:PORT``. See :attr:`public_origin`."""
    cors_origins: tuple[str, ...] = ()
    """Origins of browser apps allowed to call the REST API (``*``: any)."""
    trusted_proxies: tuple[IPNetwork, ...] = ()
    """Peers whose ``X-Forwarded-For`` names the client."""
    auth_limits: AuthLimits = field(default_factory=AuthLimits)
    password_hash_workers: int = field(default_factory=default_hash_workers)
    password_hash_queue: int = DEFAULT_PASSWORD_HASH_QUEUE
    log_format: str = "text"
    """``text`` or ``json`` (one JSON object per line)."""
    webhook: WebhookSettings | None = None
    """The operator's notification webhook; None: notifications are stored and pushed only."""
    connection_limits: ConnectionLimits = field(default_factory=ConnectionLimits)
    shutdown_drain_seconds: int = DEFAULT_SHUTDOWN_DRAIN_SECONDS
    gc_young_threshold: int = DEFAULT_GC_YOUNG_THRESHOLD
    """The garbage collector's young threshold set at start; 0 leaves Python's own."""
    metrics_token: str | None = field(default=None, repr=False)
    """The bearer token ``/metrics`` asks for; None: only loopback requests without a
    proxy's forwarding headers may read it."""
    redis_url: str | None = field(default=None, repr=False)
    """Cluster mode: this process is one node of several sharing the database and this
    Redis (broadcasts, presence, LongPoll sessions, the message limit). None: one process,
    no Redis."""
    workers: int = 1
    """Processes ``python -m server`` runs on this machine, sharing the port."""
    cluster_down_after: float = DEFAULT_CLUSTER_DOWN_AFTER
    """Seconds a node may stay silent before the others take it for dead (its users leave
    the rooms' presence)."""

    @property
    def cluster(self) -> bool:
        return self.redis_url is not None

    @property
    def public_origin(self) -> str:
        """``scheme://host:port`` of the public URL, the port always written out: the origin
        of a page this service serves, as a browser states it."""
        if self.public_url is not None:
            return url_origin(self.public_url)
        host = "localhost" if self.host in _WILDCARD_HOSTS else self.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return url_origin(f"http://{host}:{self.port}")

    def __post_init__(self) -> None:
        if len(self.secret_key) < MIN_SECRET_LENGTH:
            raise ConfigError("SECRET_KEY", f"must be at least {MIN_SECRET_LENGTH} characters")
        if len(self.service_api_key) < MIN_SECRET_LENGTH:
            raise ConfigError("SERVICE_API_KEY", f"must be at least {MIN_SECRET_LENGTH} characters")
        if not 4 <= self.bcrypt_rounds <= 31:
            raise ConfigError("BCRYPT_ROUNDS", "must be an integer from 4 to 31")
        if self.public_url is not None:
            _public_url(self.public_url)
        _log_format(self.log_format)
        if self.redis_url is not None and is_sqlite(self.database_url):
            raise ConfigError(
                "REDIS_URL",
                "cluster mode needs PostgreSQL (every node shares the database): set "
                "DATABASE_URL=postgresql://…",
            )
        if self.workers > 1 and self.redis_url is None:
            raise ConfigError("WORKERS", "more than one process needs REDIS_URL (cluster mode)")

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        announce: Callable[[str], None] = print,
    ) -> Settings:
        """Read the settings from ``environ`` (default: the process environment).

        With no SERVICE_API_KEY or SECRET_KEY, a development default is generated and stored
        beside the SQLite file (``./data/`` for PostgreSQL); the service key is announced once,
        on the start that creates it, because the reservation system's operator needs it. The
        signing key is never shown.
        """
        if environ is None:
            environ = os.environ
        # Plain values first, so that a typo fails before any key file is created.
        database_url = normalize_database_url(_get(environ, "DATABASE_URL") or DEFAULT_DATABASE_URL)
        host = _get(environ, "HOST") or "127.0.0.1"
        port = _int(environ, "PORT", 4000, minimum=1, maximum=65535)
        token_ttl_seconds = _int(
            environ, "TOKEN_TTL_SECONDS", DEFAULT_TOKEN_TTL_SECONDS, minimum=60
        )
        allowed_origins = _origins(environ, "ALLOWED_ORIGINS")
        bcrypt_rounds = _int(environ, "BCRYPT_ROUNDS", DEFAULT_BCRYPT_ROUNDS, minimum=4, maximum=31)
        database_pool_size = _int(
            environ, "DATABASE_POOL_SIZE", DEFAULT_DATABASE_POOL_SIZE, minimum=1, maximum=1000
        )
        chat_messages_per_second = float(
            _int(
                environ,
                "CHAT_MESSAGES_PER_SECOND",
                int(DEFAULT_CHAT_MESSAGES_PER_SECOND),
                minimum=1,
                maximum=100_000,
            )
        )
        chat_message_burst = _int(
            environ, "CHAT_MESSAGE_BURST", DEFAULT_CHAT_MESSAGE_BURST, minimum=1, maximum=100_000
        )
        presence_list_limit = _int(
            environ,
            "PRESENCE_LIST_LIMIT",
            DEFAULT_PRESENCE_LIST_LIMIT,
            minimum=2,
            maximum=10_000_000,
        )
        chat_sockets_per_user = _int(
            environ,
            "CHAT_SOCKETS_PER_USER",
            DEFAULT_CHAT_SOCKETS_PER_USER,
            minimum=1,
            maximum=100_000,
        )
        public_url = _get(environ, "PUBLIC_URL")
        if public_url is not None:
            _public_url(public_url)
        cors_origins = _origins(environ, "CORS_ORIGINS")
        log_format = _log_format((_get(environ, "LOG_FORMAT") or "text").lower())
        trusted_proxies = _networks(environ, "TRUSTED_PROXIES")
        defaults = AuthLimits()
        auth_limits = AuthLimits(
            sign_in_per_account=_rate(
                environ, "SIGN_IN_LIMIT_PER_ACCOUNT", defaults.sign_in_per_account
            ),
            sign_in_per_ip=_rate(environ, "SIGN_IN_LIMIT_PER_IP", defaults.sign_in_per_ip),
            sign_up_per_account=_rate(
                environ, "SIGN_UP_LIMIT_PER_ACCOUNT", defaults.sign_up_per_account
            ),
            sign_up_per_ip=_rate(environ, "SIGN_UP_LIMIT_PER_IP", defaults.sign_up_per_ip),
        )
        password_hash_workers = _int(
            environ, "PASSWORD_HASH_WORKERS", default_hash_workers(), minimum=1, maximum=256
        )
        password_hash_queue = _int(
            environ, "PASSWORD_HASH_QUEUE", DEFAULT_PASSWORD_HASH_QUEUE, minimum=0, maximum=10_000
        )
        webhook = _webhook(environ)
        connection_limits = _connection_limits(environ)
        shutdown_drain_seconds = _int(
            environ,
            "SHUTDOWN_DRAIN_SECONDS",
            DEFAULT_SHUTDOWN_DRAIN_SECONDS,
            minimum=0,
            maximum=600,
        )
        gc_young_threshold = _int(
            environ,
            "GC_YOUNG_THRESHOLD",
            DEFAULT_GC_YOUNG_THRESHOLD,
            minimum=0,
            maximum=10_000_000,
        )
        metrics_token = _get(environ, "METRICS_TOKEN")
        if metrics_token is not None and len(metrics_token) < MIN_SECRET_LENGTH:
            raise ConfigError("METRICS_TOKEN", f"must be at least {MIN_SECRET_LENGTH} characters")
        redis_url = _redis_url(environ)
        workers = _int(environ, "WORKERS", 1, minimum=1, maximum=MAX_WORKERS)
        cluster_down_after = _int(
            environ, "CLUSTER_DOWN_AFTER", DEFAULT_CLUSTER_DOWN_AFTER, minimum=2, maximum=60
        )
        if redis_url is not None:
            if is_sqlite(database_url):
                raise ConfigError(
                    "REDIS_URL",
                    "cluster mode needs PostgreSQL (every node shares the database): set "
                    "DATABASE_URL=postgresql://…",
                )
            # Generated keys would differ from node to node: tokens signed by one would be
            # refused by the others.
            for variable in ("SECRET_KEY", "SERVICE_API_KEY"):
                if _get(environ, variable) is None:
                    raise ConfigError(
                        variable, "must be set in cluster mode (REDIS_URL): every node shares it"
                    )
            if database_pool_size < 2:
                # The schedule's cluster-wide lock holds one connection while others work.
                raise ConfigError("DATABASE_POOL_SIZE", "must be at least 2 in cluster mode")
        elif workers > 1:
            raise ConfigError("WORKERS", "more than one process needs REDIS_URL (cluster mode)")
        data_dir = sqlite_path(database_url).parent if is_sqlite(database_url) else DEFAULT_DATA_DIR

        service_api_key = _get(environ, "SERVICE_API_KEY")
        if service_api_key is None:
            key_file = data_dir / SERVICE_KEY_FILE
            service_api_key, created = _stored_secret("SERVICE_API_KEY", key_file)
            if created:
                announce(
                    f"SERVICE_API_KEY is not set; generated one and stored it in {key_file}: "
                    f"{service_api_key}"
                )

        secret_key = _get(environ, "SECRET_KEY")
        if secret_key is None:
            secret_key, _ = _stored_secret("SECRET_KEY", data_dir / SECRET_KEY_FILE)

        return cls(
            host=host,
            port=port,
            database_url=database_url,
            secret_key=secret_key,
            service_api_key=service_api_key,
            token_ttl_seconds=token_ttl_seconds,
            allowed_origins=allowed_origins,
            bcrypt_rounds=bcrypt_rounds,
            database_pool_size=database_pool_size,
            chat_messages_per_second=chat_messages_per_second,
            chat_message_burst=chat_message_burst,
            chat_sockets_per_user=chat_sockets_per_user,
            presence_list_limit=presence_list_limit,
            public_url=public_url,
            cors_origins=cors_origins,
            log_format=log_format,
            trusted_proxies=trusted_proxies,
            auth_limits=auth_limits,
            password_hash_workers=password_hash_workers,
            password_hash_queue=password_hash_queue,
            webhook=webhook,
            connection_limits=connection_limits,
            shutdown_drain_seconds=shutdown_drain_seconds,
            gc_young_threshold=gc_young_threshold,
            metrics_token=metrics_token,
            redis_url=redis_url,
            workers=workers,
            cluster_down_after=float(cluster_down_after),
        )


def is_sqlite(database_url: str) -> bool:
    return database_url.startswith("sqlite:")


def sqlite_path(database_url: str) -> Path:
    """The file of a normalized SQLite URL (``sqlite:///relative`` or ``sqlite:////abs``)."""
    return Path(database_url.split(":///", 1)[1].split("?", 1)[0])


def normalize_database_url(raw: str) -> str:
    """Map the usual URL forms onto the async drivers the service uses."""
    scheme, sep, rest = raw.partition("://")
    if not sep:
        raise ConfigError("DATABASE_URL", "must look like sqlite:///path or postgresql://…")
    scheme = scheme.lower()
    if scheme in ("postgres", "postgresql", "postgresql+asyncpg"):
        if not rest:
            raise ConfigError("DATABASE_URL", "names no PostgreSQL server")
        return f"postgresql://{rest}"
    if scheme in ("sqlite", "sqlite+aiosqlite"):
        path = rest[1:] if rest.startswith("/") else ""
        if not path or path.startswith(":memory:"):
            # Each pooled connection would get its own empty in-memory database.
            raise ConfigError("DATABASE_URL", "SQLite needs a file path, e.g. sqlite:///data/x.db")
        return f"sqlite:///{path}"
    raise ConfigError("DATABASE_URL", f"unsupported database {scheme!r}; use sqlite or postgresql")


def _redis_url(environ: Mapping[str, str]) -> str | None:
    raw = _get(environ, "REDIS_URL")
    if raw is None:
        return None
    if not raw.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError("REDIS_URL", "must look like redis://host:6379/0")
    return raw


def _get(environ: Mapping[str, str], name: str) -> str | None:
    """The variable's value, with an empty or blank value counting as unset."""
    value = environ.get(name, "").strip()
    return value or None


def _int(
    environ: Mapping[str, str],
    name: str,
    default: int,
    *,
    minimum: int,
    maximum: int | None = None,
) -> int:
    raw = _get(environ, name)
    if raw is None:
        return default
    bounds = f"from {minimum} to {maximum}" if maximum is not None else f"of at least {minimum}"
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(name, f"must be an integer {bounds}, got {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        raise ConfigError(name, f"must be an integer {bounds}, got {value}")
    return value


def url_origin(url: str) -> str:
    """``scheme://host:port`` of an http(s) URL, lower case, the default port written out.

    Raises ValueError for anything that is not an http(s) URL with a host."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ValueError(f"not a URL: {url!r}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must look like https://chat.example.com, got {url!r}")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is None:
        port = 443 if scheme == "https" else 80
    return f"{scheme}://{host}:{port}"


def _public_url(url: str) -> None:
    try:
        url_origin(url)
    except ValueError as error:
        raise ConfigError("PUBLIC_URL", str(error)) from None


def _log_format(value: str) -> str:
    if value not in LOG_FORMATS:
        raise ConfigError("LOG_FORMAT", f"must be one of {', '.join(LOG_FORMATS)}, got {value!r}")
    return value


def _webhook(environ: Mapping[str, str]) -> WebhookSettings | None:
    url = _get(environ, "NOTIFICATION_WEBHOOK_URL")
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            "NOTIFICATION_WEBHOOK_URL", f"must be an http:// or https:// URL, got {url!r}"
        )
    secret = _get(environ, "NOTIFICATION_WEBHOOK_SECRET")
    if secret is None or len(secret) < MIN_SECRET_LENGTH:
        raise ConfigError(
            "NOTIFICATION_WEBHOOK_SECRET",
            f"must be set, at least {MIN_SECRET_LENGTH} characters, when "
            "NOTIFICATION_WEBHOOK_URL is",
        )
    base_ms = _int(
        environ,
        "NOTIFICATION_WEBHOOK_RETRY_BASE_MS",
        DEFAULT_WEBHOOK_RETRY_BASE_MS,
        minimum=10,
        maximum=3_600_000,
    )
    max_ms = _int(
        environ,
        "NOTIFICATION_WEBHOOK_RETRY_MAX_MS",
        DEFAULT_WEBHOOK_RETRY_MAX_MS,
        minimum=base_ms,
        maximum=24 * 3_600_000,
    )
    return WebhookSettings(
        url=url,
        secret=secret,
        timeout_seconds=_int(
            environ,
            "NOTIFICATION_WEBHOOK_TIMEOUT_SECONDS",
            DEFAULT_WEBHOOK_TIMEOUT_SECONDS,
            minimum=1,
            maximum=300,
        ),
        concurrency=_int(
            environ,
            "NOTIFICATION_WEBHOOK_CONCURRENCY",
            DEFAULT_WEBHOOK_CONCURRENCY,
            minimum=1,
            maximum=100,
        ),
        retry_base_seconds=base_ms / 1000,
        retry_max_seconds=max_ms / 1000,
    )


def _origins(environ: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = _get(environ, name) or ""
    origins = tuple(part.strip().rstrip("/") for part in raw.split(",") if part.strip())
    for origin in origins:
        if origin != "*" and not origin.startswith(("http://", "https://")):
            raise ConfigError(
                name,
                f"each origin must start with http:// or https:// (or be *), got {origin!r}",
            )
    return origins


def _networks(environ: Mapping[str, str], name: str) -> tuple[IPNetwork, ...]:
    raw = _get(environ, name) or ""
    try:
        return parse_networks(part for part in raw.split(",") if part.strip())
    except ValueError as error:
        raise ConfigError(name, str(error)) from None


def _connection_limits(environ: Mapping[str, str]) -> ConnectionLimits:
    defaults = ConnectionLimits()
    most = 10_000_000
    max_connections = _get(environ, "MAX_CONNECTIONS")
    return ConnectionLimits(
        socket_frames_per_second=_int(
            environ,
            "SOCKET_FRAMES_PER_SECOND",
            defaults.socket_frames_per_second,
            minimum=1,
            maximum=most,
        ),
        socket_bytes_per_second=_int(
            environ,
            "SOCKET_BYTES_PER_SECOND",
            defaults.socket_bytes_per_second,
            minimum=1024,
            maximum=1024**3,
        ),
        connections_per_ip=_int(
            environ, "CONNECTIONS_PER_IP", defaults.connections_per_ip, minimum=1, maximum=most
        ),
        max_connections=(
            None
            if max_connections is None or max_connections.lower() == "auto"
            else _int(environ, "MAX_CONNECTIONS", 0, minimum=1, maximum=most)
        ),
        header_timeout=_int(
            environ, "HTTP_HEADER_TIMEOUT", defaults.header_timeout, minimum=1, maximum=3600
        ),
    )


def _rate(environ: Mapping[str, str], name: str, default: Rate | None) -> Rate | None:
    raw = _get(environ, name)
    if raw is None:
        return default
    try:
        return parse_rate(raw)
    except ValueError as error:
        raise ConfigError(name, str(error)) from None


def _stored_secret(variable: str, path: Path) -> tuple[str, bool]:
    try:
        value, created = load_or_create_secret(path)
    except OSError as error:
        raise ConfigError(variable, f"unset, and {path} cannot be used: {error.strerror}") from None
    if len(value) < MIN_SECRET_LENGTH:
        raise ConfigError(variable, f"unset, and {path} holds no usable key")
    return value, created
