"""Calls that build a new Redis connection owner: a client, a connection pool or a Sentinel.

`constructed(model, call)` answers "client", "pool" or "sentinel" for `redis.Redis(...)`,
`Redis.from_url(url)`, `redis.asyncio.Redis(...)`, `RedisCluster(...)`, a local `redis.Redis`
subclass or alias, `sentinel.master_for(...)`, `ConnectionPool(...)`,
`ConnectionPool.from_url(...)`, `Sentinel([...])`; None for anything that hands out an existing
client (`get_redis_connection()`, a factory function, a name declared a client in config).

`shares_pool(call)`: a client built around a given pool (`Redis(connection_pool=pool)`) opens no
connections of its own: building it is cheap (a pool built right there is a construction itself).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import libcst as cst

from redislint.semantic.redispy import CLIENT_FACTORIES, POOL_CONSTRUCTORS

if TYPE_CHECKING:
    from redislint.semantic.model import SemanticModel

# Qualified names that return an existing, shared client although they are listed as makers.
ACCESSORS = frozenset({"django_redis.get_redis_connection"})


def constructed(model: "SemanticModel", call: cst.Call) -> Optional[str]:
    qual = model.qualified_name(call.func)
    if qual in POOL_CONSTRUCTORS:
        return "pool"
    if qual in CLIENT_FACTORIES:
        return "sentinel"
    if qual in ACCESSORS:
        return None
    if isinstance(call.func, cst.Name) and call.func.value in model.inferer.client_names:
        return None
    found = model.infer(call)
    if found is None or found.role != "client" or found.origin is not call:
        return None
    return "client"


def shares_pool(call: cst.Call) -> bool:
    """`Redis(connection_pool=pool)`."""
    return any(arg.keyword is not None and arg.keyword.value == "connection_pool"
               for arg in call.args)
