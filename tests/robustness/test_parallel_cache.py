"""The same findings (and fixes) whatever the number of workers and whatever state the cache is
in: cold, warm, corrupted, deleted, or destroyed while a run is using it.
(tests/test_cli.py and tests/test_cache.py cover -j1 vs -j2 on 24 copies of one file, and a cache
corrupted or deleted between runs.) The corpus here is varied: ~50 modules, generated Redis
programs and a package whose views use a client another module exports (the project index).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from redis_programs import programs
from redislint import cache as cache_module
from redislint.cache import Cache
from redislint.config import Settings
from redislint.files import discover
from redislint.registry import select
from redislint.runner import FixMode, lint_paths

ALL = Settings(select=("ALL",))
EXT = "import redis\nstore = redis.Redis()\n"
VIEW = ("from .ext import store\n\ndef names_{i}():\n    return store.keys('user:{i}:*')\n\n"
        "def save_{i}(uid, data):\n    store.set(f'user:{{uid}}:{i}', data)\n")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    generated = []

    @settings(max_examples=40, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(programs())
    def collect(code):
        generated.append(code)

    collect()
    (root / "gen").mkdir()
    for i, code in enumerate(generated):
        (root / "gen" / f"m{i:03d}.py").write_text(code)
    (root / "app").mkdir()
    (root / "app" / "__init__.py").write_text("")
    (root / "app" / "ext.py").write_text(EXT)
    for i in range(10):
        (root / "app" / f"view{i}.py").write_text(VIEW.format(i=i))
    return root


def _run(root: Path, jobs: int, cache_dir=None, fix=None):
    settings = Settings(root=root, select=("ALL",))
    paths, _ = discover([str(root)], settings)
    return lint_paths(paths, settings, select(settings), jobs=jobs,
                      cache=Cache(cache_dir) if cache_dir is not None else None, fix=fix)


def _shape(result, root: Path):
    return [(str(Path(f.path).relative_to(root)), f.code, f.start, f.end, f.message,
             f.fix.edits if f.fix else None) for f in result.findings]


@pytest.fixture(scope="module")
def reference(corpus):
    result = _run(corpus, jobs=1)
    shape = _shape(result, corpus)
    assert len(shape) > 80 and len({f[1] for f in shape}) > 15  # a varied corpus
    assert not [f for f in shape if f[1] in ("RL000", "RL999")]
    assert [f for f in shape if f[0].startswith("app/view")]  # the project index at work
    return shape


def test_more_workers_than_cores_agree(corpus, reference):
    assert _shape(_run(corpus, jobs=4), corpus) == reference  # -j2: tests/test_cli.py


def test_cold_and_warm_cache_agree(corpus, reference, tmp_path):
    cold = _run(corpus, jobs=2, cache_dir=tmp_path / "c")
    warm = _run(corpus, jobs=2, cache_dir=tmp_path / "c")
    serial_warm = _run(corpus, jobs=1, cache_dir=tmp_path / "c")
    assert _shape(cold, corpus) == _shape(warm, corpus) == _shape(serial_warm, corpus) == reference
    assert cold.cached == 0 and warm.parsed == 0 and warm.cached == cold.parsed


def test_wrong_shaped_cache_entries_are_misses(corpus, reference, tmp_path):
    """Valid JSON of the wrong shape (another layout, a stray file) used to crash the whole
    run (IndexError on a cached position): now it is a miss."""
    folder = tmp_path / "c"
    _run(corpus, jobs=2, cache_dir=folder)
    entries = [p for p in folder.rglob("*") if p.is_file() and p.name != ".gitignore"]
    poisons = [b'[{"c": 5, "n": null, "m": [], "s": {"a": 1}, "e": "xy", "f": null, "v": 1}]',
               b'[{"c": "RL501", "n": "x", "m": "m", "s": [1], "e": [1, 1], "f": null, "v": "e"}]',
               b'{"clients": {"r": [1, 2]}, "factories": 5, "reexports": [], "key_uses": 3}',
               b"[[]]", b"null", b'"x"', b"\x00garbage{", b""]
    for i, entry in enumerate(entries):
        entry.write_bytes(poisons[i % len(poisons)])
    result = _run(corpus, jobs=2, cache_dir=folder)
    assert _shape(result, corpus) == reference and result.cached == 0


def test_cache_deleted_and_corrupted_during_a_run(corpus, reference, tmp_path, monkeypatch):
    """Deterministic: a hook deletes the whole cache folder in the middle of the writes of a
    cold run, and overwrites every entry with garbage in the middle of the reads of a warm
    run. Both runs report exactly the reference, and the cache heals."""
    folder = tmp_path / "c"
    real_put, real_get = Cache.put, Cache.get
    count = {"put": 0, "get": 0}

    def put(self, kind, key, value):
        count["put"] += 1
        if count["put"] in (10, 40):
            shutil.rmtree(folder)
        return real_put(self, kind, key, value)

    monkeypatch.setattr(Cache, "put", put)
    assert _shape(_run(corpus, jobs=2, cache_dir=folder), corpus) == reference
    assert count["put"] > 40
    monkeypatch.setattr(Cache, "put", real_put)
    _run(corpus, jobs=2, cache_dir=folder)  # fill it whole again

    def get(self, kind, key):
        count["get"] += kind == "findings"
        if count["get"] == 10 and kind == "findings":  # after the summaries, mid-findings
            for entry in folder.rglob("*"):
                if entry.is_file():
                    entry.write_bytes(b"\x00garbage{")
        return real_get(self, kind, key)

    monkeypatch.setattr(Cache, "get", get)
    corrupted = _run(corpus, jobs=2, cache_dir=folder)
    assert _shape(corrupted, corpus) == reference and 0 < corrupted.cached < 30
    monkeypatch.setattr(Cache, "get", real_get)
    again = _run(corpus, jobs=2, cache_dir=folder)  # refills what the garbage replaced
    assert _shape(again, corpus) == reference
    served = _run(corpus, jobs=2, cache_dir=folder)
    assert _shape(served, corpus) == reference and served.parsed == 0


def test_cache_folder_deleted_by_another_process_throughout_a_run(corpus, reference, tmp_path):
    """Not simulated: another process deletes the cache folder as fast as it can for the
    whole of a run (and so also creates races inside redislint's writes)."""
    folder = tmp_path / "c"
    deleter = subprocess.Popen([sys.executable, "-c",
                                "import shutil, sys, time\n"
                                "while True:\n"
                                "    shutil.rmtree(sys.argv[1], ignore_errors=True)\n"
                                "    time.sleep(0.002)\n", str(folder)])
    try:
        assert _shape(_run(corpus, jobs=2, cache_dir=folder), corpus) == reference
    finally:
        deleter.kill()
        deleter.wait()


def test_fixes_are_the_same_with_one_or_many_workers(corpus, tmp_path):
    results = {}
    for jobs in (1, 4):
        copy = tmp_path / f"j{jobs}"
        shutil.copytree(corpus, copy)
        result = _run(copy, jobs=jobs, fix=FixMode(unsafe=True))
        results[jobs] = ({str(Path(r.path).relative_to(copy)): r.new_data for r in result.results
                          if r.new_data is not None}, _shape(result, copy))
    assert results[1] == results[4]
    assert len(results[1][0]) > 12  # many files had fixes


def test_cli_output_is_identical_across_jobs_and_cache(corpus, tmp_path):
    """The whole CLI path (discovery, ordering, JSON) byte for byte, -j1 cold vs -j4 warm."""
    outputs = []
    for jobs in ("1", "4"):
        done = subprocess.run([sys.executable, "-m", "redislint", "--select", "ALL", "-j", jobs,
                               "--cache-dir", str(tmp_path / "c"), "--output-format", "json", "."],
                              cwd=corpus, capture_output=True, timeout=300)
        assert done.returncode == 1, done.stderr
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1] and len(json.loads(outputs[0])) > 80
