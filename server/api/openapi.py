"""The OpenAPI 3.1 document, built from the route table.

Request and response shapes are written out here, next to each other; the tests validate every
response they receive against this document, so a shape that drifts from the code fails them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from server.api.routes import ROUTES, ResponseBody, Route
from server.auth.guard import Access
from server.limits import (
    CLIENT_ID_MAX_LENGTH,
    EMAIL_MAX_LENGTH,
    EVENT_DESCRIPTION_MAX_LENGTH,
    EVENT_LOCATION_MAX_LENGTH,
    EVENT_NAME_MAX_LENGTH,
    MESSAGE_MAX_LENGTH,
    MODERATION_ACTOR_MAX_LENGTH,
    MODERATION_REASON_MAX_LENGTH,
    MUTE_MAX_SECONDS,
    PASSWORD_MAX_BYTES,
    PASSWORD_MIN_LENGTH,
    SLOW_MODE_MAX_SECONDS,
    TICKET_NUMBER_MAX_LENGTH,
    USERNAME_MAX_LENGTH,
)

JSONSchema = dict[str, Any]

_UUID: JSONSchema = {"type": "string", "format": "uuid"}
_TIME: JSONSchema = {
    "type": "string",
    "description": "Naive UTC, ISO 8601 without fraction or offset",
    "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$",
    "examples": ["2025-01-01T19:00:07"],
}
_TIME_IN: JSONSchema = {
    "type": "string",
    "description": '"YYYY-MM-DD HH:MM:SS" or ISO 8601 (an offset is converted to UTC)',
    "examples": ["2025-01-01 19:00:07", "2025-01-01T22:00:07+03:00"],
}


def _ref(name: str) -> JSONSchema:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: JSONSchema) -> JSONSchema:
    return {"anyOf": [schema, {"type": "null"}]}


def _object(properties: Mapping[str, JSONSchema], *, required: Iterable[str] = ()) -> JSONSchema:
    return {
        "type": "object",
        "required": list(required),
        "properties": dict(properties),
        "additionalProperties": False,
    }


def _record(properties: Mapping[str, JSONSchema]) -> JSONSchema:
    """A response record: every property is always present."""
    return _object(properties, required=properties)


_PASSWORD: JSONSchema = {
    "type": "string",
    "minLength": PASSWORD_MIN_LENGTH,
    "description": f"The plain password (at most {PASSWORD_MAX_BYTES} bytes in UTF-8); only "
    "its bcrypt hash is stored. The fans' app sends it as password_hash.",
}
_USERNAME: JSONSchema = {"type": "string", "maxLength": USERNAME_MAX_LENGTH}
_EMAIL: JSONSchema = {"type": "string", "maxLength": EMAIL_MAX_LENGTH}
_CURRENT_PASSWORD: dict[str, JSONSchema] = {
    "current_password": {
        "type": "string",
        "description": "The account's current (plain) password, to confirm a change of "
        "email or password, or the account's deletion. Wrong or tried too often count "
        "against the account's sign-in limit (429).",
    },
    "current_password_hash": {"type": "string", "description": "Same as current_password"},
}
_EVENT_FIELDS: dict[str, JSONSchema] = {
    "name": {"type": "string", "maxLength": EVENT_NAME_MAX_LENGTH},
    "description": {"type": "string", "maxLength": EVENT_DESCRIPTION_MAX_LENGTH},
    "location": {"type": "string", "maxLength": EVENT_LOCATION_MAX_LENGTH},
    "start_time": _TIME_IN,
    "end_time": {**_TIME_IN, "description": "After start_time. " + _TIME_IN["description"]},
}

_ACTOR: JSONSchema = {
    "type": "string",
    "maxLength": MODERATION_ACTOR_MAX_LENGTH,
    "description": 'Who acts, for the audit log (default "organiser")',
}
_REASON: JSONSchema = {"type": "string", "maxLength": MODERATION_REASON_MAX_LENGTH}

SCHEMAS: dict[str, JSONSchema] = {
    "User": _record({"id": _UUID, "username": {"type": "string"}, "email": {"type": "string"}}),
    "UserWithToken": _record(
        {"user": _ref("User"), "token": {"type": "string", "description": "A JWT (HS256)"}}
    ),
    "ChatRoom": _record(
        {
            "id": _UUID,
            "event_id": _UUID,
            "status": {"type": "string", "enum": ["inactive", "active", "archived"]},
        }
    ),
    "Event": _record(
        {
            "id": _UUID,
            "name": {"type": "string"},
            "description": {"type": "string"},
            "location": {"type": "string"},
            "start_time": _TIME,
            "end_time": _TIME,
            "chat_room": _ref("ChatRoom"),
        }
    ),
    "Ticket": _record(
        {
            "id": _UUID,
            "ticket_number": {"type": "string"},
            "event_id": _UUID,
            "user_id": _nullable(_UUID),
            "used_at": _nullable(_TIME),
            "user": _nullable(_ref("User")),
        }
    ),
    "Notification": _record(
        {
            "id": _UUID,
            "event_id": _nullable(_UUID),
            "kind": {
                "type": "string",
                "description": "What happened: event_updated, event_cancelled, room_opened; "
                "removed and reinstated (the organisers removed the user from the event's "
                "chat, or let them back in)",
                "examples": ["event_updated", "room_opened", "reinstated"],
            },
            "message": {"type": "string"},
            "status": {"type": "string", "enum": ["unread", "read"]},
            "inserted_at": _TIME,
        }
    ),
    "Message": _record(
        {
            "id": _UUID,
            "chat_room_id": _UUID,
            "user_id": _nullable(_UUID),
            "username": {"type": "string"},
            "content": {"type": "string"},
            "content_type": {"type": "string"},
            "seq": {"type": "integer", "minimum": 1},
            "inserted_at": _TIME,
            "author_role": {
                "type": "string",
                "enum": ["member", "organiser"],
                "description": "organiser: an announcement (no user_id; username is the "
                "label the organisers signed it with)",
            },
            "hidden": {
                "type": "boolean",
                "description": "Hidden by an organiser: content is empty, the seq stays",
            },
        }
    ),
    "Participant": _record(
        {
            "user_id": _UUID,
            "username": {"type": "string"},
            "joined_at": {**_TIME, "description": "When they first joined the room"},
            "online": {"type": "boolean", "description": "In the room right now"},
        }
    ),
    "Moderation": _record(
        {
            "event_id": _UUID,
            "chat_room_id": _UUID,
            "version": {
                "type": "integer",
                "minimum": 0,
                "description": "How many moderation actions the room has seen (the version "
                "of the latest audit log entry)",
            },
            "slow_mode_seconds": {"type": "integer", "minimum": 0},
            "mutes": {
                "type": "array",
                "description": "Mutes in force now",
                "items": _record(
                    {
                        "user_id": _UUID,
                        "username": {"type": "string"},
                        "until": {
                            **_TIME,
                            "description": "When the mute ends, rounded up to the second "
                            "(naive UTC, ISO 8601 without fraction or offset)",
                        },
                        "reason": _nullable({"type": "string"}),
                        "actor": {"type": "string"},
                        "since": _TIME,
                    }
                ),
            },
            "removals": {
                "type": "array",
                "items": _record(
                    {
                        "user_id": _UUID,
                        "username": {"type": "string"},
                        "reason": _nullable({"type": "string"}),
                        "actor": {"type": "string"},
                        "since": _TIME,
                    }
                ),
            },
            "hidden_messages": {
                "type": "array",
                "items": _record(
                    {
                        "message_id": _UUID,
                        "seq": {"type": "integer", "minimum": 1},
                        "reason": _nullable({"type": "string"}),
                        "actor": {"type": "string"},
                        "hidden_at": _TIME,
                    }
                ),
            },
        }
    ),
    "ModerationResult": _record(
        {
            "changed": {
                "type": "boolean",
                "description": "false: it was so already (nothing changed, nothing logged)",
            },
            "moderation": _ref("Moderation"),
        }
    ),
    "ModerationLogEntry": _record(
        {
            "version": {"type": "integer", "minimum": 1},
            "action": {
                "type": "string",
                "enum": [
                    "announce",
                    "slow_mode",
                    "mute",
                    "unmute",
                    "remove",
                    "reinstate",
                    "hide",
                ],
            },
            "actor": {"type": "string"},
            "user_id": _nullable(_UUID),
            "message_id": _nullable(_UUID),
            "details": {"type": "object", "description": "The action's parameters"},
            "inserted_at": _TIME,
        }
    ),
    "Health": _record({"status": {"type": "string", "enum": ["ok", "unavailable"]}}),
    "ErrorDetail": _record({"errors": _record({"detail": {"type": "string"}})}),
    "ValidationErrors": _record(
        {
            "errors": {
                "type": "object",
                "description": 'Messages per field, e.g. {"email": ["can\'t be blank"]}',
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
            }
        }
    ),
    # -- request bodies -----------------------------------------------------------------------
    "CreateEventRequest": _object(
        {"event": _object(_EVENT_FIELDS, required=_EVENT_FIELDS)}, required=["event"]
    ),
    "UpdateEventRequest": _object(
        {"id": _UUID, "event": _object(_EVENT_FIELDS)}, required=["id", "event"]
    ),
    "GetChatRoomRequest": _object({"event_id": _UUID}, required=["event_id"]),
    "SignUpRequest": _object(
        {
            "user_params": _object(
                {
                    "username": _USERNAME,
                    "email": _EMAIL,
                    "password_hash": _PASSWORD,
                    "password": {**_PASSWORD, "description": "Same as password_hash"},
                },
                required=["username", "email"],
            )
        },
        required=["user_params"],
    ),
    "SignInRequest": _object(
        {
            "email": _EMAIL,
            "password_hash": {"type": "string", "description": "The plain password"},
            "password": {"type": "string", "description": "Same as password_hash"},
        },
        required=["email"],
    ),
    "UpdateUserRequest": {
        **_object(
            {
                "id": _UUID,
                "user_params": _object(
                    {
                        "username": _USERNAME,
                        "email": _EMAIL,
                        "password_hash": _PASSWORD,
                        "password": {**_PASSWORD, "description": "Same as password_hash"},
                    }
                ),
                **_CURRENT_PASSWORD,
            },
            required=["id", "user_params"],
        ),
        "description": "Changing the email or the password needs current_password; changing "
        "only the username does not. A missing or wrong current password is a 422 on that "
        'field ({"current_password": ["can\'t be blank"]} or ["is not valid"]).',
    },
    "DeleteUserRequest": {
        **_object(_CURRENT_PASSWORD),
        "description": "The account's current password is required: a missing or wrong one "
        'is a 422 on that field ({"current_password": ["is not valid"]}).',
    },
    "TicketFields": _object(
        {
            "ticket_number": {"type": "string", "maxLength": TICKET_NUMBER_MAX_LENGTH},
            "event_id": _UUID,
        },
        required=["ticket_number", "event_id"],
    ),
    "AnnouncementRequest": _object(
        {
            "content": {"type": "string", "maxLength": MESSAGE_MAX_LENGTH},
            "client_id": {
                "type": "string",
                "maxLength": CLIENT_ID_MAX_LENGTH,
                "description": "Makes retries safe: an announcement with a client_id "
                "already used in the room is not posted again",
            },
            "actor": _ACTOR,
        },
        required=["content"],
    ),
    "SlowModeRequest": _object(
        {
            "seconds": {"type": "integer", "minimum": 0, "maximum": SLOW_MODE_MAX_SECONDS},
            "actor": _ACTOR,
        },
        required=["seconds"],
    ),
    "MuteRequest": {
        **_object(
            {
                "user_id": _UUID,
                "duration_seconds": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MUTE_MAX_SECONDS,
                },
                "until": {
                    **_TIME_IN,
                    "description": "Instead of duration_seconds: when the mute ends (a "
                    "retry with the same until changes nothing)",
                },
                "reason": _REASON,
                "actor": _ACTOR,
            },
            required=["user_id"],
        ),
        "description": "One of duration_seconds and until.",
    },
    "MemberRequest": _object({"user_id": _UUID, "actor": _ACTOR}, required=["user_id"]),
    "RemoveRequest": _object(
        {"user_id": _UUID, "reason": _REASON, "actor": _ACTOR}, required=["user_id"]
    ),
    "HideRequest": _object(
        {"message_id": _UUID, "reason": _REASON, "actor": _ACTOR}, required=["message_id"]
    ),
    "CreateTicketRequest": {
        **_object({"ticket": _ref("TicketFields"), "ticket_params": _ref("TicketFields")}),
        "description": 'The ticket under "ticket" (or "ticket_params").',
    },
}

_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "The body is not a JSON object",
    401: "Missing, malformed, expired or revoked credential",
    403: "A valid credential that may not do this",
    404: "Not Found",
    409: "Conflict with the current state",
    413: "The body is too large",
    422: "Invalid fields",
    429: "Too many attempts for this account or from this address; try again after "
    "Retry-After seconds",
    503: "Unavailable; when Retry-After is given, try again after that many seconds",
}
_RETRY_AFTER: JSONSchema = {
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "schema": {"type": "integer", "minimum": 1},
    }
}

_SECURITY: dict[Access, list[dict[str, list[str]]]] = {
    Access.PUBLIC: [],
    Access.USER: [{"userToken": []}],
    Access.SERVICE: [{"serviceKey": []}],
    Access.USER_OR_SERVICE: [{"userToken": []}, {"serviceKey": []}],
}


def documented_statuses(route: Route) -> dict[int, ResponseBody]:
    """The route's responses plus those every route of its kind can give."""
    statuses: dict[int, ResponseBody] = dict(route.responses)
    if route.request_body is not None:
        for status in (400, 413, 422):
            statuses.setdefault(status, None)
    if route.access is not Access.PUBLIC:
        statuses.setdefault(401, None)
        statuses.setdefault(403, None)
    return dict(sorted(statuses.items()))


def _response(status: int, body: ResponseBody) -> JSONSchema:
    response: JSONSchema = {"description": _STATUS_TEXT.get(status, str(status))}
    if status == 204:
        return response
    if status in (429, 503) and body is None:
        response["headers"] = _RETRY_AFTER
    if body is None:
        schema = _ref("ValidationErrors" if status == 422 else "ErrorDetail")
    elif isinstance(body, str):
        item = _ref(body.removesuffix("[]"))
        data = {"type": "array", "items": item} if body.endswith("[]") else item
        schema = _record({"data": data})
    else:
        schema = dict(body)
    response["content"] = {"application/json": {"schema": schema}}
    return response


def _operation(route: Route) -> JSONSchema:
    operation: JSONSchema = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "description": f"Who may call it: {route.access.value}.",
        "security": _SECURITY[route.access],
        "responses": {
            str(status): _response(status, body)
            for status, body in documented_statuses(route).items()
        },
    }
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": _UUID}
        for name in _path_parameters(route.path)
    ] + [
        {
            "name": q.name,
            "in": "query",
            "required": False,
            "description": q.description,
            "schema": dict(q.schema),
        }
        for q in route.query
    ]
    if parameters:
        operation["parameters"] = parameters
    if route.request_body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(route.request_body)}},
        }
    return operation


def _path_parameters(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]


def build_document(routes: Iterable[Route] = ROUTES) -> JSONSchema:
    paths: dict[str, dict[str, JSONSchema]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Ticket chat",
            "version": "1.0.0",
            "description": "REST API of the ticket-holders' event chat. Success bodies are "
            'wrapped in {"data": ...}; errors are {"errors": {"detail": ...}} or, for 422, '
            "messages per field. A user token on a reservation-system route, or the service "
            "key on a user route, is 403; a missing or bad credential is 401.",
        },
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "serviceKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The reservation system's SERVICE_API_KEY",
                },
                "userToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            },
        },
    }
