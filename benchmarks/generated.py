"""Generated corpora for the speed benchmark: Redis-dense modules and application-shaped
projects (no code of any real project).

- `dense(shape, lines)`: one module of about `lines` lines, nearly every one a Redis call, in
  one of `DENSE_SHAPES`: what generated code, migration scripts and big task modules look like.
- `application(folder, modules)`: a project of `modules` modules that pass clients around the
  way real applications do (a settings object, services taking the client, wrappers, views,
  workers, caches, locks, queues, pipelines), with a few defects of every rule family.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Callable, Dict

_HEADER = "import redis\n\nr = redis.Redis(socket_timeout=5)\n\n"


def _module_level(n: int) -> str:
    return _HEADER + "".join(f'r.set(f"k{i}:{{x}}", {i}, ex=5)\n' for i in range(n))


def _one_function(n: int) -> str:
    return _HEADER + "def fill(x):\n" + "".join(
        f'    r.set(f"k{i}:{{x}}", {i}, ex=5)\n' for i in range(n))


def _methods(n: int) -> str:
    out = ["import redis\n\n\nclass Counters:\n    def __init__(self):\n"
           "        self.r = redis.Redis(socket_timeout=5)\n"]
    for i in range(n // 3):
        out.append(f"\n    def bump{i}(self, x):\n        return self.r.incr(f\"c{i}:{{x}}\")\n")
    return "".join(out)


def _write_expire(n: int) -> str:
    return _HEADER + "def fill(x):\n" + "".join(
        f'    r.set(f"k{i}:{{x}}", {i})\n    r.expire(f"k{i}:{{x}}", 5)\n' for i in range(n // 2))


def _pipelines(n: int) -> str:
    out = [_HEADER, "def fill(x):\n"]
    for i in range(n // 5):
        out.append(f"    with r.pipeline() as p{i % 7}:\n"
                   f"        p{i % 7}.incr(f\"n{i}:{{x}}\")\n"
                   f"        p{i % 7}.expire(f\"n{i}:{{x}}\", 60)\n"
                   f"        p{i % 7}.execute()\n\n")
    return "".join(out)


def _locks(n: int) -> str:
    out = [_HEADER, "def work(x):\n"]
    for i in range(n // 3):
        out.append(f"    with r.lock(f\"lock:{i}:{{x}}\", timeout=10, blocking_timeout=5):\n"
                   f"        r.hset(f\"job:{i}\", \"state\", \"done\")\n\n")
    return "".join(out)


DENSE_SHAPES: Dict[str, Callable[[int], str]] = {
    "module level": _module_level,
    "one big function": _one_function,
    "class of small methods": _methods,
    "write then EXPIRE": _write_expire,
    "pipelines": _pipelines,
    "locks": _locks,
}


def dense(shape: str, lines: int) -> str:
    return DENSE_SHAPES[shape](lines)


_SETTINGS = '''
    import os

    import redis


    class Config:
        redis_client = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://localhost"),
                                            socket_timeout=5, decode_responses=True)


    def get_config() -> Config:
        return Config()
'''
_STORE = '''
    import json


    class Store{n}:
        """A wrapper the services share."""

        def __init__(self, conn, prefix="s{n}:"):
            self._read = self._write = conn
            self._prefix = prefix

        def incr(self, key):
            return self._write.incr(self._prefix + key)

        def expire(self, key, ttl):
            return self._write.expire(self._prefix + key, ttl)

        def remember(self, uid, data):
            self._write.set(f"profile{n}:{{uid}}", json.dumps(data), ex=3600)

        def forget(self, uid):
            self._write.delete(f"profile{n}:{{uid}}")

        def recent(self, uid):
            return self._read.lrange(f"recent{n}:{{uid}}", 0, 9)
'''
_SERVICE = '''
    import time

    from app.settings import get_config
    from app.store{s} import Store{s}


    class Service{n}:
        def __init__(self, conn=None):
            self.conn = conn or get_config().redis_client
            self.store = Store{s}(self.conn)

        def hit(self, uid):
            self.store.incr(f"hits:{{uid}}")
            self.store.expire(f"hits:{{uid}}", 60)

        def visit(self, uid, page):
            key = f"visits{n}:{{uid}}"
            pipe = self.conn.pipeline()
            pipe.zadd(key, {{page: time.time()}})
            pipe.zremrangebyscore(key, 0, time.time() - 86400)
            pipe.expire(key, 86400)
            pipe.execute()

        def names(self):
            return [k for k in self.conn.keys("visits{n}:*")]

        def bulk(self, uids):
            for uid in uids:
                self.conn.get(f"profile{s}:{{uid}}")

        def guarded(self, job):
            with self.conn.lock(f"lock:{n}:{{job}}", timeout=30, blocking_timeout=5):
                self.conn.hset(f"job{n}:{{job}}", "state", "running")
'''
_WORKER = '''
    import json

    from app.service{s} import Service{s}


    def drain(conn, queue="q{n}"):
        while True:
            item = conn.brpop(queue, timeout=5)
            if item is None:
                return
            handle(json.loads(item[1]))


    def handle(job):
        Service{s}().hit(job["uid"])


    def run(conn):
        drain(conn)
        conn.lpush("q{n}", json.dumps({{"uid": 1}}))
'''
_VIEWS = '''
    from app.service{s} import Service{s}
    from app.settings import Config
    from app import worker{w}


    def profile(request, uid):
        service = Service{s}(Config.redis_client)
        service.visit(uid, request.path)
        cached = Config.redis_client.get(f"page{n}:{{uid}}")
        if not cached:
            cached = render(uid)
            Config.redis_client.set(f"page{n}:{{uid}}", cached)
        return cached


    def enqueue(uid):
        worker{w}.run(Config().redis_client)


    def render(uid):
        return str(uid)
'''


def application(folder: Path, modules: int) -> Path:
    """Write an application-shaped project of about `modules` modules under `folder/app`."""
    package = folder / "app"
    package.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text("[tool.redislint]\n")
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text(textwrap.dedent(_SETTINGS).lstrip())
    groups = max(1, (modules - 2) // 4)
    for n in range(groups):
        (package / f"store{n}.py").write_text(textwrap.dedent(_STORE.format(n=n)).lstrip())
        (package / f"service{n}.py").write_text(textwrap.dedent(_SERVICE.format(n=n, s=n)).lstrip())
        (package / f"worker{n}.py").write_text(textwrap.dedent(_WORKER.format(n=n, s=n)).lstrip())
        (package / f"views{n}.py").write_text(
            textwrap.dedent(_VIEWS.format(n=n, s=n, w=n)).lstrip())
    return folder
