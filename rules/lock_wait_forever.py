import libcst as cst

from redislint.rule import Invalid, Rule, Valid
from redislint.semantic.atomic.acquire import waits_forever
from redislint.semantic.context.frameworks import in_test_code
from redislint.semantic.model import RedisCall


class LockWaitForever(Rule):
    """
    ## What it does
    Flags a blocking acquisition of a redis-py lock that has no `blocking_timeout`:
    `lock.acquire()`, `with lock:` or `async with lock:` on a lock made by `client.lock(...)`
    or `Lock(client, ...)` (sync or asyncio) when neither the lock nor the `acquire()` call
    passes `blocking_timeout=`, and neither passes `blocking=False`.

    redis-py's defaults are `blocking=True, blocking_timeout=None`: `acquire()` retries every
    `sleep` seconds (0.1) with no end. An `acquire(blocking_timeout=None)` or
    `acquire(blocking=None)` falls back to the lock's own setting.

    Locks whose options are not visible (`**options`, a custom `lock_class`, `blocking=flag`,
    a lock received as a parameter), a lock made with an explicit `blocking_timeout=None`
    (waiting forever spelt out is a decision, not an oversight) and test code are not
    checked.

    ## Why is this bad?
    The caller waits as long as somebody else holds the lock: a holder stuck in a slow call,
    a lock without a timeout (or with a long one) left by a crashed worker, or a steady stream
    of other holders that always win the retry. A web request or a worker thread then hangs
    with no error and no log line, and every later caller piles up behind it.

    ## Example
    ```python
    lock = r.lock(f"lock:report:{day}", timeout=60)
    lock.acquire()
    try:
        build_report(day)
    finally:
        lock.release()
    ```

    ## Use instead:
    ```python
    lock = r.lock(f"lock:report:{day}", timeout=60, blocking_timeout=5)
    if not lock.acquire():
        raise ReportBusy(day)
    try:
        build_report(day)
    finally:
        lock.release()
    ```
    With `with r.lock(..., blocking_timeout=5):`, a lock not acquired in time raises
    `redis.exceptions.LockError`; `acquire(blocking=False)` tries once. See
    `redislint patterns locks`.

    ## Fix safety
    No automatic fix: how long a caller may wait is a choice only the author can make, and
    adding a limit makes `with` raise `LockError` (and `acquire()` return False) where the code
    waited before, so the failure must be handled.
    """

    code = "RL302"
    name = "lock-wait-forever"
    message = ("this lock acquisition has no `blocking_timeout`, so redis-py retries forever "
               "while another holder keeps the lock and the caller hangs: pass "
               "`blocking_timeout=` (seconds) and handle the lock not being acquired "
               "(see `redislint patterns locks`)")
    fix_safety = None
    pattern = "locks"

    VALID = [
        Valid('import redis\nr = redis.Redis()\n'
              'with r.lock("report", timeout=60, blocking_timeout=5):\n    pass\n'),
        Valid('import redis\nr = redis.Redis()\ndef run():\n'
              '    lock = r.lock("report", timeout=60)\n'
              '    if lock.acquire(blocking=False):\n        try:\n            pass\n'
              '        finally:\n            lock.release()\n'),
        Valid('import redis\nr = redis.Redis()\nlock = r.lock("report", 60, blocking=False)\n'
              'def run():\n    if lock.acquire():\n        lock.release()\n'),
        Valid('import redis\nr = redis.Redis()\ndef run():\n'
              '    lock = r.lock("report", timeout=60, blocking_timeout=5)\n'
              '    # an explicit None falls back to the lock\'s own blocking_timeout\n'
              '    lock.acquire(blocking_timeout=None)\n'),
        Valid('import redis\nr = redis.Redis()\ndef run():\n'
              '    lock = r.lock("report", timeout=60)\n    lock.acquire(0.1, True, 5)\n'),
        Valid('import redis\nfrom redis.lock import Lock\nr = redis.Redis()\n'
              'with Lock(r, "nightly", 30, 0.1, True, 10):\n    pass\n'),
        Valid('import threading\nimport redis\nr = redis.Redis()\nguard = threading.Lock()\n'
              'guard.acquire()\nwith guard:\n    pass\n'),
        Valid('import redis\nclass Mutex:\n    def acquire(self):\n        return True\n'
              'Mutex().acquire()\n'),
        Valid('import redis\nr = redis.Redis()\ndef run(**options):\n'
              '    with r.lock("report", timeout=60, **options):\n        pass\n'),
        Valid('from redis.asyncio import Redis\nasync def run(r: Redis, wait: float):\n'
              '    async with r.lock("jobs", timeout=5, blocking_timeout=wait):\n        pass\n'),
        Valid('import redis\nr = redis.Redis()\nclass Custom:\n    pass\n'
              'with r.lock("x", timeout=5, lock_class=Custom):\n    pass\n'),
        Valid('import redis\nr = redis.Redis()\ndef run():\n'
              '    with r.lock("leader", timeout=30, blocking_timeout=None):\n        pass\n'),
        Valid('import redis\nfrom redis.lock import Lock\ndef hold(lock: Lock):\n'
              '    # a lock from elsewhere: its options are not visible here\n'
              '    lock.acquire()\n'),
    ]
    INVALID = [
        Invalid('import redis\nr = redis.Redis()\ndef run():\n'
                '    lock = r.lock("report", timeout=60)\n    lock.acquire()\n'
                '    try:\n        pass\n    finally:\n        lock.release()\n'),
        Invalid('import redis\nr = redis.Redis()\nwith r.lock("report", timeout=60):\n    pass\n'),
        Invalid('import redis\nclass Jobs:\n    def __init__(self, url):\n'
                '        self.r = redis.Redis.from_url(url)\n'
                '        self.guard = self.r.lock("jobs:" + url, timeout=30)\n'
                '    def run(self):\n        with self.guard:\n            pass\n'),
        Invalid('from redis.asyncio import Redis\nasync def run(r: Redis, job_id: str):\n'
                '    async with r.lock(f"lock:{job_id}", timeout=5, sleep=0.5):\n        pass\n'),
        Invalid('import redis.asyncio as aioredis\nr = aioredis.Redis()\nasync def run():\n'
                '    lock = r.lock("jobs", timeout=5)\n    if await lock.acquire(True):\n'
                '        await lock.release()\n'),
        Invalid('import redis\nfrom redis.lock import Lock\nr = redis.Redis()\ndef run():\n'
                '    lock = Lock(r, "nightly", timeout=30, blocking=False)\n'
                '    lock.acquire(blocking=True)\n'),
        Invalid('import redis\nr = redis.Redis()\ndef run():\n'
                '    lock = r.lock("report", timeout=60)\n'
                '    lock.acquire(blocking_timeout=None)\n'),
    ]

    def on_redis_call(self, call: RedisCall) -> None:
        if call.command == "acquire" and call.receiver.role == "lock":
            self._check(call.node, call.receiver, call.node)

    def visit_With(self, node: cst.With) -> None:
        for item in node.items:
            found = self.model.infer(item.item)
            if found is not None and found.role == "lock":
                self._check(item.item, found, None)

    def _check(self, node, lock, acquire) -> None:
        if waits_forever(self.model, lock, acquire) and not in_test_code(self.model):
            self.report(node)
