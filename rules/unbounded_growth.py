from __future__ import annotations

from typing import Set, Tuple

from redislint.rule import Invalid, Rule, Valid
from redislint.semantic.keys.growth import TimeHelpers, bounded_patterns, growth_family, is_bounded
from redislint.semantic.keys.keyspace import named_pattern
from redislint.semantic.model import Scope

_MESSAGES = {
    "list": ("`{command}` grows the list `{pattern}`, which nothing in the project pops, trims, "
             "deletes or expires, so it grows until Redis runs out of memory: cap it with "
             "`ltrim` after each push, consume it, or give it a TTL (see `redislint patterns "
             "queues`)"),
    "stream": ("`xadd` appends to the stream `{pattern}` with no `maxlen=`/`minid=` and nothing "
               "trims it, so every entry stays forever: pass `maxlen=N, approximate=True` (or "
               "`minid=`), or `xtrim` it (see `redislint patterns streams`)"),
    "zset": ("`zadd` adds members scored by a timestamp to `{pattern}` and nothing removes "
             "old ones, so it grows forever: trim it with `zremrangebyscore(key, \"-inf\", "
             "now - window)` or `zremrangebyrank`, or give it a TTL (see `redislint patterns "
             "rate-limiting`)"),
    "set": ("`sadd` adds members built from values to the set `{pattern}`, a new one for every "
            "combination, and nothing in the project removes them (`srem`, `spop`), deletes "
            "or expires it, so it grows forever: give it a TTL (one set per day or window), "
            "remove members when they are done, or count them in a HyperLogLog (see "
            "`redislint patterns unique`)"),
}


class UnboundedGrowth(Rule):
    """
    ## What it does
    Flags writes that add to a collection nothing ever shrinks:
    - LPUSH/RPUSH (and LPUSHX/RPUSHX) to a list that no code pops or moves from (LPOP, BRPOP,
      LMOVE, RPOPLPUSH...), trims (LTRIM) or removes from (LREM);
    - XADD without `maxlen=`/`minid=` to a stream nothing trims (XTRIM) or deletes from (XDEL);
    - ZADD whose scores are timestamps (`time.time()`, `datetime.now().timestamp()`, a local
      bound to one, a helper of the module returning one: `def now_ms(): return
      int(time.time() * 1000)`, or a value named like a time: `ts`, `now`, `date`,
      `created`, `event.created_at`, `start_time`, not a duration such as `response_time`)
      to a sorted set nothing removes from (ZREMRANGEBYSCORE, ZREMRANGEBYRANK, ZREM,
      ZPOPMIN...);
    - SADD of members built from two values or more (`f"{ip}:{path}"`, `"%s:%s" % (user,
      day)`), one new member per combination, to a set nothing removes from (SREM, SPOP,
      SMOVE);
    when the key pattern is also never expired (EXPIRE*, SET/GETEX with a TTL) or deleted.

    "Nothing" means the module, with its local variables and constants resolved, and every
    other module of the project: a queue pushed in `app.py` and popped in `worker.py` is not
    flagged. The project side is read from the syntax alone (any `x.brpop("jobs")` counts), and
    a pop or trim of a list or stream whose key cannot be read (`r.brpop(queues)`,
    `r.rpop(self.key)`) counts for every key of its kind. A removal from a sorted set or set
    whose key cannot be read counts only for the keys passed under the same name
    (`def trim(key): r.zremrangebyscore(key, ...)` bounds `key = f"rate:{uid}"; r.zadd(key,
    ...)`, not `r.zadd("logins", ...)`), or that a one-level helper of the module hands out
    (`self._key(uid)` returning `f"rate:{uid}"`). A Lua script in the module (a string with
    `redis.call`) that trims, pops, expires or deletes counts for every key of its kind. Keys
    built from values alone (`key`, `f"{a}:{b}"`) are never flagged, nor are objects that are
    not Redis, SADD of plain values (`r.sadd("online", uid)`, `"user:" + uid`: a known
    population), or ZADD scored by another number (`{job: at}`, `{uid: points}`).

    ## Why is this bad?
    Redis keeps everything in memory. A log list, an event stream, a time-indexed sorted set
    or a set of one member per event that only grows eventually reaches `maxmemory`: then
    Redis evicts keys you need or, with the default `noeviction` policy, refuses every write.
    Long before that, LRANGE/ZRANGE over it get slower and a restart takes longer to load the
    data set.

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
    queues`, `redislint patterns rate-limiting` (SlidingWindow trims by score) and
    `redislint patterns unique` (UniqueTracker sets and HyperLogLogs with a TTL).

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
        # a removal whose key cannot be read bounds the keys passed under its name, and the
        # keys a helper of the module hands out
        Valid('import time\nimport uuid\nimport redis\nr = redis.Redis()\ndef hit(uid):\n'
              '    key = f"rate:{uid}"\n    r.zadd(key, {str(uuid.uuid4()): time.time()})\n'
              '    trim(key, 60)\ndef trim(key, window):\n'
              '    r.zremrangebyscore(key, "-inf", time.time() - window)\n'),
        Valid('import time\nimport redis\nclass Active:\n    def __init__(self, r: redis.Redis):\n'
              '        self.r = r\n    def _key(self, queue):\n        return f"active:{queue}"\n'
              '    def beat(self, queue, task):\n'
              '        self.r.zadd(f"active:{queue}", {task: time.time()})\n'
              '    def done(self, queue, task):\n        self.r.zrem(self._key(queue), task)\n'),
        # scores that are not times: a duration, a count, a helper returning points
        Valid('import redis\nr = redis.Redis()\ndef points(user):\n    return user.points\n'
              'def record(url, response_time, user, created_items):\n'
              '    r.zadd("slowest", {url: response_time})\n'
              '    r.zadd("board", {user.id: points(user)})\n'
              '    r.zadd("makers", {user.id: len(created_items)})\n'),
        # sets of plain values (a known population), or of built members something removes
        Valid('import redis\nr = redis.Redis()\ndef online(uid):\n    r.sadd("online", uid)\n'
              '    r.sadd("members", "user:" + uid)\n'
              'def visit(ip, path):\n    r.sadd("visits", f"{ip}:{path}")\n'
              'def forget(ip, path):\n    r.srem("visits", f"{ip}:{path}")\n'
              'def daily(day, uid, page):\n    r.sadd(f"views:{day}", f"{uid}:{page}")\n'
              '    r.expire(f"views:{day}", 86400 * 2)\n'),
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
        # scores from a one-level time helper, or named like a time
        Invalid('import time\nimport redis\nr = redis.Redis()\ndef now_ms():\n'
                '    return int(time.time() * 1000)\ndef seen(uid):\n'
                '    r.zadd("seen", {uid: now_ms()})\n'),
        Invalid('import redis\nclass Feed:\n    def __init__(self, url):\n'
                '        self.r = redis.Redis.from_url(url)\n    def login(self, uid, ts):\n'
                '        self.r.zadd("logins", {uid: ts})\n    def post(self, entry):\n'
                '        self.r.zadd("posts", {entry.id: entry.created})\n', count=2),
        # members built from values
        Invalid('import redis\nr = redis.Redis()\ndef visit(ip, path):\n'
                '    r.sadd("visits", f"{ip}:{path}")\n'),
        # a removal whose key cannot be read does not bound every sorted set
        Invalid('import time\nimport redis\nr = redis.Redis()\ndef trim(key, cutoff):\n'
                '    r.zremrangebyscore(key, "-inf", cutoff)\ndef login(uid):\n'
                '    r.zadd("logins", {uid: time.time()})\n'),
    ]

    def on_scope_exit(self, scope: Scope) -> None:
        if scope.kind != "module":
            return
        candidates = []
        times = TimeHelpers(self.model.facts, self.model.qualified_name)
        for call in self.model.redis_calls:
            if call.receiver.role not in ("client", "pipeline"):
                continue
            pattern = named_pattern(call.key)
            family = growth_family(call, self.model.qualified_name, times) if pattern else None
            if family is not None:
                candidates.append((call, family, pattern))
        if not candidates:
            return
        bounded = bounded_patterns(self.model)
        reported: Set[Tuple[int, str]] = set()
        for call, family, pattern in candidates:
            if is_bounded(call, family, pattern, bounded):
                continue
            if (id(call.scope), pattern) in reported:
                continue
            reported.add((id(call.scope), pattern))
            self.report(call.node, _MESSAGES[family].format(command=call.command, pattern=pattern))
