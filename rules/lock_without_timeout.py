from typing import Optional

import libcst as cst

from redislint.rule import Fix, Invalid, Rule, Valid
from redislint.semantic.fixes.edits import add_keywords, keyword, literal_number
from redislint.semantic.flow.results import ResultFlow
from redislint.semantic.atomic.locks import (DYNAMIC, is_lock_constructor, is_lock_key, is_none,
                                      is_nx_set, lock_timeout, same_lock_key)
from redislint.semantic.model import RedisCall, Scope
from redislint.semantic.redispy import DELETE_COMMANDS, write_ttl
from redislint.semantic.flow.sequences import expired_after
from redislint.semantic.fixes.ttl import set_without_expiry


class LockWithoutTimeout(Rule):
    """
    ## What it does
    Flags a Redis lock that never expires:
    - `client.lock(name)` or `Lock(client, name)` (redis-py's `redis.lock.Lock`, sync or
      asyncio) without `timeout`, or with `timeout=None`;
    - a hand-made lock, `set(key, token, nx=True)` (or `setnx`) with no `ex`/`px`/`exat`/`pxat`,
      whose result is checked (`if r.set(...)`, returned, or bound to a name that is tested),
      when the key is a lock: its name says so (`lock:{}`, `{}:mutex`) or the module deletes
      it again (releases it), and no EXPIRE of the key follows in the same function.

    ## Why is this bad?
    A lock without a timeout is held until its owner releases it. If the owner crashes, is
    killed by a deploy or loses its connection in the critical section, the lock is never
    released, and every other worker waits for it forever (or, with `blocking=False`, skips the
    work forever) until someone deletes the key by hand.

    ## Example
    ```python
    with r.lock("report"):
        build_report()

    if r.set(f"lock:{order_id}", token, nx=True):
        charge(order_id)
    ```

    ## Use instead:
    ```python
    with r.lock("report", timeout=60, blocking_timeout=5):
        build_report()

    if r.set(f"lock:{order_id}", token, nx=True, ex=30):
        charge(order_id)
    ```
    Choose a timeout longer than the critical section can take, or `extend()` the lock while
    working; see `redislint patterns locks`.

    ## Fix safety
    Only with `lock-timeout` configured (`[tool.redislint]`, seconds), an unsafe fix adds
    `timeout=<lock-timeout>` to `lock(...)`/`Lock(...)` (or puts it in place of the `None`
    passed), and `ex=<lock-timeout>` (`px=` in milliseconds for a fraction of a second) to a
    hand-made `set(key, token, nx=True)` lock. Without it there is no fix: redislint never
    invents a timeout. Unsafe because a timeout shorter than the critical section lets a
    second holder in while the first still works. No fix for SETNX (it has no expiry option:
    RL901/RL203 turn it into `set(..., nx=True)` first) or for a SET that passes an expiry
    option already (even `ex=None`).
    """

    code = "RL301"
    name = "lock-without-timeout"
    message = ("this lock has no `timeout`, so a holder that crashes keeps it forever and blocks "
               "every other worker: pass `timeout=` longer than the critical section "
               "(see `redislint patterns locks`)")
    set_message = ("`{command}` used as a lock sets no expiry, so a holder that crashes keeps the "
                   "lock forever: add `ex=`/`px=` in the same `set(..., nx=True)` call "
                   "(see `redislint patterns locks`)")
    fix_safety = "unsafe"
    pattern = "locks"

    VALID = [
        Valid('import redis\nr = redis.Redis()\nwith r.lock("report", timeout=60):\n    pass\n'),
        Valid('import redis\nr = redis.Redis()\nlock = r.lock("report", 30, blocking_timeout=5)\n'
              'lock.acquire()\n'),
        Valid('import redis\nfrom redis.lock import Lock\nr = redis.Redis()\n'
              'with Lock(r, "n", timeout=5):\n    pass\n'),
        Valid('import redis\nfrom redis.lock import Lock\nr = redis.Redis()\nLock(r, "n", 5).acquire()\n'),
        Valid('import redis\nr = redis.Redis()\ndef take(k, token):\n'
              '    if r.set(f"lock:{k}", token, nx=True, ex=30):\n        return True\n'),
        Valid('import redis\nr = redis.Redis()\ndef take(k, token, ttl):\n'
              '    return r.set("lock:" + k, token, nx=True, px=ttl)\n'),
        Valid('import redis\nr = redis.Redis()\ndef once(msg_id):\n'
              '    # an idempotency marker, never released: not a lock\n'
              '    if r.set(f"seen:{msg_id}", 1, nx=True):\n        return True\n'),
        Valid('import redis\nr = redis.Redis()\ndef take(k):\n'
              '    if r.set(f"lock:{k}", 1, nx=True):\n        r.expire(f"lock:{k}", 30)\n'
              '        return True\n'),
        Valid('import redis\nr = redis.Redis()\ndef make(name, **options):\n'
              '    return r.lock(name, **options)\n'),
        Valid('import threading, asyncio\nimport redis\nr = redis.Redis()\n'
              'lock = threading.Lock()\nalock = asyncio.Lock()\nwith lock:\n    pass\n'),
        Valid('import redis\nclass Store:\n    def lock(self, name):\n        return self\n'
              'Store().lock("x")\n'),
        Valid('import redis\nr = redis.Redis()\ndef put_if_empty(key, value):\n'
              '    return r.setnx(key, value)\ndef forget(key):\n    r.delete(key)\n'),
        Valid('import redis\nr = redis.Redis()\nconfig = {}\nif config.set("lock:x", 1, nx=True):\n'
              '    pass\n'),
        Valid('import redis\nr = redis.Redis()\ndef take(k):\n    with r.pipeline() as p:\n'
              '        p.set(f"lock:{k}", 1, nx=True)\n        p.expire(f"lock:{k}", 30)\n'
              '        return p.execute()[0]\n'),
    ]
    INVALID = [
        Invalid('import redis\nr = redis.Redis()\nwith r.lock("report"):\n    pass\n'),
        Invalid('import redis\nr = redis.Redis()\nlock = r.lock("report", timeout=None)\n'),
        Invalid('import redis\nclass Jobs:\n    def __init__(self, url):\n'
                '        self.r = redis.Redis.from_url(url)\n'
                '    def run(self):\n        with self.r.lock("jobs", blocking_timeout=5):\n'
                '            pass\n'),
        Invalid('from redis.asyncio import Redis\nasync def run(r: Redis):\n'
                '    async with r.lock("jobs", sleep=0.5):\n        pass\n'),
        Invalid('import redis\nfrom redis.lock import Lock\nr = redis.Redis()\n'
                'def run():\n    with Lock(r, "nightly"):\n        pass\n'),
        Invalid('import redis.asyncio\nfrom redis.asyncio.lock import Lock\n'
                'async def run(r: redis.asyncio.Redis):\n'
                '    lock = Lock(r, "nightly", None, blocking=False)\n'
                '    if await lock.acquire():\n        pass\n'),
        Invalid('import redis\nr = redis.Redis()\ndef take(order_id, token):\n'
                '    if r.set(f"lock:{order_id}", token, nx=True):\n        return True\n'
                '    return False\n'),
        Invalid('import redis\nr = redis.Redis()\ndef acquire(job):\n'
                '    key = "job:" + job + ":owner"\n    got = r.set(key, "me", nx=True)\n'
                '    if not got:\n        return False\n    return True\n'
                'def release(job):\n    r.delete("job:{}:owner".format(job))\n'),
        Invalid('import redis\nr = redis.Redis()\ndef take(name, token):\n'
                '    return bool(r.set(f"{name}:lock", token, nx=True))\n'),
        Invalid('from redis.asyncio import Redis\nasync def take(r: Redis, name):\n'
                '    return await r.setnx(f"mutex:{name}", 1)\n'),
        # `keepttl=False` is no expiry
        Invalid('import redis\nr = redis.Redis()\ndef take(k):\n'
                '    return r.set(f"lock:{k}", 1, nx=True, keepttl=False)\n'),
        # with `lock-timeout` configured: unsafe fixes
        Invalid('import redis\nfrom redis.lock import Lock\nr = redis.Redis()\ndef run(k, token):\n'
                '    with r.lock("report", blocking_timeout=5):\n        pass\n'
                '    if Lock(r, "nightly", None, blocking=False).acquire():\n        pass\n'
                '    if r.set(f"lock:{k}", token, nx=True):\n        return True\n',
                settings={"lock-timeout": 30}, count=3, unsafe=True,
                expected_fix='import redis\nfrom redis.lock import Lock\nr = redis.Redis()\n'
                'def run(k, token):\n    with r.lock("report", blocking_timeout=5, timeout=30):\n'
                '        pass\n    if Lock(r, "nightly", 30, blocking=False).acquire():\n        pass\n'
                '    if r.set(f"lock:{k}", token, nx=True, ex=30):\n        return True\n'),
        Invalid('import redis\nr = redis.Redis()\ndef take(k):\n'
                '    return r.set(f"lock:{k}", 1, nx=True)\n', settings={"lock-timeout": 0.5},
                unsafe=True, expected_fix='import redis\nr = redis.Redis()\ndef take(k):\n'
                '    return r.set(f"lock:{k}", 1, nx=True, px=500)\n'),
        # no fix even so: SETNX has no expiry option
        Invalid('import redis\nr = redis.Redis()\ndef take(k):\n'
                '    return r.setnx(f"lock:{k}", 1)\n', settings={"lock-timeout": 30}),
    ]

    def on_redis_call(self, call: RedisCall) -> None:
        if call.command == "lock" and call.receiver.role == "client":
            self._check_lock(call.node)

    def visit_Call(self, node: cst.Call) -> None:
        if is_lock_constructor(self.model, node) and self.model.is_redis(node, "lock"):
            self._check_lock(node)

    def _check_lock(self, node: cst.Call) -> None:
        timeout = lock_timeout(self.model, node)
        if timeout is DYNAMIC:
            return
        if timeout is None or is_none(timeout):
            self.report(node, fix=self._lock_fix(node, timeout))

    def _lock_fix(self, node: cst.Call, timeout: object) -> Optional[Fix]:
        """`timeout=<lock-timeout>` added, or put in place of the `None` passed."""
        seconds = self.settings.lock_timeout
        if seconds is None:
            return None
        value = literal_number(seconds)
        if timeout is None:
            new = add_keywords(node, keyword("timeout", value))
        else:
            new = node.with_changes(args=[arg.with_changes(value=value) if arg.value is timeout
                                          else arg for arg in node.args])
        return Fix(f"Time the lock out after the configured `lock-timeout` ({seconds:g} s)",
                   {node: new}, "unsafe")

    def on_scope_exit(self, scope: Scope) -> None:
        if scope.kind != "module":
            return
        calls = self.model.redis_calls
        releases = [c for c in calls if c.command in DELETE_COMMANDS]
        for call in calls:
            if not self._sets_lock_without_expiry(call):
                continue
            if not (is_lock_key(call.key) or any(same_lock_key(call, d) for d in releases)):
                continue
            if expired_after(call):
                continue
            flow = ResultFlow(call.scope.node, call.node)
            if flow.decides_branch() or flow.returned():
                self.report(call.node, self.set_message.format(command=call.command),
                            fix=self._set_fix(call))

    def _set_fix(self, call: RedisCall) -> Optional[Fix]:
        """`set(k, token, nx=True)` -> `set(..., ex=<lock-timeout>)` (`px=` for a fraction);
        SETNX has no expiry option (RL203/RL901 turn it into SET first)."""
        seconds = self.settings.lock_timeout
        if seconds is None or set_without_expiry(call) is None:
            return None
        if float(seconds).is_integer():
            option = keyword("ex", literal_number(seconds))
        else:
            option = keyword("px", literal_number(round(seconds * 1000)))
        return Fix(f"Expire the lock after the configured `lock-timeout` ({seconds:g} s)",
                   {call.node: add_keywords(call.node, option)}, "unsafe")

    @staticmethod
    def _sets_lock_without_expiry(call: RedisCall) -> bool:
        return (call.receiver.role == "client" and call.key is not None and is_nx_set(call)
                and write_ttl(call) is False)
