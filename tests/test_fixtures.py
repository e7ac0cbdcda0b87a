"""Every fixture app is linted with all rules; its `# expect: CODE[, CODE]` comments are the
findings it must give, line by line: nothing missing, nothing extra."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path
from typing import Set, Tuple

import pytest

from redislint import registry
from redislint.config import Settings
from redislint.runner import lint_paths

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
_EXPECT = re.compile(r"#\s*expect:\s*(RL\d{3}(?:\s*,\s*RL\d{3})*)")

Expected = Set[Tuple[str, int, str]]


def _folders():
    # `fixes/` holds before/after pairs for --fix (tests/test_fix_fixtures.py), not expectations.
    return sorted(p for p in FIXTURES.iterdir()
                  if p.is_dir() and p.name != "fixes" and any(p.rglob("*.py")))


def _expected(folder: Path) -> Expected:
    """(file relative to the folder, line, code) for every `# expect:` comment."""
    out: Expected = set()
    for path in sorted(folder.rglob("*.py")):
        relative = path.relative_to(folder).as_posix()
        tokens = tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
        for token in tokens:
            if token.type != tokenize.COMMENT:
                continue
            match = _EXPECT.search(token.string)
            if match:
                for code in match.group(1).split(","):
                    out.add((relative, token.start[0], code.strip()))
    return out


@pytest.mark.parametrize("folder", _folders(), ids=lambda p: p.name)
def test_fixture_findings_match_expect_comments(folder: Path):
    # Pinned: RL602/RL607 depend on the redis-py version, which must not be whichever one
    # happens to be installed (8.1: default socket timeout, `aclose()`).
    settings = Settings(select=("ALL",), root=folder, redis_py_version=(8, 1, 0))
    rules = registry.select(settings)
    files = sorted(folder.rglob("*.py"))
    result = lint_paths(files, settings, rules, jobs=1)
    found: Expected = {
        (Path(f.path).resolve().relative_to(folder).as_posix(), f.start[0], f.code)
        for f in result.findings
    }
    expected = _expected(folder)
    assert expected, f"{folder.name} has no `# expect:` comments"
    missing = sorted(expected - found)
    extra = sorted(found - expected)
    assert not missing and not extra, (
        f"{folder.name}:\n  expected but not reported: {missing}\n"
        f"  reported but not expected: {extra}\n"
        + "\n".join(f"  {f.path}:{f.start[0]}: {f.code} {f.message}" for f in result.findings)
    )
