from redislint.rule import Invalid, Rule, Valid
from redislint.semantic.model import RedisCall


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
    No automatic fix yet: `scan_iter` returns an iterator, not a list, so the fix is only safe
    where the result is iterated once.
    """

    code = "RL501"
    name = "keys-command"
    message = "`keys()` blocks Redis while it walks the whole keyspace: iterate `scan_iter(match=...)` instead"

    VALID = [
        Valid('import redis\nr = redis.Redis()\nfor k in r.scan_iter(match="user:*"):\n    print(k)\n'),
        Valid('d = {"a": 1}\nprint(d.keys())\n'),
        Valid('import redis\nr = redis.Redis()\nr.hkeys("h")\n'),
        Valid('class Store:\n    def keys(self, p):\n        return []\nStore().keys("*")\n'),
    ]
    INVALID = [
        Invalid('import redis\nr = redis.Redis()\nfor k in r.keys("user:*"):\n    r.delete(k)\n'),
        Invalid('from redis.asyncio import Redis\nasync def f(r: Redis):\n    return await r.keys()\n'),
        Invalid('import redis\nclass Repo:\n    def __init__(self):\n        self.r = redis.from_url("redis://")\n'
                '    def all(self):\n        return self.r.keys("*")\n'),
    ]

    def on_redis_call(self, call: RedisCall) -> None:
        if call.command == "keys" and call.receiver.role in ("client", "pipeline"):
            self.report(call.node)
