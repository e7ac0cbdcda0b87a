"""One-line key helpers resolve as keys for every rule (redislint.semantic.keys.helpers), lock
wrappers and lock keys travel across modules (redislint.semantic.atomic.wrappers, the `lock`,
`key-helper`, `lock-wrapper` and `project-calls` families of the project scan), and the Lua
owner check of a lock release is read from the script (redislint.semantic.atomic.lua)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import libcst as cst
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redislint import registry
from redislint.cache import Cache
from redislint.config import Settings
from redislint.linter import run_rules
from redislint.rule import Rule
from redislint.runner import lint_paths
from redislint.semantic.atomic.lua import OwnerCheck, owner_checks
from redislint.semantic.facts import collect
from redislint.semantic.keys import keyspace


class _Keys(Rule):
    code = "RL000"
    name = "keys-probe"
    message = ""
    seen: list = []

    def on_redis_call(self, call):
        type(self).seen.append(str(call.key) if call.key is not None else None)


def _keys(source: str) -> list:
    _Keys.seen = []
    module = cst.parse_module(textwrap.dedent(source))
    run_rules(module, collect(module, "app.jobs"), Settings(), [_Keys], None)
    return _Keys.seen


HEAD = """
    import redis
    r = redis.Redis()
    PREFIX = "app"
    def lock_key(job):
        '''The job's lock.'''
        return f"job:{job}:lock"
    def scoped(name, part):
        return PREFIX + ":" + name + ":" + part
    def of(item):
        return f"item:{item.id}".encode()
    def clever(n):
        return f"n:{n + 1}"
"""


@pytest.mark.parametrize("body, keys", [
    ("r.get(lock_key(j))", ["job:{j}:lock"]),
    ("r.get(lock_key(job=j))", ["job:{j}:lock"]),
    ('r.get(lock_key("report"))', ["job:report:lock"]),
    ("k = lock_key(j)\n    r.get(k)", ["job:{j}:lock"]),
    ('r.get(scoped(n, "x"))', ["app:{n}:x"]),
    ("r.get(of(thing))", ["item:{thing.id}"]),
    # arguments that do not match the parameters, and a parameter used in an expression
    ("r.get(lock_key(*js))", ["{lock_key(*js)}"]),
    ("r.get(lock_key())", ["{lock_key()}"]),
    ("r.get(clever(n))", ["{clever(n)}"]),
    # not a helper: any other call stays a hole
    ("r.get(compute(j))", ["{compute(j)}"]),
])
def test_function_helpers(body, keys):
    assert _keys(textwrap.dedent(HEAD) + f"def run(j, js, n, thing):\n    {body}\n") == keys


def test_methods_properties_and_class_constants():
    found = _keys("""
        import redis
        class Base:
            LOCK = "rq:scheduler_lock"
            def __init__(self, name):
                self.r = redis.Redis()
                self.name = name
                self.fixed = "fixed:key"
                self.token = name
            def _key(self, part):
                return f"{self.name}:lock:{part}"
            @staticmethod
            def lease(job):
                return f"lease:{job}"
            @property
            def owner_key(self):
                return f"owner:{self.name}"
        class Scheduler(Base):
            def run(self, job):
                key = self.LOCK
                self.r.get(key)
                self.r.get(self._key("x"))
                self.r.get(self.lease(job))
                self.r.get(Base.lease(job))
                self.r.get(self.owner_key)
                self.r.get(self.fixed)
                self.r.get(self.token)
    """)
    assert found == ["rq:scheduler_lock", "{self.name}:lock:x", "lease:{job}", "lease:{job}",
                     "owner:{self.name}", "fixed:key", "{self.token}"]


def test_a_subclass_that_redefines_a_name_hides_its_base():
    found = _keys("""
        import redis
        r = redis.Redis()
        class Base:
            LOCK = "base:lock"
        class Child(Base):
            LOCK = None
            def run(self):
                r.get(self.LOCK)
    """)
    assert found == ["{self.LOCK}"]


def test_scan_records_helpers_locks_and_wrappers():
    module = cst.parse_module(textwrap.dedent("""
        import redis
        from redis.lock import Lock
        from app.locks import DistributedLock
        r = redis.Redis()
        def lock_key(job):
            return f"job:{job}:lock"
        class Guard:
            def __init__(self, name, timeout=None):
                self.lock = r.lock(name, timeout=timeout)
        def guarded(name, **options):
            return Lock(r, name, options.get("timeout"))
        def take(job, token):
            r.set(lock_key(job), token, nx=True, ex=30)
            r.set(f"seen:{job}", 1, nx=True)
            r.setnx(f"mutex:{job}", 1)
            with r.lock("report"):
                pass
        def nightly():
            DistributedLock("nightly")
            DistributedLock("hourly", timeout=5)
    """))
    found = keyspace.scan(module, collect(module, "app.jobs"))
    assert found["lock"] == ["job:*:lock", "mutex:*", "report"]
    assert [json.loads(e) for e in found["key-helper"]] == [
        ["app.jobs.lock_key", ["job"], "job:{}:lock", ["job"]]]
    assert sorted(json.loads(e)[0] for e in found["lock-wrapper"]) == [
        "app.jobs.Guard", "app.jobs.guarded"]
    assert [json.loads(e) for e in found["project-calls"]] == [
        ["app.locks.DistributedLock", [[1, []], [1, ["timeout"]]]]]


def test_tests_take_no_project_locks():
    module = cst.parse_module("import redis\nr = redis.Redis()\n"
                              "def test_take():\n    r.set('lock:x', 1, nx=True, ex=5)\n")
    assert "lock" not in keyspace.scan(module, collect(module, "tests.test_locks"))


LOCKS = """
    from .extensions import r

    class DistributedLock:
        def __init__(self, name, timeout=None):
            self.lock = r.lock(name, timeout=timeout, blocking_timeout=5)

    def lease_key(job):
        return f"jobs:{job}:lease"

    def take(job, token):
        return r.set(lease_key(job), token, nx=True, ex=60)
"""
JOBS = """
    from .extensions import r
    from .locks import DistributedLock, lease_key

    def nightly():
        with DistributedLock("nightly"{timeout}):
            pass

    def finish(job):
        r.delete(lease_key(job))
"""


def test_wrappers_helpers_and_lock_keys_across_modules(tmp_path: Path):
    package = tmp_path / "app"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "extensions.py").write_text("import redis\nr = redis.Redis()\n")
    (package / "locks.py").write_text(textwrap.dedent(LOCKS))
    settings = Settings(select=("RL301", "RL303"), root=tmp_path)
    rules = registry.select(settings)

    def findings(timeout: str, cache=None):
        (package / "jobs.py").write_text(textwrap.dedent(JOBS.format(timeout=timeout)))
        result = lint_paths(sorted(package.glob("*.py")), settings, rules, jobs=1, cache=cache)
        return sorted((Path(f.path).name, f.start[0], f.code) for f in result.findings)

    # alone, the wrapper is an API no call is seen to give a timeout
    alone = lint_paths([package / "extensions.py", package / "locks.py"], settings, rules, jobs=1)
    assert [(Path(f.path).name, f.code) for f in alone.findings] == [("locks.py", "RL301")]
    expected = [("jobs.py", 10, "RL303"), ("locks.py", 6, "RL301")]
    assert findings("") == expected
    assert findings(", timeout=60") == [("jobs.py", 10, "RL303")]
    # the same through the cache: summaries keep the families
    cache = Cache(tmp_path / ".cache")
    assert findings("", cache) == expected
    assert findings("", cache) == expected


# -- the owner check of a Lua release ---------------------------------------------------------
@pytest.mark.parametrize("script, expected", [
    ("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end",
     [OwnerCheck(1, "1", True)]),
    ('if ARGV[1] == redis.call("GET",KEYS[1]) then\n return redis.call("DEL",KEYS[1])\nend',
     [OwnerCheck(1, "1", True)]),
    ("local v = redis.call('get', KEYS[1])\nif v ~= ARGV[2] then return 0 end\n"
     "return redis.call('unlink', KEYS[1])", [OwnerCheck(1, "2", True)]),
    ("if redis.call('get', KEYS[1]) == '1' then return redis.call('del', KEYS[1]) end",
     [OwnerCheck(1, "1", False)]),
    ("local t = ARGV[1] if redis.call('get', KEYS[1]) == t then redis.call('del', KEYS[1]) end",
     [OwnerCheck(1, "1", True)]),
    # no DEL of the compared key: an extend, a check of another key
    ("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], 5) end",
     []),
    ("if redis.call('get', KEYS[2]) == ARGV[1] then return redis.call('del', KEYS[1]) end", []),
])
def test_owner_checks(script, expected):
    assert owner_checks(script) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("redis.call('GET',KEYS[1]ARGV)..==~=[[]]-\n\"DEL ")),
               max_size=120))
def test_the_owner_check_never_fails(text):
    owner_checks(text)
