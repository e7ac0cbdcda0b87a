import libcst as cst

from redislint.rule import Invalid, Rule, Valid
from redislint.semantic.clients.options import ABSENT, option
from redislint.semantic.context.frameworks import in_test_code, in_tooling
from redislint.semantic.names import dotted
from redislint.semantic.redispy import CONSTRUCTORS, POOL_CONSTRUCTORS
from redislint.semantic.redispy_version import targeted

# redis-py 8.0.0 made `socket_timeout` (and `socket_connect_timeout`) default to 5 seconds
# (`DEFAULT_SOCKET_TIMEOUT = 5` in redis/_defaults.py, "Updates in default connection and retry
# settings", #4082); 7.4 and every earlier release default both to None: no timeout at all.
_DEFAULT_TIMEOUT_SINCE = (8, 0, 0)
_OLD = {"redis-py-version": "7.4"}


class NoSocketTimeout(Rule):
    """
    ## What it does
    Flags a redis-py client or connection pool constructed without `socket_timeout`
    (`redis.Redis(...)`, `Redis.from_url(url)`, `redis.asyncio.Redis(...)`, `RedisCluster(...)`,
    `ConnectionPool(...)`), when the project runs a redis-py older than 8.0, whose default is
    no timeout at all.

    Which redis-py the project runs cannot be read from the code, so the rule uses, in order:
    the `redis-py-version` setting (`[tool.redislint] redis-py-version = "7.4"`), the redis-py
    installed next to redislint, and else assumes 7.4 (redislint in an isolated pre-commit or
    pipx environment sees no redis-py). On redis-py 8.0 or later it is silent.

    Not flagged: an explicit `socket_timeout=` of any value (`None` included: a deliberate
    choice, say for a blocking consumer), `socket_timeout=` in a literal `from_url` query
    string, a client given a `connection_pool=` (the pool is checked where it is built), and
    calls with `**kwargs` or more positional arguments than host/port/db/password; test code,
    scripts and CLI commands (`redislint.semantic.context.frameworks`), where a hang is seen at once.

    ## Why is this bad?
    With no socket timeout every command waits for its reply forever. A Redis server that
    stalls (a long `KEYS`, a fork on a big dataset, a failover) or a network path that silently
    drops packets (a NAT or load balancer forgetting the connection) hangs every worker thread
    that touches Redis, instead of failing fast into the fallback the code already has for
    `ConnectionError`. redis-py 8.0 changed the default to 5 seconds for this reason.

    ## Example
    ```python
    r = redis.Redis(host="cache")
    ```

    ## Use instead:
    ```python
    r = redis.Redis(host="cache", socket_timeout=2, socket_connect_timeout=2)
    ```
    Keep the timeout above the longest blocking command the client sends (`brpop(q,
    timeout=5)` needs more than 5 seconds), or give blocking consumers their own client. See
    `redislint patterns caching`: a cache that cannot answer in time should count as a miss.

    ## Fix safety
    No automatic fix: the right timeout depends on the commands the client sends.
    """

    code = "RL602"
    name = "no-socket-timeout"
    message = ("`{what}` has no `socket_timeout`, and before redis-py 8.0 that means a command "
               "waits forever when Redis or the network stalls: pass `socket_timeout=` in "
               "seconds (see `redislint patterns caching`)")
    pattern = "caching"
    default_enabled = False

    VALID = [
        Valid('import redis\nr = redis.Redis(host="cache", socket_timeout=2)\n', _OLD),
        Valid('import redis\nr = redis.from_url("redis://cache:6379/0?socket_timeout=2")\n', _OLD),
        # the pool carries the options; an explicit None is a decision
        Valid('import redis\npool = redis.ConnectionPool(host="cache", socket_timeout=2)\n'
              'r = redis.Redis(connection_pool=pool)\n'
              'consumer = redis.Redis(host="cache", socket_timeout=None)\n', _OLD),
        Valid('import redis\ndef make(**options):\n    return redis.Redis(**options)\n', _OLD),
        # redis-py 8.0 and later default to 5 seconds
        Valid('import redis\nr = redis.Redis(host="cache")\n', {"redis-py-version": "8.0"}),
        # not a redis-py constructor
        Valid('import django_redis\nr = django_redis.get_redis_connection("default")\n', _OLD),
        # a test fixture and a script entry point
        Valid('import pytest\nimport redis\n@pytest.fixture\ndef r():\n    return redis.Redis()\n'
              'if __name__ == "__main__":\n    redis.Redis().flushdb()\n', _OLD),
    ]
    INVALID = [
        Invalid('import redis\nr = redis.Redis(host="cache")\n', settings=_OLD),
        # self.r in __init__, from_url with an environment URL
        Invalid('import os\nfrom redis import Redis\nclass Store:\n    def __init__(self):\n'
                '        self.r = Redis.from_url(os.environ["REDIS_URL"])\n',
                settings={"redis-py-version": "5.0"}),
        # aliases: an asyncio client, a pool, a cluster
        Invalid('import redis.asyncio as aredis\nfrom redis.cluster import RedisCluster as RC\n'
                'r = aredis.Redis()\npool = aredis.ConnectionPool.from_url("redis://cache")\n'
                'rc = RC(host="node1", port=7000)\n', count=3, settings=_OLD),
        # a pre-release of 8.0 still had no default
        Invalid('import redis\nr = redis.StrictRedis("cache", 6379, 0)\n',
                settings={"redis-py-version": "8.0.0b2"}),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        if targeted(self.settings) >= _DEFAULT_TIMEOUT_SINCE:
            return
        qual = self.model.qualified_name(node.func)
        if qual is None:
            return
        made = CONSTRUCTORS.get(qual)
        if made is None and qual not in POOL_CONSTRUCTORS:
            return
        if qual.startswith("django_redis."):
            return
        if in_test_code(self.model) or in_tooling(self.model):
            return
        cluster = made is not None and made.cluster
        state, _ = option(node, "socket_timeout", qual, cluster)
        if state == ABSENT:
            self.report(node, self.message.format(what=f"{dotted(node.func)}(...)"))
