"""The ticket-holders' event chat service (REST API, schema and authentication).

Start it with ``python -m server``; build it in code with :func:`server.app.create_app`.
"""
