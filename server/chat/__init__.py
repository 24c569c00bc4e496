"""The live chat of an event, on phxpy.

``setup.install_chat(app, ...)`` mounts the socket at ``/socket`` and starts the rooms'
schedule; everything else here is reached from there:

* ``socket`` — UserSocket: the user JWT at connect, socket id ``users_socket:<user_id>``;
* ``event_channel`` — ``event:<event_id>``: the ticket-checked join, messages, typing, history;
* ``user_channel`` — ``user:<user_id>``: that user's notifications;
* ``schedule`` — inactive → active (start - 2 h) → archived (end), from one injectable clock;
* ``live`` — the :class:`server.realtime.Realtime` the REST layer calls after its commits;
* ``moderation`` — the organisers' rules (mutes, removals, slow mode), enforced from memory;
* ``limits`` — per-user rate limits and throttles; ``payloads`` — client input checks.
"""
