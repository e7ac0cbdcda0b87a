from typing import Optional

from redislint.rule import Fix, Invalid, Rule, Valid
from redislint.semantic.fixes.edits import add_keywords, next_statement
from redislint.semantic.model import RedisCall, Scope
from redislint.semantic.redispy import (COLLECTION_WRITES, EXPIRE_COMMANDS, KEY_WRITES,
                                        is_set_if_absent, write_ttl)
from redislint.semantic.flow.sequences import follow_ups
from redislint.semantic.fixes.ttl import fold_expire, own_statement, sent_as_written, set_without_expiry

# LPUSHX/RPUSHX only write a list that exists, so they never create a key without a TTL.
_WRITES = COLLECTION_WRITES - {"lpushx", "rpushx"}


class WriteExpireNotAtomic(Rule):
    """
    ## What it does
    Flags a write that creates a key (SET, HSET, SADD, RPUSH, LPUSH, ZADD, XADD, PFADD, GEOADD,
    APPEND, ...) followed by a separate EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT of the same key, when
    the two are not sent in one MULTI/EXEC transaction or Lua script.

    INCR-family counters are RL201's, SETNX (and `set(..., nx=True)`) is RL203's; a SET that
    already carries a TTL (`ex=`, `px=`, `keepttl=True`) is not flagged.

    ## Why is this bad?
    The key exists without a TTL between the two commands. If the process crashes, is killed
    by a deploy, times out or loses its connection in between, the key never expires: session
    hashes, per-user sets and temporary lists pile up until Redis runs out of memory.

    ## Example
    ```python
    r.hset(f"session:{sid}", mapping=data)
    r.expire(f"session:{sid}", 1800)
    ```

    ## Use instead:
    ```python
    with r.pipeline() as pipe:  # transaction=True by default: MULTI/EXEC
        pipe.hset(f"session:{sid}", mapping=data)
        pipe.expire(f"session:{sid}", 1800)
        pipe.execute()
    ```
    For a string, `r.set(key, value, ex=1800)` does both in one command. A Lua script works
    too; see `redislint patterns sessions`.

    ## Fix safety
    For SET, the fix writes the TTL with the value, `set(k, v, ex=t)` (`px=` for PEXPIRE;
    `exat=`/`pxat=` for EXPIREAT/PEXPIREAT on Redis >= 6.2), and deletes the EXPIRE statement,
    when the EXPIRE statement directly follows the SET statement on the same client and its
    result is unused. The SET's own result may be used: an expiry does not change what SET
    returns. The fix is **safe** when the TTL can never be None: a number, arithmetic,
    `timedelta(...)`, or a module constant bound to one. For any other TTL (a parameter, an
    attribute) it is **unsafe**: if the value is None at run time, `expire` raises after the
    SET, while `set(..., ex=None)` silently writes the key without a TTL.

    No fix for other writes (HSET, RPUSH, ZADD...: a transaction changes what the calls
    return), for a SET that already passes any `ex`/`px`/`exat`/`pxat`/`keepttl` (even None),
    EXPIRE options (`nx`/`xx`/`gt`/`lt`), statements between the two, a key or TTL expression
    with side effects (it would be evaluated earlier, or not at all), a comment on the EXPIRE
    line (it would be lost), or pipelines (the reply list of `execute()` would change).
    """

    code = "RL202"
    name = "write-expire-not-atomic"
    message = ("`{write}` then `{expire}` of the same key is not atomic: a crash between them "
               "leaves a key that never expires; {instead} (see `redislint patterns sessions`)")
    pattern = "sessions"
    fix_safety = "safe"

    VALID = [
        # The caller may pass a transaction pipeline: atomicity cannot be told (rq's Result.save).
        Valid('import redis\nclass Result:\n    def __init__(self):\n        self.connection = redis.Redis()\n'
              '    def save(self, key, ttl, pipeline=None):\n'
              '        connection = pipeline if pipeline is not None else self.connection\n'
              '        connection.xadd(key, {"v": 1}, maxlen=10)\n        connection.expire(key, ttl)\n'),
        Valid('import redis\nr = redis.Redis()\ndef save(sid, data):\n    with r.pipeline() as p:\n'
              '        p.hset(f"session:{sid}", mapping=data)\n        p.expire("session:" + sid, 1800)\n'
              '        p.execute()\n'),
        Valid('import redis\nr = redis.Redis()\ndef save(sid, data):\n    p = r.pipeline(transaction=False)\n'
              '    p.multi()\n    p.sadd(f"seen:{sid}", data)\n    p.expire(f"seen:{sid}", 60)\n'
              '    p.execute()\n'),
        Valid('import redis\nr = redis.Redis()\nPUSH = "redis.call(\'RPUSH\', KEYS[1], ARGV[1]); '
              'redis.call(\'EXPIRE\', KEYS[1], 60)"\npush = r.register_script(PUSH)\n'
              'def add(uid, item):\n    push(keys=[f"recent:{uid}"], args=[item])\n'
              '    r.eval(PUSH, 1, f"recent:{uid}", item)\n'),
        Valid('import redis\nr = redis.Redis()\ndef save(uid, v):\n    r.set(f"u:{uid}", v, ex=60)\n'
              '    r.set(f"u:{uid}", v, keepttl=True)\n    r.expire(f"u:{uid}", 120)\n'),
        Valid('import redis\nr = redis.Redis()\ndef hit(uid):\n    r.incr(f"rate:{uid}")\n'
              '    r.expire(f"rate:{uid}", 60)\n'),
        Valid('import redis\nr = redis.Redis()\ndef claim(job):\n    r.setnx(f"job:{job}", 1)\n'
              '    r.expire(f"job:{job}", 60)\n'),
        Valid('import redis\nr = redis.Redis()\ndef add(uid, item):\n    r.rpushx(f"q:{uid}", item)\n'
              '    r.expire(f"q:{uid}", 60)\n    r.sadd(f"a:{uid}", item)\n    r.expire(f"b:{uid}", 60)\n'),
        Valid('class Store:\n    def hset(self, k, f, v): ...\n    def expire(self, k, t): ...\n'
              's = Store()\ndef save(uid):\n    s.hset(f"u:{uid}", "a", 1)\n    s.expire(f"u:{uid}", 5)\n'),
        Valid('from django.core.cache import cache\ndef save(uid, v):\n    cache.set(f"u:{uid}", v)\n'
              '    cache.expire(f"u:{uid}", timeout=60)\n'),
        Valid('from typing import Optional, Union\nimport redis\nfrom redis.client import Pipeline\n'
              'class Worker:\n    def __init__(self):\n        self.connection = redis.Redis()\n'
              '    def beat(self, key, pipeline: Optional[Pipeline] = None):\n'
              '        conn: Union[redis.Redis, Pipeline] = pipeline if pipeline is not None else self.connection\n'
              '        conn.hset(key, "beat", 1)\n        conn.expire(key, 60)\n'
              '    def touch(self, key, pipeline: Optional[Pipeline] = None):\n'
              '        conn = pipeline or self.connection\n        conn.sadd(key, 1)\n        conn.expire(key, 60)\n'),
        Valid('import redis\nr = redis.Redis()\ndef save(uid, v, **opts):\n    r.set(f"u:{uid}", v, **opts)\n'
              '    r.expire(f"u:{uid}", 60)\n'),
    ]
    INVALID = [
        Invalid('import redis\nr = redis.Redis()\ndef save(sid, data):\n'
                '    r.hset(f"session:{sid}", mapping=data)\n    r.expire("session:" + sid, 1800)\n'),
        Invalid('import redis\nclass Recent:\n    def __init__(self):\n        self.r = redis.Redis()\n'
                '    def add(self, uid, item):\n        key = "recent:{}".format(uid)\n'
                '        self.r.lpush(key, item)\n        self.r.expire(f"recent:{uid}", 3600)\n'),
        Invalid('from redis.asyncio import Redis\nasync def track(r: Redis, uid, page):\n'
                '    await r.zadd("views:%s" % uid, {page: 1})\n    await r.pexpire(f"views:{uid}", 60000)\n'),
        Invalid('import redis\nr = redis.Redis()\ndef save(uid, v):\n    p = r.pipeline(transaction=False)\n'
                '    p.set(f"u:{uid}", v).expire(f"u:{uid}", 60)\n    p.execute()\n'),
        Invalid('import redis\nr = redis.Redis()\ndef log(stream_id, event):\n'
                '    r.xadd(f"events:{stream_id}", event)\n    r.sadd(f"members:{stream_id}", event)\n'
                '    with r.pipeline() as p:\n        p.expire(f"events:{stream_id}", 86400)\n'
                '        p.expireat(f"members:{stream_id}", 1700000000)\n        p.execute()\n', count=2),
        Invalid('import redis\nr = redis.Redis()\ndef cache(url, html):\n    r.set(f"page:{url}", html)\n'
                '    r.expire(f"page:{url}", 300)\n    return html\n',
                expected_fix='import redis\nr = redis.Redis()\ndef cache(url, html):\n'
                '    r.set(f"page:{url}", html, ex=300)\n    return html\n'),
        # the SET result is used (unchanged); PEXPIRE of a module constant; redis.asyncio
        Invalid('from redis.asyncio import Redis\nTTL_MS = 60 * 1000\n'
                'async def save(r: Redis, uid, v):\n    ok = await r.set("u:%s" % uid, v)\n'
                '    await r.pexpire(f"u:{uid}", TTL_MS)\n    return ok\n',
                expected_fix='from redis.asyncio import Redis\nTTL_MS = 60 * 1000\n'
                'async def save(r: Redis, uid, v):\n    ok = await r.set("u:%s" % uid, v, px=TTL_MS)\n'
                '    return ok\n'),
        # a TTL parameter may be None: unsafe
        Invalid('import redis\nr = redis.Redis()\ndef save(uid, v, ttl):\n    r.set(f"u:{uid}", v)\n'
                '    r.expire(f"u:{uid}", ttl)\n',
                expected_fix='import redis\nr = redis.Redis()\ndef save(uid, v, ttl):\n'
                '    r.set(f"u:{uid}", v, ex=ttl)\n', unsafe=True),
        # no fix: a comment on the EXPIRE line, an EXPIRE option, a statement in between
        Invalid('import redis\nr = redis.Redis()\ndef save(uid, v):\n    r.set(f"u:{uid}", v)\n'
                '    r.expire(f"u:{uid}", 60)  # one minute\n'),
        Invalid('import redis\nr = redis.Redis()\ndef save(uid, v):\n    r.set(f"u:{uid}", v)\n'
                '    r.expire(f"u:{uid}", 60, gt=True)\n'),
        Invalid('import redis\nr = redis.Redis()\ndef save(uid, v):\n    r.set(f"u:{uid}", v)\n'
                '    log(uid)\n    r.expire(f"u:{uid}", 60)\n'),
    ]

    def on_scope_exit(self, scope: Scope) -> None:
        for write, expire in follow_ups(scope.calls, KEY_WRITES, EXPIRE_COMMANDS):
            if write.command not in _WRITES or write.receiver.role not in ("client", "pipeline"):
                continue
            if is_set_if_absent(write) or write_ttl(write) is not False:
                continue  # SETNX is RL203's; a write that sets its own TTL is fine
            self.report(write.node, self._message(write, expire), end=expire.node,
                        fix=self._fix(write, expire))

    def _fix(self, write: RedisCall, expire: RedisCall) -> Optional[Fix]:
        """`set(k, v)` + `expire(k, t)`: adjacent statements on one client, the EXPIRE's result
        unused (the SET's may be used: an expiry does not change what SET returns)."""
        if set_without_expiry(write) is None or write.receiver_text != expire.receiver_text:
            return None
        if not (sent_as_written(write) and own_statement(write, assigned=True)):
            return None
        if next_statement(write.ancestors, write.statement) is not expire.statement:
            return None
        folded = fold_expire(expire, self.model, self.settings)
        if folded is None:
            return None
        option = folded.option.keyword.value  # type: ignore[union-attr]
        return Fix(f"Write the TTL with the value: `set(..., {option}=...)`",
                   {write.node: add_keywords(write.node, folded.option), **folded.removal},
                   folded.applicability)

    def _message(self, write: RedisCall, expire: RedisCall) -> str:
        instead = ("write it with `set(k, v, ex=t)`" if write.command == "set" else
                   "send both in one `pipeline(transaction=True)` or a Lua script")
        return self.message.format(write=write.command, expire=expire.command, instead=instead)
