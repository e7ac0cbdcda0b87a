"""Client recognition, the heart of precision: which `.set()` is a Redis call and which is not."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from redislint.config import Settings
from redislint.linter import run_rules
from redislint.rule import Rule
from redislint.semantic.facts import collect


class _Probe(Rule):
    code, name, message = "RL0", "probe", "probe"
    seen: list = []

    def on_redis_call(self, call):
        _Probe.seen.append(call)


def calls(code: str, settings: Settings = Settings(), index=None):
    module = cst.parse_module(textwrap.dedent(code))
    _Probe.seen = []
    run_rules(module, collect(module), settings, [_Probe], index)
    return [(c.command, c.receiver.role) for c in _Probe.seen]


REDIS_CLIENTS = {
    "module": "import redis\nr = redis.Redis()\nr.set('k', 1)",
    "strict": "import redis\nr = redis.StrictRedis(host='localhost')\nr.set('k', 1)",
    "alias import": "import redis as rd\nr = rd.Redis()\nr.set('k', 1)",
    "from import alias": "from redis import Redis as R\nr = R()\nr.set('k', 1)",
    "from_url": "import redis\nr = redis.from_url('redis://')\nr.set('k', 1)",
    "Redis.from_url": "from redis import Redis\nr = Redis.from_url('redis://')\nr.set('k', 1)",
    "client module": "import redis.client\nr = redis.client.Redis()\nr.set('k', 1)",
    "asyncio": "import redis.asyncio as aioredis\nr = aioredis.from_url('redis://')\nasync def f():\n    await r.set('k', 1)",
    "asyncio class": "from redis.asyncio import Redis\nasync def f():\n    r = Redis()\n    await r.set('k', 1)",
    "cluster": "from redis.cluster import RedisCluster\nr = RedisCluster(host='h')\nr.set('k', 1)",
    "sentinel": "from redis.sentinel import Sentinel\ns = Sentinel([('h', 1)])\nm = s.master_for('x')\nm.set('k', 1)",
    "sentinel chained": "import redis\nm = redis.sentinel.Sentinel([]).master_for('x')\nm.set('k', 1)",
    "django_redis": "from django_redis import get_redis_connection\nr = get_redis_connection('default')\nr.set('k', 1)",
    "valkey": "import valkey\nr = valkey.Valkey()\nr.set('k', 1)",
    "inline": "import redis\nredis.Redis().set('k', 1)",
    "factory function": "import redis\ndef get_r():\n    return redis.Redis()\nget_r().set('k', 1)",
    "factory annotated": "import redis\ndef get_r() -> redis.Redis:\n    return make()\nget_r().set('k', 1)",
    "global assigned later": "import redis\ndef f():\n    r.set('k', 1)\nr = redis.Redis()",
    "global in init": "import redis\nr = None\ndef init():\n    global r\n    r = redis.Redis()\ndef f():\n    r.set('k', 1)",
    "param annotation": "import redis\ndef f(r: redis.Redis):\n    r.set('k', 1)",
    "optional annotation": "from typing import Optional\nfrom redis import Redis\ndef f(r: Optional[Redis] = None):\n    r.set('k', 1)",
    "pep604 annotation": "from redis import Redis\ndef f(r: 'Redis | None'):\n    r.set('k', 1)",
    "string annotation": "import redis\ndef f(r: 'redis.Redis'):\n    r.set('k', 1)",
    "self attr": "import redis\nclass A:\n    def get(self):\n        return self.r.set('k', 1)\n    def __init__(self):\n        self.r = redis.Redis()",
    "self attr from param": "import redis\nclass A:\n    def __init__(self, client: redis.Redis):\n        self._c = client\n    def go(self):\n        self._c.set('k', 1)",
    "class attr": "import redis\nclass A:\n    r = redis.Redis()\n    def go(self):\n        self.r.set('k', 1)",
    "class annotation": "import redis\nclass A:\n    r: redis.Redis\n    def go(self):\n        self.r.set('k', 1)",
    "property": "import redis\nclass A:\n    @property\n    def r(self):\n        return redis.Redis()\n    def go(self):\n        self.r.set('k', 1)",
    "inherited": "import redis\nclass B:\n    def __init__(self):\n        self.r = redis.Redis()\nclass A(B):\n    def go(self):\n        self.r.set('k', 1)",
    "or default": "import redis\ndef f(c=None):\n    r = c or redis.Redis()\n    r.set('k', 1)",
    "class attr constructor": "from redis import Redis\nclass S:\n    redis_client = Redis\n    def __init__(self):\n        self.conn = self.redis_client(host='h')\n    def go(self):\n        self.conn.set('k', 1)",
    "module constructor alias": "import redis\nClient = redis.StrictRedis\nr = Client()\nr.set('k', 1)",
    "typing cast": "import typing\nimport redis\ndef f(x):\n    r = typing.cast(redis.Redis, x)\n    r.set('k', 1)",
    "redis subclass self": "import redis\nclass Database(redis.Redis):\n    def go(self):\n        self.set('k', 1)",
    "redis subclass instance": "from redis import Redis\nclass Database(Redis):\n    pass\ndb = Database()\ndb.set('k', 1)",
    "try import": "try:\n    import redis\nexcept ImportError:\n    redis = None\nr = redis.Redis()\nr.set('k', 1)",
}


@pytest.mark.parametrize("code", REDIS_CLIENTS.values(), ids=REDIS_CLIENTS.keys())
def test_recognises_redis_clients(code):
    assert ("set", "client") in calls(code)


NOT_REDIS = {
    "dict": "d = {}\nd.setdefault('k', 1)\nd.get('k')",
    "django cache": "from django.core.cache import cache\ncache.set('k', 1, timeout=5)",
    "configparser": "import configparser\nc = configparser.ConfigParser()\nc.set('s', 'k', 'v')",
    "user class": "class Store:\n    def set(self, k, v): ...\ns = Store()\ns.set('k', 1)",
    "shadowing param": "import redis\nr = redis.Redis()\ndef f(r):\n    r.set('k', 1)",
    "shadowing local": "import redis\nr = redis.Redis()\ndef f():\n    r = {}\n    r.set('k', 1)",
    "loop variable": "import redis\nr = redis.Redis()\nfor r in []:\n    r.set('k', 1)",
    "unrelated redis-named var": "redis_config = {}\nredis_config.set('k', 1)",
    "reassigned in a sibling branch": "import redis\ndef f(cluster, url):\n    if url:\n        cluster = redis.from_url(url)\n    else:\n        cluster.set('k', 1)",
    "pool": "import redis\np = redis.ConnectionPool()\np.set('k', 1)",
}


@pytest.mark.parametrize("code", NOT_REDIS.values(), ids=NOT_REDIS.keys())
def test_other_objects_are_not_redis(code):
    assert calls(code) == []


def test_configured_client_names():
    code = "from app.ext import rds\nrds.set('k', 1)\nclass A:\n    def go(self):\n        self.cache_conn.set('k', 1)"
    assert calls(code) == []
    settings = Settings(clients=("rds", "cache_conn"))
    assert calls(code, settings) == [("set", "client"), ("set", "client")]
    dotted = Settings(clients=("app.ext.rds",))
    assert calls(code, dotted) == [("set", "client")]


@pytest.mark.parametrize("code, atomic", [
    ("p = r.pipeline()\np.set('k', 1)", True),
    ("p = r.pipeline(transaction=True)\np.set('k', 1)", True),
    ("p = r.pipeline(False)\np.set('k', 1)", False),
    ("p = r.pipeline(transaction=False)\np.set('k', 1)", False),
    ("p = r.pipeline(transaction=flag)\np.set('k', 1)", None),
    ("p = r.pipeline(transaction=False)\np.multi()\np.set('k', 1)", True),
    ("with r.pipeline() as p:\n    p.set('k', 1).expire('k', 5)", True),
    ("r.pipeline().set('k', 1).execute()", True),
    ("r.set('k', 1)", False),
])
def test_transaction_tracking(code, atomic):
    module = cst.parse_module("import redis\nr = redis.Redis()\ndef f():\n" + textwrap.indent(code, "    ") + "\n")
    _Probe.seen = []
    run_rules(module, collect(module), Settings(), [_Probe], None)
    sets = [c for c in _Probe.seen if c.command == "set"]
    assert sets and all(c.atomic is atomic for c in sets)


def test_cluster_pipeline_is_not_a_transaction():
    module = cst.parse_module("from redis.cluster import RedisCluster\nr = RedisCluster()\np = r.pipeline()\np.set('k', 1)\n")
    _Probe.seen = []
    run_rules(module, collect(module), Settings(), [_Probe], None)
    [call] = [c for c in _Probe.seen if c.command == "set"]
    assert call.atomic is False and call.receiver.cluster


@pytest.mark.parametrize("first, second", [
    ('f"user:{uid}"', '"user:" + uid'),
    ('"user:{}".format(uid)', '"user:%s" % uid'),
    ('key', 'f"user:{uid}"'),
    ('"user:" + str(uid)', 'f"user:{uid}"'),
])
def test_same_key_across_spellings(first, second):
    code = f"import redis\nr = redis.Redis()\ndef f(uid):\n    key = f'user:{{uid}}'\n    r.get({first})\n    r.get({second})\n"
    module = cst.parse_module(code)
    _Probe.seen = []
    run_rules(module, collect(module), Settings(), [_Probe], None)
    a, b = _Probe.seen
    assert a.key == b.key and a.key.template == "user:{}"


def test_different_keys_differ():
    code = "import redis\nr = redis.Redis()\ndef f(uid, oid):\n    r.get(f'user:{uid}')\n    r.get(f'user:{oid}')\n    r.get(f'order:{uid}')\n"
    module = cst.parse_module(code)
    _Probe.seen = []
    run_rules(module, collect(module), Settings(), [_Probe], None)
    keys = {c.key for c in _Probe.seen}
    assert len(keys) == 3
