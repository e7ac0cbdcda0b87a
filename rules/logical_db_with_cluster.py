from typing import List, Optional, Tuple

import libcst as cst

from redislint.rule import Invalid, Rule, Valid
from redislint.semantic.clients.cluster import imports_cluster, project_uses_cluster
from redislint.semantic.keys.constants import Hole, constant_value, definition, template_pieces
from redislint.semantic.clients.builds import constructed
from redislint.semantic.context.frameworks import in_test_code
from redislint.semantic.model import RedisCall, Scope
from redislint.semantic.names import callee_name
from redislint.semantic.context.security import HOLE, url_db

_CLUSTER_HEAD = 'from redis.cluster import RedisCluster\n'
# Plain client classes whose third positional parameter is the database (host, port, db).
_POSITIONAL_DB = frozenset({"redis.Redis", "redis.StrictRedis", "redis.client.Redis",
                            "redis.client.StrictRedis", "redis.asyncio.Redis",
                            "redis.asyncio.StrictRedis", "redis.asyncio.client.Redis",
                            "valkey.Valkey", "valkey.Redis", "valkey.StrictRedis"})


class LogicalDbWithCluster(Rule):
    """
    ## What it does
    Flags logical databases in code that runs against Redis Cluster:

    - any `db=` given to `RedisCluster(...)`, and a `RedisCluster.from_url` URL naming a
      database other than 0 (`/1`, `?db=1`): redis-py raises `RedisClusterException` at once;
    - `select(N)` on a cluster client;
    - `db=N` (N > 0, a literal), a URL path `/N` or `?db=N`, or `select(N)` on a plain client or
      connection pool, when the module also uses Redis Cluster (it builds a cluster client or
      imports `RedisCluster`) or when another module of the project exports a cluster client
      (through the project index).

    A database number that is not a literal (`db=settings.REDIS_DB`) is not flagged, nor is a
    plain client's database in test code (a test database of its own is common practice);
    `db=` on `RedisCluster` is flagged everywhere, since it always raises.

    ## Why is this bad?
    Redis Cluster has a single database, 0: `SELECT` with any other index is refused
    (`ERR SELECT is not allowed in cluster mode`) and redis-py's `RedisCluster` rejects the `db`
    argument outright. Code that keeps data apart by database number (sessions in db 1, cache
    in db 2) breaks, or silently mixes its data, the day it moves to a cluster; a project that
    already talks to a cluster somewhere is one configuration change away from that.

    ## Example
    ```python
    cache = redis.Redis(host="cache", db=2)
    events = RedisCluster(host="events", port=6379)
    ```

    ## Use instead:
    ```python
    cache = redis.Redis(host="cache")  # keys under "cache:..."
    events = RedisCluster(host="events", port=6379)
    ```
    Keep data apart with key prefixes (or separate servers). See `redislint patterns caching`:
    every pattern takes a `prefix`.

    ## Fix safety
    No automatic fix: removing `db=` moves the data the code reads and writes.
    """

    code = "RL803"
    name = "logical-db-with-cluster"
    cluster_message = ("{what} on a RedisCluster client fails, since a cluster has only "
                       "database 0 (redis-py raises, the server refuses SELECT): remove it and "
                       "keep data apart with key prefixes (see `redislint patterns caching`)")
    message = ("{what} selects a logical database, but this project also uses Redis Cluster, "
               "which has only database 0: keep data apart with key prefixes instead "
               "(see `redislint patterns caching`)")
    pattern = "caching"

    VALID = [
        Valid('import redis\nr = redis.Redis(host="cache", db=2)\n'),
        Valid(_CLUSTER_HEAD + 'import redis\nrc = RedisCluster(host="events", port=6379)\n'
              'r = redis.Redis(host="cache", db=0)\n'),
        Valid(_CLUSTER_HEAD + 'import os\nimport redis\nrc = RedisCluster(host="events", port=6379)\n'
              'r = redis.Redis.from_url(os.environ["CACHE_URL"])\n'),
        Valid(_CLUSTER_HEAD + 'rc = RedisCluster.from_url("redis://events:6379/0")\n'),
        Valid(_CLUSTER_HEAD + 'import redis\nrc = RedisCluster(host="events", port=6379)\n'
              'def cache(settings):\n    return redis.Redis(host="cache", db=settings.CACHE_DB)\n'),
        Valid('class Conn:\n    def select(self, n): ...\nConn().select(2)\n'),
        # a test's own database on a standalone test server
        Valid(_CLUSTER_HEAD + 'import redis\nrc = RedisCluster(host="events", port=6379)\n'
              'def test_sessions():\n    r = redis.Redis(db=15)\n    assert r.ping()\n'),
    ]
    INVALID = [
        Invalid(_CLUSTER_HEAD + 'rc = RedisCluster(host="localhost", port=7000, db=1)\n'),
        Invalid(_CLUSTER_HEAD + 'rc = RedisCluster.from_url("redis://localhost:7000/1")\n'),
        Invalid(_CLUSTER_HEAD + 'import redis\nrc = RedisCluster(host="localhost", port=7000)\n'
                'cache = redis.Redis(host="localhost", port=7000, db=2)\n'),
        Invalid(_CLUSTER_HEAD + 'import redis\nrc = RedisCluster(host="localhost", port=7000)\n'
                'sessions = redis.Redis.from_url("redis://localhost:7000/3")\n'
                'def switch():\n    sessions.select(4)\n', count=2),
        Invalid('import redis\nfrom redis.cluster import RedisCluster\n'
                'def is_cluster(c):\n    return isinstance(c, RedisCluster)\n'
                'pool = redis.ConnectionPool.from_url("redis://cache?db=5")\n'),
    ]

    def __init__(self, model, settings) -> None:
        super().__init__(model, settings)
        self._candidates: List[Tuple[cst.CSTNode, str]] = []
        self._cluster_seen = False

    def visit_Call(self, node: cst.Call) -> None:
        kind = constructed(self.model, node)
        if kind not in ("client", "pool"):
            return
        found = self.model.infer(node) if kind == "client" else None
        cluster = found is not None and found.cluster
        if cluster:
            self._cluster_seen = True
        for where, what, number in self._databases(node, cluster):
            if cluster:
                self.report(where, self.cluster_message.format(what=what))
            elif number is not None and number > 0 and not in_test_code(self.model):
                self._candidates.append((where, what))

    def on_redis_call(self, call: RedisCall) -> None:
        if call.receiver.cluster:
            self._cluster_seen = True
        if call.command != "select" or call.receiver.role != "client":
            return
        index = call.arg(0, "index")
        number = constant_value(self.model, index) if index is not None else None
        what = f"`select({number})`" if isinstance(number, int) else "`select()`"
        if call.receiver.cluster:
            self.report(call.node, self.cluster_message.format(what=what))
        elif isinstance(number, int) and number > 0 and not in_test_code(self.model, call.ancestors):
            self._candidates.append((call.node, what))

    def on_scope_exit(self, scope: Scope) -> None:
        if scope.kind != "module" or not self._candidates:
            return
        if self._cluster_seen or imports_cluster(self.model.facts) or \
                project_uses_cluster(self.model.inferer.index):
            for node, what in self._candidates:
                self.report(node, self.message.format(what=what))

    def _databases(self, node: cst.Call, cluster: bool
                   ) -> List[Tuple[cst.CSTNode, str, Optional[int]]]:
        """(node, description, database number or None) for each database the call names."""
        out: List[Tuple[cst.CSTNode, str, Optional[int]]] = []
        positional = [a.value for a in node.args if a.keyword is None and not a.star]
        db: Optional[cst.BaseExpression] = next(
            (a.value for a in node.args if a.keyword is not None and a.keyword.value == "db"), None)
        from_url = callee_name(node) == "from_url"
        if db is None and not from_url and not cluster and len(positional) >= 3 and \
                self.model.qualified_name(node.func) in _POSITIONAL_DB:
            db = positional[2]
        if db is not None:
            number = constant_value(self.model, db)
            if cluster or isinstance(number, int):
                shown = f"`db={number}`" if isinstance(number, int) else "`db=`"
                out.append((db, shown, number if isinstance(number, int) else None))
        url = positional[0] if from_url and positional else next(
            (a.value for a in node.args if a.keyword is not None and a.keyword.value == "url"), None)
        if from_url and url is not None:
            target, context = definition(self.model, url)
            pieces = template_pieces(self.model, target, context)
            if pieces is not None:
                text = "".join(HOLE if isinstance(p, Hole) else p for p in pieces)
                number = url_db(text)
                if number is not None and number > 0:
                    out.append((target, f"database {number} in the URL", number))
        return out
