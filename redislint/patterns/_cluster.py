"""Where the patterns must act differently on Redis Cluster, or around a failover."""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable, Union

import redis
from redis.cluster import RedisCluster
from redis.crc import key_slot

#: A waiting blocking command (BRPOP, BLMOVE, XREADGROUP BLOCK...) ends with this error when its
#: server stops being a primary: a failover (Cluster or Sentinel) promoted a replica. (Not
#: ``CLIENT UNBLOCK ... ERROR``, also an "UNBLOCKED" error: an operator's, which is raised.)
DEMOTED = ("UNBLOCKED", "instance state changed")

#: Less time than this left is no wait: Redis reads a blocking timeout of 0 as "forever".
_SHORTEST_WAIT = 0.002


def is_cluster(client: Any) -> bool:
    """Whether ``client`` talks to a Redis Cluster (a ``redis.cluster.RedisCluster``)."""
    return isinstance(client, RedisCluster)


def slot(key: Union[str, bytes]) -> int:
    """The Cluster hash slot of ``key`` (only its ``{hash tag}``, if it has one)."""
    return int(key_slot(key.encode("utf-8") if isinstance(key, str) else key))


def one_slot(keys: Iterable[Union[str, bytes]]) -> bool:
    """Whether every key lives in the same slot, so one command or script may take them all."""
    return len({slot(key) for key in keys}) <= 1


def wait_through_failover(wait: Callable[[float], Any], timeout: float) -> Any:
    """``wait(seconds)`` runs a blocking command for up to ``seconds`` and returns its reply.
    If a failover ends the wait early (``UNBLOCKED``), wait again for the time left: the next
    command reaches the demoted primary, whose MOVED (or a Sentinel client's reconnection)
    leads to the promoted replica. None once no time is left."""
    deadline = time.monotonic() + timeout
    left = timeout
    while left >= _SHORTEST_WAIT:
        try:
            return wait(left)
        except redis.ResponseError as error:
            if not (str(error).startswith(DEMOTED[0]) and DEMOTED[1] in str(error)):
                raise
        left = deadline - time.monotonic()
    return None
