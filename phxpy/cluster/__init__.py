"""Several phxpy processes, on one machine or many, sharing one Redis: every client sees one
set of topics. Needs the ``redis`` extra (``pip install './phxpy[redis]'``); importing
``phxpy`` alone never imports it.

:class:`RedisCluster` is a node: its :attr:`~RedisCluster.pubsub` for the
:class:`~phxpy.Endpoint`, Presence replicated with :meth:`~RedisCluster.attach`, and its
:attr:`~RedisCluster.longpoll_relay` for ``mount``. How it works: :mod:`phxpy.cluster.node`.
"""

from .link import LinkStats
from .node import ClusterPubSub, ClusterStats, RedisCluster

__all__ = ["ClusterPubSub", "ClusterStats", "LinkStats", "RedisCluster"]
