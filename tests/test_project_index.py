"""Clients imported from another module of the linted project, and the byte pre-filter."""

from __future__ import annotations

import json

APP = {
    "app/__init__.py": "from .extensions import store\n",
    "app/extensions.py": """
        import redis

        store = redis.Redis.from_url("redis://localhost")

        def get_redis():
            return store
    """,
    "app/views.py": """
        from .extensions import store

        def names():
            return store.keys("user:*")
    """,
    "app/api.py": """
        from app.extensions import get_redis

        def names():
            return get_redis().keys("*")
    """,
    "app/reexported.py": """
        from app import store as s

        def names():
            return s.keys("*")
    """,
    "app/local_cache.py": """
        store = {}

        def names():
            return store.keys()
    """,
    "app/uses_local.py": """
        from .local_cache import store

        def names():
            return list(store.keys())
    """,
}


def test_clients_imported_across_modules(write, cli):
    write(APP)
    code, out, _ = cli("--output-format", "json", "--select", "RL501", ".")
    found = sorted((f["filename"], f["location"]["row"]) for f in json.loads(out))
    assert found == [("app/api.py", 4), ("app/reexported.py", 4), ("app/views.py", 4)]
    assert code == 1


def test_cross_module_is_the_same_on_all_cores(write, cli):
    write(APP)
    _, one, _ = cli("--output-format", "json", "--no-cache", "-j", "1", ".")
    _, many, _ = cli("--output-format", "json", "--no-cache", "-j", "2", ".")
    assert json.loads(one) == json.loads(many)


def test_prefilter_skips_files_that_cannot_touch_redis(write, tmp_path):
    from redislint.config import Settings
    from redislint.files import discover
    from redislint.registry import select
    from redislint.runner import lint_paths

    files = dict(APP)
    for i in range(20):
        files[f"app/plain_{i}.py"] = "import os\n\ndef f(d):\n    return d.keys()\n"
    write(files)
    settings = Settings(root=tmp_path)
    paths, _ = discover([str(tmp_path)], settings)
    result = lint_paths(paths, settings, select(settings), jobs=1)
    # Only the files that mention redis or a name another module exports as a client are
    # parsed (all 7 app modules mention `store` or `get_redis`): the 20 plain files are not.
    assert result.files == len(files)
    assert result.parsed == len(APP)
    assert len([f for f in result.findings if f.code == "RL501"]) == 3


def test_prefilter_is_not_fooled_by_licence_headers():
    """"Redistribution and use in source..." heads many files: it is no reason to parse them.
    Every real spelling of a client still is."""
    from redislint.prefilter import mentions_redis

    assert not mentions_redis(b"# Redistribution and use in source and binary forms\n"
                              b"def redisplay(): rediscover()\n")
    for code in (b"import redis\n", b"from rediscluster import RedisCluster\n", b"REDIS_URL = 1\n",
                 b"c = StrictRedis()\n", b"import valkey\n", b"# Redistribution\nimport aioredis\n"):
        assert mentions_redis(code), code


def test_a_worker_past_its_tree_budget_parses_again_with_the_same_findings(monkeypatch):
    """Trees kept between the phases are bounded (memory); a file past the budget is parsed
    again for the lint phase, and what it reports does not change."""
    from redislint import worker
    from redislint.config import Settings
    from redislint.project import ProjectIndex
    from redislint.registry import select
    from redislint.sources import Source

    settings = Settings(select=("RL501",))  # not RL602, which depends on the redis-py installed
    data = b"import redis\nr = redis.Redis()\n\ndef names():\n    return r.keys('*')\n"
    parses = []
    real = worker.parse
    monkeypatch.setattr(worker, "parse", lambda code: parses.append(1) or real(code))

    def lint(budget):
        monkeypatch.setattr(worker, "KEPT_LINES", budget)
        parses.clear()
        one = worker.Worker(settings, select(settings))
        source = Source(0, "app.py", data, "app", False)
        index = ProjectIndex()
        index.add("app", one.summarize(source))
        kept = 0 in one.trees
        one.index = index
        found = [(f.code, f.start) for f in one.lint(source, None).findings]
        assert not one.trees and one.kept_lines == 0
        return found, kept, len(parses)

    assert lint(worker.KEPT_LINES) == ([("RL501", (5, 12))], True, 1)
    assert lint(0) == ([("RL501", (5, 12))], False, 2)
