"""Several phxpy processes, on one machine or many, sharing one Redis: every client sees one
set of topics. Needs the ``redis`` extra (``pip install './phxpy[redis]'``); importing
``phxpy`` alone never imports it.

:class:`RedisCluster` is a node: its :attr:`~RedisCluster.pubsub` for the
:class:`~phxpy.Endpoint`, Presence replicated with :meth:`~RedisCluster.attach`, and its
:attr:`~RedisCluster.longpoll_relay` for ``mount``. How it works: :mod:`phxpy.cluster.node`.

:class:`RedisConnection` is the lean Redis connection the node itself uses (commands made
with :func:`redis_command`, replies parsed by hiredis), for an application that needs a
command of its own per message without a general client's cost.
"""

from .link import Address as RedisAddress
from .link import Connection as RedisConnection
from .link import LinkStats, RedisError
from .link import ReplyError as RedisReplyError
from .link import command as redis_command
from .node import ClusterPubSub, ClusterStats, RedisCluster

__all__ = [
    "ClusterPubSub",
    "ClusterStats",
    "LinkStats",
    "RedisAddress",
    "RedisCluster",
    "RedisConnection",
    "RedisError",
    "RedisReplyError",
    "redis_command",
]
