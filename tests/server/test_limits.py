"""Every size the service accepts is defined once, in server/limits.py, and named in the
README (the validators, the chat and the OpenAPI document read it: see test_openapi)."""

from __future__ import annotations

from pathlib import Path

from server import limits

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_limit_is_named_in_the_readme() -> None:
    readme = README.read_text(encoding="utf-8")
    names = [name for name in vars(limits) if name.isupper()]
    assert names
    for name in names:
        assert f"`{name}`" in readme, name
