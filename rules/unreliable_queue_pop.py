from redislint.rule import Invalid, Rule, Valid
from redislint.semantic.flow.results import ResultFlow
from redislint.semantic.model import Scope
from redislint.semantic.redispy import QUEUE_MOVES, QUEUE_POPS


class UnreliableQueuePop(Rule):
    """
    ## What it does
    Flags a consumer that takes jobs off a list with BRPOP/BLPOP/RPOP/LPOP and processes them:
    the pop runs on a client (not in a pipeline), and the popped value, directly or through the
    names it is bound to in the same function (`job = r.brpop(q)`, `_, raw = job`,
    `for item in r.lpop(q, 10)`), is passed as an argument to a call (`handle(job)`,
    `json.loads(raw)`). A module that also uses LMOVE/BLMOVE/RPOPLPUSH/BRPOPLPUSH (the
    processing-list pattern) is not flagged, nor are pops whose value is only tested, counted,
    printed or logged (`while r.lpop(q): pass` drains a list).

    ## Why is this bad?
    The pop removes the job from Redis before it is processed. If the worker crashes, is killed
    by a deploy or loses the job to an exception after the pop, the job is gone: nobody retries
    it and nothing records that it was lost.

    ## Example
    ```python
    while True:
        _, job = r.brpop("jobs")
        handle(job)
    ```

    ## Use instead:
    ```python
    while True:
        job = r.blmove("jobs", "jobs:processing", timeout=0, src="RIGHT", dest="LEFT")
        handle(job)
        r.lrem("jobs:processing", 1, job)  # ack
    ```
    A reaper moves jobs that stay in `jobs:processing` too long back to `jobs`; see
    `redislint patterns queues` (ReliableQueue). Redis Streams with consumer groups
    (XREADGROUP/XACK) are the other reliable option.

    ## Fix safety
    No automatic fix: a processing list also needs an acknowledgement and a recovery step.
    """

    code = "RL601"
    name = "unreliable-queue-pop"
    message = ("`{command}` removes the job before it is processed, so a crash after the pop loses "
               "it: move it to a processing list with `blmove`/`lmove` and remove it when done "
               "(see `redislint patterns queues`)")
    pattern = "queues"

    VALID = [
        Valid('import redis\nr = redis.Redis()\nwhile True:\n'
              '    job = r.blmove("jobs", "jobs:processing", 0, "RIGHT", "LEFT")\n'
              '    print(job)\n    r.lrem("jobs:processing", 1, job)\n'),
        Valid('import redis\nr = redis.Redis()\ndef work(handle):\n    while True:\n'
              '        job = r.brpoplpush("jobs", "processing")\n        handle(job)\n'
              '        r.lrem("processing", 1, job)\n'
              'def requeue():\n    while r.rpop("processing") is not None:\n        pass\n'),
        Valid('import redis\nr = redis.Redis()\ndef drain(k):\n    while r.lpop(k):\n        pass\n'),
        Valid('import redis\nr = redis.Redis()\ndef trim(k):\n    n = 0\n'
              '    while r.rpop(k) is not None:\n        n += 1\n    return n\n'),
        Valid('import redis\nr = redis.Redis()\ndef latest(k):\n    return r.lpop(k)\n'),
        Valid('import redis\nr = redis.Redis()\ndef take(k, handle):\n    with r.pipeline() as p:\n'
              '        p.lpop(k)\n        p.lpush("done", "x")\n        handle(p.execute()[0])\n'),
        Valid('import collections\nimport redis\nr = redis.Redis()\n'
              'def work(handle):\n    jobs = [1, 2]\n    q = collections.deque()\n'
              '    d = {"a": 1}\n    handle(jobs.pop())\n    handle(q.popleft())\n'
              '    handle(d.pop("a"))\n'),
        Valid('import logging\nimport redis\nr = redis.Redis()\nlog = logging.getLogger()\n'
              'def peek(k):\n    item = r.lpop(k)\n    log.info("dropped %s", item)\n'),
        Valid('import redis\nr = redis.Redis()\nwhile True:\n    item = r.blpop("events", 1)\n'
              '    if item:\n        print(str(item[1]))\n'),
        Valid('import redis\nclass Queue:\n    def lpop(self, k):\n        return k\n'
              'def work(q: Queue, handle):\n    handle(q.lpop("jobs"))\n'),
    ]
    INVALID = [
        Invalid('import redis\nr = redis.Redis()\ndef handle(job):\n    pass\nwhile True:\n'
                '    _, job = r.brpop("jobs")\n    handle(job)\n'),
        Invalid('import json\nimport redis\nclass Worker:\n    def __init__(self, url):\n'
                '        self.r = redis.Redis.from_url(url)\n'
                '    def run(self, name):\n        while True:\n'
                '            item = self.r.blpop(f"queue:{name}", timeout=5)\n'
                '            if item is None:\n                continue\n'
                '            self.process(json.loads(item[1]))\n'
                '    def process(self, job):\n        pass\n'),
        Invalid('import redis.asyncio as aioredis\nr = aioredis.Redis()\n'
                'async def consume(handle):\n    while True:\n'
                '        if (raw := await r.rpop("queue:" + "mail")) is not None:\n'
                '            await handle(raw)\n'),
        Invalid('from redis import Redis\ndef work_once(r: Redis, send):\n'
                '    for job in r.lpop("emails", 10) or []:\n        send(job)\n'),
        Invalid('import redis\nr = redis.Redis()\ndef handle(j):\n    pass\n'
                'def work():\n    handle(r.rpop("jobs"))\n    handle(r.lpop("jobs"))\n', count=2),
    ]

    def on_scope_exit(self, scope: Scope) -> None:
        if scope.kind != "module":
            return
        calls = self.model.redis_calls
        if any(c.command in QUEUE_MOVES for c in calls):
            return
        for call in calls:
            if call.command not in QUEUE_POPS or call.receiver.role != "client":
                continue
            if ResultFlow(call.scope.node, call.node).passed_to_call():
                self.report(call.node, self.message.format(command=call.command))
