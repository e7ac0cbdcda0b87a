"""Calls to the module's own functions: which one a call runs, and what it binds.

- `local_callee(model, call, context)`: the function or method of this module a call runs:
  `helper(...)` for a module-level `def helper` that no enclosing function shadows (a local or a
  parameter of that name), `self.method(...)` / `cls.method(...)` for a method of the class
  being walked. None for anything else (an import, an attribute of another object, a builtin),
  and for a method a subclass of this module overrides (`self.m` may run the override).
- `parameter_of(callee, call, is_method)`: for each argument of `call`, the parameter of
  `callee` it binds (positional by position, keywords by name); arguments after `*args` or
  into `**kwargs` bind nothing known.

Syntactic and local to the module, like the rest of the flow room: what another module defines
is the client inference's business.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Optional, Tuple

import libcst as cst

from redislint.semantic.facts import FunctionFacts
from redislint.semantic.keys.constants import Context, current_context

if TYPE_CHECKING:
    from redislint.semantic.model import SemanticModel


def local_callee(model: "SemanticModel", call: cst.BaseExpression,
                 context: Optional[Context] = None) -> Optional[Tuple[FunctionFacts, bool]]:
    """(the function `call` runs, whether it is a method called through `self` / `cls`)."""
    if not isinstance(call, cst.Call):
        return None
    context = context if context is not None else current_context(model)
    if context is None:
        return None
    chain, cls, self_name = context
    func = call.func
    facts = model.facts
    if isinstance(func, cst.Name):
        name = func.value
        if any(name in f.locals or name in f.params for f in chain):
            return None
        found = facts.functions.get(name)
        return (found, False) if found is not None else None
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and cls is not None:
        owner = func.value.value
        if owner not in ((self_name or "self"), "cls"):
            return None
        if any(owner in f.locals for f in chain):
            return None
        method = cls.methods.get(func.attr.value)
        if method is None or _overridden(model, cls.node.name.value, func.attr.value):
            return None
        return method, True
    return None


def _overridden(model: "SemanticModel", owner: str, method: str) -> bool:
    """Some class of this module derived from `owner` defines `method` again."""
    for other in model.facts.classes.values():
        if other.node.name.value != owner and owner in (b.split(".")[-1] for b in other.bases) \
                and method in other.methods:
            return True
    return False


def parameter_of(callee: FunctionFacts, call: cst.Call, is_method: bool
                 ) -> Dict[int, str]:
    """id of each argument expression of `call` -> the name of the parameter it binds."""
    node = callee.node
    if not isinstance(node, cst.FunctionDef):
        return {}
    params = node.params
    positional = list(params.posonly_params) + list(params.params)
    if is_method:
        decorators = {d.decorator.value for d in node.decorators
                      if isinstance(d.decorator, cst.Name)}
        if "staticmethod" not in decorators:
            positional = positional[1:]
    named = {p.name.value for p in positional} | {p.name.value for p in params.kwonly_params}
    out: Dict[int, str] = {}
    index = 0
    for arg in call.args:
        if arg.star:
            if arg.star == "*":
                index = len(positional)  # where the unpacked items end is unknown
            continue
        if arg.keyword is None:
            if index < len(positional):
                out[id(arg.value)] = positional[index].name.value
            index += 1
        elif arg.keyword.value in named:
            out[id(arg.value)] = arg.keyword.value
    return out
