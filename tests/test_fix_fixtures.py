"""Every fix, proved on a before/after pair under `fixtures/fixes/`, through the real CLI.

For each folder: `redislint --fix --unsafe-fixes --select ALL` turns `before.py` into exactly
`after.py`; a second run changes nothing; the fixed file has no finding of the pair's rule
left; the rule offered its fix with the applicability the docstring states
(`RL202, safe fix: ...`), and `--fix` without `--unsafe-fixes` leaves an unsafe one alone;
and the JSON `edits` of the rule's fixes, applied to `before.py`, give what `--fix` writes.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import List, Tuple

import pytest

FIXES = Path(__file__).resolve().parent.parent / "fixtures" / "fixes"
_HEAD = re.compile(r'^"""(RL\d{3}), (safe|unsafe) fix: ')
FIX_ALL = ("--fix", "--unsafe-fixes", "--select", "ALL", "--no-cache", "app.py")


def _pairs() -> List[Path]:
    return sorted(p for p in FIXES.iterdir() if (p / "before.py").is_file())


def _head(pair: Path) -> Tuple[str, str]:
    match = _HEAD.match((pair / "before.py").read_text(encoding="utf-8"))
    assert match, f"{pair.name}/before.py must start with '\"\"\"RLxxx, safe|unsafe fix: '"
    return match.group(1), match.group(2)


def _setup(pair: Path, folder: Path) -> Path:
    target = folder / "app.py"
    shutil.copyfile(pair / "before.py", target)
    if (pair / "pyproject.toml").is_file():
        shutil.copyfile(pair / "pyproject.toml", folder / "pyproject.toml")
    return target


def _findings(cli, code: str) -> list:
    _, out, _ = cli("--select", code, "--no-cache", "--output-format", "json", "app.py")
    return [f for f in json.loads(out) if f["code"] == code]


def test_every_pair_is_complete():
    pairs = _pairs()
    assert pairs, "no fix fixtures"
    for pair in pairs:
        assert (pair / "after.py").is_file(), f"{pair.name} has no after.py"
        assert _head(pair)[0].lower() == pair.name[:5], f"{pair.name} is named after its rule"


@pytest.mark.parametrize("pair", _pairs(), ids=lambda p: p.name)
def test_fix_turns_before_into_after(pair: Path, tmp_path: Path, cli):
    code, applicability = _head(pair)
    target = _setup(pair, tmp_path)
    before = target.read_text(encoding="utf-8")
    after = (pair / "after.py").read_text(encoding="utf-8")
    assert before != after, f"{pair.name}: after.py must differ from before.py"

    found = _findings(cli, code)
    assert found and all(f["fix"] for f in found), f"{pair.name}: every {code} finding has a fix"
    assert {f["fix"]["applicability"] for f in found} == {applicability}
    if applicability == "unsafe":
        cli("--fix", "--select", code, "--no-cache", "app.py")
        assert target.read_text(encoding="utf-8") == before, "an unsafe fix needs --unsafe-fixes"

    cli(*FIX_ALL)
    assert target.read_text(encoding="utf-8") == after
    cli(*FIX_ALL)
    assert target.read_text(encoding="utf-8") == after, "a second --fix changed the file"
    assert _findings(cli, code) == [], f"{pair.name}: the fixed file still has {code}"


@pytest.mark.parametrize("pair", _pairs(), ids=lambda p: p.name)
def test_json_edits_describe_the_fix(pair: Path, tmp_path: Path, cli):
    """Applying the reported edits of the rule's fixes to the file gives what `--fix` writes
    (when the edits do not overlap, i.e. --fix needs a single pass)."""
    code, _ = _head(pair)
    target = _setup(pair, tmp_path)
    text = target.read_text(encoding="utf-8")
    edits = [e for f in _findings(cli, code) for e in f["fix"]["edits"]]
    spans = sorted((_offset(text, e["location"]), _offset(text, e["end_location"]), e["content"])
                   for e in edits)
    if any(a[1] > b[0] for a, b in zip(spans, spans[1:])):
        pytest.skip("overlapping edits: --fix applies them over several passes")
    for start, end, content in reversed(spans):
        text = text[:start] + content + text[end:]
    cli("--fix", "--unsafe-fixes", "--select", code, "--no-cache", "app.py")
    assert text == target.read_text(encoding="utf-8")


def _offset(text: str, location: dict) -> int:
    lines = text.splitlines(keepends=True)
    row, column = location["row"], location["column"]
    return sum(len(line) for line in lines[:row - 1]) + column - 1
