from __future__ import annotations

from redislint.rule import Invalid, Rule, Valid
from redislint.semantic.model import Scope
from redislint.semantic.atomic.pipelines import made_pipelines


class PipelineNotExecuted(Rule):
    """
    ## What it does
    Flags a pipeline made in a function (or at module level) that has commands queued on it
    and is never `execute()`d there:
    - `with r.pipeline() as pipe:` (or `async with`) whose block queues commands and never
      calls `pipe.execute()` inside the block; an `execute()` after the block does not count,
      since the block has already reset the pipeline;
    - `pipe = r.pipeline()` followed by queued commands and no `pipe.execute()` at all;
    - a chain `r.pipeline().set(k, v).expire(k, 60)` used as a statement.

    Stays silent when the pipeline escapes the function: it is returned or yielded, passed to
    another function, stored on an object or in a container, or used in a nested function or
    lambda, since its new owner may execute it. Commands sent while the pipeline WATCHes keys
    (after `watch()`, before `multi()`) run at once and are not counted as queued.

    ## Why is this bad?
    A pipeline only buffers commands in the client; nothing reaches Redis until `execute()`.
    Leaving a `with` block does not send them either: redis-py's `Pipeline.__exit__` calls
    `reset()`, which throws the queued commands away without an error. The writes silently
    never happen.

    ## Example
    ```python
    with r.pipeline() as pipe:
        pipe.set(f"user:{uid}", data)
        pipe.expire(f"user:{uid}", 3600)
    ```

    ## Use instead:
    ```python
    with r.pipeline() as pipe:
        pipe.set(f"user:{uid}", data)
        pipe.expire(f"user:{uid}", 3600)
        pipe.execute()
    ```
    See `redislint patterns warming` (CacheWarmer queues a whole refresh on one pipeline and
    executes it once).

    ## Fix safety
    No automatic fix: where the commands should be sent, and what to do with their replies,
    is the author's decision (an `execute()` at the end of the block would also send commands
    that were perhaps deliberately dropped, and would raise their errors there).
    """

    code = "RL205"
    name = "pipeline-not-executed"
    message = ("commands queued on {what} are never sent: {why}; {instead} (see `redislint "
               "patterns warming`)")
    pattern = "warming"

    VALID = [
        Valid('import redis\nr = redis.Redis()\ndef save(uid, v):\n    with r.pipeline() as p:\n'
              '        p.set(f"user:{uid}", v)\n        p.expire(f"user:{uid}", 60)\n        p.execute()\n'),
        Valid('import redis\nr = redis.Redis()\ndef save(uid, v):\n    p = r.pipeline(transaction=False)\n'
              '    for k in v:\n        p.sadd(f"tags:{uid}", k)\n    return p.execute()\n'
              'def chained(k):\n    return r.pipeline().incr(k).expire(k, 5).execute()\n'),
        Valid('import redis\nr = redis.Redis()\ndef queue(uid, v):\n    p = r.pipeline()\n'
              '    p.set(f"user:{uid}", v)\n    return p\ndef both(uid, v):\n    pipe = r.pipeline()\n'
              '    pipe.set(f"a:{uid}", v)\n    flush(pipe)\ndef flush(pipe):\n    pipe.execute()\n'),
        Valid('import redis\nclass Batch:\n    def __init__(self):\n        self.r = redis.Redis()\n'
              '        self.pipe = self.r.pipeline()\n    def add(self, k):\n        self.pipe.incr(k)\n'
              '    def start(self):\n        pipe = self.r.pipeline()\n        self.current = pipe\n'
              '        pipe.incr("n")\n'),
        Valid('import redis\nr = redis.Redis()\ndef read(k):\n    with r.pipeline() as p:\n'
              '        p.watch(k)\n        return p.get(k)\ndef bump(k):\n    with r.pipeline() as p:\n'
              '        p.watch(k)\n        n = int(p.get(k) or 0)\n        p.multi()\n'
              '        p.set(k, n + 1)\n        p.execute()\n'),
        Valid('class Store:\n    def pipeline(self):\n        return self\n    def set(self, k, v): ...\n'
              'db = Store()\ndef save(k, v):\n    with db.pipeline() as p:\n        p.set(k, v)\n'),
        Valid('from redis.asyncio import Redis\nasync def save(r: Redis, k, v):\n'
              '    async with r.pipeline(transaction=True) as pipe:\n        pipe.set(k, v).expire(k, 60)\n'
              '        await pipe.execute()\n'),
        Valid('import redis\nr = redis.Redis()\ndef save(items):\n    with r.pipeline() as p:\n'
              '        def add(k):\n            p.incr(k)\n        for k in items:\n            add(k)\n'
              '        p.execute()\n    p2 = r.pipeline()\n    p2.incr("x")\n    run = lambda: p2.execute()\n'
              '    run()\n'),
    ]
    INVALID = [
        Invalid('import redis\nr = redis.Redis()\ndef save(uid, v):\n    with r.pipeline() as p:\n'
                '        p.set(f"user:{uid}", v)\n        p.expire("user:" + uid, 60)\n'),
        Invalid('import redis\nclass Counter:\n    def __init__(self, url):\n'
                '        self.r = redis.from_url(url)\n    def hit(self, name):\n'
                '        key = "hits:{}".format(name)\n        pipe = self.r.pipeline(transaction=False)\n'
                '        pipe.incr(key)\n        pipe.expire(key, 60)\n'),
        Invalid('from redis.asyncio import Redis\nasync def save(r: Redis, k, v):\n'
                '    async with r.pipeline() as pipe:\n        pipe.set(k, v)\n        pipe.incr(f"n:{k}")\n'),
        Invalid('import redis\nr = redis.Redis()\ndef save(uid, v):\n    with r.pipeline() as p:\n'
                '        p.set(f"user:{uid}", v)\n    return p.execute()\n'),
        Invalid('import redis\nr = redis.Redis()\ndef save(k, v):\n    r.pipeline().set(k, v).expire(k, 5)\n'),
        Invalid('import redis\nr = redis.Redis()\ndef bump(k):\n    with r.pipeline() as p:\n'
                '        p.watch(k)\n        n = int(p.get(k) or 0)\n        p.multi()\n'
                '        p.set(k, n + 1)\n'),
    ]

    def on_scope_exit(self, scope: Scope) -> None:
        for pipeline in made_pipelines(scope):
            if pipeline.escapes or pipeline.executed or not pipeline.queued:
                continue
            name = pipeline.name
            if pipeline.made.receiver.is_async:
                name = f"await {name}"
            instead = f"call `{name}.execute()` once they are queued"
            if pipeline.name is None:
                what, why = "this pipeline chain", "the chain never calls `execute()`"
                instead = "end the chain with `.execute()`"
            elif pipeline.executed_after_reset:
                what = f"`{pipeline.name}`"
                why = ("the `with` block resets the pipeline when it ends, so the `execute()` "
                       "after it sends nothing")
                instead = f"call `{name}.execute()` inside the block"
            elif pipeline.within is not None:
                what = f"`{pipeline.name}`"
                why = "leaving the `with` block only resets the pipeline, dropping them"
                instead = f"call `{name}.execute()` before the block ends"
            else:
                what, why = f"`{pipeline.name}`", "the pipeline is never executed"
            message = self.message.format(what=what, why=why, instead=instead)
            self.report(pipeline.made.node, message, end=pipeline.queued[-1].node)
