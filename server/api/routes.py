"""The route table: every REST route, who may call it, and what it takes and returns.

It is the single source for the router (``register_routes``) and the OpenAPI document
(:mod:`server.api.openapi`), so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from server.api import events, meta, moderation, notifications, participants, tickets, users
from server.auth.guard import Access, Handler, guarded
from server.limits import (
    HISTORY_DEFAULT_LIMIT,
    HISTORY_MAX_LIMIT,
    MODERATION_LOG_DEFAULT_LIMIT,
    MODERATION_LOG_MAX_LIMIT,
    PARTICIPANTS_DEFAULT_LIMIT,
    PARTICIPANTS_MAX_LIMIT,
)

# A response body: the name of a component schema, sent inside {"data": ...} ("Name[]" for a
# list of them); None for no body or for the standard error body of an error status; or a
# literal JSON schema for anything else.
ResponseBody = str | Mapping[str, Any] | None


@dataclass(frozen=True)
class QueryParam:
    name: str
    description: str
    schema: Mapping[str, Any]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    access: Access
    summary: str
    request_body: str | None = None
    responses: Mapping[int, ResponseBody] = field(default_factory=dict)
    query: tuple[QueryParam, ...] = ()
    operation: str = ""
    """The OpenAPI operationId, when the handler's name is not unique."""

    @property
    def operation_id(self) -> str:
        return self.operation or self.handler.__name__


_USER_UPDATED: Mapping[str, Any] = {
    "type": "object",
    "required": ["data"],
    "additionalProperties": False,
    "properties": {
        "data": {"$ref": "#/components/schemas/User"},
        "token": {
            "type": "string",
            "description": "A new token, present when the password changed: the change "
            "revokes every older token, the caller's included.",
        },
    },
}

_PARTICIPANTS: Mapping[str, Any] = {
    "type": "object",
    "required": ["data", "total", "online_count", "next_cursor"],
    "additionalProperties": False,
    "properties": {
        "data": {"type": "array", "items": {"$ref": "#/components/schemas/Participant"}},
        "total": {"type": "integer", "minimum": 0, "description": "Participants in all"},
        "online_count": {
            "type": "integer",
            "minimum": 0,
            "description": "Members in the room right now",
        },
        "next_cursor": {
            "anyOf": [{"type": "string"}, {"type": "null"}],
            "description": "Pass as `after` for the next page; null on the last page",
        },
    },
}

ROUTES: tuple[Route, ...] = (
    # -- events (the reservation system) ------------------------------------------------------
    Route(
        "POST",
        "/api/events/create_event",
        events.create_event,
        Access.SERVICE,
        "Create an event together with its (inactive) chat room",
        request_body="CreateEventRequest",
        responses={201: "Event"},
    ),
    Route(
        "POST",
        "/api/events/update_event",
        events.update_event,
        Access.SERVICE,
        "Update some fields of an event; holders are notified when its time or place changes",
        request_body="UpdateEventRequest",
        responses={200: "Event", 404: None},
    ),
    Route(
        "DELETE",
        "/api/events/{id}",
        events.delete_event,
        Access.SERVICE,
        "Delete an event with its tickets, chat room, messages and notifications",
        responses={204: None, 404: None},
    ),
    Route(
        "POST",
        "/api/events/get_chat_room_by_id",
        events.get_chat_room,
        Access.USER_OR_SERVICE,
        "The chat room of an event",
        request_body="GetChatRoomRequest",
        responses={200: "ChatRoom", 404: None},
    ),
    Route(
        "GET",
        "/api/events",
        events.list_events,
        Access.USER_OR_SERVICE,
        "Events that have not ended yet, soonest first",
        responses={200: "Event[]"},
    ),
    Route(
        "GET",
        "/api/events/{id}",
        events.show_event,
        Access.USER_OR_SERVICE,
        "One event",
        responses={200: "Event", 404: None},
    ),
    Route(
        "GET",
        "/api/events/{id}/messages",
        events.list_messages,
        Access.USER,
        "A chat room's history for the event's ticket holders, oldest first, paged by seq",
        query=(
            QueryParam(
                "before",
                "Only messages with a smaller seq (to scroll back from the oldest one shown)",
                {"type": "integer", "minimum": 1},
            ),
            QueryParam(
                "limit",
                f"How many messages at most (default {HISTORY_DEFAULT_LIMIT})",
                {"type": "integer", "minimum": 1, "maximum": HISTORY_MAX_LIMIT},
            ),
        ),
        responses={200: "Message[]", 404: None, 422: None},
    ),
    Route(
        "GET",
        "/api/events/{id}/participants",
        participants.list_participants,
        Access.USER_OR_SERVICE,
        "Everyone admitted to the event's chat room (the event's ticket holders may ask), "
        "in the order they first joined, with whether each is online now; paged by cursor",
        query=(
            QueryParam(
                "after",
                "The next_cursor of the previous page (none: from the start)",
                {"type": "string"},
            ),
            QueryParam(
                "limit",
                f"How many participants at most (default {PARTICIPANTS_DEFAULT_LIMIT})",
                {"type": "integer", "minimum": 1, "maximum": PARTICIPANTS_MAX_LIMIT},
            ),
        ),
        responses={200: _PARTICIPANTS, 404: None, 422: None},
    ),
    # -- the organisers' moderation (the reservation system, for the event's staff) ----------
    Route(
        "POST",
        "/api/events/{id}/announcements",
        moderation.post_announcement,
        Access.SERVICE,
        "Post an announcement into the event's chat room, marked as from the organiser "
        "(201; a retry with the same client_id: 200 with the message stored the first time)",
        request_body="AnnouncementRequest",
        responses={200: "Message", 201: "Message", 404: None, 409: None, 503: None},
    ),
    Route(
        "GET",
        "/api/events/{id}/moderation",
        moderation.show_moderation,
        Access.SERVICE,
        "The room's moderation now: slow mode, mutes in force, removals, hidden messages",
        responses={200: "Moderation", 404: None},
    ),
    Route(
        "GET",
        "/api/events/{id}/moderation/log",
        moderation.moderation_log,
        Access.SERVICE,
        "The room's moderation audit log (who did what when), newest first",
        query=(
            QueryParam(
                "before",
                "Only entries with a smaller version (to page back)",
                {"type": "integer", "minimum": 1},
            ),
            QueryParam(
                "limit",
                f"How many entries at most (default {MODERATION_LOG_DEFAULT_LIMIT})",
                {"type": "integer", "minimum": 1, "maximum": MODERATION_LOG_MAX_LIMIT},
            ),
        ),
        responses={200: "ModerationLogEntry[]", 404: None, 422: None},
    ),
    *(
        Route(
            "POST",
            f"/api/events/{{id}}/moderation/{action}",
            handler,
            Access.SERVICE,
            summary,
            request_body=body,
            responses={200: "ModerationResult", 404: None},
        )
        for action, handler, body, summary in (
            (
                "slow_mode",
                moderation.set_slow_mode,
                "SlowModeRequest",
                "Set the room's slow mode: each member may post once per `seconds` (0: off)",
            ),
            (
                "mute",
                moderation.mute,
                "MuteRequest",
                "Mute a member in the room for a duration (their posts are refused)",
            ),
            ("unmute", moderation.unmute, "MemberRequest", "Lift a member's mute"),
            (
                "remove",
                moderation.remove,
                "RemoveRequest",
                "Remove a member from the room: their channels close, their joins are "
                "refused until reinstated",
            ),
            (
                "reinstate",
                moderation.reinstate,
                "MemberRequest",
                "Let a removed member join the room again",
            ),
            (
                "hide",
                moderation.hide_message,
                "HideRequest",
                "Hide a message of the room: members are told, history serves it without "
                "its content",
            ),
        )
    ),
    # -- users (the fans' app) ----------------------------------------------------------------
    Route(
        "POST",
        "/api/users/create",
        users.sign_up,
        Access.PUBLIC,
        "Sign up; returns the user and a token",
        request_body="SignUpRequest",
        responses={201: "UserWithToken", 429: None, 503: None},
    ),
    Route(
        "POST",
        "/api/users/sign_in",
        users.sign_in,
        Access.PUBLIC,
        "Sign in; returns the user and a token",
        request_body="SignInRequest",
        responses={200: "UserWithToken", 401: None, 429: None, 503: None},
    ),
    Route(
        "POST",
        "/api/users/sign_out",
        users.sign_out,
        Access.USER,
        "Revoke the token of this request and close the user's live sockets",
        responses={204: None},
    ),
    Route(
        "GET",
        "/api/users/{id}",
        users.show_user,
        Access.USER,
        "The signed-in user's own record",
        responses={200: "User", 404: None},
    ),
    Route(
        "POST",
        "/api/users/update",
        users.update_user,
        Access.USER,
        "Update the signed-in user's own record; email and password changes need the current "
        "password; a password change revokes older tokens",
        request_body="UpdateUserRequest",
        responses={200: _USER_UPDATED, 404: None, 429: None, 503: None},
    ),
    Route(
        "DELETE",
        "/api/users/delete_user/{id}",
        users.delete_user,
        Access.USER,
        "Delete the signed-in user's own account; needs its current password",
        request_body="DeleteUserRequest",
        responses={204: None, 404: None, 429: None, 503: None},
    ),
    Route(
        "DELETE",
        "/api/users/delete/{id}",
        users.delete_user,
        Access.USER,
        "Delete the signed-in user's own account (the same, at a shorter path); needs its "
        "current password",
        request_body="DeleteUserRequest",
        responses={204: None, 404: None, 429: None, 503: None},
        operation="delete_user_short_path",
    ),
    # -- tickets (the reservation system) -----------------------------------------------------
    Route(
        "POST",
        "/api/tickets/create",
        tickets.create_ticket,
        Access.SERVICE,
        "Create an unassigned ticket for an event",
        request_body="CreateTicketRequest",
        responses={201: "Ticket"},
    ),
    Route(
        "PATCH",
        "/api/tickets/{ticket_id}/assign/{user_id}",
        tickets.assign_ticket,
        Access.SERVICE,
        "Assign a ticket to a user (again to the same user: no change)",
        responses={200: "Ticket", 404: None, 409: None},
    ),
    # -- notifications (the fans' app) --------------------------------------------------------
    Route(
        "GET",
        "/api/notifications",
        notifications.list_notifications,
        Access.USER,
        "The signed-in user's notifications, unread first, newest first",
        query=(
            QueryParam(
                "status",
                "Only notifications with this status",
                {"type": "string", "enum": ["unread", "read"]},
            ),
        ),
        responses={200: "Notification[]", 422: None},
    ),
    Route(
        "POST",
        "/api/notifications/{id}/read",
        notifications.mark_read,
        Access.USER,
        "Mark one of the signed-in user's notifications read",
        responses={200: "Notification", 404: None},
    ),
    # -- operations ---------------------------------------------------------------------------
    Route(
        "GET",
        "/healthz",
        meta.healthz,
        Access.PUBLIC,
        "Liveness, with a database round trip",
        responses={
            200: {"$ref": "#/components/schemas/Health"},
            503: {"$ref": "#/components/schemas/Health"},
        },
    ),
    Route(
        "GET",
        "/api/openapi.json",
        meta.openapi_document,
        Access.PUBLIC,
        "This document",
        responses={200: {"type": "object"}},
    ),
)


def register_routes(app: web.Application) -> None:
    # add_route (unlike add_get) adds no HEAD routes, so the router holds exactly the
    # methods the document describes.
    for route in ROUTES:
        app.router.add_route(route.method, route.path, guarded(route.access, route.handler))
