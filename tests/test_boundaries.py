"""The layout's rules, checked: who may import what (STYLE.md §9)."""

from __future__ import annotations

import ast
from pathlib import Path

import phxpy

ROOT = Path(__file__).resolve().parent.parent
PURE_CORE = ["types", "errors", "message", "serializer", "protocol", "params", "origin", "options"]


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def top(names: set[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


def test_phxpy_never_imports_the_server_or_its_stack() -> None:
    for path in (ROOT / "phxpy").rglob("*.py"):
        assert not top(imports(path)) & {"server", "asyncpg", "sqlite3", "jwt", "bcrypt"}, path


def test_the_protocol_core_does_no_io() -> None:
    for name in PURE_CORE:
        used = top(imports(ROOT / "phxpy" / f"{name}.py"))
        assert not used & {"asyncio", "aiohttp", "socket", "time"}, name


def test_aiohttp_stays_in_the_transports_and_web() -> None:
    for path in (ROOT / "phxpy").rglob("*.py"):
        relative = path.relative_to(ROOT / "phxpy").as_posix()
        if relative.startswith("transports/") or relative == "web.py":
            continue
        assert "aiohttp" not in top(imports(path)), relative


def test_public_api_is_all() -> None:
    for name in phxpy.__all__:
        assert hasattr(phxpy, name), name
    public = {name for name in vars(phxpy) if not name.startswith("_")}
    modules = {name for name, value in vars(phxpy).items() if type(value).__name__ == "module"}
    assert public - modules == set(phxpy.__all__)
