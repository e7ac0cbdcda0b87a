"""Calls to the module's own helpers, and what runs on every call of a function.

(Which function of the module a call runs is `redislint.semantic.flow.calls.local_callee`.)
- `runs_every_call(ancestors, function, node)`: `node`, inside `function`, runs each time the
  function is called: not under an `if`/`match` branch, the right side of `and`/`or`, a
  conditional expression's branch, an `except` block or a loop, and no `return` comes before
  it (`if k in self._seen: return True` answers some calls without it).
- `is_generator(function)`: the function's own body yields: calling it runs nothing yet.
"""

from __future__ import annotations

from typing import Sequence

import libcst as cst

from redislint.semantic.facts import FunctionFacts
from redislint.walk import iter_children

_NESTED = (cst.FunctionDef, cst.Lambda, cst.ClassDef)
_LOOPS = (cst.For, cst.While, cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)
_ALWAYS_BRANCHES = (cst.ExceptHandler, cst.ExceptStarHandler, cst.Match, cst.MatchCase)


def runs_every_call(ancestors: Sequence[cst.CSTNode], function: cst.CSTNode,
                    node: cst.CSTNode) -> bool:
    chain = list(ancestors) + [node]
    start = next((i for i, n in enumerate(chain) if n is function), None)
    if start is None:
        return False
    for index in range(start + 1, len(chain) - 1):
        holder, child = chain[index], chain[index + 1]
        if isinstance(holder, _NESTED) or isinstance(holder, _LOOPS) or \
                isinstance(holder, _ALWAYS_BRANCHES):
            return False
        if isinstance(holder, (cst.If, cst.IfExp)) and child is not holder.test:
            return False
        if isinstance(holder, cst.BooleanOperation) and child is holder.right:
            return False
        body = getattr(holder, "body", None)
        if isinstance(body, (list, tuple)):  # a block or a line of statements
            for earlier in body:
                if earlier is child:
                    break
                if _returns(earlier):
                    return False
    return True


def _returns(node: cst.CSTNode) -> bool:
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, cst.Return):
            return True
        if not isinstance(current, _NESTED):
            stack.extend(iter_children(current))
    return False


def is_generator(function: cst.CSTNode) -> bool:
    if not isinstance(function, cst.FunctionDef):
        return False
    stack = [function.body]
    while stack:
        current = stack.pop()
        if isinstance(current, cst.Yield):
            return True
        if not isinstance(current, _NESTED):
            stack.extend(iter_children(current))
    return False
