from typing import Dict, List, Set

import libcst as cst

from redislint.rule import Invalid, Rule, Valid
from redislint.semantic.flow.results import ResultFlow
from redislint.semantic.context.frameworks import in_test_code, is_migration_module
from redislint.semantic.model import Scope
from redislint.semantic.context.security import (
    STORED_VALUE_READS, is_unpickler, unpickler_attribute,
)

_HEAD = 'import pickle\nimport redis\nr = redis.Redis()\n'
_VERIFIERS = frozenset({"hmac.compare_digest", "hmac.new", "hmac.digest", "secrets.compare_digest"})
# Serialisers that write pickles again: re-encoding with them converts nothing.
_PICKLERS = frozenset({"pickle.dumps", "cPickle.dumps", "_pickle.dumps", "dill.dumps",
                       "cloudpickle.dumps", "pickle.dump"})


class PickleCacheValue(Rule):
    """
    ## What it does
    Flags `pickle.loads` (also `pickle.load`, `pickle.Unpickler`, `_pickle`, `cPickle`) of a
    value read from Redis in the same function: `pickle.loads(r.get(k))`,
    `v = r.get(k); pickle.loads(v)`, `[pickle.loads(x) for x in r.mget(keys)]`,
    `pickle.loads(zlib.decompress(raw))`. Reads are the commands that return stored bytes
    (GET, HGET, MGET, LPOP, BRPOP, LRANGE, SMEMBERS, ZRANGE, XRANGE...) on a client, sync or
    `redis.asyncio` (`await`).

    The unpickler may be reached through a project's compatibility module
    (`from .compat import cPickle`) or an attribute the class configures with one: every value
    stored in `self.deserialize` is an unpickler or a parameter defaulting to one
    (`def __init__(self, redis, deserialize=cPickle.loads)`): the default configuration
    unpickles what `self.deserialize(self.redis.get(k))` reads.

    Silent when the function checks an HMAC (`hmac.compare_digest`, `hmac.new`) before
    unpickling: signed bytes are the documented way to unpickle data from a shared store; in
    test code (files under `tests/`, test functions and fixtures), which is not deployed; and
    in a database migration (a Django migration, an Alembic revision) that re-encodes the
    unpickled value at once (`dumps(pickle.loads(value))`): converting the legacy pickles is
    the removal this rule asks for, it runs once per deployment, and unpickling them is the
    only way to read them. A migration that keeps the unpickled object is still flagged.
    Values that reach `pickle.loads` through another function (a serializer class, a cache
    backend) are not followed, nor are reads through a wrapper the client inference does not
    recognise as Redis.

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
        # the value unpickled comes from the ORM (`row.value`), not from the local `value`
        Valid(_HEAD + 'def convert(rows):\n    for row in rows:\n'
              '        row.value = json.dumps(pickle.loads(row.value.encode()))\n'
              '    value = r.get("config")\n    return value\n'),
        # a one-off migration that re-encodes the legacy pickles as JSON (Alembic revision)
        Valid(_HEAD + 'import json\nrevision = "0003"\ndown_revision = "0002"\n'
              'def upgrade():\n    for key in r.scan_iter("config:*"):\n'
              '        value = r.get(key)\n'
              '        r.set(key, json.dumps(pickle.loads(value)))\n'),
        # a configurable decoder whose default is data-only
        Valid('import json\nimport redis\nclass Store:\n'
              '    def __init__(self, decode=json.loads):\n        self.r = redis.Redis()\n'
              '        self.decode = decode\n    def get(self, k):\n'
              '        return self.decode(self.r.get(k))\n'),
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
        # a deserializer attribute whose default is an unpickler, imported through a compat module
        Invalid('import redis\nfrom app.compat import cPickle\nclass Session:\n'
                '    def __init__(self, redis, deserialize=cPickle.loads):\n'
                '        self.redis = redis\n        self.deserialize = deserialize\n'
                '    def load(self, sid):\n        persisted = self.redis.get(sid)\n'
                '        return self.deserialize(persisted)\n'
                'def make(url):\n    return Session(redis.Redis.from_url(url)).load("s")\n'),
        # a migration that keeps the unpickled object instead of converting it
        Invalid(_HEAD + 'revision = "0003"\ndown_revision = "0002"\n'
                'def upgrade():\n    settings = pickle.loads(r.get("settings"))\n'
                '    apply(settings)\n'),
    ]

    def __init__(self, model, settings) -> None:
        super().__init__(model, settings)
        # scope node -> unpickling calls made directly in it
        self._unpicklers: Dict[int, List[cst.Call]] = {}
        self._verified: Set[int] = set()

    def visit_Call(self, node: cst.Call) -> None:
        name = self.model.qualified_name(node.func)
        scope = self.model.scope
        while scope.kind == "class" and scope.parent is not None:
            scope = scope.parent
        unpickles = is_unpickler(name) or (
            name is None and unpickler_attribute(self.model, node.func))
        if unpickles and node.args and not in_test_code(self.model) and \
                not self._converted(node):
            self._unpicklers.setdefault(id(scope.node), []).append(node)
        elif name in _VERIFIERS:
            self._verified.add(id(scope.node))

    def _converted(self, node: cst.Call) -> bool:
        """A migration that re-encodes the legacy pickled value at once into another format
        (`dumps(pickle.loads(value))` in a Django / Alembic migration): the removal of
        pickle, run once per deployment, not a cache read."""
        ancestors = self.model.ancestors
        if len(ancestors) < 2 or not isinstance(ancestors[-1], cst.Arg) or \
                ancestors[-1].value is not node or not isinstance(ancestors[-2], cst.Call):
            return False
        outer = ancestors[-2]
        func = outer.func
        method = func.attr.value if isinstance(func, cst.Attribute) else \
            func.value if isinstance(func, cst.Name) else ""
        if not method.endswith("dumps") or self.model.qualified_name(func) in _PICKLERS:
            return False
        return is_migration_module(self.model)

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
