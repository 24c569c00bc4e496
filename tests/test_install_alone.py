"""phxpy installs alone: a fresh virtualenv, phxpy's documented install command, and
examples/embed.py serving a real client. Slow (it installs aiohttp from PyPI), but part of
``make test``: it is what an embedder does first."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import sys
import venv
from pathlib import Path

import aiohttp
import pytest

ROOT = Path(__file__).resolve().parent.parent
INSTALL_TIMEOUT = 600.0
SERVICE_STACK = ("server", "sqlalchemy", "asyncpg", "aiosqlite", "bcrypt", "jwt", "redis")


async def run(*command: str | Path, cwd: Path, timeout: float = 60.0) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *map(str, command),
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": "", "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, output.decode("utf-8", "replace")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
async def test_phxpy_installs_alone_and_runs_the_embedding_example(tmp_path: Path) -> None:
    # A copy of what a checkout holds, so the build leaves nothing in this one.
    checkout = tmp_path / "checkout"
    shutil.copytree(
        ROOT / "phxpy",
        checkout / "phxpy",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"),
    )
    shutil.copy(ROOT / "examples" / "embed.py", checkout / "embed.py")
    env = tmp_path / "env"
    await asyncio.to_thread(venv.EnvBuilder(with_pip=True).create, env)
    python = env / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")

    # The command the README documents.
    code, output = await run(
        python, "-m", "pip", "install", "./phxpy", cwd=checkout, timeout=INSTALL_TIMEOUT
    )
    assert code == 0, output

    code, output = await run(
        python,
        "-c",
        "import json, importlib.metadata as m; print(json.dumps(m.requires('phxpy')))",
        cwd=tmp_path,
    )
    assert code == 0, output
    # aiohttp alone; Redis's reply parser only with the "redis" extra (phxpy.cluster).
    required = json.loads(output.splitlines()[-1])
    assert [r for r in required if "extra ==" not in r] == ["aiohttp<4,>=3.9"], output
    assert all('extra == "redis"' in r for r in required if "extra ==" in r), output
    for name in (*SERVICE_STACK, "hiredis"):  # the service, its stack and the extra stay out
        code, output = await run(python, "-c", f"import {name}", cwd=tmp_path)
        assert code == 1 and f"ModuleNotFoundError: No module named '{name}'" in output, output

    port = free_port()
    server = await asyncio.create_subprocess_exec(
        str(python),
        "embed.py",
        cwd=checkout,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PORT": str(port), "PYTHONPATH": ""},
    )
    try:
        assert server.stdout is not None
        async with asyncio.timeout(30):
            while b"Running on" not in (line := await server.stdout.readline()):
                assert line, "examples/embed.py exited before serving"
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(f"http://127.0.0.1:{port}/socket/websocket?vsn=2.0.0&user=al") as ws,
        ):
            await ws.send_str('["1","1","room:lobby","phx_join",{}]')
            reply = json.loads((await asyncio.wait_for(ws.receive(), 5)).data)
            assert reply[4] == {"response": {"title": "The lobby", "user": "al"}, "status": "ok"}
            async with http.post(f"http://127.0.0.1:{port}/announce", data='{"n":1}') as posted:
                assert posted.status == 204
            shout = json.loads((await asyncio.wait_for(ws.receive(), 5)).data)
            assert shout == [None, None, "room:lobby", "shout", {"n": 1}]
    finally:
        server.terminate()
        await server.wait()
