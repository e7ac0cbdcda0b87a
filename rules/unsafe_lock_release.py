from typing import Optional

from redislint.rule import Invalid, Rule, Valid
from redislint.semantic.flow.results import ResultFlow
from redislint.semantic.atomic.locks import is_lock_key, is_nx_set, same_lock_key
from redislint.semantic.model import RedisCall, Scope
from redislint.semantic.redispy import write_ttl
from redislint.semantic.flow.sequences import calls_after, expired_after

_DELETES = ("delete", "unlink")


class UnsafeLockRelease(Rule):
    """
    ## What it does
    Flags a lock released by a plain `delete`/`unlink` of its key, without an atomic check that
    the caller still owns it:
    - a DEL of a key the module takes with `set(..., nx=True)` (or `setnx`) as an expiring lock
      (with `ex`/`px`, or an EXPIRE after it) or under a lock-like name (`lock:{}`): the same key
      in the same function, the same key pattern or the same `self` attribute elsewhere;
    - GET-compare-then-DEL of a lock key: `if r.get(key) == token: r.delete(key)`.

    A DEL queued in a transaction pipeline (after WATCH and MULTI), a Lua compare-and-delete and
    redis-py's `Lock.release()` are not flagged.

    ## Why is this bad?
    A lock with a timeout can expire while its holder is still working (a GC pause, a slow
    query). Another worker then takes the lock, and the first one's DEL deletes *their* lock, so
    a third worker gets in too. Checking the token with GET first does not help: the lock can
    expire and change hands between the GET and the DEL.

    ## Example
    ```python
    token = secrets.token_hex(16)
    if r.set("lock:report", token, nx=True, ex=30):
        try:
            build_report()
        finally:
            if r.get("lock:report") == token:
                r.delete("lock:report")
    ```

    ## Use instead:
    ```python
    RELEASE = r.register_script(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end "
        "return 0")
    ...
        finally:
            RELEASE(keys=["lock:report"], args=[token])
    ```
    or `with r.lock("report", timeout=30):`, whose `release()` runs that script; see
    `redislint patterns locks`.

    ## Fix safety
    No automatic fix: the fix needs the owner token, which only the author knows.
    """

    code = "RL303"
    name = "unsafe-lock-release"
    message = ("this `{command}` releases a lock without checking its owner, so once the lock has "
               "expired and passed to another worker it deletes theirs: compare the token and "
               "delete in one Lua script or use `Lock.release()` (see `redislint patterns locks`)")
    get_message = ("`get` then `{command}` of a lock key is not atomic: the lock can expire and "
                   "pass to another worker between the check and the delete; compare and delete in "
                   "one Lua script or use `Lock.release()` (see `redislint patterns locks`)")
    pattern = "locks"

    VALID = [
        Valid('import redis\nr = redis.Redis()\n'
              'RELEASE = r.register_script("if redis.call(\'GET\', KEYS[1]) == ARGV[1] then '
              'return redis.call(\'DEL\', KEYS[1]) end return 0")\n'
              'def run(token):\n    if r.set("lock:report", token, nx=True, ex=30):\n'
              '        try:\n            pass\n        finally:\n'
              '            RELEASE(keys=["lock:report"], args=[token])\n'),
        Valid('import redis\nr = redis.Redis()\nLUA = "if redis.call(\'get\', KEYS[1]) == ARGV[1] '
              'then return redis.call(\'del\', KEYS[1]) end"\n'
              'def release(name, token):\n    return r.eval(LUA, 1, f"lock:{name}", token)\n'),
        Valid('import redis\nr = redis.Redis()\nlock = r.lock("report", timeout=30)\n'
              'if lock.acquire(blocking=False):\n    try:\n        pass\n    finally:\n'
              '        lock.release()\n'),
        Valid('import redis\nr = redis.Redis()\ndef release(key, token):\n'
              '    with r.pipeline() as pipe:\n        pipe.watch(key)\n'
              '        if pipe.get(key) == token:\n            pipe.multi()\n'
              '            pipe.delete(key)\n            pipe.execute()\n'),
        Valid('import redis\nr = redis.Redis()\ndef claim(email, uid):\n'
              '    # a permanent unique claim: nobody else can hold it, so the rollback is safe\n'
              '    if not r.set(f"email:{email}", uid, nx=True):\n        raise ValueError(email)\n'
              'def forget(email):\n    r.delete(f"email:{email}")\n'),
        Valid('import redis\nr = redis.Redis()\ndef refresh(k):\n'
              '    if r.get(f"cache:{k}") == b"stale":\n        r.delete(f"cache:{k}")\n'),
        Valid('import redis\nr = redis.Redis()\ndef take(k, token):\n'
              '    return r.set(f"lock:{k}", token, nx=True, ex=10)\n'
              'def drop(k):\n    r.delete(f"session:{k}")\n'),
        Valid('locks = {}\ndef release(k):\n    if locks.get(k) == 1:\n        locks.pop(k)\n'
              'import redis\n'),
    ]
    INVALID = [
        Invalid('import redis\nr = redis.Redis()\ndef run(name, token):\n'
                '    key = f"lock:{name}"\n    if r.set(key, token, nx=True, ex=30):\n'
                '        try:\n            pass\n        finally:\n            r.delete(key)\n'),
        Invalid('import redis\nclass Mutex:\n    def __init__(self, name):\n'
                '        self.r = redis.Redis()\n        self.key = name\n'
                '    def acquire(self, token):\n'
                '        return self.r.set(self.key, token, nx=True, px=5000)\n'
                '    def release(self):\n        self.r.delete(self.key)\n'),
        Invalid('import redis\nr = redis.Redis()\ndef take(name, token):\n'
                '    return r.set("lock:" + name, token, nx=True, ex=30)\n'
                'def release(name, token):\n    if r.get(f"lock:{name}") == token:\n'
                '        r.delete("lock:{}".format(name))\n'),
        Invalid('import redis\nr = redis.Redis()\ndef release(name, token):\n'
                '    key = "lock:%s" % name\n    owner = r.get(key).decode()\n'
                '    if owner == token:\n        r.delete(key)\n'),
        Invalid('from redis.asyncio import Redis\nasync def release(r: Redis, job, token):\n'
                '    owner = await r.get(f"jobs:{job}:lock")\n    if owner != token:\n'
                '        return\n    await r.unlink(f"jobs:{job}:lock")\n'),
        Invalid('import redis\nr = redis.Redis()\ndef run(name):\n'
                '    if r.setnx("lock:" + name, 1):\n        r.expire("lock:" + name, 30)\n'
                '    r.delete(f"lock:{name}")\n'),
    ]

    def on_scope_exit(self, scope: Scope) -> None:
        if scope.kind != "module":
            return
        calls = self.model.redis_calls
        locks = [c for c in calls if self._takes_lock(c)]
        for release in calls:
            if release.command not in _DELETES or release.atomic is not False:
                continue
            check = self._owner_check(release)
            if check is not None:
                message = self.get_message.format(command=release.command)
                self.report(check.node, message, end=release.node)
            elif any(same_lock_key(lock, release) and self._before(lock, release) for lock in locks):
                self.report(release.node, self.message.format(command=release.command))

    @staticmethod
    def _before(first: RedisCall, then: RedisCall) -> bool:
        return first.scope is not then.scope or any(c is then for c in calls_after(first))

    @staticmethod
    def _takes_lock(call: RedisCall) -> bool:
        """A SET NX (or SETNX) of a lease (an expiry, now or by a later EXPIRE) or a lock-named key."""
        if call.key is None or not is_nx_set(call):
            return False
        return write_ttl(call) is not False or is_lock_key(call.key) or expired_after(call)

    @staticmethod
    def _owner_check(release: RedisCall) -> Optional[RedisCall]:
        """The non-atomic GET of the lock key, compared for equality, before this DEL."""
        if not is_lock_key(release.key):
            return None
        for call in release.scope.calls:
            if call is release:
                break
            if call.command == "get" and call.key == release.key and call.atomic is False:
                if ResultFlow(call.scope.node, call.node).compared_for_equality():
                    return call
        return None

