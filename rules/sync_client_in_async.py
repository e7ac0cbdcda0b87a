import libcst as cst

from redislint.rule import Invalid, Rule, Valid
from redislint.semantic.flow.coroutines import blocking_helper, blocks_on_server, off_loop
from redislint.semantic.context.frameworks import in_test_code, in_tooling
from redislint.semantic.model import RedisCall


class SyncClientInAsync(Rule):
    """
    ## What it does
    Flags a call that waits for the Redis server made through a sync redis-py object (a
    `redis.Redis` client, a sync pipeline's `execute()`, a sync lock's `acquire()`, a sync
    PubSub's `get_message()`/`listen()`...) inside `async def`, and `with r.lock(...):` on a
    sync lock there (entering it acquires the lock).

    Not flagged: a call that is awaited (`await r.get(k)`: the object is async, whatever its
    annotation says); test code and operator tooling (scripts, examples, CLI commands, an
    `if __name__ == "__main__":` block: one coroutine at a time, nobody else waits on the
    loop); code the coroutine does not run itself: a nested sync `def`, a `lambda`
    (deferred: `loop.run_in_executor(None, lambda: r.get(k))`), the arguments of calls that
    hand work to a thread (`asyncio.to_thread`, `run_in_executor`, `sync_to_async`,
    `run_in_threadpool`, `executor.submit`, `functools.partial`); calls that do no I/O
    (`r.pipeline()`, `r.lock(...)`, `r.pubsub()`, commands queued on a pipeline); and clients
    whose kind is unknown.

    ## Why is this bad?
    A sync client blocks the thread until the reply arrives, and in `async def` that thread is
    the event loop: every other request, task and timer of the process waits for the round trip
    (and for the whole `socket_timeout`, or forever without one, when Redis is slow or
    unreachable). Under load the latency of one command becomes the latency of all of them.

    ## Example
    ```python
    r = redis.Redis()

    async def profile(uid: str) -> dict:
        return r.hgetall(f"user:{uid}")
    ```

    ## Use instead:
    ```python
    r = redis.asyncio.Redis()

    async def profile(uid: str) -> dict:
        return await r.hgetall(f"user:{uid}")
    ```
    or, for a sync library you cannot change, `await asyncio.to_thread(r.hgetall, key)`.
    See `redislint patterns caching` for the read path itself.

    ## Fix safety
    No automatic fix: switching to `redis.asyncio` changes the client's construction, every
    call site (`await`) and its connection pool.
    """

    helper_message = ("`{name}()` waits for Redis (it sends `{command}` through a sync redis-py "
                      "client) and blocks the event loop inside `async def`: give it a "
                      "`redis.asyncio` client and `await` it, or run it in a thread "
                      "(see `redislint patterns caching`)")
    code = "RL603"
    name = "sync-client-in-async"
    message = ("`{command}()` on a sync redis-py {what} blocks the event loop inside `async def`: "
               "use a `redis.asyncio` client and `await` it, or run it in a thread "
               "(see `redislint patterns caching`)")
    pattern = "caching"

    VALID = [
        Valid('import redis.asyncio as redis\nr = redis.Redis()\nasync def f(k):\n'
              '    return await r.get(k)\n'),
        # annotated as the sync class but awaited: the object is an async client
        Valid('import redis\nasync def applied(conn: redis.Redis):\n'
              '    return await conn.smembers("migrations")\n'),
        # a pytest-asyncio test checking state with a sync client
        Valid('import redis\nr = redis.Redis()\nasync def test_visit(client):\n'
              '    await client.get("/visit")\n    assert r.get("visits") == b"1"\n'),
        # a sync client in sync code
        Valid('import redis\nr = redis.Redis()\ndef f(k):\n    return r.get(k)\n'),
        # handed to a thread: a lambda, a bare method reference, a nested sync def
        Valid('import asyncio\nimport redis\nr = redis.Redis()\nasync def f(k):\n'
              '    loop = asyncio.get_running_loop()\n'
              '    a = await loop.run_in_executor(None, lambda: r.get(k))\n'
              '    b = await asyncio.to_thread(r.get, k)\n'
              '    def work():\n        return r.hgetall(k)\n'
              '    c = await asyncio.to_thread(work)\n    return a, b, c\n'),
        # no I/O: building a pipeline and queueing commands
        Valid('import asyncio\nimport redis\nr = redis.Redis()\nasync def f(k):\n'
              '    pipe = r.pipeline()\n    pipe.set(k, 1)\n    pipe.expire(k, 5)\n'
              '    lock = r.lock("l", timeout=5)\n    await asyncio.to_thread(pipe.execute)\n'),
        # asgiref's sync_to_async around a sync helper
        Valid('from asgiref.sync import sync_to_async\nimport redis\nr = redis.Redis()\n'
              'async def f(k):\n    return await sync_to_async(lambda: r.get(k))()\n'),
        # not Redis
        Valid('async def f(cache, k):\n    return cache.get(k)\n'),
        # a helper that sends through an async client, awaited; a sync helper run in a thread
        Valid('import asyncio\nimport redis\nimport redis.asyncio as aredis\n'
              'class Store:\n    def __init__(self):\n        self.a = aredis.Redis()\n'
              '        self.s = redis.Redis()\n'
              '    async def get(self, k):\n        return await self.a.get(k)\n'
              '    def sync_get(self, k):\n        return self.s.get(k)\n'
              'STORE = Store()\nasync def handler(k):\n    a = await STORE.get(k)\n'
              '    b = await asyncio.to_thread(STORE.sync_get, k)\n    return a, b\n'),
    ]
    INVALID = [
        Invalid('import redis\nr = redis.Redis()\nasync def f(k):\n    return r.get(k)\n'),
        # self.r from __init__; a sync pipeline's execute() (the queued commands do no I/O)
        Invalid('import redis\nclass Store:\n    def __init__(self, url):\n'
                '        self.r = redis.Redis.from_url(url)\n'
                '    async def save(self, k, v):\n        pipe = self.r.pipeline()\n'
                '        pipe.set(k, v)\n        pipe.expire(k, 60)\n        pipe.execute()\n'),
        # an annotated parameter, an aliased import
        Invalid('from redis import StrictRedis as SR\nasync def handler(r: SR, uid):\n'
                '    if r.exists(f"ban:{uid}"):\n        return 403\n'
                '    r.incr(f"hits:{uid}")\n    return 200\n', count=2),
        # a sync lock and a sync PubSub in an async generator
        Invalid('import redis\nr = redis.Redis()\nasync def events():\n'
                '    with r.lock("l", timeout=5):\n        pass\n'
                '    ps = r.pubsub()\n    ps.subscribe("news")\n'
                '    for m in ps.listen():\n        yield m\n', count=3),
        # a sync client inside a comprehension of an async def
        Invalid('import redis\nr = redis.Redis()\nasync def many(keys):\n'
                '    return [r.get(k) for k in keys]\n'),
        # a project wrapper whose method sends a sync command itself, called from a coroutine
        Invalid('import redis\nclass Store:\n    def __init__(self):\n'
                '        self.REDIS = redis.Redis()\n'
                '    def get(self, k):\n        try:\n            return self.REDIS.get(k)\n'
                '        except redis.RedisError:\n            return None\n'
                'STORE = Store()\nasync def handler(k):\n    return STORE.get(k)\n'),
    ]

    def on_redis_call(self, call: RedisCall) -> None:
        if not self.model.in_async or not blocks_on_server(call):
            return
        if call.awaited:
            return  # awaited: the object is async whatever its annotation says (`r: redis.Redis`)
        if in_test_code(self.model, call.ancestors) or in_tooling(self.model, call.ancestors):
            return
        if off_loop(call.ancestors):
            return
        what = {"client": "client", "pipeline": "pipeline", "pubsub": "PubSub",
                "lock": "lock"}.get(call.receiver.role, call.receiver.role)
        self.report(call.node, self.message.format(command=call.command, what=what))

    def visit_Call(self, node: cst.Call) -> None:
        """A project function or method that sends a sync command itself, called from the
        coroutine (`REDIS_CONN.get(k)` where `get` does `self.REDIS.get(k)`)."""
        if not self.model.in_async or off_loop(self.model.ancestors):
            return
        if isinstance(self.model.ancestors[-1], cst.Await) if self.model.ancestors else False:
            return
        func = node.func
        if isinstance(func, cst.Attribute):
            receiver = self.model.infer(func.value)
            if receiver is not None and receiver.sends(func.attr.value.lower()):
                return  # a Redis call itself: `on_redis_call` judges it
        found = blocking_helper(self.model, node)
        if found is None or in_test_code(self.model) or in_tooling(self.model):
            return
        function, command = found
        name = function.rsplit(".", 1)[-1]
        self.report(node, self.helper_message.format(name=name, command=command))

    def visit_With(self, node: cst.With) -> None:
        """`with r.lock(...):` acquires (and releases) a sync lock, blocking, on entry."""
        if node.asynchronous is not None or not self.model.in_async or off_loop(self.model.ancestors):
            return
        if in_test_code(self.model) or in_tooling(self.model):
            return
        for item in node.items:
            found = self.model.infer(item.item)
            if found is not None and found.role == "lock" and not found.is_async:
                self.report(item.item, self.message.format(command="acquire", what="lock"))
