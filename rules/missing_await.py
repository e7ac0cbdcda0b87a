import libcst as cst

from redislint.rule import Fix, Invalid, Rule, Valid
from redislint.semantic.flow.coroutines import never_awaited, returns_coroutine
from redislint.semantic.model import RedisCall

_HEAD = "import redis.asyncio as redis\nr = redis.Redis()\n"


class MissingAwait(Rule):
    """
    ## What it does
    Flags a `redis.asyncio` call whose coroutine is never awaited, inside `async def`:

    - a bare statement `r.set(k, v)` on an async client (or an async pipeline's `execute()`,
      `watch()`, `reset()`; an async PubSub's `subscribe()`, `get_message()`...; an async lock's
      `acquire()`, `release()`...);
    - `v = r.get(k)` when `v` is bound only there and every later read of it treats the
      coroutine as a value (compared, tested, indexed, formatted, converted): nothing can have
      awaited it. A coroutine returned, passed to a call (`asyncio.gather(c)`,
      `create_task(c)`, a helper) or stored is someone else's to await, and is not flagged.

    Commands queued on an async pipeline (`pipe.set(k, v)`) return the pipeline, not a
    coroutine, and are correctly not awaited; only `execute()` sends them. Methods that build
    objects (`pipeline()`, `pubsub()`, `lock()`, `register_script()`) and the `*scan_iter`
    async generators are not coroutines either.

    ## Why is this bad?
    Calling a coroutine function only creates the coroutine: without `await` the command is
    never sent. The write silently does not happen (Python prints `RuntimeWarning: coroutine
    ... was never awaited` at garbage collection, if anyone reads the log), and a read returns a
    coroutine object, which is truthy and equal to nothing.

    ## Example
    ```python
    async def login(r: redis.asyncio.Redis, sid: str, uid: str) -> None:
        r.set(f"session:{sid}", uid, ex=3600)
    ```

    ## Use instead:
    ```python
    async def login(r: redis.asyncio.Redis, sid: str, uid: str) -> None:
        await r.set(f"session:{sid}", uid, ex=3600)
    ```
    See `redislint patterns sessions` for the session write itself.

    ## Fix safety
    On a bare statement, `await` is inserted; this is safe: the statement's value was
    discarded, so the only change is that the command is now sent, as written. On `v = r.get(k)`
    the fix (`v = await r.get(k)`) is unsafe: the code that reads `v` now sees the reply instead
    of a coroutine and takes branches it never took before.
    """

    code = "RL604"
    name = "missing-await"
    message = ("`{command}()` on a `redis.asyncio` object returns a coroutine that is never "
               "awaited, so the command is never sent: `await` it "
               "(see `redislint patterns sessions`)")
    pattern = "sessions"
    fix_safety = "safe"

    VALID = [
        Valid(_HEAD + 'async def f(k):\n    await r.set(k, 1, ex=60)\n    return await r.get(k)\n'),
        # async pipeline: queued commands return the pipeline; execute() is awaited
        Valid(_HEAD + 'async def f(k):\n    async with r.pipeline() as pipe:\n'
              '        pipe.incr(k)\n        pipe.expire(k, 60)\n        await pipe.execute()\n'),
        # handed to the event loop: someone else awaits it
        Valid('import asyncio\n' + _HEAD + 'async def f(keys):\n'
              '    t = asyncio.create_task(r.set("a", 1))\n'
              '    values = await asyncio.gather(*[r.get(k) for k in keys])\n'
              '    pending = r.get("b")\n    await pending\n    await t\n    return values\n'),
        # a sync client in async code is another rule's business (RL603)
        Valid('import redis\nr = redis.Redis()\nasync def f(k):\n    r.set(k, 1)\n'),
        # returned for the caller to await; objects built without I/O
        Valid(_HEAD + 'def cached(k):\n    return r.get(k)\nasync def f(k):\n'
              '    lock = r.lock("l", timeout=5)\n    ps = r.pubsub()\n'
              '    script = r.register_script("return 1")\n    return cached(k)\n'),
        # the async generators of SCAN are iterated, not awaited
        Valid(_HEAD + 'async def f():\n    async for key in r.scan_iter(match="user:*"):\n'
              '        print(key)\n'),
        # a coroutine kept in a list is awaited later
        Valid(_HEAD + 'import asyncio\nasync def f(keys):\n    jobs = []\n    for k in keys:\n'
              '        c = r.delete(k)\n        jobs.append(c)\n    await asyncio.wait(jobs)\n'),
    ]
    INVALID = [
        Invalid(_HEAD + 'async def f(k):\n    r.set(k, 1, ex=60)\n',
                expected_fix=_HEAD + 'async def f(k):\n    await r.set(k, 1, ex=60)\n'),
        # self.r from __init__; an async pipeline's execute()
        Invalid('from redis.asyncio import Redis\nclass Repo:\n    def __init__(self):\n'
                '        self.r = Redis.from_url("redis://localhost")\n'
                '    async def save(self, k, v):\n        pipe = self.r.pipeline()\n'
                '        pipe.set(k, v).expire(k, 60)\n        pipe.execute()\n',
                expected_fix='from redis.asyncio import Redis\nclass Repo:\n    def __init__(self):\n'
                '        self.r = Redis.from_url("redis://localhost")\n'
                '    async def save(self, k, v):\n        pipe = self.r.pipeline()\n'
                '        pipe.set(k, v).expire(k, 60)\n        await pipe.execute()\n'),
        # annotated parameter, an aliased import, PubSub and lock methods
        Invalid('import redis.asyncio as aioredis\n'
                'async def listen(client: aioredis.Redis):\n    ps = client.pubsub()\n'
                '    ps.subscribe("events")\n    lock = client.lock("l", timeout=5)\n'
                '    lock.release()\n',
                expected_fix='import redis.asyncio as aioredis\n'
                'async def listen(client: aioredis.Redis):\n    ps = client.pubsub()\n'
                '    await ps.subscribe("events")\n    lock = client.lock("l", timeout=5)\n'
                '    await lock.release()\n', count=2),
        # the coroutine is compared, never awaited
        Invalid(_HEAD + 'async def is_admin(uid):\n    role = r.hget(f"user:{uid}", "role")\n'
                '    if role == b"admin":\n        return True\n    return False\n',
                expected_fix=_HEAD + 'async def is_admin(uid):\n'
                '    role = await r.hget(f"user:{uid}", "role")\n'
                '    if role == b"admin":\n        return True\n    return False\n',
                unsafe=True),
        # a client from a factory function
        Invalid('from redis.asyncio import from_url\ndef client():\n    return from_url("redis://")\n'
                'async def bump(k):\n    client().incr(k)\n',
                expected_fix='from redis.asyncio import from_url\ndef client():\n'
                '    return from_url("redis://")\nasync def bump(k):\n    await client().incr(k)\n'),
    ]

    def on_redis_call(self, call: RedisCall) -> None:
        if call.awaited or not self.model.in_async or not returns_coroutine(call):
            return
        if self._defined_here(call.command):
            return
        parent = call.parent
        if isinstance(parent, cst.Expr):
            self.report(call.node, self.message.format(command=call.command),
                        fix=Fix("Await the coroutine", {call.node: cst.Await(call.node)}))
            return
        function = call.scope.node
        if isinstance(function, cst.FunctionDef) and never_awaited(function, call.node, parent):
            self.report(call.node, self.message.format(command=call.command),
                        fix=Fix("Await the coroutine", {call.node: cst.Await(call.node)}, "unsafe"))

    def _defined_here(self, method: str) -> bool:
        """A method of that name defined in this module: a client subclass's own helper may
        be sync."""
        return any(method in cls.methods for cls in self.model.facts.classes.values())
