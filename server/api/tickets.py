"""Tickets, created and assigned by the reservation system."""

from __future__ import annotations

from aiohttp import web

from server import render
from server.api.render import data_response
from server.api.validation import Fields, nested_object, path_id, read_json_object
from server.db import tickets as ticket_store
from server.keys import CLOCK, DB
from server.limits import TICKET_NUMBER_MAX_LENGTH


async def create_ticket(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    fields = Fields(nested_object(body, "ticket", "ticket_params"))
    ticket_number = fields.text("ticket_number", max_length=TICKET_NUMBER_MAX_LENGTH)
    event_id = fields.uuid("event_id")
    fields.check()
    async with request.app[DB].write() as conn:
        ticket = await ticket_store.create_ticket(
            conn, event_id=event_id, ticket_number=ticket_number, now=request.app[CLOCK].now()
        )
    return data_response(render.ticket(ticket), status=201)


async def assign_ticket(request: web.Request) -> web.Response:
    ticket_id = path_id(request, "ticket_id")
    user_id = path_id(request, "user_id")
    async with request.app[DB].write() as conn:
        ticket = await ticket_store.assign_ticket(
            conn, ticket_id=ticket_id, user_id=user_id, now=request.app[CLOCK].now()
        )
    return data_response(render.ticket(ticket))
