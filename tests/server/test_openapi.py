"""The OpenAPI document describes exactly the routes the server has.

(Every response the other tests receive is also checked against it: see api_client.py.)
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server import limits
from server.api.openapi import build_document
from server.api.routes import ROUTES
from server.metrics.route import METRICS_PATH
from server.pages import PAGE_PATHS
from tests.server.api_client import Api
from tests.server.openapi_check import resolve

# phxpy's transport endpoints are not part of the REST API (they speak the Phoenix protocol),
# and neither are the web pages (HTML and static files) nor the metrics (Prometheus's format).
SOCKET_PREFIX = "/socket/"


def router_operations(app: web.Application) -> set[tuple[str, str]]:
    operations = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if path.startswith(SOCKET_PREFIX) or path in PAGE_PATHS or path == METRICS_PATH:
            continue
        operations.add((route.method.lower(), path))
    return operations


def document_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method, path) for path, operations in document["paths"].items() for method in operations
    }


async def test_the_document_lists_every_route_and_only_those(api: Api) -> None:
    served = await api.get("/api/openapi.json", expected=200)
    assert served["openapi"].startswith("3.")
    assert document_operations(served) == router_operations(api.client.app)


def test_every_reference_resolves_and_every_operation_is_complete() -> None:
    document = build_document()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                resolve(document, node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    operation_ids = []
    for operations in document["paths"].values():
        for operation in operations.values():
            operation_ids.append(operation["operationId"])
            assert operation["responses"], operation["operationId"]
            assert "security" in operation
    assert len(operation_ids) == len(set(operation_ids)) == len(ROUTES)


def test_the_paths_the_clients_call_are_documented() -> None:
    paths = build_document()["paths"]
    for method, path in [
        ("post", "/api/events/create_event"),
        ("post", "/api/events/update_event"),
        ("delete", "/api/events/{id}"),
        ("post", "/api/events/get_chat_room_by_id"),
        ("post", "/api/users/create"),
        ("post", "/api/users/sign_in"),
        ("post", "/api/users/sign_out"),
        ("get", "/api/users/{id}"),
        ("post", "/api/users/update"),
        ("delete", "/api/users/delete_user/{id}"),
        ("post", "/api/tickets/create"),
        ("patch", "/api/tickets/{ticket_id}/assign/{user_id}"),
    ]:
        assert method in paths[path], (method, path)


def test_the_documented_limits_are_the_enforced_ones() -> None:
    """The document reads its numbers from server.limits, as the validators do."""
    document = build_document()
    schemas = document["components"]["schemas"]
    event = schemas["CreateEventRequest"]["properties"]["event"]["properties"]
    user = schemas["SignUpRequest"]["properties"]["user_params"]["properties"]
    ticket = schemas["TicketFields"]["properties"]
    history = document["paths"]["/api/events/{id}/messages"]["get"]["parameters"]
    limit = next(p for p in history if p["name"] == "limit")
    assert (
        event["name"]["maxLength"],
        event["location"]["maxLength"],
        event["description"]["maxLength"],
        user["username"]["maxLength"],
        user["email"]["maxLength"],
        user["password"]["minLength"],
        ticket["ticket_number"]["maxLength"],
        limit["schema"]["maximum"],
    ) == (
        limits.EVENT_NAME_MAX_LENGTH,
        limits.EVENT_LOCATION_MAX_LENGTH,
        limits.EVENT_DESCRIPTION_MAX_LENGTH,
        limits.USERNAME_MAX_LENGTH,
        limits.EMAIL_MAX_LENGTH,
        limits.PASSWORD_MIN_LENGTH,
        limits.TICKET_NUMBER_MAX_LENGTH,
        limits.HISTORY_MAX_LIMIT,
    )
    assert f"default {limits.HISTORY_DEFAULT_LIMIT}" in limit["description"]
