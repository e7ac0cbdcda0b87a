"""Calls that build a new Redis connection owner: a client, a connection pool or a Sentinel.

`constructed(model, call)` answers "client", "pool" or "sentinel" for `redis.Redis(...)`,
`Redis.from_url(url)`, `redis.asyncio.Redis(...)`, `RedisCluster(...)`, a local `redis.Redis`
subclass or alias, `sentinel.master_for(...)`, `ConnectionPool(...)`,
`ConnectionPool.from_url(...)`, `Sentinel([...])`; None for anything that hands out an existing
client (`get_redis_connection()`, a factory function, a name declared a client in config).

`fresh_factory(model, call)`: the call runs a function of this module that builds and returns
a new one each time (`def get_client(): return redis.Redis(...)`, not memoised).

`shares_pool(call)`: a client built around a given pool (`Redis(connection_pool=pool)`) opens no
connections of its own: building it is cheap (a pool built right there is a construction itself).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Tuple

import libcst as cst

from redislint.semantic.context.frameworks import is_cached_factory
from redislint.semantic.redispy import CLIENT_FACTORIES, POOL_CONSTRUCTORS

if TYPE_CHECKING:
    from redislint.semantic.model import SemanticModel

# Qualified names that return an existing, shared client although they are listed as makers.
ACCESSORS = frozenset({"django_redis.get_redis_connection"})


def constructed(model: "SemanticModel", call: cst.Call) -> Optional[str]:
    if isinstance(call.func, cst.Name) and call.func.value in model.inferer.client_names:
        return None
    qual = model.qualified_name(call.func)
    return _made(qual, model.infer(call), call)


def _made(qual: Optional[str], found, call: cst.Call) -> Optional[str]:
    if qual in POOL_CONSTRUCTORS:
        return "pool"
    if qual in CLIENT_FACTORIES:
        return "sentinel"
    if qual in ACCESSORS:
        return None
    if found is None or found.role != "client" or found.origin is not call:
        return None
    return "client"


def fresh_factory(model: "SemanticModel", call: cst.Call) -> Optional[Tuple[str, str]]:
    """(kind, name) when `call` calls a function of this module (or a method of the current
    class) that builds and returns a new client, pool or Sentinel on every call: each of its
    `return`s gives a construction (directly, or through a local bound only to one), and it is
    not memoised (`@lru_cache`, `@cache`). A lazy singleton returns a global or an attribute,
    not a fresh object, and is not a fresh factory."""
    func = call.func
    inferer = model.inferer
    cls = None
    if isinstance(func, cst.Name) and model.scope.lookup(func.value) is None:
        facts = model.facts.functions.get(func.value)
    elif isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and \
            model.scope.cls is not None and func.value.value in ("self", "cls"):
        cls = model.scope.cls
        facts = cls.methods.get(func.attr.value)
    else:
        return None
    if facts is None or not facts.returns or is_cached_factory(facts.node) or facts.is_property:
        return None
    lookup = inferer.function_lookup(facts, cls)
    self_name = next(iter(facts.params), None) if cls is not None else None
    kinds = set()
    for value in facts.returns:
        values = facts.locals.get(value.value, []) if isinstance(value, cst.Name) else [value]
        if isinstance(value, cst.Name) and value.value not in facts.locals:
            return None  # a parameter or a global: not built here
        for made in values:
            if not isinstance(made, cst.Call) or shares_pool(made):
                return None
            qual = inferer.qualify(made.func)
            if qual is not None and lookup(qual.split(".")[0]) is not None:
                qual = None
            kind = _made(qual, inferer.infer(made, lookup, cls, self_name), made)
            if kind is None:
                return None
            kinds.add(kind)
    name = func.value if isinstance(func, cst.Name) else f"{func.value.value}.{func.attr.value}"
    return (kinds.pop(), name) if len(kinds) == 1 else None


def shares_pool(call: cst.Call) -> bool:
    """`Redis(connection_pool=pool)`."""
    return any(arg.keyword is not None and arg.keyword.value == "connection_pool"
               for arg in call.args)
