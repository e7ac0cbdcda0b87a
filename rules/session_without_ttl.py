from __future__ import annotations

from typing import Dict, Set, Tuple

from redislint.rule import Invalid, Rule, Valid
from redislint.semantic.keys.expiry import SESSION, ttl_concern, ttl_patterns
from redislint.semantic.keys.keyspace import matches_any, named_pattern
from redislint.semantic.model import RedisCall, Scope
from redislint.semantic.redispy import KEY_WRITES

# Calls that run server-side code, which may expire any key it is given.
_SCRIPTS = frozenset({"eval", "evalsha", "eval_ro", "evalsha_ro", "register_script", "fcall",
                      "fcall_ro", "script_load"})


class SessionWithoutTtl(Rule):
    """
    ## What it does
    Flags a write (HSET, SET, SADD, ... any command that creates a key) of a session key that
    is never given a TTL: no EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT, SETEX, GETEX or SET with an
    expiry of that key pattern anywhere in the module, nor in any other module of the project.
    Session keys are the keys whose pattern matches `session-key-patterns` (default
    `["session:*", "sess:*"]`; `f"session:{sid}"`, `"sess:" + sid` and `"session:{}:data"`
    all match). The first such write of each pattern in each function is reported.

    Stays silent when a module of the project expires that pattern (a `touch()` that pushes
    the expiry back is enough), when a write passes `*args`/`**kwargs` (they may carry the
    TTL), when the module runs Lua scripts or functions (they may set it), and on objects that
    are not Redis. RL101 (set-without-ttl) leaves session keys to this rule.

    ## Why is this bad?
    A session without a TTL lives until something deletes it. Users rarely log out, so
    abandoned sessions pile up until `maxmemory`, and a stolen session id stays valid forever:
    OWASP's session management guidance asks for an idle and an absolute timeout, enforced on
    the server. Redis can enforce the idle timeout itself, for free, with a TTL.

    ## Example
    ```python
    def login(sid, user):
        r.hset(f"session:{sid}", mapping={"user": user.id})
    ```

    ## Use instead:
    ```python
    def login(sid, user):
        with r.pipeline() as pipe:  # MULTI/EXEC: never a session without its TTL
            pipe.hset(f"session:{sid}", mapping={"user": user.id})
            pipe.expire(f"session:{sid}", 1800)
            pipe.execute()
    ```
    and push the expiry back on each request (`expire`, or `getex(..., ex=)` for a string).
    See `redislint patterns sessions` (SessionStore).

    ## Fix safety
    No automatic fix: the session lifetime is a security decision the code must state.
    """

    code = "RL103"
    name = "session-without-ttl"
    message = ("`{command}` writes session keys `{pattern}` that nothing in the project ever "
               "expires, so abandoned sessions stay in Redis and stay valid forever: give them a "
               "TTL (`expire` in the same `pipeline()`, or `ex=`) and push it back on use (see "
               "`redislint patterns sessions`)")
    pattern = "sessions"

    VALID = [
        Valid('import redis\nr = redis.Redis()\ndef login(sid, uid):\n    with r.pipeline() as p:\n'
              '        p.hset(f"session:{sid}", mapping={"uid": uid})\n'
              '        p.expire(f"session:{sid}", 1800)\n        p.execute()\n'),
        Valid('import redis\nr = redis.Redis()\ndef login(sid, uid):\n'
              '    r.set("sess:" + sid, uid, ex=1800)\n'
              'def read(sid):\n    return r.getex("sess:{}".format(sid), ex=1800)\n'),
        Valid('import redis\nr = redis.Redis()\ndef login(sid, uid):\n'
              '    r.hset(f"session:{sid}", "uid", uid)\n'
              'def touch(sid):\n    r.expire("session:%s" % sid, 1800)\n'),
        Valid('import redis\nr = redis.Redis()\ndef login(sid, uid):\n    key = f"session:{sid}"\n'
              '    r.hset(key, "uid", uid)\n    r.pexpireat(key, 1_700_000_000_000)\n'),
        Valid('import redis\nr = redis.Redis()\ndef save(uid, v):\n    r.hset(f"profile:{uid}", "v", v)\n'),
        Valid('import redis\nr = redis.Redis()\ndef save(sid, v):\n    r.hset(f"session:{sid}", "v", v)\n',
              settings={"session-key-patterns": ["websession:*"]}),
        Valid('import redis\nr = redis.Redis()\nWRITE = r.register_script(\n'
              '    "redis.call(\'HSET\', KEYS[1], \'uid\', ARGV[1]) redis.call(\'EXPIRE\', KEYS[1], 1800)")\n'
              'def login(sid, uid):\n    WRITE(keys=[f"session:{sid}"], args=[uid])\n'
              '    r.hset(f"session:{sid}", "seen", 1)\n'),
        Valid('sessions = {}\nclass Store:\n    def hset(self, k, f, v): ...\ns = Store()\n'
              'def login(sid, uid):\n    sessions[f"session:{sid}"] = uid\n'
              '    s.hset(f"session:{sid}", "uid", uid)\n'),
        Valid('import redis\nr = redis.Redis()\ndef login(sid, uid, **ttl):\n'
              '    r.set(f"session:{sid}", uid, **ttl)\n'),
    ]
    INVALID = [
        Invalid('import redis\nr = redis.Redis()\ndef login(sid, uid):\n'
                '    r.hset(f"session:{sid}", mapping={"uid": uid})\n'),
        Invalid('import redis\nclass Sessions:\n    def __init__(self, url):\n'
                '        self.r = redis.from_url(url)\n    def put(self, sid, payload):\n'
                '        self.r.set("sess:" + sid, payload)\n'
                '    def drop(self, sid):\n        self.r.delete("sess:" + sid)\n'),
        Invalid('from redis.asyncio import Redis\nasync def login(r: Redis, sid, uid):\n'
                '    key = "session:{}".format(sid)\n    await r.hset(key, "uid", uid)\n'
                '    await r.hset(key, "at", 0)\n'),
        Invalid('import redis\nr = redis.Redis()\ndef login(sid, uid):\n    with r.pipeline() as p:\n'
                '        p.hset(f"session:{sid}:data", "uid", uid)\n'
                '        p.sadd(f"user:{uid}:sessions", sid)\n        p.execute()\n'),
        Invalid('import redis\nr = redis.Redis()\ndef login(sid, uid):\n'
                '    r.hset(f"websession:{sid}", "uid", uid)\n',
                settings={"session-key-patterns": ["websession:*"]}),
        Invalid('import redis\nr = redis.Redis()\ndef login(sid, uid):\n    r.set(f"session:{sid}", uid)\n'
                'def refresh(sid, uid):\n    r.set(f"session:{sid}", uid)\n', count=2),
    ]

    def on_scope_exit(self, scope: Scope) -> None:
        if scope.kind != "module":
            return
        calls = self.model.redis_calls
        if any(call.command in _SCRIPTS for call in calls):
            return
        module_patterns = ttl_patterns(calls)
        expired: Set[str] = set(module_patterns)
        index = self.model.inferer.index
        if index is not None:
            expired |= index.key_uses("expire")
        writes = [c for c in calls if c.command in KEY_WRITES
                  and c.receiver.role in ("client", "pipeline")
                  and ttl_concern(c, module_patterns, self.settings) == SESSION]
        hidden = {named_pattern(c.key) for c in writes if c.has_star_args}
        reported: Dict[Tuple[int, str], RedisCall] = {}
        for call in writes:
            pattern = named_pattern(call.key)
            if pattern is None or pattern in hidden or matches_any(pattern, expired):
                continue
            if (id(call.scope), pattern) in reported:
                continue
            reported[(id(call.scope), pattern)] = call
            self.report(call.node, self.message.format(command=call.command, pattern=pattern))
