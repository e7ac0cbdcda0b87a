from __future__ import annotations

from typing import Set, Tuple

from redislint.rule import Invalid, Rule, Valid
from redislint.semantic.keys.growth import bounded_patterns, growth_family
from redislint.semantic.keys.keyspace import matches_any, named_pattern
from redislint.semantic.model import Scope

_MESSAGES = {
    "list": ("`{command}` grows the list `{pattern}`, which nothing in the project pops, trims, "
             "deletes or expires, so it grows until Redis runs out of memory: cap it with "
             "`ltrim` after each push, consume it, or give it a TTL (see `redislint patterns "
             "queues`)"),
    "stream": ("`xadd` appends to the stream `{pattern}` with no `maxlen=`/`minid=` and nothing "
               "trims it, so every entry stays forever: pass `maxlen=N, approximate=True` (or "
               "`minid=`), or `xtrim` it (see `redislint patterns streams`)"),
    "zset": ("`zadd` adds members scored by the current time to `{pattern}` and nothing removes "
             "old ones, so it grows forever: trim it with `zremrangebyscore(key, \"-inf\", "
             "now - window)` or `zremrangebyrank`, or give it a TTL (see `redislint patterns "
             "rate-limiting`)"),
}


class UnboundedGrowth(Rule):
    """
    ## What it does
    Flags writes that add to a collection nothing ever shrinks:
    - LPUSH/RPUSH (and LPUSHX/RPUSHX) to a list that no code pops or moves from (LPOP, BRPOP,
      LMOVE, RPOPLPUSH...), trims (LTRIM) or removes from (LREM);
    - XADD without `maxlen=`/`minid=` to a stream nothing trims (XTRIM) or deletes from (XDEL);
    - ZADD whose scores are the current time (`time.time()`, `datetime.now().timestamp()`, a
      local bound to one) to a sorted set nothing removes from (ZREMRANGEBYSCORE,
      ZREMRANGEBYRANK, ZREM, ZPOPMIN...);
    when the key pattern is also never expired (EXPIRE*, SET/GETEX with a TTL) or deleted.

    "Nothing" means the module, with its local variables and constants resolved, and every
    other module of the project: a queue pushed in `app.py` and popped in `worker.py` is not
    flagged. The project side is read from the syntax alone (any `x.brpop("jobs")` counts), and
    a pop or trim whose key cannot be read (`r.brpop(queues)`, `r.rpop(self.key)`) counts for
    every key of its kind. A Lua script in the module (a string with `redis.call`) that trims,
    pops, expires or deletes counts the same way. Keys built from values alone (`key`,
    `f"{a}:{b}"`) are never flagged, nor are objects that are not Redis.

    ## Why is this bad?
    Redis keeps everything in memory. A log list, an event stream or a time-indexed sorted set
    that only grows eventually reaches `maxmemory`: then Redis evicts keys you need or, with
    the default `noeviction` policy, refuses every write. Long before that, LRANGE/ZRANGE over
    it get slower and a restart takes longer to load the data set.

    ## Example
    ```python
    def log_event(event):
        r.lpush("events", json.dumps(event))
        r.xadd("audit", {"event": json.dumps(event)})
        r.zadd("logins", {user_id: time.time()})
    ```

    ## Use instead:
    ```python
    def log_event(event):
        with r.pipeline() as pipe:
            pipe.lpush("events", json.dumps(event))
            pipe.ltrim("events", 0, 999)  # keep the latest 1000
            pipe.execute()
        r.xadd("audit", {"event": json.dumps(event)}, maxlen=100_000, approximate=True)
        now = time.time()
        r.zadd("logins", {user_id: now})
        r.zremrangebyscore("logins", "-inf", now - 86400)
    ```
    See `redislint patterns streams` (EventStream trims with `maxlen`), `redislint patterns
    queues` and `redislint patterns rate-limiting` (SlidingWindow trims by score).

    ## Fix safety
    No automatic fix: how much history to keep is a product decision.
    """

    code = "RL506"
    name = "unbounded-growth"
    message = _MESSAGES["list"]
    pattern = "streams"

    VALID = [
        Valid('import redis\nr = redis.Redis()\ndef log(e):\n    with r.pipeline() as p:\n'
              '        p.lpush("events", e)\n        p.ltrim("events", 0, 999)\n        p.execute()\n'
              'def audit(e):\n    r.xadd("audit", {"e": e}, maxlen=10000, approximate=True)\n'
              '    r.xadd("audit:min", {"e": e}, "*", None, True, False, "0-1")\n'),
        Valid('import redis\nr = redis.Redis()\nQUEUE = "jobs"\ndef enqueue(job):\n    r.rpush(QUEUE, job)\n'
              'def work():\n    while True:\n        _, job = r.blpop([QUEUE, "jobs:high"])\n'),
        Valid('import time\nimport redis\nr = redis.Redis()\ndef seen(uid):\n    now = time.time()\n'
              '    r.zadd(f"online:{uid % 8}", {uid: now})\n'
              '    r.zremrangebyscore(f"online:{uid % 8}", "-inf", now - 300)\n'
              'def board(uid, pts):\n    r.zadd("leaderboard", {uid: pts})\n'),
        Valid('import redis\nr = redis.Redis()\ndef log(uid, e):\n    r.rpush(f"log:{uid}", e)\n'
              '    r.expire(f"log:{uid}", 3600)\ndef note(uid, e):\n    r.rpush(f"notes:{uid}", e)\n'
              'def clear(uid):\n    r.delete("notes:%s" % uid)\n'),
        Valid('import redis\nr = redis.Redis()\nPUSH = r.register_script(\n'
              '    "redis.call(\'LPUSH\', KEYS[1], ARGV[1]) redis.call(\'LTRIM\', KEYS[1], 0, 99)")\n'
              'def log(e):\n    PUSH(keys=["events"], args=[e])\n    r.lpush("events", e)\n'),
        Valid('import collections\nimport time\nq = collections.deque()\nclass Log:\n'
              '    def lpush(self, k, v): ...\n    def zadd(self, k, m): ...\nlog = Log()\n'
              'def add(e):\n    log.lpush("events", e)\n    log.zadd("seen", {e: time.time()})\n'
              '    q.appendleft(e)\n'),
        Valid('import redis\nr = redis.Redis()\ndef push(key, item):\n    r.rpush(key, item)\n'
              'def pop(key):\n    return r.lpop(key)\ndef add(name, e):\n    r.xadd(f"{name}", {"e": e})\n'),
        Valid('import time\nimport redis\nr = redis.Redis()\ndef touch(uid):\n'
              '    r.zadd("online", {uid: time.time()}, xx=True)\n'
              'def schedule(job, at):\n    r.zadd("schedule", {job: at})\n'
              'def heartbeat(name):\n    r.zadd("workers", {"last": time.time()})\n'),
    ]
    INVALID = [
        Invalid('import redis\nr = redis.Redis()\ndef log(e):\n    r.lpush("events", e)\n'),
        Invalid('import json\nimport redis\nclass Audit:\n    def __init__(self, url):\n'
                '        self.r = redis.from_url(url)\n    def record(self, uid, e):\n'
                '        key = "audit:{}".format(uid)\n'
                '        self.r.xadd(key, {"e": json.dumps(e)})\n'),
        Invalid('import time\nfrom redis.asyncio import Redis\nasync def login(r: Redis, uid, sid):\n'
                '    now = int(time.time() * 1000)\n    await r.zadd("logins:" + uid, {sid: now})\n'),
        Invalid('import redis\nr = redis.Redis()\ndef log(uid, e):\n    key = f"history:{uid}"\n'
                '    with r.pipeline() as p:\n        p.rpush(key, e)\n        p.execute()\n'
                'def show(uid):\n    return r.lrange("history:%s" % uid, 0, -1)\n'),
        Invalid('import datetime\nimport redis\nr = redis.Redis()\ndef seen(uid, page):\n'
                '    r.zadd(f"seen:{uid}", {page: datetime.datetime.now().timestamp()})\n'
                '    r.xadd(f"clicks:{uid}", {"x": 1}, maxlen=None)\n', count=2),
    ]

    def on_scope_exit(self, scope: Scope) -> None:
        if scope.kind != "module":
            return
        candidates = []
        for call in self.model.redis_calls:
            if call.receiver.role not in ("client", "pipeline"):
                continue
            pattern = named_pattern(call.key)
            family = growth_family(call, self.model.qualified_name) if pattern else None
            if family is not None:
                candidates.append((call, family, pattern))
        if not candidates:
            return
        bounded = bounded_patterns(self.model)
        reported: Set[Tuple[int, str]] = set()
        for call, family, pattern in candidates:
            if matches_any(pattern, bounded[family] | bounded["any"]):
                continue
            if (id(call.scope), pattern) in reported:
                continue
            reported.add((id(call.scope), pattern))
            self.report(call.node, _MESSAGES[family].format(command=call.command, pattern=pattern))
