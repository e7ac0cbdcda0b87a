"""Clients imported from another module of the linted project, and the byte pre-filter."""

from __future__ import annotations

import json
from pathlib import Path

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


def _by_file(out: str) -> dict:
    found: dict = {}
    for finding in json.loads(out):
        found.setdefault(Path(finding["filename"]).resolve(), []).append(
            (finding["code"], finding["location"]["row"], finding["location"]["column"]))
    return {path: sorted(rows) for path, rows in found.items()}


def _alone_equals_whole(cli, root: Path, files) -> None:
    _, whole, _ = cli("--output-format", "json", "--no-cache", "--exit-zero", str(root))
    whole_by_file = _by_file(whole)
    assert whole_by_file, "the tree has findings to compare"
    for file in files:
        _, alone, _ = cli("--output-format", "json", "--no-cache", "--exit-zero", str(file))
        assert _by_file(alone).get(file.resolve(), []) == whole_by_file.get(file.resolve(), []), file


def test_each_fixture_file_alone_has_its_findings_of_the_whole_tree(cli):
    """pre-commit names only the staged files: each must get what `redislint fixtures` says."""
    fixtures = Path(__file__).resolve().parent.parent / "fixtures"
    files = sorted(p for p in fixtures.rglob("*.py") if "fixes" not in p.parts)
    assert len(files) > 30
    _alone_equals_whole(cli, fixtures, files)


GENERATED = {
    "pyproject.toml": "[tool.redislint]\n",
    "shop/__init__.py": "",
    "shop/settings.py": """
        import redis

        class Config:
            redis_client = redis.Redis(decode_responses=True)

        def get_config() -> Config:
            return Config()
    """,
    "shop/store.py": """
        class Store:
            def __init__(self, conn):
                self._read = self._write = conn

            def remember(self, uid, data):
                self._write.set(f"user:{uid}", data)

            def hits(self, uid):
                self._write.incr(f"hits:{uid}")
                self._write.expire(f"hits:{uid}", 60)
    """,
    "shop/app.py": """
        from shop.settings import get_config
        from shop.store import Store

        store = Store(get_config().redis_client)
    """,
    "shop/jobs.py": """
        from shop import worker

        def run(client):
            worker.drain(client)
    """,
    "shop/worker.py": """
        def drain(conn):
            for name in conn.keys("job:*"):
                conn.delete(name)
    """,
    "shop/main.py": """
        import redis
        from shop.jobs import run

        run(redis.Redis())
    """,
}


def test_each_file_of_a_multi_module_project_alone_has_its_whole_tree_findings(write, cli):
    root = write(GENERATED)
    files = sorted((root / "shop").glob("*.py"))
    _, whole, _ = cli("--output-format", "json", "--no-cache", "--exit-zero", ".")
    found = {(Path(f["filename"]).name, f["code"]) for f in json.loads(whole)}
    # The client reaches `Store` through a config attribute and `drain` through two calls.
    assert {("store.py", "RL101"), ("store.py", "RL201"), ("worker.py", "RL501")} <= found
    _alone_equals_whole(cli, root, files)
