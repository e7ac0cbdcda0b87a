"""The result cache: warm runs reuse results, and nothing stale ever comes back."""

from __future__ import annotations

import json
import shutil

from redislint.config import Settings
from redislint.cache import Cache
from redislint.files import discover
from redislint.registry import select
from redislint.runner import lint_paths

EXT = "import redis\nstore = redis.Redis()\n"
VIEWS = "from .ext import store\n\ndef names():\n    return store.keys('*')\n"


def _lint(root, cache_dir, jobs=1):
    settings = Settings(root=root)
    paths, _ = discover([str(root)], settings)
    return lint_paths(paths, settings, select(settings), jobs=jobs, cache=Cache(cache_dir))


def _summary(result):
    return sorted((f.path.rsplit("/", 1)[-1], f.code, f.start) for f in result.findings)


def test_warm_run_is_served_from_the_cache(write, tmp_path):
    root = write({"app/__init__.py": "", "app/ext.py": EXT, "app/views.py": VIEWS})
    cold = _lint(root, tmp_path / "cache")
    assert cold.parsed == 2 and cold.cached == 0
    warm = _lint(root, tmp_path / "cache")
    assert warm.parsed == 0 and warm.cached == 2
    assert _summary(warm) == _summary(cold) == [("views.py", "RL501", (4, 12))]


def test_changing_another_module_invalidates_dependent_findings(write, tmp_path):
    root = write({"app/__init__.py": "", "app/ext.py": EXT, "app/views.py": VIEWS})
    assert len(_lint(root, tmp_path / "cache").findings) == 1
    # views.py is untouched, but `store` is no longer a Redis client: its finding must go.
    (root / "app" / "ext.py").write_text("store = {}\n")
    after = _lint(root, tmp_path / "cache")
    assert after.findings == []
    # ...and come back when the client does.
    (root / "app" / "ext.py").write_text(EXT)
    assert len(_lint(root, tmp_path / "cache").findings) == 1


def test_changed_settings_do_not_reuse_results(write, tmp_path):
    root = write({"a.py": "import redis\nr = redis.Redis()\nr.keys('*')\n"})
    assert len(_lint(root, tmp_path / "c").findings) == 1
    settings = Settings(root=root, ignore=("RL501",))
    paths, _ = discover([str(root)], settings)
    result = lint_paths(paths, settings, select(settings), jobs=1, cache=Cache(tmp_path / "c"))
    assert result.findings == [] and result.cached == 0


def test_corrupted_or_deleted_cache_is_a_miss(write, tmp_path):
    root = write({"app/__init__.py": "", "app/ext.py": EXT, "app/views.py": VIEWS})
    cache_dir = tmp_path / "cache"
    expected = _summary(_lint(root, cache_dir))
    for entry in cache_dir.rglob("*"):
        if entry.is_file() and entry.name != ".gitignore":
            entry.write_bytes(b"\x00garbage{")
    assert _summary(_lint(root, cache_dir)) == expected
    shutil.rmtree(cache_dir)
    assert _summary(_lint(root, cache_dir)) == expected
    # A cache folder that cannot be created (a file is in the way) disables the cache.
    blocker = tmp_path / "blocked"
    blocker.write_text("")
    assert _summary(_lint(root, blocker / "cache")) == expected


def test_cli_cache_options(write, cli, tmp_path):
    write({"a.py": "import redis\nr = redis.Redis()\nr.keys('*')\n"})
    cli("--no-cache", "a.py")
    assert not (tmp_path / ".redislint_cache").exists()
    cli("--cache-dir", "elsewhere", "a.py")
    assert (tmp_path / "elsewhere" / ".gitignore").exists()
    code, out, _ = cli("--output-format", "json", "--cache-dir", "elsewhere", "a.py")
    assert code == 1 and json.loads(out)[0]["code"] == "RL501"


def test_parallel_cold_and_warm_agree(write, tmp_path):
    files = {"app/__init__.py": "", "app/ext.py": EXT}
    for i in range(30):
        files[f"app/v{i}.py"] = VIEWS
    root = write(files)
    cold = _lint(root, tmp_path / "cache", jobs=2)
    warm = _lint(root, tmp_path / "cache", jobs=2)
    serial = _lint(root, tmp_path / "other", jobs=1)
    assert _summary(cold) == _summary(warm) == _summary(serial)
    assert len(cold.findings) == 30 and warm.cached == 31


def _imports(cwd, *args):
    """The modules a real `redislint` process imports (`python -X importtime`)."""
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-X", "importtime", "-m", "redislint", *args],
                         cwd=cwd, capture_output=True, text=True)
    assert run.returncode in (0, 1), run.stderr[-2000:]
    return {line.rsplit("|", 1)[-1].strip() for line in run.stderr.splitlines()
            if line.startswith("import time:")}


def test_a_run_that_parses_nothing_never_imports_the_parser_or_the_rules(write, tmp_path):
    """Warm runs (pre-commit, CI with a cache) and trees with no Redis code cost an
    interpreter start, not libcst's import (a tenth of a second)."""
    root = write({"app/__init__.py": "", "app/ext.py": EXT, "app/views.py": VIEWS})
    cold = _imports(root, "--cache-dir", str(tmp_path / "c"), ".")
    assert {"libcst", "redislint.rule"} <= cold  # the rules' base class
    warm = _imports(root, "--cache-dir", str(tmp_path / "c"), ".")
    assert not {"libcst", "redislint.rule"} & warm
    # A first run on a tree with no Redis code (the rule catalogue is already kept):
    plain = write({"other/a.py": "import os\n", "other/b.py": "# Redistribution and use\n"})
    assert "libcst" not in _imports(plain / "other", "--cache-dir", str(tmp_path / "c"), ".")


def test_the_rule_catalogue_is_rebuilt_when_its_entry_is_bad(tmp_path, monkeypatch):
    from redislint import registry

    store = Cache(tmp_path / "c")
    monkeypatch.setattr(registry, "_catalogue", None)
    built = registry.catalogue(store)
    assert [r.code for r in built] == [r.code for r in registry.all_rules()]
    assert [r.load() for r in built] == list(registry.all_rules())
    [entry] = [p for p in (store.folder / "rules").rglob("*") if p.is_file()]
    for bad in ('[{"code": "RL101"}]', "{", '"x"'):
        entry.write_text(bad)
        monkeypatch.setattr(registry, "_catalogue", None)
        assert registry.catalogue(store) == built
