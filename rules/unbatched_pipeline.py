from typing import Optional

import libcst as cst

from redislint.rule import Invalid, Rule, Valid
from redislint.semantic.context.frameworks import in_test_code
from redislint.semantic.flow.loops import grows, iterable, loops_around
from redislint.semantic.model import RedisCall, Scope
from redislint.semantic.atomic.pipelines import MadePipeline, made_pipelines


class UnbatchedPipeline(Rule):
    """
    ## What it does
    Flags a pipeline made in a function that queues a command per item of a loop over data
    that grows with the dataset, when the pipeline is executed only after the loop: no
    `execute()` runs inside the loop, and the pipeline is not made afresh per iteration of an
    enclosing loop (a chunked loop).

    "Data that grows" needs evidence in the function: the loop walks a Redis scan
    (`scan_iter`, `keys`, `sscan_iter`...: nobody scans what is small), a database query
    (`.all()`, `.filter()`, `.iterator()`, `.fetchall()`), a file, `range(<variable>)`, a
    name bound to one of those (through comprehensions, `list()`, `sorted()`, `.items()`), or
    a call of a function or method of the same module that returns one
    (`self.users_for(obj)` returning `User.objects.filter(...)`); a `while` loop counts too.
    A loop over a parameter, an attribute, a literal, the reply of one read (`smembers`:
    already held in memory at once, RL503's concern), a `range` whose stop is a constant
    (`range(level, LIMIT + 1)`), or a keyspace scan pinned to one entity's keys (a run-time
    id between a namespace and a separator, then `*`: `f"{self.name}:{tag}:*"`) is not
    flagged; `f"{prefix}:*"` and a pattern passed in whole still are.

    Pipelines passed to other functions, returned or stored (someone else may execute them),
    pipelines never executed (RL205), and test code are not checked; so a pipeline handed to a
    helper that queues the commands (`for _ in generator.generate(pipe): ...`) is not seen.

    ## Why is this bad?
    A pipeline holds every queued command in client memory, sends them together, and Redis
    buffers every reply in the connection's output buffer until the last one is written. For
    100,000 items that is hundreds of megabytes on both sides; the client output buffer limit
    can disconnect the client mid-reply, and a transaction (`pipeline()` is MULTI/EXEC by
    default) blocks every other client while it runs. The Redis documentation advises
    batches of a reasonable size (say 10k commands): they keep the round-trip saving and bound
    the memory.

    ## Example
    ```python
    pipe = r.pipeline(transaction=False)
    for user in User.objects.all():
        pipe.hset(f"user:{user.id}", mapping=user.as_dict())
    pipe.execute()
    ```

    ## Use instead:
    ```python
    pipe = r.pipeline(transaction=False)
    for n, user in enumerate(User.objects.iterator(), 1):
        pipe.hset(f"user:{user.id}", mapping=user.as_dict())
        if n % 1000 == 0:
            pipe.execute()
    pipe.execute()
    ```
    See `redislint patterns queues`: its recovery works through the data in batches of
    `recover_batch` items until a batch comes back short.

    ## Fix safety
    No automatic fix: the batch size, and whether a transaction may be split into several
    (each batch is then atomic on its own, not the whole loop), are the author's decisions.
    """

    code = "RL507"
    name = "unbatched-pipeline"
    message = ("this pipeline queues a command for every item of a loop that can grow and is "
               "executed only after it, so the client holds every command and Redis buffers "
               "every reply at once: `execute()` it every few thousand commands inside the "
               "loop (see `redislint patterns queues`)")
    fix_safety = None
    pattern = "queues"

    VALID = [
        Valid('import redis\nr = redis.Redis()\ndef save(users):\n'
              '    pipe = r.pipeline(transaction=False)\n'
              '    for n, user in enumerate(users, 1):\n        pipe.set(f"user:{user}", 1, ex=60)\n'
              '        if n % 1000 == 0:\n            pipe.execute()\n    pipe.execute()\n'),
        Valid('import redis\nr = redis.Redis()\ndef save(chunks):\n    for chunk in chunks:\n'
              '        with r.pipeline() as pipe:\n            for item in chunk:\n'
              '                pipe.sadd("items", item)\n            pipe.execute()\n'),
        Valid('import redis\nr = redis.Redis()\ndef reset():\n    pipe = r.pipeline()\n'
              '    for name in ("hits", "misses", "errors"):\n        pipe.set(name, 0, ex=60)\n'
              '    pipe.execute()\n'),
        Valid('import redis\nr = redis.Redis()\ndef fetch_many(ids):\n'
              '    # a parameter: the caller decides how many\n'
              '    pipe = r.pipeline()\n    for i in ids:\n        pipe.hgetall(f"job:{i}")\n'
              '    return pipe.execute()\n'),
        Valid('import redis\nr = redis.Redis()\ndef touch_members(key):\n'
              '    pipe = r.pipeline()\n    for m in r.smembers(key):\n'
              '        pipe.expire(f"member:{m}", 60)\n    pipe.execute()\n'),
        Valid('import redis\nr = redis.Redis()\ndef forget(*keys):\n    with r.pipeline() as pipe:\n'
              '        for k in keys:\n            pipe.delete(k)\n        pipe.execute()\n'),
        Valid('import redis\nr = redis.Redis()\ndef queue_all(items, pipe):\n'
              '    for item in items:\n        pipe.rpush("q", item)\n'),
        Valid('import redis\nr = redis.Redis()\ndef save(items):\n    for item in items:\n'
              '        pipe = r.pipeline()\n        pipe.set(item, 1, ex=5)\n'
              '        pipe.execute()\n'),
        Valid('import redis\nr = redis.Redis()\nclass Batch:\n    def __init__(self):\n'
              '        self.items = []\n    def set(self, k, v):\n        self.items.append((k, v))\n'
              '    def execute(self):\n        pass\ndef save(rows):\n    b = Batch()\n'
              '    for row in rows:\n        b.set(row, 1)\n    b.execute()\n'),
        Valid('import redis\nr = redis.Redis()\ndef fill(rows):\n    pipe = r.pipeline()\n'
              '    for row in rows:\n        pipe.rpush("q", row)\n    helper(pipe)\n'),
        # an inner range capped by a constant, over a parameter's items
        Valid('import redis\nr = redis.Redis()\nLIMIT = 2\ndef index(job, levels):\n'
              '    pipe = r.pipeline()\n    for skill, level in levels:\n'
              '        for w in range(min(level, LIMIT), LIMIT + 1):\n'
              '            pipe.sadd(f"idx:{skill}:{w}", job)\n    pipe.execute()\n'),
        # a scan pinned to one entity's keys (`<namespace>:<tag>:*`)
        Valid('import redis\nclass Lru:\n    def __init__(self, url, name):\n'
              '        self.r = redis.Redis.from_url(url)\n        self.name = name\n'
              '    def purge(self, tag):\n'
              '        keys = self.r.scan_iter(f"{self.name}:{tag}:*", count=1000)\n'
              '        pipe = self.r.pipeline()\n        for key in keys:\n'
              '            pipe.delete(key)\n        pipe.execute()\n'),
        # a method of the class that returns an attribute, not a query
        Valid('import redis\nclass Feed:\n    def __init__(self):\n        self.r = redis.Redis()\n'
              '        self.items = []\n    def pending(self):\n        return self.items\n'
              '    def flush(self):\n        pipe = self.r.pipeline()\n'
              '        for item in self.pending():\n            pipe.rpush("feed", item)\n'
              '        pipe.execute()\n'),
    ]
    INVALID = [
        Invalid('import redis\nfrom app.models import User\nr = redis.Redis()\ndef warm():\n'
                '    pipe = r.pipeline(transaction=False)\n    for user in User.objects.all():\n'
                '        pipe.hset(f"user:{user.id}", mapping=user.as_dict())\n'
                '    pipe.execute()\n'),
        Invalid('import redis\nclass Index:\n    def __init__(self, url):\n'
                '        self.r = redis.Redis.from_url(url)\n    def rebuild(self, path):\n'
                '        with open(path) as lines, self.r.pipeline() as p:\n'
                '            for line in lines:\n                for word in line.split():\n'
                '                    p.sadd("word:" + word, line)\n'
                '            p.execute()\n'),
        Invalid('from redis.asyncio import Redis\nasync def copy(r: Redis, src: str):\n'
                '    async with r.pipeline() as pipe:\n'
                '        async for m in r.sscan_iter(src, count=1000):\n'
                '            pipe.sadd(src + ":copy", m)\n        return await pipe.execute()\n'),
        Invalid('import redis\nr = redis.Redis()\ndef purge(pattern):\n    pipe = r.pipeline()\n'
                '    cursor = 0\n    while True:\n'
                '        cursor, keys = r.scan(cursor, match=pattern, count=500)\n'
                '        for k in keys:\n            pipe.unlink(k)\n        if cursor == 0:\n'
                '            break\n    pipe.execute()\n'),
        Invalid('import redis\nr = redis.Redis()\ndef lengths(prefix):\n'
                '    pipe = r.pipeline(transaction=False)\n'
                '    [pipe.llen(k) for k in r.scan_iter(match=prefix + "*")]\n'
                '    return pipe.execute()\n'),
        Invalid('import redis\nr = redis.Redis()\ndef seed(n):\n    p = r.pipeline()\n'
                '    for i in range(n):\n        p.rpush("numbers", i)\n    p.execute()\n'),
        # a method of the class that returns a database query
        Invalid('import redis\nfrom app.models import User\nr = redis.Redis()\nclass Ranks:\n'
                '    def users_for(self, obj):\n'
                '        return User.objects.filter(active=True).exclude(id=obj.id)\n'
                '    def rerank(self, obj):\n        pipe = r.pipeline()\n'
                '        for user in self.users_for(obj):\n'
                '            pipe.zadd(f"rank:{user.id}", {obj.id: 1}, xx=True)\n'
                '        pipe.execute()\n'),
        # a whole namespace (`<prefix>:*`), and a range whose stop is not a constant
        Invalid('import redis\nr = redis.Redis()\ndef purge(prefix):\n'
                '    pipe = r.pipeline()\n    for key in r.scan_iter(f"{prefix}:*"):\n'
                '        pipe.delete(key)\n    pipe.execute()\n'
                'def fill(start, rows):\n'
                '    pipe = r.pipeline()\n    for i in range(start, len(rows)):\n'
                '        pipe.rpush("rows", rows[i])\n    pipe.execute()\n', count=2),
    ]

    def on_scope_exit(self, scope: Scope) -> None:
        if scope.kind not in ("function", "module"):
            return
        for pipeline in made_pipelines(scope):
            if pipeline.escapes or not pipeline.executed:
                continue
            first = self._unbatched(pipeline, scope)
            if first is not None and not in_test_code(self.model, first.ancestors):
                self.report(first.node, end=pipeline.executed[-1].node)

    def _unbatched(self, pipeline: MadePipeline, scope: Scope) -> Optional[RedisCall]:
        if loops_around(pipeline.made.ancestors, pipeline.made.node):
            return None  # a new pipeline per iteration of an outer loop: batched by it
        for queued in pipeline.queued:
            repeats = loops_around(queued.ancestors, queued.node)
            if not any(self._grows(loop, scope) for loop in repeats):
                continue
            if any(_inside(execute, loop) for execute in pipeline.executed for loop in repeats):
                continue
            return queued
        return None

    def _grows(self, loop: cst.CSTNode, scope: Scope) -> bool:
        return isinstance(loop, cst.While) or grows(self.model, iterable(loop), scope.node)


def _inside(call: RedisCall, loop: cst.CSTNode) -> bool:
    return any(ancestor is loop for ancestor in call.ancestors)
