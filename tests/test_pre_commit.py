"""The real `pre-commit` running this checkout's hooks in a throwaway repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parent.parent
BAD = 'import redis\nr = redis.Redis()\nfor k in r.keys("a:*"):\n    print(k)\n'


def _git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def pre_commit():
    exe = shutil.which("pre-commit") or str(Path(sys.executable).with_name("pre-commit"))
    if not Path(exe).exists():
        pytest.fail("pre-commit is not installed (pip install -e '.[test]')")
    return exe


def test_hooks_check_and_fix(tmp_path, pre_commit):
    if not (CHECKOUT / ".git").exists():
        pytest.fail("the pre-commit test needs this checkout to be a git repository")
    rev = _git("rev-parse", "HEAD", cwd=CHECKOUT).strip()
    tracked = _git("ls-files", ".pre-commit-hooks.yaml", cwd=CHECKOUT).strip()
    assert tracked, ".pre-commit-hooks.yaml must be committed for pre-commit to find it"
    repo = tmp_path / "repo"
    repo.mkdir()
    _git("init", "-q", cwd=repo)
    (repo / "bad.py").write_text(BAD)
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {CHECKOUT}\n  rev: {rev}\n  hooks:\n"
        "  - id: redislint\n  - id: redislint-fix\n    stages: [manual]\n")
    _git("add", ".", cwd=repo)
    env = dict(os.environ, PRE_COMMIT_HOME=str(tmp_path / "pc-home"), REDISLINT_CACHE_DIR=str(tmp_path / "c"))

    check = subprocess.run([pre_commit, "run", "redislint", "--all-files"], cwd=repo, env=env,
                           capture_output=True, text=True, timeout=600)
    assert check.returncode == 1, check.stdout + check.stderr
    assert "bad.py:3:10: RL501" in check.stdout
    assert (repo / "bad.py").read_text() == BAD

    fix = subprocess.run([pre_commit, "run", "redislint-fix", "--all-files", "--hook-stage", "manual"],
                         cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    assert fix.returncode == 1, fix.stdout + fix.stderr  # files were modified
    assert 'for k in r.scan_iter(match="a:*"):' in (repo / "bad.py").read_text()

    again = subprocess.run([pre_commit, "run", "redislint", "--all-files"], cwd=repo, env=env,
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
