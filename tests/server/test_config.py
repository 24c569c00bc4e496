"""Settings from the environment, the development secrets, and ``python -m server``."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from server.auth.throttle import AuthLimits
from server.config import ConfigError, Settings, normalize_database_url
from server.ratelimit import Rate

ROOT = Path(__file__).resolve().parents[2]
KEY = "k" * 40


def env(tmp_path: Path, **values: str) -> dict[str, str]:
    base = {
        "DATABASE_URL": f"sqlite:///{tmp_path}/data/db.sqlite3",
        "SECRET_KEY": KEY,
        "SERVICE_API_KEY": KEY,
    }
    return {**base, **values}


def test_defaults(tmp_path: Path) -> None:
    settings = Settings.from_env(env(tmp_path))
    assert (settings.host, settings.port) == ("127.0.0.1", 4000)
    assert settings.database_url == f"sqlite:///{tmp_path}/data/db.sqlite3"
    assert settings.allowed_origins == ()
    assert settings.bcrypt_rounds == 12


def test_every_variable(tmp_path: Path) -> None:
    settings = Settings.from_env(
        env(
            tmp_path,
            HOST="0.0.0.0",
            PORT="8080",
            DATABASE_URL="postgres://u:p@db:5432/chat",
            TOKEN_TTL_SECONDS="600",
            ALLOWED_ORIGINS="https://app.example.com, http://localhost:3000/",
            BCRYPT_ROUNDS="10",
        )
    )
    assert (settings.host, settings.port) == ("0.0.0.0", 8080)
    assert settings.database_url == "postgresql://u:p@db:5432/chat"
    assert settings.token_ttl_seconds == 600
    assert settings.allowed_origins == ("https://app.example.com", "http://localhost:3000")
    assert settings.bcrypt_rounds == 10


def test_public_url(tmp_path: Path) -> None:
    assert Settings.from_env(env(tmp_path)).public_origin == "http://127.0.0.1:4000"
    settings = Settings.from_env(env(tmp_path, PUBLIC_URL="https://Chat.example.com/"))
    assert settings.public_url == "https://Chat.example.com/"
    assert settings.public_origin == "https://chat.example.com:443"
    assert Settings.from_env(env(tmp_path, HOST="::", PORT="80")).public_origin == (
        "http://localhost:80"
    )
    assert Settings.from_env(env(tmp_path, HOST="::1")).public_origin == "http://[::1]:4000"


def test_log_format(tmp_path: Path) -> None:
    assert Settings.from_env(env(tmp_path)).log_format == "text"
    assert Settings.from_env(env(tmp_path, LOG_FORMAT="JSON")).log_format == "json"


def test_cors_origins(tmp_path: Path) -> None:
    assert Settings.from_env(env(tmp_path)).cors_origins == ()
    settings = Settings.from_env(
        env(tmp_path, CORS_ORIGINS="https://app.example.com/, http://localhost:3000")
    )
    assert settings.cors_origins == ("https://app.example.com", "http://localhost:3000")


def test_limit_variables(tmp_path: Path) -> None:
    defaults = Settings.from_env(env(tmp_path))
    assert defaults.auth_limits == AuthLimits()
    assert defaults.password_hash_workers >= 1
    assert defaults.password_hash_queue == 16
    assert defaults.trusted_proxies == ()
    settings = Settings.from_env(
        env(
            tmp_path,
            SIGN_IN_LIMIT_PER_ACCOUNT="5/15m",
            SIGN_IN_LIMIT_PER_IP="off",
            SIGN_UP_LIMIT_PER_ACCOUNT="3/1h",
            SIGN_UP_LIMIT_PER_IP="1000/60",
            PASSWORD_HASH_WORKERS="3",
            PASSWORD_HASH_QUEUE="0",
            TRUSTED_PROXIES="127.0.0.1, 10.0.0.0/8, ::1",
        )
    )
    assert settings.auth_limits == AuthLimits(
        sign_in_per_account=Rate(5, 900),
        sign_in_per_ip=None,
        sign_up_per_account=Rate(3, 3600),
        sign_up_per_ip=Rate(1000, 60),
    )
    assert (settings.password_hash_workers, settings.password_hash_queue) == (3, 0)
    proxies = [str(network) for network in settings.trusted_proxies]
    assert proxies == ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PORT", "abc"),
        ("PORT", "0"),
        ("PORT", "70000"),
        ("TOKEN_TTL_SECONDS", "5"),
        ("BCRYPT_ROUNDS", "3"),
        ("BCRYPT_ROUNDS", "many"),
        ("DATABASE_URL", "mysql://db/chat"),
        ("DATABASE_URL", "sqlite://"),
        ("DATABASE_URL", "sqlite:///:memory:"),
        ("DATABASE_URL", "just-a-path.db"),
        ("ALLOWED_ORIGINS", "app.example.com"),
        ("SIGN_IN_LIMIT_PER_ACCOUNT", "lots"),
        ("SIGN_IN_LIMIT_PER_IP", "0/1m"),
        ("SIGN_UP_LIMIT_PER_ACCOUNT", "10"),
        ("SIGN_UP_LIMIT_PER_IP", "10/5d"),
        ("PASSWORD_HASH_WORKERS", "0"),
        ("PASSWORD_HASH_QUEUE", "-1"),
        ("TRUSTED_PROXIES", "10.0.0.0/8, proxy.local"),
        ("PUBLIC_URL", "chat.example.com"),
        ("CORS_ORIGINS", "https://app.example.com, app2.example.com"),
        ("LOG_FORMAT", "xml"),
        ("PUBLIC_URL", "ftp://chat.example.com"),
        ("PUBLIC_URL", "https://chat.example.com:99999"),
        ("SECRET_KEY", "short"),
        ("SERVICE_API_KEY", "short"),
        ("PRESENCE_LIST_LIMIT", "1"),
        ("PRESENCE_LIST_LIMIT", "lots"),
        ("NOTIFICATION_WEBHOOK_URL", "ftp://push.example.com/hook"),
        ("NOTIFICATION_WEBHOOK_URL", "push.example.com/hook"),
        ("NOTIFICATION_WEBHOOK_URL", "https://"),
    ],
)
def test_a_wrong_value_names_its_variable(tmp_path: Path, variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(env(tmp_path, **{variable: value}))
    assert raised.value.variable == variable
    assert str(raised.value).startswith(f"{variable}: ")
    if "KEY" in variable:
        assert value not in str(raised.value)


def test_secrets_stay_out_of_repr(tmp_path: Path) -> None:
    settings = Settings.from_env(env(tmp_path, SECRET_KEY="s" * 40, SERVICE_API_KEY="v" * 40))
    assert "s" * 40 not in repr(settings)
    assert "v" * 40 not in repr(settings)
    assert "v" * 40 not in str(settings)


def test_the_dev_service_key_is_made_once(tmp_path: Path) -> None:
    variables = {"DATABASE_URL": f"sqlite:///{tmp_path}/data/chat.sqlite3"}
    printed: list[str] = []
    first = Settings.from_env(variables, announce=printed.append)
    key_file = tmp_path / "data" / "service_api_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text().strip() == first.service_api_key
    assert len(printed) == 1 and first.service_api_key in printed[0]
    # The signing key is kept too, and never shown.
    secret_file = tmp_path / "data" / "secret_key"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert first.secret_key not in printed[0]

    second = Settings.from_env(variables, announce=printed.append)
    assert second.service_api_key == first.service_api_key
    assert second.secret_key == first.secret_key
    assert len(printed) == 1  # printed only by the start that created it


def test_a_service_key_from_the_environment_writes_no_file(tmp_path: Path) -> None:
    Settings.from_env(env(tmp_path))
    assert not (tmp_path / "data" / "service_api_key").exists()


def test_postgres_url_forms() -> None:
    for url in ("postgres://h/db", "postgresql://h/db", "postgresql+asyncpg://h/db"):
        assert normalize_database_url(url) == "postgresql://h/db"
    assert normalize_database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_python_m_server_reports_a_wrong_variable_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "server"],
        cwd=ROOT,
        env={**os.environ, **env(tmp_path, PORT="not-a-port")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: PORT: must be an integer from 1 to 65535, got 'not-a-port'"
    ]
    assert "Traceback" not in result.stderr


WEBHOOK = {"NOTIFICATION_WEBHOOK_URL": "https://push.example.com/hook"}


def test_the_presence_list_limit(tmp_path: Path) -> None:
    assert Settings.from_env(env(tmp_path)).presence_list_limit == 1000
    assert Settings.from_env(env(tmp_path, PRESENCE_LIST_LIMIT="250")).presence_list_limit == 250


def test_the_webhook_is_off_by_default_and_needs_a_secret(tmp_path: Path) -> None:
    assert Settings.from_env(env(tmp_path)).webhook is None
    for secret in (None, "short"):
        extra = {} if secret is None else {"NOTIFICATION_WEBHOOK_SECRET": secret}
        with pytest.raises(ConfigError) as raised:
            Settings.from_env(env(tmp_path, **WEBHOOK, **extra))
        assert raised.value.variable == "NOTIFICATION_WEBHOOK_SECRET"
    webhook = Settings.from_env(
        env(
            tmp_path,
            **WEBHOOK,
            NOTIFICATION_WEBHOOK_SECRET="w" * 40,
            NOTIFICATION_WEBHOOK_TIMEOUT_SECONDS="3",
            NOTIFICATION_WEBHOOK_CONCURRENCY="2",
            NOTIFICATION_WEBHOOK_RETRY_BASE_MS="50",
            NOTIFICATION_WEBHOOK_RETRY_MAX_MS="800",
        )
    ).webhook
    assert webhook is not None
    assert (webhook.url, webhook.timeout_seconds, webhook.concurrency) == (
        WEBHOOK["NOTIFICATION_WEBHOOK_URL"],
        3,
        2,
    )
    assert (webhook.retry_base_seconds, webhook.retry_max_seconds) == (0.05, 0.8)
    assert "w" * 40 not in repr(webhook)
    defaults = Settings.from_env(env(tmp_path, **WEBHOOK, NOTIFICATION_WEBHOOK_SECRET="w" * 40))
    assert defaults.webhook is not None
    assert (defaults.webhook.timeout_seconds, defaults.webhook.concurrency) == (10, 4)
    assert (defaults.webhook.retry_base_seconds, defaults.webhook.retry_max_seconds) == (1, 3600)
    with pytest.raises(ConfigError) as raised:  # the longest wait is at least the first
        Settings.from_env(
            env(
                tmp_path,
                **WEBHOOK,
                NOTIFICATION_WEBHOOK_SECRET="w" * 40,
                NOTIFICATION_WEBHOOK_RETRY_BASE_MS="5000",
                NOTIFICATION_WEBHOOK_RETRY_MAX_MS="1000",
            )
        )
    assert raised.value.variable == "NOTIFICATION_WEBHOOK_RETRY_MAX_MS"


def test_python_m_server_refuses_a_webhook_that_is_not_http(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "server"],
        cwd=ROOT,
        env={
            **os.environ,
            **env(
                tmp_path,
                NOTIFICATION_WEBHOOK_URL="file:///etc/passwd",
                NOTIFICATION_WEBHOOK_SECRET="w" * 40,
            ),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: NOTIFICATION_WEBHOOK_URL: must be an http:// or https:// URL, "
        "got 'file:///etc/passwd'"
    ]


PG = "postgresql://u:p@db.example.com/chat"
REDIS = "redis://127.0.0.1:6379/0"


def test_cluster_mode(tmp_path: Path) -> None:
    settings = Settings.from_env(
        env(tmp_path, DATABASE_URL=PG, REDIS_URL=REDIS, WORKERS="3", CLUSTER_DOWN_AFTER="4")
    )
    assert (settings.cluster, settings.workers, settings.cluster_down_after) == (True, 3, 4.0)
    assert REDIS not in repr(settings)
    single = Settings.from_env(env(tmp_path))
    assert (single.cluster, single.workers, single.redis_url) == (False, 1, None)


@pytest.mark.parametrize(
    ("values", "line"),
    [
        ({"REDIS_URL": REDIS}, "REDIS_URL: cluster mode needs PostgreSQL"),
        ({"REDIS_URL": REDIS, "DATABASE_URL": PG, "SECRET_KEY": ""}, "SECRET_KEY: must be set"),
        (
            {"REDIS_URL": REDIS, "DATABASE_URL": PG, "SERVICE_API_KEY": ""},
            "SERVICE_API_KEY: must be set",
        ),
        ({"WORKERS": "2"}, "WORKERS: more than one process needs REDIS_URL"),
        ({"REDIS_URL": "localhost:6379", "DATABASE_URL": PG}, "REDIS_URL: must look like"),
        (
            {"REDIS_URL": REDIS, "DATABASE_URL": PG, "DATABASE_POOL_SIZE": "1"},
            "DATABASE_POOL_SIZE: must be at least 2",
        ),
        ({"CLUSTER_DOWN_AFTER": "1"}, "CLUSTER_DOWN_AFTER: must be an integer from 2 to 60"),
    ],
)
def test_cluster_mode_refuses_what_would_split_the_cluster(
    tmp_path: Path, values: dict[str, str], line: str
) -> None:
    """Nodes that generated their own keys would refuse each other's tokens; SQLite cannot
    be shared by several machines. One line names the variable."""
    result = subprocess.run(
        [sys.executable, "-m", "server"],
        cwd=ROOT,
        env={**os.environ, **env(tmp_path, **values)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    [error] = result.stderr.strip().splitlines()
    assert error.startswith(f"error: {line}"), error
    assert not (tmp_path / "data" / "secret_key").exists()
