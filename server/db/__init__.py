"""The database layer: the only place in the service that holds SQL.

Every query function takes a :class:`~server.db.database.Connection` (the caller chose
``db.read()`` or the transaction of ``db.write()``), returns the dataclasses of
:mod:`server.domain` and raises its errors; constraint violations are translated here, so no
caller ever sees a driver's exception.
"""
