"""Property tests over arbitrary valid Python from hypothesmith: programs from the grammar
(`from_grammar`) and from libcst's node types (`from_node`). Whatever the syntax, redislint must
not fail (no RL999), and its fixes must hold (engine_harness.check_properties).

libcst's own verdict must be Python's: RL000 on code Python accepts would be a parser gap; the
test records it as a hypothesis event and fails, so a long run lists them."""

from __future__ import annotations

import warnings

import pytest
from hypothesis import event, given

from conftest import fuzz_settings
from engine_harness import check_properties

pytestmark = pytest.mark.filterwarnings("ignore::SyntaxWarning")  # hypothesmith compiles too
hypothesmith = pytest.importorskip("hypothesmith")  # in the `test` extra; see docs/robustness.md


def _check(code: str) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "'int' object is not callable" and friends
            compile(code, "<hypothesmith>", "exec")
    except (SyntaxError, ValueError):  # from_node can write code CPython rejects
        event("not valid Python: skipped")
        return
    outcome = check_properties(code)
    event(f"{len(outcome.before)} findings")


@fuzz_settings(ci_examples=80, long_share=0.25)
@given(hypothesmith.from_grammar())
def test_fuzz_grammar_programs(code):
    _check(code)


@fuzz_settings(ci_examples=10, long_share=0.05)
@given(hypothesmith.from_node())
def test_fuzz_libcst_node_programs(code):
    _check(code)


@fuzz_settings(ci_examples=60, long_share=0.25)
@given(hypothesmith.from_grammar())
def test_fuzz_grammar_programs_beside_a_client(code):
    """The same syntax where a Redis client is in scope (and the byte pre-filter passes)."""
    _check(code.rstrip("\\\n") + "\n\nimport redis\nr = redis.Redis()\nr.set(k, v)\n")
