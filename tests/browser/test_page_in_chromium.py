"""The chat page at ``/``, end to end in headless Chromium (Debian's, driven by playwright-core).

Each scenario is a Node script (``scenarios/<name>.mjs``, run by ``run.mjs``) that drives
browser contexts and the REST API of one real service, started here as ``python -m server`` on
a loopback port with a temporary SQLite file, exactly as ``make run`` starts it. Screenshots
go to ``tests/browser/screenshots/``.

Without Chromium, Node or the npm packages the scenarios are skipped, saying what to install;
under CI (``CI`` set) they fail instead, since CI installs all of them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
SERVICE_KEY = "browser-tests-service-key-0123456789abcdef"
SECRET_KEY = "browser-tests-signing-key-0123456789abcdef"
START_TIMEOUT = 60.0
SCENARIO_TIMEOUT = 150.0
"""Seconds; only a failing scenario comes near (run.mjs bounds each at 120 s)."""

SCENARIOS = ["chat", "reconnect", "catch_up", "longpoll", "room_life", "account", "docs"]


def missing_reason() -> str | None:
    """Why the browser scenarios cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed (the browser tests need Node 20+)"
    if not CHROMIUM.exists():
        return f"Chromium is not installed at {CHROMIUM} (Debian: apt-get install chromium)"
    if not (HERE / "node_modules" / "playwright-core").is_dir():
        return "tests/browser/node_modules is missing: run `make setup`"
    if not (ROOT / "web" / "node_modules" / "phoenix").is_dir():
        return "web/node_modules is missing: run `make setup`"
    return None


@dataclass(frozen=True)
class ChatService:
    url: str
    log: Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def chat_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatService]:
    reason = missing_reason()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run under CI: {reason}")
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("chat-service")
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{folder / 'chat.sqlite3'}",
        "SERVICE_API_KEY": SERVICE_KEY,
        "SECRET_KEY": SECRET_KEY,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "BCRYPT_ROUNDS": "4",
        "PYTHONUNBUFFERED": "1",
    }
    log = folder / "service.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "server"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    ready = threading.Event()
    url = f"http://127.0.0.1:{port}"

    def copy_output() -> None:
        # Keep the pipe drained for the service's whole life; say when it is listening.
        assert process.stdout is not None
        with log.open("w") as sink:
            for line in process.stdout:
                sink.write(line)
                sink.flush()
                if f"Running on {url}" in line:
                    ready.set()
        ready.set()  # exited: let the wait below see it

    reader = threading.Thread(target=copy_output, daemon=True)
    reader.start()
    try:
        if not ready.wait(START_TIMEOUT) or process.poll() is not None:
            pytest.fail(f"the service did not start; its output:\n{log.read_text()}")
        yield ChatService(url=url, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(timeout=10)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario(chat_service: ChatService, scenario: str) -> None:
    env = {
        **os.environ,
        "CHAT_URL": chat_service.url,
        "CHAT_SERVICE_KEY": SERVICE_KEY,
        "CHROMIUM": str(CHROMIUM),
        "SCREENSHOT_DIR": str(HERE / "screenshots"),
        "NODE_NO_WARNINGS": "1",
    }
    result = subprocess.run(
        ["node", "run.mjs", scenario],
        cwd=HERE,
        env=env,
        capture_output=True,
        text=True,
        timeout=SCENARIO_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        tail = "".join(chat_service.log.read_text().splitlines(keepends=True)[-40:])
        pytest.fail(
            f"{result.stdout}\n{result.stderr}\n--- the service's last lines ---\n{tail}",
            pytrace=False,
        )
