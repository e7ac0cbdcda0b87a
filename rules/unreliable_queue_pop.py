import re
from typing import Optional, Set

import libcst as cst

from redislint.rule import Invalid, Rule, Valid
from redislint.semantic.flow.results import ResultFlow
from redislint.semantic.keys import keyspace
from redislint.semantic.keys.expressions import Key, key_of
from redislint.semantic.model import RedisCall, Scope
from redislint.semantic.redispy import QUEUE_MOVES, QUEUE_POPS

# Words of a function name that say it hands the next job to its caller.
_DEQUEUE_WORDS = frozenset({"dequeue", "pop", "reserve", "claim", "take", "receive", "consume",
                            "fetch", "next", "get", "pull", "poll"})
_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
# redis-py: lmove(first_list, second_list, ...), blmove(first_list, second_list, timeout, ...),
# rpoplpush(src, dst), brpoplpush(src, dst, timeout).
_MOVE_KEYS = {"lmove": ("first_list", "second_list"), "blmove": ("first_list", "second_list"),
              "rpoplpush": ("src", "dst"), "brpoplpush": ("src", "dst")}


def _dequeues(name: str) -> bool:
    return any(word.lower() in _DEQUEUE_WORDS for word in _WORDS.findall(name))


class UnreliableQueuePop(Rule):
    """
    ## What it does
    Flags a consumer that takes jobs off a list with BRPOP/BLPOP/RPOP/LPOP and processes them:
    the pop runs on a client (not in a pipeline), and the popped value, directly or through the
    names it is bound to in the same function (`job = r.brpop(q)`, `_, raw = job`,
    `for item in r.lpop(q, 10)`), is
    - passed as an argument to a call (`handle(job)`, `json.loads(raw)`), or
    - handed to the caller, which processes it: returned (as it is, or in a tuple, list or dict
      written there: `return [(None, job[1])]`) by a function whose name says it gives the
      next job (`dequeue()`, `pop()`, `get_job()`, `reserve()`, `next_task()`, `receive()`,
      `fetch()`...), or yielded by a generator (`def listen(): while True: yield r.brpop(q)`).

    Not flagged: a pop in a function that also moves items with LMOVE/BLMOVE/RPOPLPUSH/
    BRPOPLPUSH (the processing-list pattern written in one place), a pop of a list that some
    move of the module takes from or moves to (a reaper popping `jobs:processing`), pops whose
    value is only tested, counted, printed or logged (`while r.lpop(q): pass` drains a list),
    returned by a function with another name (`def latest(k): return r.lpop(k)`: the caller
    decides), or discarded. A pop whose key cannot be read (`r.blpop(queue)`) in a module
    that moves any list could be a reaper's, and is not flagged either.

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
        # a reaper: it pops the processing list a move of the module fills, in another function
        Valid('import redis\nr = redis.Redis()\nPROCESSING = "jobs:processing"\n'
              'def reserve():\n    return r.blmove("jobs", PROCESSING, 5, "RIGHT", "LEFT")\n'
              'def requeue_stale(limit):\n    for _ in range(limit):\n'
              '        job = r.rpop(PROCESSING)\n        if job is None:\n            break\n'
              '        r.lpush("jobs", job)\n'),
        # the processing-list pattern in one function, whose keys cannot be read
        Valid('import redis\nclass Worker:\n    def __init__(self, r: redis.Redis, q, p):\n'
              '        self.r, self.q, self.p = r, q, p\n    def recover(self, handle):\n'
              '        while True:\n            job = self.r.lpop(self.p)\n'
              '            if job is None:\n                break\n'
              '            self.r.lmove(self.q, self.p, "RIGHT", "LEFT")\n'
              '            handle(job)\n'),
        # a pop of an unreadable key, in a module that moves lists: it may be the reaper's
        Valid('import redis\nr = redis.Redis()\ndef reserve(q):\n'
              '    return r.brpoplpush(q, q + ":processing", 5)\n'
              'def requeue(src, dst):\n    job = r.rpop(src)\n    if job:\n'
              '        r.lpush(dst, job)\n'),
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
        # a move elsewhere in the module, of other lists, does not make this pop reliable
        Invalid('import redis\nr = redis.Redis()\ndef reserve():\n'
                '    return r.blmove("jobs", "jobs:processing", 5, "RIGHT", "LEFT")\n'
                'def notify(send):\n    while True:\n        item = r.blpop("mail", 5)\n'
                '        if item:\n            send(item[1])\n'),
        # handed to the caller: returned by a dequeue()/pop() method, or yielded
        Invalid('import redis\nclass Broker:\n    def __init__(self, url, key):\n'
                '        self.r = redis.Redis.from_url(url)\n        self.key = key\n'
                '    def enqueue(self, task):\n        self.r.rpush(self.key, task)\n'
                '    def dequeue(self):\n        task = self.r.blpop(self.key, 1)\n'
                '        if task:\n            return [(None, task[1])]\n'),
        Invalid('from redis.asyncio import Redis\nclass Jobs:\n    def __init__(self, r: Redis):\n'
                '        self.r = r\n    async def pop(self):\n'
                '        return await self.r.rpop("jobs")\n'),
        Invalid('from redis.asyncio import Redis\nasync def listen(r: Redis, queue):\n'
                '    while True:\n        yield (await r.brpop(queue))[1]\n'),
    ]

    def on_scope_exit(self, scope: Scope) -> None:
        if scope.kind != "module":
            return
        calls = self.model.redis_calls
        moving: Set[int] = set()  # functions (scope nodes) that move items between lists
        moved: Set[Key] = set()  # the lists moves take from or move to
        for call in calls:
            if call.command in QUEUE_MOVES:
                moving.add(id(call.scope.node))
                for position, name in enumerate(_MOVE_KEYS[call.command]):
                    key = self._key(call, call.arg(position, name))
                    if key is not None:
                        moved.add(key)
        patterns = {keyspace.named_pattern(key) for key in moved} - {None}
        for call in calls:
            if call.command not in QUEUE_POPS or call.receiver.role != "client":
                continue
            if id(call.scope.node) in moving or (moving and self._moved(call, moved, patterns)):
                continue
            flow = ResultFlow(call.scope.node, call.node)
            if flow.passed_to_call() or self._handed_back(call, flow):
                self.report(call.node, self.message.format(command=call.command))

    @staticmethod
    def _key(call: RedisCall, expr: Optional[cst.BaseExpression]) -> Optional[Key]:
        if expr is None:
            return None
        if expr is call.arg(0):
            return call.key  # as it was where the call was met
        return key_of(expr, call.scope.key_lookup)

    def _moved(self, call: RedisCall, moved: Set[Key], patterns: Set[Optional[str]]) -> bool:
        """Some move of the module takes from, or moves to, a list this call pops: the same
        key, or named patterns that overlap (`queue:*`, `queue:emails`); or this call pops a
        list whose name cannot be read (`r.rpop(src)` may be a reaper's). Asked only when
        the module moves some list."""
        exprs = keyspace.key_arguments(call.command, call.node)
        if not exprs:
            return True  # `*queues`: cannot tell
        for expr in exprs:
            key = self._key(call, expr)
            pattern = keyspace.named_pattern(key)
            if key is None or pattern is None:
                return True  # which list this pops cannot be told
            if key in moved or keyspace.matches_any(pattern, patterns):
                return True
        return False

    @staticmethod
    def _handed_back(call: RedisCall, flow: ResultFlow) -> bool:
        """The popped value goes to the caller: yielded, or returned by a function named like
        a dequeue (`dequeue`, `pop`, `get_job`...)."""
        function = call.scope.node
        if not isinstance(function, cst.FunctionDef):
            return False
        handed = flow.handed_back()
        return any(isinstance(node, cst.Yield) for node in handed) or (
            bool(handed) and _dequeues(function.name.value))
