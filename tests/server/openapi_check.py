"""Checks a response against the OpenAPI document the service publishes.

A small JSON Schema subset (the keywords server/api/openapi.py uses): $ref, type, enum,
properties, required, additionalProperties, items, anyOf, pattern, minimum, maximum.
"""

from __future__ import annotations

import re
from typing import Any


class SchemaMismatch(AssertionError):
    pass


def find_operation(document: dict[str, Any], method: str, path: str) -> dict[str, Any] | None:
    """The operation for a concrete path such as /api/users/123, or None."""
    for template, operations in document["paths"].items():
        pattern = "^" + re.sub(r"\{[^/]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path) and method.lower() in operations:
            return operations[method.lower()]
    return None


def check_response(
    document: dict[str, Any], method: str, path: str, status: int, body: Any
) -> None:
    operation = find_operation(document, method, path)
    if operation is None:
        raise SchemaMismatch(f"{method} {path} is not in the OpenAPI document")
    responses = operation["responses"]
    if str(status) not in responses:
        raise SchemaMismatch(f"{method} {path} answered {status}, documented: {list(responses)}")
    content = responses[str(status)].get("content")
    if content is None:
        if body not in (None, b"", ""):
            raise SchemaMismatch(f"{method} {path} {status} should have no body: {body!r}")
        return
    validate(content["application/json"]["schema"], body, document, where="body")


def resolve(document: dict[str, Any], reference: str) -> dict[str, Any]:
    node: Any = document
    for part in reference.removeprefix("#/").split("/"):
        node = node[part]
    return node  # type: ignore[no-any-return]


_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def validate(schema: dict[str, Any], value: Any, document: dict[str, Any], *, where: str) -> None:
    if "$ref" in schema:
        validate(resolve(document, schema["$ref"]), value, document, where=where)
        return
    if "anyOf" in schema:
        for option in schema["anyOf"]:
            try:
                validate(option, value, document, where=where)
            except SchemaMismatch:
                continue
            return
        raise SchemaMismatch(f"{where}: {value!r} matches none of {schema['anyOf']}")
    expected = schema.get("type")
    if expected is not None:
        ok = isinstance(value, _TYPES[expected])
        if expected in ("integer", "number") and isinstance(value, bool):
            ok = False
        if not ok:
            raise SchemaMismatch(f"{where}: expected {expected}, got {value!r}")
    if "enum" in schema and value not in schema["enum"]:
        raise SchemaMismatch(f"{where}: {value!r} not in {schema['enum']}")
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        raise SchemaMismatch(f"{where}: {value!r} does not match {schema['pattern']}")
    if "minimum" in schema and isinstance(value, int) and value < schema["minimum"]:
        raise SchemaMismatch(f"{where}: {value} < {schema['minimum']}")
    if "maximum" in schema and isinstance(value, int) and value > schema["maximum"]:
        raise SchemaMismatch(f"{where}: {value} > {schema['maximum']}")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                raise SchemaMismatch(f"{where}: missing {name!r} in {value!r}")
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in properties:
                validate(properties[name], item, document, where=f"{where}.{name}")
            elif extra is False:
                raise SchemaMismatch(f"{where}: undocumented property {name!r}")
            elif isinstance(extra, dict):
                validate(extra, item, document, where=f"{where}.{name}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            validate(schema["items"], item, document, where=f"{where}[{index}]")
