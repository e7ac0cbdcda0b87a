"""Property tests over arbitrary valid Python from hypothesmith: programs from the grammar
(`from_grammar`) and from libcst's node types (`from_node`). Whatever the syntax, redislint must
not fail (no RL999), and its fixes must hold (engine_harness.check_properties).

libcst's verdict must be Python's: valid code libcst rejects comes out as RL999 (redislint's
limit), and fails the test like any other RL999. from_node() may write code Python rejects:
such examples are skipped and counted as a hypothesis event."""

from __future__ import annotations

import warnings

import hypothesmith  # the `test` extra; installs and runs on Python 3.9 to 3.13
import pytest
from hypothesis import event, given

from conftest import fuzz_settings
from engine_harness import check_properties

pytestmark = pytest.mark.filterwarnings("ignore::SyntaxWarning")  # hypothesmith compiles too


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
