from redislint.rule import Invalid, Rule, Valid
from redislint.semantic.model import Scope
from redislint.semantic.redispy import EXPIRE_COMMANDS, INCR_COMMANDS
from redislint.semantic.sequences import follow_ups


class IncrExpireNotAtomic(Rule):
    """
    ## What it does
    Flags INCR/INCRBY/INCRBYFLOAT (and DECR*) followed by a separate EXPIRE of the same key,
    when the two are not sent in one MULTI/EXEC transaction or Lua script.

    ## Why is this bad?
    If the process dies, times out or loses its connection between the two commands, the counter
    exists with no TTL and never expires. For a rate limiter that means the client is blocked
    forever once it reaches the limit; for metrics, keys pile up until memory runs out.

    ## Example
    ```python
    count = r.incr(key)
    if count == 1:
        r.expire(key, 60)
    ```

    ## Use instead:
    ```python
    with r.pipeline() as pipe:  # transaction=True by default: MULTI/EXEC
        pipe.incr(key)
        pipe.expire(key, 60, nx=True)  # Redis >= 7.0: set the TTL only once
        count, _ = pipe.execute()
    ```
    or a Lua script; see `redislint patterns rate-limiting` (FixedWindow).

    ## Fix safety
    No automatic fix: moving the calls into a transaction changes what each call returns.
    """

    code = "RL201"
    name = "incr-expire-not-atomic"
    message = ("`{incr}` then `{expire}` of the same key is not atomic: a crash between leaves a "
               "counter that never expires; send both in one `pipeline(transaction=True)` or a "
               "Lua script (see `redislint patterns rate-limiting`)")
    pattern = "rate-limiting"

    VALID = [
        Valid('import redis\nr = redis.Redis()\ndef hit(k):\n    with r.pipeline() as p:\n'
              '        p.incr(k)\n        p.expire(k, 60)\n        return p.execute()[0]\n'),
        Valid('import redis\nr = redis.Redis()\ndef hit(k):\n    p = r.pipeline(transaction=True)\n'
              '    p.incr(k).expire(k, 60, nx=True)\n    p.execute()\n'),
        Valid('import redis\nr = redis.Redis()\nLUA = "redis.call(\'INCR\', KEYS[1]); redis.call(\'EXPIRE\', KEYS[1], 60)"\n'
              'def hit(k):\n    return r.eval(LUA, 1, k)\n'),
        Valid('import redis\nr = redis.Redis()\ndef hit(a, b):\n    r.incr(a)\n    r.expire(b, 60)\n'),
        Valid('class Counter:\n    def incr(self, k): ...\n    def expire(self, k, t): ...\n'
              'c = Counter()\nc.incr("k")\nc.expire("k", 5)\n'),
        Valid('import redis\nr = redis.Redis()\ndef hit(k):\n    p = r.pipeline(transaction=False)\n'
              '    p.multi()\n    p.incr(k)\n    p.expire(k, 60)\n    p.execute()\n'),
    ]
    INVALID = [
        Invalid('import redis\nr = redis.Redis()\ndef hit(uid):\n    n = r.incr(f"rate:{uid}")\n'
                '    if n == 1:\n        r.expire("rate:" + uid, 60)\n    return n\n'),
        Invalid('import redis\nr = redis.Redis()\ndef hit(uid):\n    key = "rate:{}".format(uid)\n'
                '    p = r.pipeline(transaction=False)\n    p.incr(key)\n    p.expire(key, 60)\n    p.execute()\n'),
        Invalid('from redis.asyncio import Redis\nasync def hit(r: Redis, k):\n    await r.incrby(k, 5)\n'
                '    await r.pexpire(k, 500)\n'),
    ]

    def on_scope_exit(self, scope: Scope) -> None:
        for first, then in follow_ups(scope.calls, INCR_COMMANDS, EXPIRE_COMMANDS):
            message = self.message.format(incr=first.command, expire=then.command)
            self.report(first.node, message, end=then.node)
