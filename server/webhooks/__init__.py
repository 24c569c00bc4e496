"""Notifications delivered to the operator's HTTP webhook, from the outbox in the database."""
