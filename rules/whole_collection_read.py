from typing import List, Optional

import libcst as cst

from redislint.rule import Invalid, Rule, Valid
from redislint.semantic.context.frameworks import in_test_code
from redislint.semantic.model import RedisCall, Scope
from redislint.semantic.names import number_value, string_value

# Whole-collection reads -> what pages through the same collection instead.
_WHOLE = {"hgetall": "hscan_iter", "hkeys": "hscan_iter", "hvals": "hscan_iter",
          "smembers": "sscan_iter"}
_RANGES = {"lrange": "bounded `lrange` pages", "zrange": "`zscan_iter` or bounded `zrange` pages",
           "zrevrange": "`zscan_iter` or bounded `zrevrange` pages"}
# Commands that keep a collection bounded when the project runs them on its key.
_TRIMS = {"lrange": ("ltrim",), "zrange": ("zremrangebyrank", "zremrangebyscore", "zpopmin",
                                           "zpopmax"),
          "zrevrange": ("zremrangebyrank", "zremrangebyscore", "zpopmin", "zpopmax")}
_HASH_WRITES = frozenset({"hset", "hsetnx", "hmset", "hincrby", "hincrbyfloat"})


class WholeCollectionRead(Rule):
    """
    ## What it does
    Flags reads of a whole collection in one command: `hgetall`, `hkeys`, `hvals`,
    `smembers`, `lrange(key, 0, -1)`, `zrange(key, 0, -1)` and `zrevrange(key, 0, -1)`.

    Hash reads are flagged only when the module adds fields named by data to the same key
    pattern (`hset(key, item_id, v)`, `hincrby(key, product, 1)`): a hash written whole
    (`mapping=`) or by literal field names is a record (a session, a profile), not a growing
    collection. Lists trimmed with `ltrim` and sorted sets trimmed with `zremrangebyrank`,
    `zremrangebyscore` or `zpopmin` in the module are bounded. A wrapper method named after the
    command it forwards (`def smembers(self, key): return client.smembers(key)`) and test code
    are not checked. Off by default: only the project knows which collections grow.

    ## Why is this bad?
    Redis runs one command at a time. HGETALL of a hash with a million fields, or LRANGE 0 -1
    of a long list, is O(N): it stalls every other client while it runs, then ships the whole
    collection over the network into one reply the client must hold in memory. It works in
    development and turns into latency spikes and timeouts as the data grows.

    ## Example
    ```python
    for member in r.smembers(f"followers:{uid}"):
        notify(member)
    ```

    ## Use instead:
    ```python
    for member in r.sscan_iter(f"followers:{uid}", count=500):
        notify(member)
    ```
    SCAN-family iterators fetch the collection in small steps, letting other clients run in
    between. For ordered data read a bounded page (`zrevrange(key, 0, 99)`), or keep the
    collection bounded (`ltrim`). See `redislint patterns leaderboards`.

    ## Fix safety
    No automatic fix: SCAN iterators may return an element twice and miss elements added or
    removed during the iteration, and they return an iterator, not a list or dict.
    """

    code = "RL503"
    name = "whole-collection-read"
    message = ("`{command}` reads the whole collection in one command, which blocks Redis and "
               "fills client memory as the collection grows: iterate it with {instead} "
               "(see `redislint patterns leaderboards`)")
    default_enabled = False
    fix_safety = None
    pattern = "leaderboards"

    VALID = [
        Valid('import redis\nr = redis.Redis()\nfor m in r.sscan_iter("followers", count=500):\n'
              '    print(m)\n'),
        Valid('import redis\nr = redis.Redis()\ntop = r.zrevrange("board", 0, 99, withscores=True)\n'),
        Valid('import redis\nr = redis.Redis()\ndef push(event):\n    with r.pipeline() as p:\n'
              '        p.lpush("recent", event)\n        p.ltrim("recent", 0, 99)\n'
              '        p.execute()\ndef recent():\n    return r.lrange("recent", 0, -1)\n'),
        Valid('import redis\nr = redis.Redis()\ndef save(sid, user, ip):\n'
              '    r.hset(f"session:{sid}", mapping={"user": user, "ip": ip})\n'
              '    r.hset(f"session:{sid}", "seen", 1)\ndef load(sid):\n'
              '    return r.hgetall(f"session:{sid}")\n'),
        Valid('import redis\nr = redis.Redis()\ncache = {}\nitems = cache.get("all")\n'
              'class Bag:\n    def smembers(self, k):\n        return set()\nBag().smembers("k")\n'),
        Valid('import redis\nr = redis.Redis()\nfirst = r.lrange("queue", 0, 9)\n'),
        Valid('import redis\nclass Cache:\n    def __init__(self):\n        self.r = redis.Redis()\n'
              '    def smembers(self, key):\n        return self.r.smembers("app:" + key)\n'),
        Valid('import redis\nr = redis.Redis()\ndef job(job_id):\n'
              '    # written elsewhere, whole: a record\n'
              '    return r.hgetall(f"job:{job_id}")\n'),
    ]
    INVALID = [
        Invalid('import redis\nr = redis.Redis()\ndef notify_all(uid):\n'
                '    for member in r.smembers(f"followers:{uid}"):\n        print(member)\n'),
        Invalid('import redis\nclass Carts:\n    def __init__(self, url):\n'
                '        self.r = redis.Redis.from_url(url)\n    def add(self, cart, item, n):\n'
                '        self.r.hincrby("cart:" + cart, item, n)\n    def items(self, cart):\n'
                '        return self.r.hgetall("cart:{}".format(cart))\n'),
        Invalid('from redis.asyncio import Redis\nasync def history(r: Redis, room: str):\n'
                '    return await r.lrange(f"chat:{room}", 0, -1)\n'),
        Invalid('import redis\nr = redis.Redis()\ndef ranking():\n'
                '    with r.pipeline() as p:\n        p.zrange("scores", 0, -1, withscores=True)\n'
                '        return p.execute()[0]\n'),
    ]

    def on_scope_exit(self, scope: Scope) -> None:
        if scope.kind != "module":
            return
        calls = self.model.redis_calls
        for call in calls:
            instead = self._whole_read(call)
            if instead is None or self._bounded(call, calls):
                continue
            if in_test_code(self.model, call.ancestors) or _forwards(call):
                continue
            self.report(call.node, self.message.format(command=call.command, instead=instead))

    @staticmethod
    def _whole_read(call: RedisCall) -> Optional[str]:
        if call.receiver.role not in ("client", "pipeline") or call.has_star_args:
            return None
        if call.command in _WHOLE:
            return f"`{_WHOLE[call.command]}`"
        if call.command in _RANGES:
            start, end = call.arg(1, "start"), call.arg(2, "end")
            if start is None or end is None:
                return None
            if number_value(start) == 0 and number_value(end) == -1:
                return _RANGES[call.command]
        return None

    @staticmethod
    def _bounded(call: RedisCall, calls: List[RedisCall]) -> bool:
        if call.key is None:
            return call.command.startswith("h")  # a hash needs evidence that it grows
        same = [c for c in calls if _same_collection(call, c)]
        if any(c.command in _TRIMS.get(call.command, ()) for c in same):
            return True
        if call.command.startswith("h"):
            # A hash is a collection when items are added as fields (`hset(k, item_id, v)`);
            # written whole (`mapping=`) or by literal field names it is a record.
            writes = [c for c in same if c.command in _HASH_WRITES]
            return all(_literal_fields(c) for c in writes)
        return False


def _forwards(call: RedisCall) -> bool:
    """`def smembers(self, key): return client.smembers(key)`: a client wrapper handing the
    command on; its callers decide what they read."""
    function = call.scope.function
    return isinstance(function, cst.FunctionDef) and function.name.value == call.command


def _same_collection(a: RedisCall, b: RedisCall) -> bool:
    """The same key in one function; across functions, the same key pattern with literal text
    (`cart:{}`), or the same constant or attribute (`LAST_SEEN`, `self.key`)."""
    if b.key is None or a.key is None:
        return False
    if a.scope is b.scope or not a.key.template.replace("{}", ""):
        return a.key == b.key and (a.scope is b.scope or all(
            "." in part or part.isupper() for part in a.key.parts))
    return a.key.template == b.key.template


def _literal_fields(call: RedisCall) -> bool:
    """A hash write that adds no field named by data: `hset(k, "name", v)`, `hset(k,
    mapping=record)`, `hmset(k, record)` (a whole record written at once)."""
    if call.command == "hmset":
        return True
    field = call.arg(1, "key")
    return field is None or string_value(field) is not None
