import libcst as cst

from redislint.rule import Fix, Invalid, Rule, Valid
from redislint.semantic.fixes.edits import keyword, renamed_call
from redislint.semantic.model import RedisCall

# Calls that consume an iterable exactly once, in order.
_CONSUMERS = ("list", "set", "sorted", "frozenset", "tuple")


class KeysCommand(Rule):
    """
    ## What it does
    Flags `KEYS pattern` (`r.keys(...)`) in application code.

    ## Why is this bad?
    KEYS walks the whole keyspace in one blocking call. On a production-sized database it stalls
    every other client for as long as it runs (the Redis docs warn against it outside debugging).

    ## Example
    ```python
    for key in r.keys("session:*"):
        r.delete(key)
    ```

    ## Use instead:
    ```python
    for key in r.scan_iter(match="session:*", count=1000):
        r.delete(key)
    ```
    SCAN returns the keyspace in small cursor steps, so other clients run in between.

    ## Fix safety
    `keys(p)` becomes `scan_iter(match=p)`. The fix is safe where the result is only iterated
    once (`for key in r.keys(p):`, a comprehension's iterable). Inside `list()`, `set()`,
    `sorted()` it is unsafe: SCAN can return a key twice if the keyspace is rehashed during
    the scan, and keys created or deleted meanwhile may or may not appear. Elsewhere (the list is
    stored, indexed, measured with `len`) there is no fix. No fix is offered on `redis.asyncio`
    clients, where `scan_iter` is an async iterator.
    """

    code = "RL501"
    name = "keys-command"
    fix_safety = "safe"
    pattern = "caching"
    message = "`keys()` blocks Redis while it walks the whole keyspace: iterate `scan_iter(match=...)` instead"

    VALID = [
        Valid('import redis\nr = redis.Redis()\nfor k in r.scan_iter(match="user:*"):\n    print(k)\n'),
        Valid('d = {"a": 1}\nprint(d.keys())\n'),
        Valid('import redis\nr = redis.Redis()\nr.hkeys("h")\n'),
        Valid('class Store:\n    def keys(self, p):\n        return []\nStore().keys("*")\n'),
    ]
    INVALID = [
        Invalid('import redis\nr = redis.Redis()\nfor k in r.keys("user:*"):\n    r.delete(k)\n',
                expected_fix='import redis\nr = redis.Redis()\nfor k in r.scan_iter(match="user:*"):\n    r.delete(k)\n'),
        Invalid('import redis\nr = redis.Redis()\nnames = sorted(r.keys(pattern="user:*"))\n',
                expected_fix='import redis\nr = redis.Redis()\nnames = sorted(r.scan_iter(match="user:*"))\n',
                unsafe=True),
        Invalid('import redis\nr = redis.Redis()\nn = len(r.keys())\n'),
        Invalid('import redis\nr = redis.Redis()\nids = [k.split(b":")[1] for k in r.keys()]\n',
                expected_fix='import redis\nr = redis.Redis()\nids = [k.split(b":")[1] for k in r.scan_iter()]\n'),
        Invalid('from redis.asyncio import Redis\nasync def f(r: Redis):\n    return await r.keys()\n'),
        Invalid('import redis\nclass Repo:\n    def __init__(self):\n        self.r = redis.from_url("redis://")\n'
                '    def all(self):\n        return self.r.keys("*")\n'),
    ]

    def on_redis_call(self, call: RedisCall) -> None:
        if call.command == "keys" and call.receiver.role in ("client", "pipeline"):
            self.report(call.node, fix=self._fix(call))

    def _fix(self, call: RedisCall):
        if call.receiver.is_async or call.receiver.role != "client" or call.has_star_args:
            return None
        parent = call.parent
        if isinstance(parent, (cst.For, cst.CompFor)) and parent.iter is call.node:
            applicability = "safe"
        elif (isinstance(parent, cst.Arg) and len(call.ancestors) > 1
              and isinstance(call.ancestors[-2], cst.Call)
              and self.model.qualified_name(call.ancestors[-2].func) in _CONSUMERS):
            applicability = "unsafe"
        else:
            return None
        pattern = call.arg(0, "pattern")
        args = [keyword("match", pattern)] if pattern is not None else []
        return Fix("Iterate with `scan_iter(match=...)`", {call.node: renamed_call(call.node, "scan_iter", args)},
                   applicability)
