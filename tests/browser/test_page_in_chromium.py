"""The chat page at ``/``, end to end in headless Chromium (Debian's, driven by playwright-core).

Each scenario is a Node module (``scenarios/<name>.mjs``) that drives browser contexts and the
REST API of one real service, started here as ``python -m server`` on a loopback port with a
temporary SQLite file, exactly as ``make run`` starts it. One Node process (``run.mjs
--serve``) with one Chromium runs them one after the other, each in fresh browser contexts;
``node run.mjs <name>`` runs one by hand. Screenshots go to ``tests/browser/screenshots/``.

Most scenarios share one service with the default settings; a scenario that needs other
settings (a big room's count mode with a small ``PRESENCE_LIST_LIMIT``) gets a service and a
runner of its own, started when its first scenario runs.

Without Chromium, Node or the npm packages the scenarios are skipped, saying what to install;
under CI (``CI`` set) they fail instead, since CI installs all of them.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
SERVICE_KEY = "browser-tests-service-key-0123456789abcdef"
SECRET_KEY = "browser-tests-signing-key-0123456789abcdef"
START_TIMEOUT = 60.0
SCENARIO_TIMEOUT = 150.0
"""Seconds; only a failing scenario comes near (run.mjs bounds each at 120 s)."""
RUNNER_START_TIMEOUT = 60.0

SERVICE_SETTINGS: dict[str, dict[str, str]] = {
    "default": {},
    # Three members are a big room: count mode is entered at 3 and left at 1.
    "small_presence_list": {"PRESENCE_LIST_LIMIT": "2"},
}
SCENARIOS: dict[str, str] = {
    "chat": "default",
    "reconnect": "default",
    "catch_up": "default",
    "longpoll": "default",
    "room_life": "default",
    "account": "default",
    "docs": "default",
    "announcements": "default",
    "mute_and_slow_mode": "default",
    "removal": "default",
    "big_room": "small_presence_list",
}
"""Each scenario and the settings of the service it runs against."""


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


@contextlib.contextmanager
def running_service(folder: Path, settings: dict[str, str]) -> Iterator[ChatService]:
    """``python -m server`` with these settings on a free port, until the block ends."""
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
        # Some scenarios open the page through a TCP proxy on another port of this machine
        # (a cut network, a proxy that refuses WebSockets): its origin is that port's, which
        # the socket's Origin check must let in besides the service's own.
        "ALLOWED_ORIGINS": "http://127.0.0.1",
        **settings,
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


class ScenarioRunner:
    """The Node process that runs scenarios on request (``run.mjs --serve``), restarted if it
    died (a scenario that overran its bound ends it)."""

    def __init__(self, service: ChatService) -> None:
        self.env = {
            **os.environ,
            "CHAT_URL": service.url,
            "CHAT_SERVICE_KEY": SERVICE_KEY,
            "CHROMIUM": str(CHROMIUM),
            "SCREENSHOT_DIR": str(HERE / "screenshots"),
            "NODE_NO_WARNINGS": "1",
        }
        self.process: subprocess.Popen[str] | None = None
        self.answers: queue.Queue[str | None] = queue.Queue()
        self.stderr: deque[str] = deque(maxlen=200)

    def _start(self) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            ["node", "run.mjs", "--serve"],
            cwd=HERE,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.answers = queue.Queue()
        answers = self.answers

        def read_stdout() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                answers.put(line)
            answers.put(None)

        def read_stderr() -> None:
            assert process.stderr is not None
            for line in process.stderr:
                self.stderr.append(line)

        threading.Thread(target=read_stdout, daemon=True).start()
        threading.Thread(target=read_stderr, daemon=True).start()
        return process

    def run(self, scenario: str) -> dict[str, Any]:
        if self.process is None or self.process.poll() is not None:
            self.process = self._start()
        assert self.process.stdin is not None
        self.process.stdin.write(scenario + "\n")
        self.process.stdin.flush()
        try:
            line = self.answers.get(timeout=SCENARIO_TIMEOUT)
        except queue.Empty:
            self.stop()
            line = None
        if line is None:
            return {"ok": False, "error": "the scenario runner stopped without an answer"}
        answer: dict[str, Any] = json.loads(line)
        return answer

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stderr_tail(self) -> str:
        return "".join(list(self.stderr)[-40:])


class Services:
    """The services the scenarios run against, one per kind of settings, each with its
    runner; started on first use, stopped at the end of the module."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._tmp = tmp_path_factory
        self._stack = contextlib.ExitStack()
        self._started: dict[str, tuple[ChatService, ScenarioRunner]] = {}

    def get(self, settings: str) -> tuple[ChatService, ScenarioRunner]:
        if settings not in self._started:
            folder = self._tmp.mktemp(f"chat-service-{settings}")
            service = self._stack.enter_context(running_service(folder, SERVICE_SETTINGS[settings]))
            runner = ScenarioRunner(service)
            self._stack.callback(runner.stop)
            self._started[settings] = (service, runner)
        return self._started[settings]

    def close(self) -> None:
        self._stack.close()


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    reason = missing_reason()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run under CI: {reason}")
        pytest.skip(reason)
    started = Services(tmp_path_factory)
    try:
        yield started
    finally:
        started.close()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario(services: Services, scenario: str) -> None:
    chat_service, scenarios = services.get(SCENARIOS[scenario])
    answer = scenarios.run(scenario)
    if not answer["ok"]:
        service_tail = "".join(chat_service.log.read_text().splitlines(keepends=True)[-40:])
        pytest.fail(
            f"scenario {scenario} failed:\n{answer.get('error')}\n"
            f"--- the runner's stderr ---\n{scenarios.stderr_tail()}\n"
            f"--- the service's last lines ---\n{service_tail}",
            pytrace=False,
        )
