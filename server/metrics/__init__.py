"""The service's metrics, in Prometheus's text format at ``GET /metrics``.

- :mod:`.registry`: every metric the service exposes, in one registry per app.
- :mod:`.observe`: where the numbers come from: phxpy's telemetry events on the endpoint,
  the REST answers that refuse for a limit, the database's timings, the message writer's
  counters.
- :mod:`.database`: the database, timed.
- :mod:`.route`: ``/metrics`` and who may read it.

Metrics cost the hot path next to nothing: phxpy emits an event only where a handler is
attached, a counter is an addition under a lock, and the figures that are just state
(sockets open, messages stored) are read only when ``/metrics`` is.
"""
