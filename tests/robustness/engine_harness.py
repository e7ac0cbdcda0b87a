"""The engine in-process, for property tests: the same worker code a real run uses (parse,
project summary, lint, fix passes), without the process round trip a `lint_paths` call costs
(~150 ms), so hundreds of generated programs fit in CI. `test_harness_agrees_with_the_cli`
proves the two paths agree.

`check_properties` asserts what must hold for ANY program Python accepts:
1. linting never fails inside redislint (no RL999), and libcst's verdict is Python's (no RL000);
2. every fix result is code Python compiles, and no fix had to be dropped for breaking the code;
3. the fixes converge, and a second `--fix` changes nothing;
4. fixing never adds a finding: no rule has more findings in the fixed code than in the
   original;
5. what `--fix` reports as remaining is what a plain run over the fixed code reports.
"""

from __future__ import annotations

import collections
import warnings
from dataclasses import dataclass
from typing import List, Optional, Sequence, Type

from redislint.config import Settings
from redislint.linter import Finding
from redislint.project import ProjectIndex
from redislint.registry import select
from redislint.rule import Rule
from redislint.runner import FileResult, FixMode
from redislint.sources import Source
from redislint.worker import Worker

ALL = Settings(select=("ALL",))


def all_rules() -> List[Type[Rule]]:
    return select(ALL)


def run(data: bytes, settings: Settings, rules: Sequence[Type[Rule]],
        fix: Optional[FixMode] = None, path: str = "prog.py") -> FileResult:
    """One file through a worker, as `lint_paths` does: summary, project index, then lint/fix."""
    worker = Worker(settings, rules)
    source = Source(0, path, data, path.rsplit("/", 1)[-1].rsplit(".", 1)[0], False)
    summary = worker.summarize(source)
    index = ProjectIndex()
    if summary is not None:
        index.add(source.module, summary)
    worker.index = index
    return worker.lint(source, fix)


def _show(findings: Sequence[Finding]) -> str:
    return "\n".join(f"  {f.start[0]}:{f.start[1]} {f.code} {f.message}" for f in findings)


def _compiles(data: bytes) -> Optional[str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(data, "<fixed>", "exec", dont_inherit=True)  # the compiler too, past the AST
    except (SyntaxError, ValueError) as error:
        return f"{type(error).__name__}: {error}"
    return None


@dataclass
class Outcome:
    before: List[Finding]
    fixed: Optional[bytes]
    after: List[Finding]


def check_properties(code: str, settings: Settings = ALL,
                     rules: Optional[Sequence[Type[Rule]]] = None, unsafe: bool = True) -> Outcome:
    rules = all_rules() if rules is None else rules
    data = code.encode("utf-8")
    where = f"\n--- program ---\n{code}\n---------------"

    linted = run(data, settings, rules)
    crashes = [f for f in linted.findings if f.code in ("RL999", "RL000")]
    assert not crashes, f"lint failed:\n{_show(crashes)}{where}"

    mode = FixMode(unsafe=unsafe)
    fixed = run(data, settings, rules, mode)
    assert not [f for f in fixed.findings if f.code == "RL999"], \
        f"--fix failed:\n{_show(fixed.findings)}{where}"
    assert not fixed.notes, f"--fix notes: {fixed.notes}{where}"
    if fixed.new_data is None:
        assert [(f.code, f.start) for f in fixed.findings] == \
               [(f.code, f.start) for f in linted.findings], f"--fix without a change disagrees{where}"
        return Outcome(linted.findings, None, linted.findings)

    new = fixed.new_data
    shown = f"{where}\n--- fixed ---\n{new.decode('utf-8', 'replace')}\n-------------"
    problem = _compiles(new)
    assert problem is None, f"the fixed code does not compile: {problem}{shown}"

    again = run(new, settings, rules, mode)
    assert again.new_data is None, \
        f"a second --fix changed the file again:\n{again.new_data.decode()}{shown}"
    assert not [f for f in again.findings if f.code in ("RL999", "RL000")], \
        f"--fix of the fixed code failed:\n{_show(again.findings)}{shown}"

    plain = run(new, settings, rules)
    assert [(f.code, f.start) for f in plain.findings] == \
           [(f.code, f.start) for f in fixed.findings], \
        f"--fix reports other remaining findings than a plain run:\n{_show(fixed.findings)}\n" \
        f"vs\n{_show(plain.findings)}{shown}"
    added = collections.Counter(f.code for f in plain.findings) - \
        collections.Counter(f.code for f in linted.findings)
    assert not added, f"fixing added findings {dict(added)}:\n{_show(plain.findings)}{shown}"
    return Outcome(linted.findings, new, plain.findings)
