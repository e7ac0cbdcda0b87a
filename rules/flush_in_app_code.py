from typing import Optional

from redislint.rule import Invalid, Rule, Valid
from redislint.semantic.context.frameworks import in_test_code, in_tooling
from redislint.semantic.model import RedisCall
from redislint.semantic.names import string_value

_FLUSHES = frozenset({"flushall", "flushdb"})


class FlushInAppCode(Rule):
    """
    ## What it does
    Flags `flushall()` / `flushdb()` (also spelt `execute_command("FLUSHALL")`) on a Redis
    client or pipeline in application code.

    Not flagged: test code (files under `tests/`, `test_*.py`, `*_test.py`, `conftest.py`,
    `test_*` functions, `setUp`/`tearDown`, pytest fixtures, `Test*` classes) and operator
    tooling (files under `scripts/`, `bin/`, `tools/`, `examples/`, `benchmarks/`, Django
    management commands, `manage.py`, `click`/`typer` commands, `if __name__ == "__main__":`
    blocks).

    ## Why is this bad?
    FLUSHDB deletes every key of the database and FLUSHALL every key of every database, with
    no undo. Redis is often shared: sessions, queues, rate limits and caches of other
    services live next to the ones this code means to clear. One call (a "clear cache" admin
    button, a feature flag left on, a code path reached in production) wipes them all, and a
    synchronous flush of a large dataset also blocks the server while it runs.

    ## Example
    ```python
    def clear_cache():
        r.flushdb()
    ```

    ## Use instead:
    ```python
    def clear_cache():
        for keys in batched(r.scan_iter(match="cache:*", count=1000), 1000):
            r.unlink(*keys)
    ```
    Delete only the keys this code owns (by prefix, or from a set that tracks them), with
    UNLINK so Redis frees memory in the background. See `redislint patterns caching`.

    ## Fix safety
    No automatic fix: which keys the code owns is the author's knowledge.
    """

    code = "RL505"
    name = "flush-in-app-code"
    message = ("`{command}` deletes every key of the {scope}, including data other code "
               "keeps there: delete only the keys this code owns (`scan_iter(match=prefix)` + "
               "`unlink`) (see `redislint patterns caching`)")
    fix_safety = None
    pattern = "caching"

    VALID = [
        Valid('import redis\nr = redis.Redis()\ndef test_counts():\n    r.flushdb()\n'
              '    assert r.incr("n") == 1\n'),
        Valid('import pytest\nimport redis\n@pytest.fixture\ndef client():\n'
              '    r = redis.Redis(db=15)\n    yield r\n    r.flushdb()\n'),
        Valid('import unittest\nimport redis\nclass CacheTests(unittest.TestCase):\n'
              '    def setUp(self):\n        self.r = redis.Redis()\n        self.r.flushall()\n'),
        Valid('import redis\nr = redis.Redis()\ndef clear_cache():\n'
              '    for key in r.scan_iter(match="cache:*", count=1000):\n        r.unlink(key)\n'),
        Valid('import redis\nclass Store:\n    def flushdb(self):\n        pass\n'
              'def reset(store: Store):\n    store.flushdb()\n'),
        Valid('import click\nimport redis\n@click.command()\ndef reset_dev():\n'
              '    redis.Redis().flushdb()\n'),
        Valid('import redis\nif __name__ == "__main__":\n    redis.Redis().flushall()\n'),
        Valid('import redis\ndef reset(conn):\n    conn.flushdb()\n'),
    ]
    INVALID = [
        Invalid('import redis\nr = redis.Redis()\ndef clear_cache():\n    r.flushdb()\n'),
        Invalid('import redis\nclass Cache:\n    def __init__(self, url):\n'
                '        self.r = redis.Redis.from_url(url)\n    def clear(self):\n'
                '        self.r.flushall(asynchronous=True)\n'),
        Invalid('from redis.asyncio import Redis\nasync def reset(r: Redis):\n'
                '    await r.flushdb()\n'),
        Invalid('import redis\nr = redis.Redis()\ndef wipe():\n'
                '    r.execute_command("FLUSHALL")\n'),
        Invalid('import redis\nr = redis.Redis()\ndef reset():\n    with r.pipeline() as p:\n'
                '        p.flushdb()\n        p.set("version", 2)\n        p.execute()\n'),
    ]

    def on_redis_call(self, call: RedisCall) -> None:
        if call.receiver.role not in ("client", "pipeline"):
            return
        command = self._flush(call)
        if command is None or in_test_code(self.model) or in_tooling(self.model):
            return
        scope = "server (all databases)" if command == "flushall" else "database"
        self.report(call.node, self.message.format(command=command, scope=scope))

    @staticmethod
    def _flush(call: RedisCall) -> Optional[str]:
        if call.command in _FLUSHES:
            return call.command
        if call.command == "execute_command":
            first = call.arg(0)
            name = string_value(first) if first is not None else None
            if name is not None and name.strip().lower() in _FLUSHES:
                return name.strip().lower()
        return None
