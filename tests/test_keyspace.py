"""The project index records which key patterns each module drains, expires or deletes, so a
rule about one module can rely on the others (redislint.semantic.keys.keyspace)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import libcst as cst

from redislint import registry
from redislint.cache import Cache
from redislint.config import Settings
from redislint.runner import lint_paths
from redislint.semantic.keys import keyspace
from redislint.semantic.facts import collect

PRODUCER = """
    import redis
    r = redis.Redis()
    QUEUE = "jobs:pending"
    def enqueue(job):
        r.rpush(QUEUE, job)
    def login(sid, uid):
        r.hset(f"session:{sid}", "uid", uid)
"""
CONSUMER = """
    from .producer import r
    def work():
        key = "jobs:" + "pending"
        return r.blpop([key, "jobs:high"], 5)
    def touch(sid):
        r.expire("session:%s" % sid, 1800)
"""


def _scan(source: str) -> dict:
    module = cst.parse_module(textwrap.dedent(source))
    return keyspace.scan(module, collect(module))


def test_scan_resolves_locals_and_constants_and_records_families():
    found = _scan("""
        import redis
        r = redis.Redis()
        EVENTS = "events"
        def drain(name):
            key = f"queue:{name}"
            r.rpop(key)
            r.ltrim(EVENTS, 0, 99)
            r.xtrim("audit", maxlen=10)
            r.zremrangebyscore("seen", 0, 10)
            r.brpop(name)
            r.expire(f"session:{name}", 60)
            r.set(f"token:{name}", 1, ex=60)
            r.set(f"plain:{name}", 1)
            r.delete("tmp:" + name, f"other:{name}")
            r.expire(name, 60)
    """)
    assert found["list"] == ["*", "events", "queue:*"]
    assert found["stream"] == ["audit"]
    assert found["zset"] == ["seen"]
    assert found["expire"] == ["session:*", "token:*"]
    assert found["delete"] == ["other:*", "tmp:*"]


def test_scan_skips_files_that_name_no_such_command():
    assert _scan("import redis\nr = redis.Redis()\nr.set('a', 1)\nr.rpush('log', 1)\n") == {}


def test_other_modules_bound_the_keys_of_this_one(tmp_path: Path):
    package = tmp_path / "app"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "producer.py").write_text(textwrap.dedent(PRODUCER))
    settings = Settings(select=("RL506", "RL103"), root=tmp_path)
    rules = registry.select(settings)

    alone = lint_paths([package / "producer.py"], settings, rules, jobs=1)
    assert sorted(f.code for f in alone.findings) == ["RL103", "RL506"]

    (package / "consumer.py").write_text(textwrap.dedent(CONSUMER))
    files = sorted(package.glob("*.py"))
    together = lint_paths(files, settings, rules, jobs=1)
    assert together.findings == []

    # The same through the cache: summaries keep their key patterns.
    cache = Cache(tmp_path / ".cache")
    assert lint_paths(files, settings, rules, jobs=1, cache=cache).findings == []
    warm = lint_paths(files, settings, rules, jobs=1, cache=cache)
    assert warm.findings == [] and warm.parsed == 0


def test_scan_records_unreadable_zset_and_set_removals_by_name_and_helper():
    found = _scan("""
        import redis
        r = redis.Redis()
        class Board:
            def __init__(self, name):
                self.key = f"board:{name}"
            def _active(self, queue):
                return f"active:{queue}"
            def prune(self, queue, member, key, keys):
                r.zrem(self._active(queue), member)
                r.zrem(self.key, member)
                r.zremrangebyscore(key, 0, 10)
                r.zrem(keys[0], member)
                r.srem(key, member)
                r.spop("visits")
                r.rpop(key)
    """)
    assert found["zset"] == ["active:*", "board:*"]
    # `self._active(queue)` is a one-line key helper: read as the key it returns, not a name
    assert found["zset.names"] == ["key"]
    assert found["set"] == ["visits"]
    assert found["set.names"] == ["key"]
    assert found["list"] == ["*"]  # lists keep "any key of the family"


def test_scan_records_hash_fields_removed_or_expired():
    found = _scan("""
        import redis
        r = redis.Redis()
        AVATARS = "avatars"
        def forget(uid, self_key):
            r.hdel(AVATARS, uid)
            r.hexpire("seen", 60, uid)
            r.hdel(self_key, uid)
    """)
    assert found["hash"] == ["*", "avatars", "seen"]


def test_pattern_index_answers_like_matches_any():
    patterns = ["user:*", "user:*:name", "queue:emails", "*:tmp", "a?c", "job:[ab]", "plain"]
    index = keyspace.PatternIndex(patterns)
    for probe in ("user:*", "user:1", "user:*:name", "queue:*", "queue:emails", "x:tmp", "abc",
                  "job:a", "job:*", "plain", "plainer", "other:*", "*", "u*", ""):
        assert index.overlaps(probe) == keyspace.matches_any(probe, patterns), probe
    assert not keyspace.PatternIndex([]).overlaps("user:*")


HASH_WRITER = """
    import redis
    r = redis.Redis()
    def remember(uid, url):
        r.hset("avatars", uid, url)
"""
HASH_CLEANER = """
    from .writer import r
    def forget(uid):
        r.hdel("avatars", uid)
"""


def test_another_module_that_hdels_a_hash_bounds_it(tmp_path: Path):
    package = tmp_path / "app"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "writer.py").write_text(textwrap.dedent(HASH_WRITER))
    settings = Settings(select=("RL101",), root=tmp_path)
    rules = registry.select(settings)
    alone = lint_paths([package / "writer.py"], settings, rules, jobs=1)
    assert [f.code for f in alone.findings] == ["RL101"]
    (package / "cleaner.py").write_text(textwrap.dedent(HASH_CLEANER))
    together = lint_paths(sorted(package.glob("*.py")), settings, rules, jobs=1)
    assert together.findings == []


CACHES = """
    import redis
    from django.core.cache import cache
    r = redis.Redis()
    _local = {}
    def user(uid):
        return r.get(f"user:{uid}")
    def search(term):
        return cache.get(f"search:{term}")
    def order(oid):
        return _local.get(f"order:{oid}")
    def forget_account(aid):
        r.delete(f"account:{aid}")
    def account(aid):
        found = r.get(f"account:{aid}")
        if found is None:
            r.set(f"account:{aid}", 1, ex=60)
        return found
"""
WRITES = """
    from .caches import r, forget_account, account
    def ban(db, uid):
        r.incr("bans")
        db.execute("UPDATE users SET banned = 1 WHERE id = ?", (uid,))
    def purge(db, term, oid):
        r.incr("purges")
        db.execute("DELETE FROM searches WHERE term = ?", (term,))
        db.execute("DELETE FROM orders WHERE id = ?", (oid,))
    def close(db, aid):
        r.incr("closes")
        db.execute("UPDATE accounts SET open = 0 WHERE id = ?", (aid,))
        forget_account(aid)
    def reopen(db, aid):
        r.incr("reopens")
        db.execute("UPDATE accounts SET open = 1 WHERE id = ?", (aid,))
        return account(aid)
"""


def test_rl401_sees_the_entities_other_modules_cache_in_redis(tmp_path: Path):
    package = tmp_path / "app"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "caches.py").write_text(textwrap.dedent(CACHES))
    (package / "writes.py").write_text(textwrap.dedent(WRITES))
    settings = Settings(select=("RL401",), root=tmp_path)
    rules = registry.select(settings)
    result = lint_paths(sorted(package.glob("*.py")), settings, rules, jobs=1)
    # users: cached through a Redis client elsewhere; searches (Django's cache) and orders (a
    # dict) are not Redis caches; `close` calls the other module's invalidator; `reopen` only
    # calls a function that fills the cache on a miss, which refreshes nothing.
    found = sorted((f.start[0], f.message.split("`")[1]) for f in result.findings)
    assert found == [(5, "ban"), (16, "reopen")]


def test_scan_declares_the_clients_and_factories_other_modules_check_receivers_against():
    module = cst.parse_module(textwrap.dedent("""
        import redis
        from .settings import URL
        store = redis.Redis.from_url(URL)
        def connect():
            return redis.Redis()
        def shared():
            return store
        def other():
            return {}
    """))
    data = module.code.encode()
    found = keyspace.scan(module, collect(module, "app.extensions"), data)
    assert found["redis:clients"] == ["app.extensions.store"]
    assert found["redis:factories"] == ["app.extensions.connect", "app.extensions.shared"]
    from redislint.semantic.context.database import ProjectClients
    known = ProjectClients(found["redis:clients"], found["redis:factories"])
    assert known.known("name:app.extensions.store") and known.known("name:extensions.store")
    assert known.known("call:app.extensions.connect") and not known.known("call:app.other")
    assert not known.known("name:django.core.cache.cache") and known.known("redis")
