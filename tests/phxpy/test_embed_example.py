"""The README's embedding example works as printed: a channel reads the app's database."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType

from aiohttp import web
from pytest_aiohttp import AiohttpClient

from examples import embed

ROOT = Path(__file__).resolve().parents[2]
START = "# -- the README's example starts here\n"
END = "# -- the README's example ends here"


def readme_example() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## phxpy in an aiohttp app") :]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found is not None, "the embedding section has no python block"
    return found.group(1)


def test_the_readme_prints_examples_embed_py() -> None:
    source = (ROOT / "examples" / "embed.py").read_text(encoding="utf-8")
    example = source[source.index(START) + len(START) : source.index(END)]
    assert readme_example() == example.rstrip("\n") + "\n"


def load_readme_example(tmp_path: Path) -> ModuleType:
    path = tmp_path / "readme_example.py"
    path.write_text(readme_example(), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("readme_example", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_the_readme_example_as_printed(aiohttp_client: AiohttpClient, tmp_path: Path) -> None:
    await drive(aiohttp_client, load_readme_example(tmp_path).create_app())


async def test_examples_embed_py(aiohttp_client: AiohttpClient) -> None:
    await drive(aiohttp_client, embed.create_app())


async def drive(aiohttp_client: AiohttpClient, app: web.Application) -> None:
    client = await aiohttp_client(app)
    async with client.ws_connect("/socket/websocket?vsn=2.0.0&user=al") as ws:
        # The join's reply comes from the database the app holds.
        await ws.send_str('["1","1","room:lobby","phx_join",{}]')
        reply = json.loads((await ws.receive()).data)
        assert reply[4] == {"response": {"title": "The lobby", "user": "al"}, "status": "ok"}
        await ws.send_str('["2","2","room:attic","phx_join",{}]')
        refused = json.loads((await ws.receive()).data)
        assert refused[4] == {"response": {"reason": "no such room"}, "status": "error"}

        await ws.send_str('["1","3","room:lobby","shout",{"body":"hi"}]')
        assert json.loads((await ws.receive()).data)[3:] == ["shout", {"body": "hi"}]
        assert (await client.post("/announce", data='{"body":"from REST"}')).status == 204
        assert json.loads((await ws.receive()).data) == [
            None,
            None,
            "room:lobby",
            "shout",
            {"body": "from REST"},
        ]
        assert (await client.post("/announce", data="not json")).status == 400
