from redislint.rule import Invalid, Rule, Valid
from redislint.semantic.model import Scope
from redislint.semantic.redispy import EXPIRE_COMMANDS, KEY_WRITES, is_set_if_absent
from redislint.semantic.sequences import follow_ups


class SetnxExpireNotAtomic(Rule):
    """
    ## What it does
    Flags SETNX (`r.setnx(k, v)`, or `r.set(k, v, nx=True)` without `ex`/`px`) followed by a
    separate EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT of the same key, when the two are not sent in one
    MULTI/EXEC transaction or Lua script.

    ## Why is this bad?
    This is the classic broken lock (and "first writer wins" marker): if the process dies
    between the two commands, the key exists with no TTL. Every later SETNX fails, so the lock
    is held forever, the job is never claimed again, the user is never allowed in again, until
    someone deletes the key by hand.

    ## Example
    ```python
    if r.setnx(f"lock:{name}", token):
        r.expire(f"lock:{name}", 10)
    ```

    ## Use instead:
    ```python
    if r.set(f"lock:{name}", token, nx=True, ex=10):
        ...
    ```
    One command: the key is created with its TTL or not at all. For a full lock (owner token,
    safe release, fencing) see `redislint patterns locks`.

    ## Fix safety
    No automatic fix exists yet. It will rewrite the SETNX into `set(k, v, nx=True, ex=t)` and
    drop the EXPIRE; it changes the SETNX's return value from `False` to `None` when the key
    exists, which is the same truthiness.
    """

    code = "RL203"
    name = "setnx-expire-not-atomic"
    message = ("`{write}` then `{expire}` is not atomic: a crash between them leaves a key that "
               "never expires (a lock held forever); use `set(k, v, nx=True, ex=t)` "
               "(see `redislint patterns locks`)")
    pattern = "locks"

    VALID = [
        Valid('import redis\nr = redis.Redis()\ndef acquire(name, token):\n'
              '    return r.set(f"lock:{name}", token, nx=True, ex=10)\n'),
        Valid('import redis\nr = redis.Redis()\ndef acquire(name, token):\n    with r.pipeline() as p:\n'
              '        p.setnx(f"lock:{name}", token)\n        p.expire("lock:" + name, 10)\n'
              '        return p.execute()[0]\n'),
        Valid('import redis\nr = redis.Redis()\ndef acquire(name, token):\n'
              '    p = r.pipeline(transaction=False)\n    p.multi()\n'
              '    p.set(f"lock:{name}", token, nx=True)\n    p.expire(f"lock:{name}", 10)\n'
              '    return p.execute()[0]\n'),
        Valid('import redis\nr = redis.Redis()\nACQUIRE = "if redis.call(\'SETNX\', KEYS[1], ARGV[1]) == 1 then '
              'return redis.call(\'EXPIRE\', KEYS[1], 10) end"\nacquire = r.register_script(ACQUIRE)\n'
              'def take(name, token):\n    return acquire(keys=[f"lock:{name}"], args=[token])\n'),
        Valid('import redis\nr = redis.Redis()\ndef acquire(name, token):\n'
              '    r.set(f"lock:{name}", token, nx=True, px=500)\n    r.pexpire(f"lock:{name}", 900)\n'),
        Valid('import redis\nr = redis.Redis()\ndef acquire(name, token):\n    r.setnx(f"lock:{name}", token)\n'
              '    r.expire(f"lock:{name}:fence", 10)\n'),
        Valid('class Locks:\n    def setnx(self, k, v): ...\n    def expire(self, k, t): ...\n'
              'locks = Locks()\ndef take(name):\n    if locks.setnx(f"lock:{name}", 1):\n'
              '        locks.expire(f"lock:{name}", 10)\n'),
        Valid('from django.core.cache import cache\ndef take(name):\n    if cache.add(f"lock:{name}", 1):\n'
              '        cache.expire(f"lock:{name}", timeout=10)\n'),
    ]
    INVALID = [
        Invalid('import redis\nr = redis.Redis()\ndef acquire(name, token):\n'
                '    if r.setnx(f"lock:{name}", token):\n        r.expire("lock:" + name, 10)\n'
                '        return True\n    return False\n'),
        Invalid('import redis\nclass Jobs:\n    def __init__(self):\n        self.r = redis.Redis()\n'
                '    def claim(self, job, worker):\n        key = "job:{}:owner".format(job)\n'
                '        if self.r.set(key, worker, nx=True):\n            self.r.expire(f"job:{job}:owner", 300)\n'),
        Invalid('from redis.asyncio import Redis\nasync def first_visit(r: Redis, uid):\n'
                '    new = await r.setnx("seen:%s" % uid, 1)\n    await r.pexpireat(f"seen:{uid}", 1700000000000)\n'
                '    return new\n'),
        Invalid('import redis\nr = redis.Redis()\ndef acquire(name):\n    p = r.pipeline(transaction=False)\n'
                '    p.setnx(f"lock:{name}", 1)\n    p.expire(f"lock:{name}", 10)\n    p.execute()\n'),
    ]

    def on_scope_exit(self, scope: Scope) -> None:
        for write, expire in follow_ups(scope.calls, KEY_WRITES, EXPIRE_COMMANDS):
            if is_set_if_absent(write) and write.receiver.role in ("client", "pipeline"):
                command = "set(..., nx=True)" if write.command == "set" else write.command
                message = self.message.format(write=command, expire=expire.command)
                self.report(write.node, message, end=expire.node)
