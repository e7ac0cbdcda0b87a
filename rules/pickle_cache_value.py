from typing import Dict, List, Set

import libcst as cst

from redislint.rule import Invalid, Rule, Valid
from redislint.semantic.flow.results import ResultFlow
from redislint.semantic.context.frameworks import in_test_code
from redislint.semantic.model import Scope
from redislint.semantic.context.security import STORED_VALUE_READS, UNPICKLERS

_HEAD = 'import pickle\nimport redis\nr = redis.Redis()\n'
_VERIFIERS = frozenset({"hmac.compare_digest", "hmac.new", "hmac.digest", "secrets.compare_digest"})


class PickleCacheValue(Rule):
    """
    ## What it does
    Flags `pickle.loads` (also `pickle.load`, `pickle.Unpickler`, `_pickle`, `cPickle`) of a
    value read from Redis in the same function: `pickle.loads(r.get(k))`,
    `v = r.get(k); pickle.loads(v)`, `[pickle.loads(x) for x in r.mget(keys)]`,
    `pickle.loads(zlib.decompress(raw))`. Reads are the commands that return stored bytes
    (GET, HGET, MGET, LPOP, BRPOP, LRANGE, SMEMBERS, ZRANGE, XRANGE...) on a client, sync or
    `redis.asyncio` (`await`).

    Silent when the function checks an HMAC (`hmac.compare_digest`, `hmac.new`) before
    unpickling: signed bytes are the documented way to unpickle data from a shared store; and
    in test code (files under `tests/`, test functions and fixtures), which is not deployed.
    Values that reach `pickle.loads` through another function (a serializer class, a cache
    backend) are not followed.

    ## Why is this bad?
    Unpickling runs code: a pickle can call any function with any arguments (`os.system`).
    Whoever can write that key (another service sharing the Redis, a compromised or exposed
    instance, a key-injection bug elsewhere) gets code execution in every process that reads
    it. Redis is rarely as well guarded as the application servers: default installations
    have no password, and one leaked URL is enough.

    ## Example
    ```python
    raw = r.get(f"profile:{uid}")
    profile = pickle.loads(raw) if raw is not None else None
    ```

    ## Use instead:
    ```python
    raw = r.get(f"profile:{uid}")
    profile = json.loads(raw) if raw is not None else None
    ```
    Store data, not objects: JSON (or msgpack) can only ever produce data. See `redislint
    patterns caching`: every pattern stores JSON. If pickle is unavoidable, sign what you
    store (`hmac`) and verify before loading.

    ## Fix safety
    No automatic fix: the stored format changes, so existing entries must be migrated or
    expire first.
    """

    code = "RL701"
    name = "pickle-cache-value"
    message = ("unpickling a value read from Redis runs code chosen by anyone who can write that "
               "key: store JSON or another data-only format, or verify an HMAC first "
               "(see `redislint patterns caching`)")
    pattern = "caching"

    VALID = [
        Valid('import json\nimport redis\nr = redis.Redis()\ndef get(k):\n'
              '    raw = r.get(k)\n    return json.loads(raw) if raw is not None else None\n'),
        Valid(_HEAD + 'def put(k, v):\n    r.set(k, pickle.dumps(v), ex=60)\n'),
        Valid(_HEAD + 'def load(path):\n    with open(path, "rb") as f:\n'
              '        return pickle.loads(f.read())\n'),
        Valid('import pickle\ndef get(cache, k):\n    return pickle.loads(cache.get(k))\n'),
        Valid(_HEAD + 'import hmac, hashlib\nKEY = b"k"\ndef get(k):\n    raw = r.get(k)\n'
              '    sig, body = raw[:32], raw[32:]\n'
              '    if not hmac.compare_digest(sig, hmac.new(KEY, body, hashlib.sha256).digest()):\n'
              '        raise ValueError("bad signature")\n    return pickle.loads(body)\n'),
        # the value read is not what is unpickled
        Valid(_HEAD + 'def get(k, blob):\n    if r.get(k) is None:\n        return None\n'
              '    return pickle.loads(blob)\n'),
        # test code is not deployed
        Valid(_HEAD + 'def test_round_trip():\n    r.set("k", pickle.dumps(1))\n'
              '    assert pickle.loads(r.get("k")) == 1\n'),
    ]
    INVALID = [
        Invalid(_HEAD + 'def get(k):\n    return pickle.loads(r.get(k))\n'),
        Invalid(_HEAD + 'def get(uid):\n    raw = r.get(f"profile:{uid}")\n'
                '    return pickle.loads(raw) if raw is not None else None\n'),
        Invalid('import zlib\nfrom pickle import loads\nfrom redis.asyncio import Redis\n'
                'async def get(r: Redis, k):\n    raw = await r.hget("cache", k)\n'
                '    return loads(zlib.decompress(raw))\n'),
        Invalid(_HEAD + 'def get_many(keys):\n'
                '    return [pickle.loads(v) for v in r.mget(keys) if v is not None]\n'),
        Invalid('import pickle as pkl\nimport redis\nclass Jobs:\n    def __init__(self):\n'
                '        self.r = redis.Redis()\n    def next(self):\n'
                '        _, raw = self.r.brpop("jobs")\n        return pkl.loads(raw)\n'),
    ]

    def __init__(self, model, settings) -> None:
        super().__init__(model, settings)
        # scope node -> unpickling calls made directly in it
        self._unpicklers: Dict[int, List[cst.Call]] = {}
        self._verified: Set[int] = set()

    def visit_Call(self, node: cst.Call) -> None:
        name = self.model.qualified_name(node.func)
        if name is None:
            return
        scope = self.model.scope
        while scope.kind == "class" and scope.parent is not None:
            scope = scope.parent
        if name in UNPICKLERS and node.args and not in_test_code(self.model):
            self._unpicklers.setdefault(id(scope.node), []).append(node)
        elif name in _VERIFIERS:
            self._verified.add(id(scope.node))

    def on_scope_exit(self, scope: Scope) -> None:
        unpicklers = self._unpicklers.pop(id(scope.node), None)
        if not unpicklers or id(scope.node) in self._verified:
            return
        wanted = {id(call) for call in unpicklers}
        reported: Set[int] = set()
        for call in scope.calls:
            if call.command not in STORED_VALUE_READS or call.receiver.role != "client":
                continue
            for receiver in ResultFlow(scope.node, call.node).passed_to_call():
                if id(receiver) in wanted and id(receiver) not in reported:
                    reported.add(id(receiver))
                    self.report(receiver)
