"""Query-string parsing with Plug's rules, so connect params look as they do in Phoenix.

``user[id]=1&user[name]=x`` → ``{"user": {"id": "1", "name": "x"}}``; ``ids[]=a&ids[]=b`` →
``{"ids": ["a", "b"]}``; for a repeated plain key the **last** value wins (LongPoll relies on
it: ``?token=<app token>&vsn=2.0.0&token=<session>``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from .types import Params

_MAX_DEPTH = 8
_MAX_PAIRS = 1000


def parse_params(query: str) -> Params:
    """Parse a raw (still percent-encoded) query string."""
    params: Params = {}
    pairs = parse_qsl(query, keep_blank_values=True, max_num_fields=None)
    for key, value in pairs[:_MAX_PAIRS]:
        if key:
            _assign(params, _split_key(key), value)
    return params


def _split_key(key: str) -> list[str]:
    """``a[b][]`` → ``["a", "b", ""]``. Text after an unclosed bracket stays literal."""
    head, sep, rest = key.partition("[")
    if not sep or not head or "]" not in rest:
        return [key]
    parts = [head]
    while rest and len(parts) <= _MAX_DEPTH:
        inner, sep, rest = rest.partition("]")
        if not sep:
            return [key]
        parts.append(inner)
        if rest.startswith("["):
            rest = rest[1:]
        else:
            break
    return parts


def _assign(target: dict[str, Any], path: list[str], value: str) -> None:
    node: Any = target
    for index, part in enumerate(path):
        last = index == len(path) - 1
        following = None if last else path[index + 1]
        if isinstance(node, list):
            # "[]" segment: append (a nested "[]" map starts a new element).
            if last:
                node.append(value)
                return
            child: Any = [] if following == "" else {}
            node.append(child)
            node = child
            continue
        if last:
            node[part] = value
            return
        existing = node.get(part)
        wanted: type = list if following == "" else dict
        if not isinstance(existing, wanted):
            existing = wanted()
            node[part] = existing
        node = existing
