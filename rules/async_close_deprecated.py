from typing import Optional

import libcst as cst

from redislint.rule import Fix, Invalid, Rule, Valid
from redislint.semantic.keys.expressions import source
from redislint.semantic.model import RedisCall
from redislint.semantic.redispy import RedisObject
from redislint.semantic.redispy_version import targeted

# redis-py 5.0.1 added `aclose()` to the asyncio client and PubSub and deprecated `close()`
# (`@deprecated_function(version="5.0.1", reason="Use aclose() instead", name="close")` in
# redis/asyncio/client.py; RedisCluster's since 5.0.0).
_ACLOSE_SINCE = (5, 0, 1)
_ROLES = ("client", "pubsub")


class AsyncCloseDeprecated(Rule):
    """
    ## What it does
    Flags `close()` on a `redis.asyncio` client or PubSub (`await r.close()`, also a bound
    `r.close` handed to a shutdown hook). Silent when the project targets redis-py before 5.0.1
    (`redis-py-version`, else the installed redis-py, else 7.4), and in modules that import the
    old `aioredis` package, whose clients have no `aclose()`, and in code that picks the method
    by itself (`if hasattr(r, "aclose"): ... else: await r.close()`, or a `try` around
    `aclose()`) to support older redis-py releases. `close()` on a sync client and on
    an async pipeline (whose `aclose()` means `reset()`) is not flagged.

    ## Why is this bad?
    redis-py 5.0.1 deprecated the asyncio `close()` in favour of `aclose()`, the name the
    standard library uses for async resources (`contextlib.aclosing`). Every call emits a
    `DeprecationWarning`, which test suites running with `-W error` turn into failures, and a
    deprecated alias is removed in some later major release.

    ## Example
    ```python
    r = redis.asyncio.Redis()
    ...
    await r.close()
    ```

    ## Use instead:
    ```python
    await r.aclose()
    ```
    or `async with redis.asyncio.Redis() as r:`, which closes the client on exit.

    ## Fix safety
    The fix renames `close` to `aclose`: safe, `aclose()` takes the same arguments and
    `close()` only delegates to it (redis/asyncio/client.py).
    """

    code = "RL607"
    name = "async-close-deprecated"
    message = ("`close()` on a `redis.asyncio` {what} is deprecated since redis-py 5.0.1: call "
               "`aclose()` (see `redislint patterns pubsub`)")
    pattern = "pubsub"
    fix_safety = "safe"

    VALID = [
        Valid('import redis.asyncio as redis\nasync def main():\n    r = redis.Redis()\n'
              '    await r.aclose()\n'),
        Valid('import redis\nr = redis.Redis()\nr.close()\n'),
        # an async pipeline: close() is not aclose() there
        Valid('import redis.asyncio as redis\nasync def main(r: redis.Redis):\n'
              '    pipe = r.pipeline()\n    await pipe.reset()\n'),
        Valid('import aiofiles\nasync def main(f):\n    await f.close()\n'),
        # the old aioredis package has no aclose()
        Valid('import aioredis\nasync def main():\n    r = aioredis.from_url("redis://")\n'
              '    await r.close()\n'),
        # a project on redis-py 4.6 has no aclose() either
        Valid('import redis.asyncio as redis\nasync def main():\n    r = redis.Redis()\n'
              '    await r.close()\n', settings={"redis-py-version": "4.6"}),
        Valid('import redis.asyncio as redis\nasync def main():\n'
              '    async with redis.Redis() as r:\n        await r.ping()\n',
              settings={"redis-py-version": "5.0.1"}),
        # a library supporting redis-py < 5.0.1 on purpose
        Valid('from redis.asyncio import Redis\nasync def disconnect(r: Redis):\n'
              '    if hasattr(r, "aclose"):\n        await r.aclose()\n    else:\n'
              '        await r.close()\n', settings={"redis-py-version": "7.4"}),
    ]
    INVALID = [
        Invalid('import redis.asyncio as redis\nasync def main():\n    r = redis.Redis()\n'
                '    await r.close()\n',
                expected_fix='import redis.asyncio as redis\nasync def main():\n'
                '    r = redis.Redis()\n    await r.aclose()\n',
                settings={"redis-py-version": "5.0.1"}),
        # self.r from __init__, with the argument kept
        Invalid('from redis.asyncio import Redis\nclass Store:\n    def __init__(self, url):\n'
                '        self.r = Redis.from_url(url)\n    async def shutdown(self):\n'
                '        await self.r.close(close_connection_pool=True)\n',
                expected_fix='from redis.asyncio import Redis\nclass Store:\n'
                '    def __init__(self, url):\n        self.r = Redis.from_url(url)\n'
                '    async def shutdown(self):\n'
                '        await self.r.aclose(close_connection_pool=True)\n',
                settings={"redis-py-version": "7.4"}),
        # an annotated parameter, a PubSub
        Invalid('from redis.asyncio import Redis\nasync def listen(r: Redis):\n'
                '    ps = r.pubsub()\n    await ps.subscribe("events")\n    await ps.close()\n',
                expected_fix='from redis.asyncio import Redis\nasync def listen(r: Redis):\n'
                '    ps = r.pubsub()\n    await ps.subscribe("events")\n    await ps.aclose()\n',
                settings={"redis-py-version": "8.1"}),
        # an alias, and the bound method handed to a shutdown hook
        Invalid('import redis.asyncio as aredis\npool = aredis.from_url("redis://cache")\n'
                'def setup(app):\n    app.on_shutdown.append(pool.close)\n',
                expected_fix='import redis.asyncio as aredis\npool = aredis.from_url("redis://cache")\n'
                'def setup(app):\n    app.on_shutdown.append(pool.aclose)\n',
                settings={"redis-py-version": "6.0"}),
        # a cluster client
        Invalid('from redis.asyncio.cluster import RedisCluster\nasync def main():\n'
                '    rc = RedisCluster(host="h")\n    await rc.close()\n',
                expected_fix='from redis.asyncio.cluster import RedisCluster\nasync def main():\n'
                '    rc = RedisCluster(host="h")\n    await rc.aclose()\n',
                settings={"redis-py-version": "5.2"}),
    ]

    def __init__(self, model, settings) -> None:
        super().__init__(model, settings)
        self._applies = targeted(settings) >= _ACLOSE_SINCE and not any(
            qual == "aioredis" or qual.startswith("aioredis.")
            for qual in model.facts.imports.names.values())

    def on_redis_call(self, call: RedisCall) -> None:
        if call.command == "close":
            self._check(call.node.func, call.receiver)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        """`r.close` not called here: a bound method handed on (`on_shutdown.append(r.close)`)."""
        if node.attr.value != "close":
            return
        parent = self.model.ancestors[-1] if self.model.ancestors else None
        if isinstance(parent, cst.Call) and parent.func is node:
            return  # a call: on_redis_call sees it
        self._check(node, self.model.infer(node.value))

    def _check(self, func: cst.BaseExpression, receiver: Optional[RedisObject]) -> None:
        if not self._applies or receiver is None or not receiver.is_async:
            return
        if self._compatibility_shim():
            return
        if receiver.role not in _ROLES or not isinstance(func, cst.Attribute):
            return
        what = "PubSub" if receiver.role == "pubsub" else "client"
        fix = Fix("Call `aclose()`", {func.attr: cst.Name("aclose")})
        self.report(func, self.message.format(what=what), fix=fix)

    def _compatibility_shim(self) -> bool:
        """`if hasattr(r, "aclose"): await r.aclose() else: await r.close()`, or a `try` around
        `aclose()`: code that supports redis-py releases older than 5.0.1 on purpose."""
        for node in reversed(self.model.ancestors):
            if isinstance(node, (cst.FunctionDef, cst.Lambda)):
                return False
            if isinstance(node, (cst.If, cst.IfExp)) and "aclose" in source(node.test):
                return True
            if isinstance(node, cst.Try) and "aclose" in source(node.body):
                return True
        return False
