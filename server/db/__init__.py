"""The database layer: the only place in the service that builds SQL.

Every function takes an ``AsyncConnection`` (the caller owns the transaction), returns the
dataclasses of :mod:`server.domain` and raises its errors; integrity errors from the database
are translated here, so no caller ever sees a SQLAlchemy exception.
"""
