import libcst as cst

from redislint.rule import Invalid, Rule, Valid
from redislint.semantic.atomic.acquire import in_cleanup
from redislint.semantic.context.frameworks import in_test_code
from redislint.semantic.model import RedisCall, Scope


class LockNotReleasedOnError(Rule):
    """
    ## What it does
    Flags `lock.acquire()` on a redis-py lock (`client.lock(...)`, `Lock(client, ...)`, sync
    or asyncio) when the same function releases the lock with `lock.release()` only on the
    normal path: no `release()` of that lock is in a `finally` block or an `except` handler.

    A lock acquired in one function and released in another (`start`/`stop`, a wrapper's
    `__enter__`/`__exit__`), a lock released only under a condition of its own (`if
    batch_full: lock.release()`: a throttle meant to expire by its timeout otherwise), a
    `with lock:` block, and test code are not checked.

    ## Why is this bad?
    Anything between `acquire()` and `release()` can raise: the work itself, a timeout, a
    `KeyboardInterrupt`, a cancelled task. The `release()` is then skipped and the lock stays
    held until its `timeout` runs out (forever without one). Meanwhile every other worker is
    locked out, or waits, for a critical section nobody is running.

    ## Example
    ```python
    lock = r.lock(f"lock:invoice:{invoice_id}", timeout=30, blocking_timeout=5)
    if lock.acquire():
        send_invoice(invoice_id)
        lock.release()
    ```

    ## Use instead:
    ```python
    lock = r.lock(f"lock:invoice:{invoice_id}", timeout=30, blocking_timeout=5)
    if lock.acquire():
        try:
            send_invoice(invoice_id)
        finally:
            lock.release()
    ```
    or `with r.lock(...):`, whose exit releases the lock however the block ends. See
    `redislint patterns locks`.

    ## Fix safety
    No automatic fix: moving the work into `try:`/`finally:` changes which statements the
    `finally` covers and how the function's other branches end, which only the author can
    check.
    """

    code = "RL305"
    name = "lock-not-released-on-error"
    message = ("this lock is released only when nothing in between raises, so an exception "
               "leaves it held until its timeout (or forever): call `release()` in a "
               "`finally` block or use `with lock:` (see `redislint patterns locks`)")
    fix_safety = None
    pattern = "locks"

    VALID = [
        Valid('import redis\nr = redis.Redis()\ndef run():\n'
              '    lock = r.lock("report", timeout=60, blocking_timeout=5)\n'
              '    lock.acquire()\n    try:\n        build()\n    finally:\n'
              '        lock.release()\n'),
        Valid('import redis\nr = redis.Redis()\ndef run():\n'
              '    with r.lock("report", timeout=60, blocking_timeout=5):\n        build()\n'),
        Valid('import threading\nimport redis\nr = redis.Redis()\nguard = threading.Lock()\n'
              'def run():\n    guard.acquire()\n    build()\n    guard.release()\n'),
        Valid('import redis\nclass Leader:\n    def __init__(self, r: redis.Redis):\n'
              '        self.lock = r.lock("leader", timeout=30, blocking=False)\n'
              '    def start(self):\n        return self.lock.acquire()\n'
              '    def stop(self):\n        self.lock.release()\n'),
        Valid('import redis\nr = redis.Redis()\ndef run():\n'
              '    lock = r.lock("report", timeout=60, blocking=False)\n'
              '    if lock.acquire():\n        try:\n            build()\n'
              '        except Exception:\n            lock.release()\n            raise\n'
              '        lock.release()\n'),
        Valid('import redis\nr = redis.Redis()\nclass Mutex:\n    def acquire(self):\n        pass\n'
              '    def release(self):\n        pass\ndef run(m: Mutex):\n'
              '    m.acquire()\n    build()\n    m.release()\n'),
        Valid('import redis\nr = redis.Redis()\ndef requeue(batch):\n'
              '    lock = r.lock("requeue", timeout=60)\n'
              '    if not lock.acquire(blocking=False):\n        return\n'
              '    done = work(batch)\n    # keep the lock (a throttle) unless the batch was full\n'
              '    if done == len(batch):\n        lock.release()\n'),
        Valid('import redis\nr = redis.Redis()\ndef probe():\n'
              '    lock = r.lock("report", timeout=60, blocking=False)\n'
              '    if lock.acquire():\n        lock.release()\n        return True\n'
              '    return False\n'),
    ]
    INVALID = [
        Invalid('import redis\nr = redis.Redis()\ndef run(day):\n'
                '    lock = r.lock("report:" + day, timeout=60, blocking_timeout=5)\n'
                '    lock.acquire()\n    build(day)\n    lock.release()\n'),
        Invalid('import redis\nclass Jobs:\n    def __init__(self, url):\n'
                '        self.r = redis.Redis.from_url(url)\n'
                '        self.guard = self.r.lock("jobs", timeout=30, blocking=False)\n'
                '    def run(self):\n        if self.guard.acquire():\n'
                '            self.work()\n            self.guard.release()\n'),
        Invalid('from redis.asyncio import Redis\nasync def run(r: Redis, job_id: str):\n'
                '    lock = r.lock(f"lock:{job_id}", timeout=5, blocking_timeout=1)\n'
                '    if await lock.acquire():\n        await work(job_id)\n'
                '        await lock.release()\n'),
        Invalid('import redis\nfrom redis.lock import Lock\nr = redis.Redis()\ndef run():\n'
                '    lock = Lock(r, "nightly", timeout=30, blocking_timeout=1)\n'
                '    try:\n        lock.acquire()\n        build()\n        lock.release()\n'
                '    except ConnectionError:\n        log()\n'),
        Invalid('import redis\nr = redis.Redis()\ndef run():\n'
                '    lock = r.lock("report", timeout=60, blocking=False)\n'
                '    if not lock.acquire():\n        return\n    build()\n'
                '    lock.release()\n'),
    ]

    def on_scope_exit(self, scope: Scope) -> None:
        if scope.kind != "function" and scope.kind != "module":
            return
        locks = [c for c in scope.calls if c.receiver.role == "lock"]
        for acquire in locks:
            if acquire.command != "acquire":
                continue
            releases = [c for c in locks if c.command == "release"
                        and c.receiver_text == acquire.receiver_text]
            if not releases or any(in_cleanup(r.ancestors) for r in releases):
                continue
            after = next((r for r in releases if _follows(acquire, r)), None)
            if after is None or _conditional(acquire, after) or _adjacent(acquire, after) or \
                    in_test_code(self.model, acquire.ancestors):
                continue
            self.report(acquire.node, end=after.node)


def _follows(first: RedisCall, then: RedisCall) -> bool:
    calls = first.scope.calls
    return calls.index(then) > calls.index(first)


def _conditional(acquire: RedisCall, release: RedisCall) -> bool:
    """The release runs only on some successful paths (`if batch_full: lock.release()`): the
    lock is meant to outlive the function otherwise and expire by its timeout (a throttle)."""
    shared = {id(node) for node in acquire.ancestors} | {id(acquire.node)}
    return any(isinstance(node, (cst.If, cst.For, cst.While)) and id(node) not in shared
               for node in release.ancestors)


def _adjacent(acquire: RedisCall, release: RedisCall) -> bool:
    """Nothing runs between the two: `if lock.acquire(): lock.release()` (a probe)."""
    first, second = acquire.statement, release.statement
    if first is None or second is None:
        return False
    if isinstance(first, cst.If) and first.test is not None and _within(acquire, first.test):
        body = first.body.body
        return bool(body) and body[0] is second
    for holder in reversed(release.ancestors):
        body = getattr(holder, "body", None)
        if isinstance(body, (list, tuple)) and second in body and first in body:
            return list(body).index(second) == list(body).index(first) + 1
    return False


def _within(call: RedisCall, node: cst.CSTNode) -> bool:
    return call.node is node or any(ancestor is node for ancestor in call.ancestors)

