from typing import Dict, List, Set

import libcst as cst

from redislint.rule import Fix, Invalid, Rule, Valid
from redislint.semantic.flow.bindings import Bindings
from redislint.semantic.flow.calls import local_callee, parameter_of
from redislint.semantic.model import RedisCall
from redislint.semantic.flow.replies import (
    MESSAGE_KIND, Mismatch, ReplyUses, bytes_literal, module_str_constants, parameter_comparisons,
    passed_on, reply_kind, reply_values, str_comparisons,
)

_RAW = "import redis\nr = redis.Redis()\n"


class BytesStrCompare(Rule):
    """
    ## What it does
    Flags a reply of a client built without `decode_responses=True` compared with a `str`:
    `r.get(k) == "yes"`, `v = r.get(k)` ... `if v != "done":`, `r.type(k) in ("hash", "zset")`,
    `"admin" in r.smembers(roles)`, `_, job = r.brpop(q)` ... `job == "stop"`, and a PubSub
    message's `message["data"] == "reload"`.

    Only when the client's constructor is in sight (in this module, `self.x = Redis(...)` in
    `__init__`, a factory function, or a module-level client another module exports) and
    certainly lacks `decode_responses=True`: no `**kwargs`, no `connection_pool=` (the pool's
    options win), no `decode_responses` in a literal `from_url` query string. A client whose
    construction is unknown (a parameter annotated `Redis`, a subclass with its own `__init__`,
    `django_redis.get_redis_connection()`) is never flagged. The reply is followed through
    `await` and local names bound exactly once; a value rebound, converted (`.decode()`,
    `str(...)`) or defaulted (`r.get(k) or "0"`) is not followed. A reply handed as an argument
    to a function or method of the same module (`size(key, r.type(key))`, `self._final(state)`)
    is followed into it: that parameter's comparisons with a str are flagged, unless the
    parameter is rebound there (`t = t.decode()`) or also compared with bytes (a helper written
    for both kinds of client). Helpers imported from other modules are not followed.

    ## Why is this bad?
    Without `decode_responses=True`, redis-py returns `bytes`, and in Python 3
    `b"yes" == "yes"` is `False` (no error, no warning). The comparison never matches: the
    feature flag is never on, the status is never "done", the `!=` branch always runs. The code
    looks right in review and passes tests that mock Redis with strings.

    ## Example
    ```python
    r = redis.Redis()
    if r.get("feature:beta") == "on":
        enable_beta()
    ```

    ## Use instead:
    ```python
    r = redis.Redis(decode_responses=True)  # every reply is str
    if r.get("feature:beta") == "on":
        enable_beta()
    ```
    or compare with bytes (`== b"on"`), or decode the reply (`(r.get(k) or b"").decode()`).
    See `redislint patterns caching`: replies are decoded once, in the codec.

    ## Fix safety
    The fix rewrites the str literal as a bytes literal (`"on"` -> `b"on"`, also every element
    of `in ("a", "b")`), only for plain ASCII literals. It is unsafe: the comparison starts to
    match, so a branch that has never run in production runs from then on. No fix for an
    f-string, a constant, or non-ASCII text, nor in a helper that receives the reply (other
    callers may pass it a str).
    """

    code = "RL605"
    name = "bytes-str-compare"
    message = ("{what} bytes on a client without `decode_responses=True`, and "
               "bytes never equal a str, so this comparison always gives the same answer: build "
               "the client with `decode_responses=True` or compare with bytes "
               "(see `redislint patterns caching`)")
    pattern = "caching"
    fix_safety = "unsafe"

    VALID = [
        Valid('import redis\nr = redis.Redis(decode_responses=True)\n'
              'def beta():\n    return r.get("feature:beta") == "on"\n'),
        Valid(_RAW + 'def beta():\n    return r.get("feature:beta") == b"on"\n'),
        # converted before the comparison
        Valid(_RAW + 'def status(k):\n    v = r.get(k)\n    v = v.decode() if v else ""\n'
              '    return v == "done"\n'),
        Valid(_RAW + 'def status(k):\n    return (r.get(k) or b"").decode() == "done"\n'),
        # the construction is not in sight: an annotated parameter, a pool, **options
        Valid('from redis import Redis\ndef beta(r: Redis):\n    return r.get("beta") == "on"\n'),
        Valid('import redis\npool = redis.ConnectionPool(decode_responses=True)\n'
              'r = redis.Redis(connection_pool=pool)\nok = r.get("beta") == "on"\n'),
        Valid('import redis\nOPTIONS = {"decode_responses": True}\nr = redis.Redis(**OPTIONS)\n'
              'ok = r.get("beta") == "on"\n'),
        Valid('import redis\nr = redis.from_url("redis://localhost/0?decode_responses=True")\n'
              'ok = r.type("k") == "hash"\n'),
        # replies redis-py converts itself: integers, floats, booleans, "OK"
        Valid(_RAW + 'def check(k):\n    return r.incr(k) == "1" or r.ttl(k) == "-1"\n'),
        # a default of str type: `v or "0"` may be the str
        Valid(_RAW + 'def count(k):\n    v = r.get(k) or "0"\n    return v == "0"\n'),
        # a PubSub message's "type" is a str
        Valid(_RAW + 'def listen():\n    p = r.pubsub()\n    p.subscribe("c")\n'
              '    for m in p.listen():\n        if m["type"] == "message":\n'
              '            print(m["data"])\n'),
        # a helper that decodes its parameter first, or is written for both kinds of client
        Valid(_RAW + 'def is_hash(t):\n    t = t.decode()\n    return t == "hash"\n'
              'def both(t):\n    return t == "hash" or t == b"hash"\n'
              'def check(k):\n    return is_hash(r.type(k)) and both(r.type(k))\n'),
        # the helper is given a decoded value; a helper imported from elsewhere is not followed
        Valid(_RAW + 'from app.util import kind_of\ndef is_hash(t):\n    return t == "hash"\n'
              'def check(k):\n    return is_hash(r.type(k).decode()) or kind_of(r.type(k))\n'),
    ]
    INVALID = [
        Invalid(_RAW + 'def beta():\n    return r.get("feature:beta") == "on"\n',
                expected_fix=_RAW + 'def beta():\n    return r.get("feature:beta") == b"on"\n',
                unsafe=True),
        # self.r from __init__, the reply bound to a name, `in` a tuple of str
        Invalid('import redis\nclass Jobs:\n    def __init__(self, url):\n'
                '        self.r = redis.Redis.from_url(url)\n'
                '    def finished(self, jid):\n        state = self.r.hget(f"job:{jid}", "state")\n'
                '        return state in ("done", "failed")\n',
                expected_fix='import redis\nclass Jobs:\n    def __init__(self, url):\n'
                '        self.r = redis.Redis.from_url(url)\n'
                '    def finished(self, jid):\n        state = self.r.hget(f"job:{jid}", "state")\n'
                '        return state in (b"done", b"failed")\n', unsafe=True),
        # an alias, redis.asyncio, an f-string (no fix), a module constant (no fix)
        Invalid('import redis.asyncio as aioredis\nADMIN = "admin"\nr = aioredis.StrictRedis(host="h")\n'
                'async def allowed(uid):\n    role = await r.get(f"role:{uid}")\n'
                '    return role == ADMIN or role == f"owner:{uid}"\n', count=2),
        # a set membership, an unpacked BRPOP, a PubSub message field
        Invalid(_RAW + 'def work(uid):\n    if "admin" in r.smembers(f"roles:{uid}"):\n'
                '        return\n    _, job = r.brpop("jobs")\n    if job == "stop":\n'
                '        return\n    p = r.pubsub()\n    p.subscribe("control")\n'
                '    msg = p.get_message(timeout=1)\n    if msg and msg["data"] != "reload":\n'
                '        return\n',
                expected_fix=_RAW + 'def work(uid):\n    if b"admin" in r.smembers(f"roles:{uid}"):\n'
                '        return\n    _, job = r.brpop("jobs")\n    if job == b"stop":\n'
                '        return\n    p = r.pubsub()\n    p.subscribe("control")\n'
                '    msg = p.get_message(timeout=1)\n    if msg and msg["data"] != b"reload":\n'
                '        return\n', unsafe=True, count=3),
        # the reply handed to a helper of the module that compares its parameter (no fix:
        # other callers may pass the helper a str)
        Invalid(_RAW + 'def size(key, key_type):\n    if key_type == "string":\n'
                '        return r.strlen(key)\n    elif key_type == "list":\n'
                '        return r.llen(key)\n    return -1\n'
                'def scan():\n    for key in r.scan_iter():\n        kind = r.type(key)\n'
                '        print(key, size(key, key_type=kind))\n', count=2),
        Invalid('import redis\nclass Jobs:\n    def __init__(self):\n        self.r = redis.Redis()\n'
                '    def _final(self, state):\n        return state in ("done", "failed")\n'
                '    def finished(self, jid):\n'
                '        return self._final(self.r.hget(f"job:{jid}", "state"))\n'),
        # TYPE replies bytes too; a client from a factory function
        Invalid('import redis\ndef client():\n    return redis.Redis(host="cache", port=6379)\n'
                'def is_hash(k):\n    return client().type(k) == "hash"\n',
                expected_fix='import redis\ndef client():\n    return redis.Redis(host="cache", port=6379)\n'
                'def is_hash(k):\n    return client().type(k) == b"hash"\n', unsafe=True),
    ]

    def __init__(self, model, settings) -> None:
        super().__init__(model, settings)
        self._uses: Dict[int, ReplyUses] = {}
        self._constant = module_str_constants(model.facts.assigns)
        self._reported: Set[int] = set()
        # (helper, parameter, kind) -> its comparisons with a str: once per helper, however
        # many replies are handed to it.
        self._params: Dict[tuple, List[Mismatch]] = {}

    def _uses_of(self, function: cst.CSTNode) -> ReplyUses:
        uses = self._uses.get(id(function))
        if uses is None:
            uses = self._uses[id(function)] = ReplyUses(Bindings(function))
        return uses

    def on_redis_call(self, call: RedisCall) -> None:
        receiver = call.receiver
        if receiver.decode_responses is not False:
            return
        kind = reply_kind(call.command, call.node, receiver.role)
        if kind is None:
            return
        uses = self._uses_of(call.scope.node)
        values = reply_values(uses, call.node, kind)
        what = (f"a PubSub message from `{call.command}()` carries" if kind == MESSAGE_KIND
                else f"`{call.command}()` returns")
        what = what[0].upper() + what[1:]
        for mismatch in str_comparisons(uses, call.node, kind, self._constant, values):
            replacement = bytes_literal(mismatch.literal)
            fix = None
            if replacement is not None:
                fix = Fix("Compare with bytes", {mismatch.literal: replacement}, "unsafe")
            self._report(mismatch.node, self.message.format(what=what), fix)
        # Handed to a helper of this module that compares its parameter with a str. No fix
        # there: other callers may pass it a str.
        for helper, argument, passed in passed_on(uses, values):
            found = local_callee(self.model, helper)
            if found is None:
                continue
            callee, is_method = found
            param = parameter_of(callee, helper, is_method).get(id(argument))
            if param is None or callee.node is call.scope.node:
                continue
            memo = (id(callee.node), param, passed)
            mismatches = self._params.get(memo)
            if mismatches is None:
                mismatches = self._params[memo] = list(parameter_comparisons(
                    self._uses_of(callee.node), param, passed, self._constant))
            for mismatch in mismatches:
                source = f"`{call.command}()`, which returns" if kind != MESSAGE_KIND else \
                    f"a PubSub message from `{call.command}()`, which carries"
                self._report(mismatch.node, self.message.format(
                    what=f"`{param}` of `{callee.node.name.value}()` comes from {source}"),
                    None)

    def _report(self, node: cst.CSTNode, message: str, fix) -> None:
        if id(node) not in self._reported:
            self._reported.add(id(node))
            self.report(node, message, fix=fix)
