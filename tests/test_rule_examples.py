"""Every rule's VALID and INVALID examples, as tests: the docs and the tests are one text."""

from __future__ import annotations

from dataclasses import replace

import pytest

from redislint.config import Settings, parse_options
from redislint.linter import lint_source
from redislint.registry import all_rules


def _cases(kind):
    for rule in all_rules():
        for index, example in enumerate(getattr(rule, kind)):
            yield pytest.param(rule, example, id=f"{rule.code}-{rule.name}-{kind.lower()}-{index}")


def _lint(rule, example):
    settings = Settings()
    extra = getattr(example, "settings", None)
    if extra:
        settings = replace(settings, **parse_options(dict(extra), "example"))
    return [f for f in lint_source(example.code.encode(), "example.py", settings, [rule])]


@pytest.mark.parametrize("rule, example", list(_cases("VALID")))
def test_valid_examples_are_silent(rule, example):
    findings = _lint(rule, example)
    assert findings == [], f"{rule.code} flagged valid code:\n{example.code}\n{findings}"


@pytest.mark.parametrize("rule, example", list(_cases("INVALID")))
def test_invalid_examples_are_flagged(rule, example):
    findings = _lint(rule, example)
    codes = [f.code for f in findings]
    assert codes == [rule.code] * example.count, f"{rule.code} on:\n{example.code}\n{findings}"


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.code)
def test_rule_is_documented(rule):
    docs = rule.docs()
    for section in ("## What it does", "## Why is this bad?", "## Example", "## Use instead:",
                    "## Fix safety"):
        assert section in docs, f"{rule.code} docs lack {section!r}"
    assert rule.VALID and rule.INVALID, f"{rule.code} needs VALID and INVALID examples"
    assert rule.name == rule.name.lower() and " " not in rule.name


def _fix(rule, example, unsafe):
    import libcst as cst

    from redislint.fixes import fix_until_stable
    from redislint.linter import lint_module
    from redislint.positions import locate

    settings = Settings()
    extra = getattr(example, "settings", None)
    if extra:
        settings = replace(settings, **parse_options(dict(extra), "example"))

    def lint(tree):
        reports, findings = lint_module(tree, "example.py", settings, [rule], None)
        kept = [(r, f) for r, f in zip(reports, findings) if f is not None]
        return [r for r, _ in kept], [f for _, f in kept]

    _, outcome = fix_until_stable(cst.parse_module(example.code), lint, unsafe, locate)
    return outcome


@pytest.mark.parametrize("rule, example", list(_cases("INVALID")))
def test_fixes_match_expected_code(rule, example):
    findings = _lint(rule, example)
    fixes = [f.fix for f in findings if f.fix is not None]
    if example.expected_fix is None:
        assert not fixes, f"{rule.code} offers a fix the example does not show:\n{example.code}"
        return
    assert fixes, f"{rule.code} offers no fix for:\n{example.code}"
    assert all(f.applicability == ("unsafe" if example.unsafe else "safe") for f in fixes)
    if example.unsafe:
        assert _fix(rule, example, unsafe=False).data == example.code.encode()
    outcome = _fix(rule, example, unsafe=True)
    assert outcome.data.decode() == example.expected_fix
    assert outcome.converged and not outcome.dropped
    # Fixed code re-lints clean of this finding, and a second fix pass changes nothing.
    again = type(example)(outcome.data.decode())
    assert _lint(rule, again) == [], f"{rule.code} still flags its own fix:\n{outcome.data.decode()}"
    assert _fix(rule, again, unsafe=True).data == outcome.data
