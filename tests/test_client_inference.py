"""The project-wide client inference, shape by shape: how real code hands clients around.

Each case is a small project (module name -> code); the calls seen in one module are checked:
which commands are recognised as Redis calls, and how sure the engine is (proven / inferred /
probable). Near-misses (a dict, Django's cache, a class with its own methods...) stay silent.
"""

from __future__ import annotations

import textwrap
from typing import Dict, List, Tuple

import libcst as cst
import pytest

from redislint.config import Settings
from redislint.linter import run_rules
from redislint.project import ProjectIndex
from redislint.rule import Rule
from redislint.semantic.facts import collect
from redislint.worker import summarize


class _Probe(Rule):
    code, name, message = "RL0", "probe", "probe"
    seen: list = []

    def on_redis_call(self, call):
        _Probe.seen.append(call)


def project_calls(files: Dict[str, str], target: str, settings: Settings = Settings(),
                  ) -> List[Tuple[str, str, str]]:
    """(command, role, evidence) of the Redis calls in module `target` of the project."""
    parsed = {}
    index = ProjectIndex(client_paths=frozenset(n for n in settings.clients if "." in n))
    for name, code in files.items():
        module = cst.parse_module(textwrap.dedent(code).lstrip("\n"))
        is_package = name.endswith(".__init__")
        module_name = name[: -len(".__init__")] if is_package else name
        facts = collect(module, module_name, is_package)
        parsed[name] = (module, facts)
        index.add(module_name, summarize(module, facts, settings.clients))
    module, facts = parsed[target]
    _Probe.seen = []
    run_rules(module, facts, settings, [_Probe], index.for_workers())
    return [(c.command, c.receiver.role, c.receiver.evidence) for c in _Probe.seen]


SHAPES = {
    # -- values that flow in --------------------------------------------------------------
    "positional argument": ({
        "app.store": "def save(conn, uid):\n    conn.set(uid, 1)\n",
        "app.main": "import redis\nfrom app.store import save\nsave(redis.Redis(), 1)\n",
    }, "app.store", [("set", "client", "inferred")]),
    "keyword argument": ({
        "app.store": "def save(uid, conn=None):\n    conn.set(uid, 1)\n",
        "app.main": "import redis\nfrom app import store\nstore.save(1, conn=redis.Redis())\n",
    }, "app.store", [("set", "client", "inferred")]),
    "constructor and attribute": ({
        "app.svc": """
            class Service:
                def __init__(self, conn):
                    self.conn = conn
                def go(self):
                    self.conn.incr("hits")
        """,
        "app.main": "import redis\nfrom app.svc import Service\nService(redis.Redis()).go()\n",
    }, "app.svc", [("incr", "client", "inferred")]),
    "chained attributes": ({
        "app.svc": """
            class Service:
                def __init__(self, client):
                    self._read = self._write = client
                def go(self):
                    self._read.get("a")
                    self._write.set("a", 1)
        """,
        "app.main": "import redis\nfrom app.svc import Service\ns = Service(client=redis.Redis())\n",
    }, "app.svc", [("get", "client", "inferred"), ("set", "client", "inferred")]),
    "subclass methods see the attribute": ({
        "app.base": """
            class Base:
                def __init__(self, conn):
                    self.conn = conn
        """,
        "app.child": """
            from app.base import Base
            class Child(Base):
                def go(self):
                    self.conn.hset("h", "f", 1)
        """,
        "app.main": "import redis\nfrom app.child import Child\nChild(redis.Redis())\n",
    }, "app.child", [("hset", "client", "inferred")]),
    "cls() in a classmethod": ({
        "app.svc": """
            import redis
            class Service:
                def __init__(self, conn):
                    self.conn = conn
                @classmethod
                def from_env(cls):
                    return cls(redis.Redis())
                def go(self):
                    self.conn.incr("n")
        """,
    }, "app.svc", [("incr", "client", "inferred")]),
    "super().__init__(client)": ({
        "app.svc": """
            import redis
            class Base:
                def __init__(self, conn):
                    self.conn = conn
            class Child(Base):
                def __init__(self):
                    super().__init__(redis.Redis())
                def go(self):
                    self.conn.incr("n")
        """,
    }, "app.svc", [("incr", "client", "inferred")]),
    "a client subclass passing self": ({
        "app.db": """
            from redis import Redis
            class Cache:
                def __init__(self, db):
                    self.db = db
                def bump(self, k):
                    self.db.incr(k)
            class Database(Redis):
                def cache(self):
                    return Cache(self)
        """,
    }, "app.db", [("incr", "client", "proven")]),
    "a function returning its parameter": ({
        "app.util": "def same(conn):\n    return conn\n",
        "app.main": "import redis\nfrom app.util import same\nsame(redis.Redis()).set('k', 1)\n",
    }, "app.main", [("set", "client", "inferred")]),
    "a base class calling a method a subclass overrides": ({
        "app.brokers": """
            class Broker:
                def __init__(self):
                    self.connection = self.get_connection()
                @staticmethod
                def get_connection():
                    return None
        """,
        "app.redis_broker": """
            import redis
            from app.brokers import Broker
            class RedisBroker(Broker):
                @staticmethod
                def get_connection():
                    return redis.Redis()
                def stats(self):
                    return self.connection.keys("stat:*")
        """,
    }, "app.redis_broker", [("keys", "client", "proven")]),
    # -- wrappers and facades ---------------------------------------------------------------
    "forwarding wrapper": ({
        "app.wrap": """
            import redis
            class Counter:
                def __init__(self, prefix):
                    self._r = redis.Redis()
                    self._p = prefix
                def incr(self, k):
                    return self._r.incr(self._p + k)
                def expire(self, k, t):
                    return self._r.expire(self._p + k, t)
                def report(self, k):
                    return "n=%s" % self._r.get(k)
        """,
        "app.main": """
            from app.wrap import Counter
            def hit(c: Counter, k):
                c.incr(k)
                c.expire(k, 60)
                c.report(k)
        """,
    }, "app.main", [("incr", "client", "inferred"), ("expire", "client", "inferred")]),
    "a wrapper that adds its own TTL is not a forwarder": ({
        "app.wrap": """
            import redis
            class Cache:
                def __init__(self):
                    self._r = redis.Redis()
                def set(self, k, v):
                    return self._r.set(k, v, ex=60)
        """,
        "app.main": "from app.wrap import Cache\nCache().set('k', 1)\n",
    }, "app.main", []),
    "a __getattr__ proxy forwards everything": ({
        "app.wrap": """
            import redis
            class Proxy:
                def __init__(self):
                    self._redis = redis.Redis()
                def __getattr__(self, name):
                    return getattr(self._redis, name)
        """,
        "app.main": "from app.wrap import Proxy\np = Proxy()\np.keys('*')\n",
    }, "app.main", [("keys", "client", "inferred")]),
    "a client subclass through an alias, across modules": ({
        "app.base": """
            import os
            from redis import Redis, StrictRedis
            if os.environ.get("STRICT"):
                Base = StrictRedis
            else:
                Base = Redis
            class App(Base):
                pass
        """,
        "app.main": """
            from typing import cast
            from app.base import App
            def f(x, y: App):
                cast(App, x).set("a", 1)
                y.get("b")
        """,
    }, "app.main", [("set", "client", "proven"), ("get", "client", "proven")]),
    # -- factories we cannot read the body of -----------------------------------------------
    "a return annotation through a type alias": ({
        "app.types": """
            from typing import Union
            from typing_extensions import TypeAlias
            from redis import Redis
            from redis.cluster import RedisCluster
            AnyRedis: TypeAlias = Union[Redis, RedisCluster]
        """,
        "app.main": """
            from typing import Optional
            from app.types import AnyRedis
            def make() -> Optional[AnyRedis]:
                return build_somehow()
            make().set("k", 1)
        """,
    }, "app.main", [("set", "client", "proven")]),
    "a factory choosing its class from a default": ({
        "app.factory": """
            import redis
            def build(**kwargs):
                cls = kwargs.pop("client_class", redis.StrictRedis)
                return cls(**kwargs)
        """,
        "app.main": "from app.factory import build\nbuild(host='h').lpush('q', 1)\n",
    }, "app.main", [("lpush", "client", "proven")]),
    "function aliases and re-exports": ({
        "app.conn": """
            import redis
            def build_client_from_config(cfg):
                return redis.Redis(**cfg)
            make_client = build_client_from_config
        """,
        "app.__init__": "from app.conn import make_client\n",
        "app.main": "from app import make_client\nmake_client({}).zadd('z', {'a': 1})\n",
    }, "app.main", [("zadd", "client", "proven")]),
    # -- where clients live -----------------------------------------------------------------
    "config class attributes": ({
        "app.config": """
            import redis
            class Config:
                redis_client = redis.Redis()
            def get_config() -> Config:
                return load()
        """,
        "app.main": """
            from app.config import Config, get_config
            Config.redis_client.set("a", 1)
            Config().redis_client.set("b", 1)
            get_config().redis_client.set("c", 1)
        """,
    }, "app.main", [("set", "client", "proven")] * 3),
    "lazy proxies of a factory": ({
        "app.ext": """
            import redis
            from django.utils.functional import SimpleLazyObject
            from werkzeug.local import LocalProxy
            def _make():
                return redis.Redis()
            lazy = SimpleLazyObject(_make)
            proxy = LocalProxy(lambda: _make())
            @LazyObject
            def decorated():
                return redis.Redis()
        """,
        "app.main": """
            from app.ext import lazy, proxy, decorated
            lazy.set("a", 1)
            proxy.set("b", 1)
            decorated.set("c", 1)
        """,
    }, "app.main", [("set", "client", "proven")] * 3),
    "containers whose values are clients": ({
        "app.pool": """
            import redis
            class Pool:
                def __init__(self, urls):
                    self._servers = {}
                    for name, url in urls.items():
                        self._servers[name] = redis.Redis.from_url(url)
                    self._all = [redis.Redis(host=h) for h in urls]
                def flush(self):
                    for client in self._servers.values():
                        client.expire("k", 5)
                    for name, client in self._servers.items():
                        client.persist("k")
                    for client in self._all:
                        client.ttl("k")
                    self._servers["a"].get("k")
        """,
    }, "app.pool", [("expire", "client", "proven"), ("persist", "client", "proven"),
                    ("ttl", "client", "proven"), ("get", "client", "proven")]),
    "a @contextmanager that yields one": ({
        "app.svc": """
            import contextlib
            import redis
            class Service:
                @contextlib.contextmanager
                def connection(self):
                    client = redis.Redis()
                    try:
                        yield client
                    finally:
                        client.close()
                def go(self):
                    with self.connection() as client:
                        client.set("k", 1)
        """,
    }, "app.svc", [("close", "client", "proven"), ("set", "client", "proven")]),
    "the module object held at run time": ({
        "app.dyn": """
            import importlib
            from types import ModuleType
            class Backend:
                def __init__(self, module: ModuleType):
                    self._redis = importlib.import_module("redis")
                    self._mod = module
                def go(self):
                    self._redis.asyncio.RedisCluster(host="h").set("a", 1)
                    self._mod.Redis().set("b", 1)
        """,
        "app.main": "import redis\nfrom app.dyn import Backend\nBackend(redis)\n",
    }, "app.dyn", [("set", "client", "proven"), ("set", "client", "proven")]),
    "methods that hand out clients": ({
        "app.cl": """
            from redis.cluster import RedisCluster
            from redis.sentinel import Sentinel
            from redis import Redis, ConnectionPool
            rc = RedisCluster(host="h")
            def go(node):
                rc.get_redis_connection(node).info()
                rc.get_node("h", 1).redis_connection.ping()
                Sentinel([("h", 1)]).slave_for("m").get("k")
                Redis.from_pool(ConnectionPool()).get("k")
        """,
    }, "app.cl", [("info", "client", "proven"), ("get_redis_connection", "client", "proven"),
                  ("ping", "client", "proven"), ("get_node", "client", "proven"),
                  ("get", "client", "proven"), ("get", "client", "proven")]),
    # -- the whole constructor table --------------------------------------------------------
    "valkey, valkey.asyncio and aioredis 2": ({
        "app.v": """
            import valkey
            import valkey.asyncio
            import aioredis
            from valkey.cluster import ValkeyCluster
            valkey.StrictValkey().set("a", 1)
            ValkeyCluster(host="h").set("b", 1)
            async def f():
                await valkey.asyncio.Valkey().set("c", 1)
                await aioredis.from_url("redis://").set("d", 1)
        """,
    }, "app.v", [("set", "client", "proven")] * 4),
    "raw commands sent by name": ({
        "app.raw": """
            import redis
            r = redis.Redis()
            r.execute_command("BRPOP", "jobs", 0)
            r.execute_command("CLIENT", "SETNAME", "me")
            r.send_command("KEYS", "*")
        """,
    }, "app.raw", [("brpop", "client", "proven"), ("client_setname", "client", "proven"),
                   ("keys", "client", "proven")]),
    # -- usage evidence, last -----------------------------------------------------------------
    "usage evidence: a parameter sent two Redis-only commands": ({
        "app.book": """
            def vote(conn, user, article):
                conn.sadd("voted:" + article, user)
                conn.zincrby("score:", article, 432)
                conn.get("x")
        """,
    }, "app.book", [("sadd", "client", "probable"), ("zincrby", "client", "probable"),
                    ("get", "client", "probable")]),
    "usage evidence: the module's convention for its client parameter": ({
        "app.book": """
            def vote(conn, user, article):
                conn.sadd("voted:" + article, user)
                conn.zincrby("score:", article, 432)
            def post(conn, user):
                conn.hset("article:1", "poster", user)
                conn.expire("article:1", 60)
            def worker(conn, queue):
                return conn.blpop([queue], 30)
            def other(client, queue):
                return client.blpop([queue], 30)
        """,
    }, "app.book", [("sadd", "client", "probable"), ("zincrby", "client", "probable"),
                    ("hset", "client", "probable"), ("expire", "client", "probable"),
                    ("blpop", "client", "probable")]),
    "usage evidence: a self attribute and a pipeline named like one": ({
        "app.w": """
            class Worker:
                def __init__(self, conn):
                    self.conn = conn
                def push(self, k):
                    self.conn.lpush(k, 1)
                def pop(self, k):
                    return self.conn.brpop(k)
                def both(self, k):
                    pipe = self.conn.pipeline()
                    pipe.lpush(k, 1)
                    pipe.expire(k, 5)
                    pipe.execute()
        """,
    }, "app.w", [("lpush", "client", "probable"), ("brpop", "client", "probable"),
                 ("pipeline", "client", "probable"), ("lpush", "pipeline", "probable"), ("expire", "pipeline", "probable"),
                 ("execute", "pipeline", "probable")]),
}


@pytest.mark.parametrize("files, target, expected", SHAPES.values(), ids=SHAPES.keys())
def test_client_shapes(files, target, expected):
    assert project_calls(files, target) == expected


NOT_CLIENTS = {
    "one Redis-only command is not evidence": {
        "app.m": "def f(conn):\n    conn.hset('h', 'f', 1)\n    conn.get('x')\n",
    },
    "a dict, whatever its methods": {
        "app.m": "def f():\n    d = {}\n    d.setdefault('a', 1)\n    d.pop('a')\n    d.keys()\n",
    },
    "Django's cache": {
        "app.m": """
            from django.core.cache import cache, caches
            cache.set("k", 1, timeout=5)
            caches["default"].incr("n")
            caches["default"].expire("n", 5)
            caches["default"].ttl("n")
        """,
    },
    "a memcache client": {
        "app.m": """
            import pymemcache
            mc = pymemcache.Client(("h", 1))
            mc.set("k", 1)
            mc.incr("n", 1)
        """,
    },
    "a Prometheus metric": {
        "app.m": """
            from prometheus_client import Counter
            hits = Counter("hits", "doc")
            hits.inc()
            hits.labels("a").inc()
        """,
    },
    "a project class with its own methods": {
        "app.m": """
            class Store:
                def hset(self, k, f, v): ...
                def zadd(self, k, m): ...
            def f(s):
                s.hset("h", "f", 1)
                s.zadd("z", {})
            f(Store())
        """,
    },
    "a project class passed in, then used": {
        "app.m": """
            class Queue:
                def lpush(self, *a): ...
                def brpop(self, *a): ...
            class Worker:
                def __init__(self, q):
                    self.q = q
                def go(self):
                    self.q.lpush("a", 1)
                    self.q.brpop("a")
            Worker(Queue())
        """,
    },
    "a parameter the callers fill with a dict": {
        "app.m": """
            def f(store):
                store.setdefault("a", 1)
                store.keys()
            f({})
        """,
    },
}


@pytest.mark.parametrize("files", NOT_CLIENTS.values(), ids=NOT_CLIENTS.keys())
def test_other_objects_stay_silent(files):
    target = next(iter(files))
    assert project_calls(files, target) == []


def test_an_annotation_wins_over_what_callers_pass():
    files = {
        "app.m": """
            import redis
            def f(conn: dict):
                conn.setdefault("a", 1)
            def g(conn: redis.Redis):
                conn.set("a", 1)
            f(redis.Redis())
        """,
    }
    assert project_calls(files, "app.m") == [("set", "client", "proven")]


def test_the_solution_is_the_same_whatever_the_order_of_modules():
    files = SHAPES["subclass methods see the attribute"][0]
    forward = project_calls(files, "app.child")
    backward = project_calls(dict(reversed(list(files.items()))), "app.child")
    assert forward == backward == [("hset", "client", "inferred")]


def test_the_readme_lists_the_shapes_the_engine_documents():
    """One list, written in the engine (`redislint.semantic.clients`); the README carries it
    word for word, so the two never drift apart."""
    from pathlib import Path

    from redislint.semantic.clients import shapes

    bullets = shapes().split("\n", 2)[2].strip()
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert bullets in readme
