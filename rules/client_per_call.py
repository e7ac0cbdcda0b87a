from typing import Optional

import libcst as cst

from redislint.rule import Invalid, Rule, Valid
from redislint.semantic.clients.builds import constructed, fresh_factory, shares_pool
from redislint.semantic.context.frameworks import in_test_code, in_tooling, per_request
from redislint.semantic.flow.loops import (assigned_names, body_nodes, exits_early, is_bounded,
                                      iterable, mentions, targets)
from redislint.walk import iter_children

_WHAT = {"client": "Redis client", "pool": "connection pool", "sentinel": "Sentinel"}
# Statements a lazy initialisation stores the new object with.
_STORES = (cst.Assign, cst.AnnAssign, cst.AugAssign)
# Where a `while` loop's body builds a client only on some iterations: a reconnect.
_CONDITIONAL = (cst.If, cst.IfExp, cst.ExceptHandler, cst.ExceptStarHandler, cst.Match)
# What a connection's own inner loop may iterate: messages that arrive one at a time.
_STREAMS = frozenset({"listen", "get_message"})


class ClientPerCall(Rule):
    """
    ## What it does
    Flags a Redis client, connection pool or Sentinel built (`redis.Redis(...)`,
    `Redis.from_url(url)`, `redis.asyncio.Redis(...)`, `RedisCluster(...)`,
    `ConnectionPool(...)`, `ConnectionPool.from_url(url)`, `Sentinel(...)`,
    `sentinel.master_for(...)`) where it runs again and again:
    - directly in a function that runs per request, task or event: a route (`@app.route`,
      `@app.get`, `@router.post`...), a view (`@api_view`, `@login_required`, a function or
      method taking `request`), a request hook (`@app.before_request`,
      `@app.middleware("http")`), a task (`@shared_task`, `@app.task`, `@dramatiq.actor`,
      `@huey.task()`, rq's `@job`), a signal receiver;
    - in the body of a `for` loop, a comprehension or a `while` loop (its test included),
      when its arguments do not depend on the loop variable or on a name the body rebinds
      (one client per shard or URL is a set of clients, not a repetition).

    A call there to a function of the same module (or a method of the same class) that builds
    and returns a new one on every call (`def get_client(): return redis.Redis(...)`, not
    memoised) is flagged the same way, at the call.

    Not flagged: a client around an existing pool (`Redis(connection_pool=pool)`, which opens
    no connections of its own), a lazy initialisation that stores the client on an attribute
    or global under an `if` or `or` (`if self._client is None: self._client = Redis()`),
    cached factories (`@lru_cache`, `@cache`), module-level clients, loops that stop early
    (a retry: `for attempt in range(3): ... return client`, `while True: ... break`; a
    `raise` in an `except` block does not stop a loop early), a reconnecting `while` loop (the
    client is built under an `if` or in an `except` block, or the body runs a loop of its own
    over the connection: `while True: r = Redis(); for m in r.pubsub().listen(): ...` builds
    one per connection lost, not per message), test code, and operator tooling
    (`scripts/`, `examples/`, `benchmarks/`, CLI commands, `__main__` blocks), which runs
    once per invocation.

    ## Why is this bad?
    Each client owns a connection pool. A new one per request opens a new TCP connection
    (plus TLS and AUTH) for the first command and throws it away after, so every request pays
    the connection set-up, Redis sees a storm of short-lived connections (`connected_clients`
    and TIME_WAIT sockets pile up), and unclosed pools leak file descriptors until the
    process hits its limit.

    ## Example
    ```python
    @app.get("/profile/<uid>")
    def profile(uid):
        r = redis.Redis.from_url(REDIS_URL)
        return r.hgetall(f"user:{uid}")
    ```

    ## Use instead:
    ```python
    r = redis.Redis.from_url(REDIS_URL)  # once, at import or in the app factory

    @app.get("/profile/<uid>")
    def profile(uid):
        return r.hgetall(f"user:{uid}")
    ```
    The pattern classes in `redislint patterns caching` take one shared client in their
    constructor.

    ## Fix safety
    No automatic fix: where the shared client should live (module, app factory, dependency
    injection) and what options it needs is the author's decision.
    """

    code = "RL504"
    name = "client-per-call"
    message = ("a new {what} is built {where}, so each call opens fresh connections and none "
               "is reused: create it once at startup (module level or app factory) and share "
               "it (see `redislint patterns caching`)")
    fix_safety = None
    pattern = "caching"

    VALID = [
        Valid('import redis\nfrom flask import Flask\napp = Flask(__name__)\n_client = None\n'
              'def get_client():\n    global _client\n    if _client is None:\n'
              '        _client = redis.Redis(host="cache")\n    return _client\n'
              '@app.get("/hits")\ndef hits():\n    return str(get_client().incr("hits"))\n'),
        Valid('import functools\nimport redis\nfrom flask import Flask\napp = Flask(__name__)\n'
              '@functools.cache\ndef get_client():\n    return redis.Redis(host="cache")\n'
              '@app.get("/hits")\ndef hits():\n    return str(get_client().incr("hits"))\n'),
        Valid('import redis\nfrom flask import Flask\napp = Flask(__name__)\n'
              'r = redis.Redis.from_url("redis://localhost")\n@app.route("/count")\n'
              'def count():\n    return str(r.incr("hits"))\n'),
        Valid('import redis\nfrom flask import Flask\napp = Flask(__name__)\n'
              'pool = redis.ConnectionPool(host="localhost")\n@app.route("/count")\n'
              'def count():\n    r = redis.Redis(connection_pool=pool)\n'
              '    return str(r.incr("hits"))\n'),
        Valid('import functools\nimport redis\n@functools.lru_cache(maxsize=None)\n'
              'def client():\n    return redis.Redis()\ndef handler(request):\n'
              '    return client().get("k")\n'),
        Valid('import redis\nclass Store:\n    _client = None\n    def get(self, request):\n'
              '        if self._client is None:\n'
              '            self._client = redis.Redis(host="cache")\n'
              '        return self._client.get(request.path)\n'),
        Valid('import redis\ndef shards(urls):\n'
              '    return [redis.Redis.from_url(url) for url in urls]\n'),
        Valid('import redis\nfrom flask import Flask\napp = Flask(__name__)\nclass Conn:\n'
              '    def __init__(self, host):\n        self.host = host\n@app.route("/")\n'
              'def index():\n    c = Conn("db")\n    return "ok"\n'),
        Valid('import redis\ndef connect(url):\n    for attempt in range(5):\n'
              '        try:\n            c = redis.Redis.from_url(url)\n'
              '            c.ping()\n            return c\n        except redis.ConnectionError:\n'
              '            pass\n'),
        Valid('import redis\nfrom celery import shared_task\n'
              '_client = None\n@shared_task\ndef refresh():\n    global _client\n'
              '    _client = _client or redis.Redis()\n    _client.incr("runs")\n'),
        # while loops that build one client per connection, not per item: a retry that
        # stops, a reconnect after an error, a consumer whose connection runs its own loop
        Valid('import time\nimport redis\ndef connect(url):\n    while True:\n'
              '        try:\n            c = redis.Redis.from_url(url)\n            c.ping()\n'
              '            break\n        except redis.ConnectionError:\n'
              '            time.sleep(1)\n    return c\n'),
        Valid('import time\nimport redis\ndef consume(url, handle):\n    r = None\n'
              '    while True:\n        if r is None:\n'
              '            r = redis.Redis.from_url(url)\n        try:\n'
              '            handle(r.blpop("jobs", 5))\n'
              '        except redis.ConnectionError:\n            r = None\n'
              '            time.sleep(1)\n'),
        Valid('import time\nimport redis\ndef listen(url, handle):\n    while True:\n'
              '        try:\n            p = redis.Redis.from_url(url).pubsub()\n'
              '            p.subscribe("events")\n            for message in p.listen():\n'
              '                handle(message)\n        except redis.ConnectionError:\n'
              '            time.sleep(1)\n'),
    ]
    INVALID = [
        Invalid('import redis\nfrom flask import Flask\napp = Flask(__name__)\n'
                'def get_client():\n    client = redis.Redis(host="cache", socket_timeout=5)\n'
                '    return client\n@app.get("/hits")\ndef hits():\n'
                '    return str(get_client().incr("hits"))\n'),
        Invalid('import redis\nfrom flask import Flask\napp = Flask(__name__)\n'
                '@app.route("/count")\ndef count():\n'
                '    r = redis.Redis.from_url("redis://localhost")\n'
                '    return str(r.incr("hits"))\n'),
        Invalid('from fastapi import APIRouter\nfrom redis.asyncio import Redis\n'
                'router = APIRouter()\n@router.get("/items/{item_id}")\n'
                'async def item(item_id: str):\n    async with Redis(host="cache") as r:\n'
                '        return await r.get("item:" + item_id)\n'),
        Invalid('import redis\nfrom celery import shared_task\n@shared_task\n'
                'def refresh(user_id):\n    pool = redis.ConnectionPool.from_url("redis://cache")\n'
                '    redis.Redis(connection_pool=pool).delete(f"user:{user_id}")\n'),
        Invalid('import redis\ndef profile(request, uid):\n    r = redis.StrictRedis()\n'
                '    return r.hgetall("user:%s" % uid)\n'),
        Invalid('import redis\nclass Importer:\n    def __init__(self, url):\n'
                '        self.url = url\n    def run(self, rows):\n        for row in rows:\n'
                '            r = redis.Redis.from_url(self.url)\n'
                '            r.set("row:" + row.id, row.data, ex=60)\n'),
        Invalid('import redis\nfrom flask import Flask, g\napp = Flask(__name__)\n'
                '@app.before_request\ndef connect():\n'
                '    g.redis = redis.Redis(host="cache", socket_timeout=5)\n'),
        Invalid('from redis import Redis\nfrom rest_framework.decorators import api_view\n'
                '@api_view(["GET"])\ndef stats(req):\n'
                '    return Redis(host="cache", decode_responses=True).get("stats")\n'),
        # a while loop builds one per iteration too (a raise in an except block is no exit)
        Invalid('import queue\nimport redis\ndef work(jobs: queue.Queue):\n    while True:\n'
                '        job = jobs.get()\n        r = redis.Redis(host="cache")\n'
                '        try:\n            r.rpush("done", job)\n'
                '        except redis.RedisError as e:\n'
                '            raise RuntimeError(job) from e\n'),
        Invalid('import time\nimport redis\ndef poll(url, handle):\n'
                '    while not handle.stopped:\n'
                '        handle(redis.Redis.from_url(url).get("status"))\n'
                '        time.sleep(5)\n'),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        kind = constructed(self.model, node)
        if kind == "client" and shares_pool(node):
            return
        if kind is not None:
            what = _WHAT[kind]
        else:
            factory = fresh_factory(self.model, node)
            if factory is None:
                return
            what = f"{_WHAT[factory[0]]} (by `{factory[1]}()`)"
        where = self._where(node)  # after the cheap checks: most calls construct nothing
        if where is None:
            return
        if self._lazy(node) or in_test_code(self.model) or in_tooling(self.model):
            return
        self.report(node, self.message.format(what=what, where=where))

    def _where(self, node: cst.Call) -> Optional[str]:
        loop = self.model.loop_of(node)
        if loop is not None and not exits_early(loop) and not is_bounded(iterable(loop)) \
                and not mentions(node, targets(loop) | assigned_names(loop)) \
                and not (isinstance(loop, cst.While) and self._reconnects(loop)):
            return "on every iteration of this loop"
        reason = per_request(self.model.scope.function)
        return f"each time this {reason} runs" if reason else None

    def _reconnects(self, loop: cst.While) -> bool:
        """A `while` loop that builds the client only on some iterations (under an `if`, in an
        `except` block: after a connection was lost), or that runs a loop of its own over the
        connection (`for message in pubsub.listen()`, an inner `while`): one client per
        connection, not per item."""
        inside = False
        for parent in self.model.ancestors:
            if parent is loop:
                inside = True
            elif inside and isinstance(parent, _CONDITIONAL):
                return True
        for node in body_nodes(loop):
            if isinstance(node, cst.While):
                return True
            if isinstance(node, cst.For) and isinstance(node.iter, cst.Call) and \
                    isinstance(node.iter.func, cst.Attribute) and \
                    node.iter.func.attr.value in _STREAMS:
                return True
        return False

    def _lazy(self, node: cst.Call) -> bool:
        """`if self._c is None: self._c = Redis()`, `_c = _c or Redis()`: built once, kept."""
        chain = self.model.ancestors
        stored = None
        for parent in reversed(chain):
            if isinstance(parent, cst.BooleanOperation) and isinstance(parent.operator, cst.Or):
                return True
            if isinstance(parent, _STORES):
                stored = parent
                break
            if isinstance(parent, (cst.BaseSuite, cst.FunctionDef)):
                return False
        if stored is None:
            return False
        targets_ = [t.target for t in stored.targets] if isinstance(stored, cst.Assign) \
            else [stored.target]
        kept = any(isinstance(t, (cst.Attribute, cst.Subscript)) or (
            isinstance(t, cst.Name) and self._is_global(t.value)) for t in targets_)
        return kept and any(isinstance(p, cst.If) for p in chain)

    def _is_global(self, name: str) -> bool:
        function = self.model.scope.function
        stack = [function.body] if isinstance(function, cst.FunctionDef) else []
        while stack:
            node = stack.pop()
            if isinstance(node, cst.Global) and any(n.name.value == name for n in node.names):
                return True
            if not isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
                stack.extend(iter_children(node))
        return False
