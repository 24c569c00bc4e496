"""phxpy's layering, checked on the source: who may import what, directly or not.

Every import counts, those made only for type checking (``if TYPE_CHECKING:``) and inside
functions included: a cycle held together by a type-only import is still a cycle for a
reader. docs/architecture.md explains the layers.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import phxpy

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "phxpy"

# Lowest first. A module may import modules of its own layer or of lower ones only.
LAYERS: list[tuple[str, set[str]]] = [
    (
        "pure core",
        {
            "types",
            "errors",
            "message",
            "serializer",
            "protocol",
            "params",
            "origin",
            "options",
            "presence_state",
            "inbound",
            "telemetry",
            "longpoll_relay",
        },
    ),
    (
        "services an app holds",
        {"clock", "collector", "pubsub", "presence", "deadlines", "endpoint"},
    ),
    ("what an app subclasses", {"socket", "channel"}),
    ("the machinery", {"channel_server"}),
    (
        "front ends",
        {
            "transports",
            "transports.handshake",
            "transports.websocket",
            "transports.longpoll",
            "transports.longpoll_session",
            "transports.session_token",
            "web",
            "testing",
        },
    ),
    (
        "the cluster (optional, on Redis)",
        {
            "cluster",
            "cluster.envelope",
            "cluster.link",
            "cluster.node",
            "cluster.presence_sync",
        },
    ),
    ("the public API", {""}),
]
PURE_CORE = LAYERS[0][1]
USER_FACING = {"socket", "channel", "presence", "endpoint", "pubsub"}
MACHINERY = {"protocol", "channel_server", "web", "testing"}
NO_IO = {"asyncio", "aiohttp", "socket", "time", "selectors", "threading"}
# aiohttp serves HTTP in the front ends only. Sockets and channels name its Application and
# Request types for the type checker; nothing else needs it.
AIOHTTP_AT_RUNTIME = {"web", "testing"}
AIOHTTP_TYPES_ONLY = {"socket", "channel"}
# Redis's reply parser is an optional extra: one module talks to Redis, and nothing outside
# phxpy.cluster reaches it (``import phxpy`` works without it).
REDIS_MODULES = {"cluster.link"}


@dataclass
class Module:
    name: str
    """Relative to phxpy: ``""`` for the package, ``"transports.websocket"``."""
    internal: dict[str, bool] = field(default_factory=dict)
    """phxpy modules imported, each with ``True`` if only for type checking."""
    external: dict[str, bool] = field(default_factory=dict)
    """Top-level names of other packages imported, likewise."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(tree: ast.AST, type_only: bool = False) -> Iterable[tuple[ast.AST, bool]]:
    """Every import statement below ``tree``, and whether it is under TYPE_CHECKING."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, type_only
        elif isinstance(node, ast.If) and is_type_checking(node.test):
            for child in node.body:
                yield from imports(ast.Module(body=[child], type_ignores=[]), True)
            for child in node.orelse:
                yield from imports(ast.Module(body=[child], type_ignores=[]), type_only)
        else:
            yield from imports(node, type_only)


def load(path: Path, known: set[str]) -> Module:
    module = Module(module_name(path))
    package = module.name if path.name == "__init__.py" else module.name.rpartition(".")[0]

    def add(target: dict[str, bool], name: str, type_only: bool) -> None:
        target[name] = target.get(name, True) and type_only

    for node, type_only in imports(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "phxpy" or alias.name.startswith("phxpy."):
                    add(module.internal, alias.name.removeprefix("phxpy").lstrip("."), type_only)
                else:
                    add(module.external, alias.name.split(".")[0], type_only)
            continue
        assert isinstance(node, ast.ImportFrom)
        if node.level == 0:
            name = node.module or ""
            if name != "phxpy" and not name.startswith("phxpy."):
                add(module.external, name.split(".")[0], type_only)
                continue
            base = name.removeprefix("phxpy").lstrip(".")
        else:
            base_parts = package.split(".") if package else []
            base_parts = base_parts[: len(base_parts) - (node.level - 1)]
            base = ".".join([*base_parts, *([node.module] if node.module else [])])
        for alias in node.names:  # "from . import x" and "from phxpy import web" name modules
            submodule = f"{base}.{alias.name}" if base else alias.name
            add(module.internal, submodule if submodule in known else base, type_only)
    return module


def load_all() -> dict[str, Module]:
    paths = sorted(PACKAGE.rglob("*.py"))
    known = {module_name(path) for path in paths}
    return {module.name: module for module in (load(path, known) for path in paths)}


MODULES = load_all()


def reached(start: str, *, runtime_only: bool = False) -> tuple[set[str], set[str]]:
    """The phxpy modules and the external packages ``start`` imports, directly or not."""
    seen: set[str] = set()
    external: set[str] = set()
    todo = [start]
    while todo:
        module = MODULES[todo.pop()]
        external.update(n for n, t in module.external.items() if not (runtime_only and t))
        for name, type_only in module.internal.items():
            if name not in seen and not (runtime_only and type_only):
                seen.add(name)
                todo.append(name)
    return seen, external


def layer_of(name: str) -> int:
    for index, (_, members) in enumerate(LAYERS):
        if name in members:
            return index
    raise AssertionError(f"phxpy.{name} belongs to no layer: add it to LAYERS")


def test_every_module_has_a_layer() -> None:
    for name in MODULES:
        layer_of(name)


def test_phxpy_has_no_import_cycle() -> None:
    state: dict[str, str] = {}  # "open" while on the path, "done" after

    def visit(name: str, path: list[str]) -> None:
        state[name] = "open"
        for imported in MODULES[name].internal:
            if state.get(imported) == "open":
                cycle = [*path[path.index(imported) :], imported]
                raise AssertionError("import cycle: " + " -> ".join(f"phxpy.{m}" for m in cycle))
            if imported not in state:
                visit(imported, [*path, imported])
        state[name] = "done"

    for name in MODULES:
        if name not in state:
            visit(name, [name])


def test_imports_point_down_the_layers() -> None:
    for name, module in MODULES.items():
        for imported in module.internal:
            assert layer_of(imported) <= layer_of(name), (
                f"phxpy.{name} ({LAYERS[layer_of(name)][0]}) imports phxpy.{imported} "
                f"({LAYERS[layer_of(imported)][0]})"
            )


def test_user_facing_modules_know_nothing_of_the_machinery() -> None:
    """Channels, sockets, the endpoint, presence and pub/sub see the machinery through
    narrow interfaces only: they never reach the protocol state machine, the channel
    server, the transports or the test helpers, even indirectly."""
    for name in USER_FACING:
        modules, _ = reached(name)
        machinery = {m for m in modules if m in MACHINERY or m.startswith("transports")}
        assert not machinery, f"phxpy.{name} reaches {sorted(machinery)}"


def test_one_module_knows_channels_and_the_protocol() -> None:
    knowing = [
        name
        for name, module in MODULES.items()
        if {"channel", "protocol"} <= module.internal.keys()
    ]
    assert knowing == ["channel_server"]


def test_transports_drive_sessions_not_channels() -> None:
    for name, module in MODULES.items():
        if name.startswith("transports"):
            assert not {"channel", "presence"} & module.internal.keys(), name


def test_the_pure_core_does_no_io_even_indirectly() -> None:
    for name in PURE_CORE:
        modules, external = reached(name)
        assert modules <= PURE_CORE, f"phxpy.{name} reaches {sorted(modules - PURE_CORE)}"
        assert not external & NO_IO, f"phxpy.{name} reaches {sorted(external & NO_IO)}"


def test_aiohttp_serves_http_in_the_front_ends_only() -> None:
    for name, module in MODULES.items():
        if "aiohttp" not in module.external:
            continue
        if name.startswith("transports") or name in AIOHTTP_AT_RUNTIME:
            continue
        assert name in AIOHTTP_TYPES_ONLY, f"phxpy.{name} imports aiohttp"
        assert module.external["aiohttp"], f"phxpy.{name} imports aiohttp at run time"
    for name in ("channel_server", *USER_FACING):
        _, external = reached(name, runtime_only=True)
        assert "aiohttp" not in external, f"phxpy.{name} reaches aiohttp at run time"


def test_phxpy_never_imports_the_server_or_its_stack() -> None:
    stack = {"server", "asyncpg", "sqlite3", "jwt", "bcrypt"}
    for name, module in MODULES.items():
        assert not stack & module.external.keys(), f"phxpy.{name} imports the service's stack"


def test_phxpy_needs_only_the_standard_library_and_aiohttp() -> None:
    """What phxpy's own distribution declares: aiohttp, nothing else (never the server or
    its stack); the ``redis`` extra in its one module."""
    for name, module in MODULES.items():
        allowed = {"aiohttp", "hiredis"} if name in REDIS_MODULES else {"aiohttp"}
        foreign = set(module.external) - set(sys.stdlib_module_names) - allowed
        assert not foreign, f"phxpy.{name} imports {sorted(foreign)}"


def test_only_the_cluster_reaches_redis() -> None:
    for name in MODULES:
        if name.startswith("cluster"):
            continue
        _, external = reached(name)
        assert "hiredis" not in external, f"phxpy.{name} reaches hiredis"


def test_the_cluster_uses_no_transport() -> None:
    """The cluster meets the transports through the pure LongPoll relay protocol only."""
    for name in MODULES:
        if name.startswith("cluster"):
            modules, _ = reached(name)
            assert not {m for m in modules if m.startswith("transports") or m in MACHINERY}, name


def test_the_checker_sees_type_only_and_relative_imports() -> None:
    """The rules above are only as good as the import graph they read."""
    channel = MODULES["channel"]
    assert channel.internal["socket"] is False
    assert channel.external["aiohttp"] is True  # under TYPE_CHECKING
    assert "channel_server" in MODULES["transports.websocket"].internal
    assert MODULES[""].internal.keys() >= {"channel", "web", "presence_state"}


def test_public_api_is_all() -> None:
    for name in phxpy.__all__:
        assert hasattr(phxpy, name), name
    public = {name for name in vars(phxpy) if not name.startswith("_")}
    modules = {name for name, value in vars(phxpy).items() if type(value).__name__ == "module"}
    assert public - modules == set(phxpy.__all__)
