"""The server's layering rules, checked on the source (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

SERVER = Path(__file__).resolve().parents[2] / "server"


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_only_the_db_layer_talks_to_the_databases() -> None:
    for path in SERVER.rglob("*.py"):
        if path.parent.name == "db":
            continue
        tops = {name.split(".")[0] for name in imported_modules(path)}
        assert not tops & {"asyncpg", "sqlite3"}, path.relative_to(SERVER)


def test_only_config_reads_the_environment() -> None:
    for path in SERVER.rglob("*.py"):
        if path.name != "config.py":
            assert "os.environ" not in path.read_text(encoding="utf-8"), path


def test_the_rest_api_and_the_chat_do_not_import_each_other() -> None:
    for package, other in (("api", "server.chat"), ("chat", "server.api")):
        for path in (SERVER / package).rglob("*.py"):
            assert not any(
                name == other or name.startswith(other + ".") for name in imported_modules(path)
            ), path
