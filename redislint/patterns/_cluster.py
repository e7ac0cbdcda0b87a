"""Where the patterns must act differently on Redis Cluster, in one place."""

from __future__ import annotations

from typing import Any, Iterable, Union

from redis.cluster import RedisCluster
from redis.crc import key_slot


def is_cluster(client: Any) -> bool:
    """Whether ``client`` talks to a Redis Cluster (a ``redis.cluster.RedisCluster``)."""
    return isinstance(client, RedisCluster)


def slot(key: Union[str, bytes]) -> int:
    """The Cluster hash slot of ``key`` (only its ``{hash tag}``, if it has one)."""
    return int(key_slot(key.encode("utf-8") if isinstance(key, str) else key))


def one_slot(keys: Iterable[Union[str, bytes]]) -> bool:
    """Whether every key lives in the same slot, so one command or script may take them all."""
    return len({slot(key) for key in keys}) <= 1
