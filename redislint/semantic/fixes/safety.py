"""Questions a fix asks before it changes code, so its applicability is honest.

- `result_use(call)`: how the program uses a Redis call's result: "unused", "truth" (only its
  truthiness matters: `if r.setnx(...)`, `ok = ...; if not ok:`, `bool(...)`), "compared"
  (`== False`, `is None`...: the exact value matters) or "other" (returned, stored, passed on).
- `is_pure(expr)`: evaluating the expression has no side effect, so it may be evaluated earlier,
  later or not at all (`f"user:{uid}"`, `60 * 5`, `ttl`).
- `never_none(expr, module, scope)`: the expression can never be None (a number, arithmetic,
  `timedelta(...)`, a module constant bound once to one of those). A TTL that may be None makes
  `expire`/`setex` raise while `set(..., ex=None)` silently writes a key without TTL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, List, Optional, Sequence, Tuple

import libcst as cst

from redislint.semantic.names import dotted
from redislint.walk import iter_children

if TYPE_CHECKING:
    from redislint.semantic.model import RedisCall

_TESTS = (cst.If, cst.While, cst.IfExp, cst.Assert)
_NESTED = (cst.FunctionDef, cst.Lambda, cst.ClassDef)
# Calls that compute a value from their arguments and do nothing else.
_PURE_CALLS = frozenset({"str", "int", "float", "bool", "bytes", "round", "abs", "len", "repr",
                         "timedelta", "datetime.timedelta"})
_PURE_METHODS = frozenset({"format", "encode", "decode", "lower", "upper", "strip",
                           "total_seconds"})
# Calls whose result is never None (they return a value or raise).
_NUMBER_CALLS = frozenset({"int", "float", "round", "abs", "len", "timedelta",
                           "datetime.timedelta"})


# -- how a result is used ------------------------------------------------------------------
def result_use(call: "RedisCall") -> str:
    """"unused", "truth", "compared" or "other": see the module docstring."""
    chain: List[cst.CSTNode] = list(call.ancestors)
    node: cst.CSTNode = call.node
    if chain and isinstance(chain[-1], cst.Await):
        node = chain.pop()
    use, holder = _context(node, chain)
    if use != "bound":
        return use
    name = holder.targets[0].target if isinstance(holder, cst.Assign) else holder.target
    return _name_use(call.scope.node, name.value, name)  # type: ignore[union-attr]


def _context(node: cst.CSTNode, chain: Sequence[cst.CSTNode]
             ) -> Tuple[str, Optional[cst.CSTNode]]:
    """How the value of `node` (whose ancestors are `chain`) is used; ("bound", assignment)
    when it is assigned to exactly one plain name."""
    index = len(chain) - 1
    while index >= 0:
        parent = chain[index]
        if isinstance(parent, cst.Expr):
            return "unused", None
        if isinstance(parent, _TESTS) and parent.test is node:
            return "truth", None
        if isinstance(parent, cst.UnaryOperation) and isinstance(parent.operator, cst.Not):
            return "truth", None  # `not x` is a bool: the same for False and None
        if isinstance(parent, cst.Arg) and index > 0 and _is_bool_call(chain[index - 1]):
            return "truth", None
        if isinstance(parent, cst.BooleanOperation):
            node, index = parent, index - 1  # `x or y` may be x itself: judge the whole
            continue
        if isinstance(parent, cst.Comparison):
            return "compared", None
        if isinstance(parent, cst.Assign) and len(parent.targets) == 1 and isinstance(
                parent.targets[0].target, cst.Name) and parent.value is node:
            return "bound", parent
        if isinstance(parent, cst.AnnAssign) and isinstance(parent.target, cst.Name) and \
                parent.value is node:
            return "bound", parent
        return "other", None
    return "other", None


def _is_bool_call(node: cst.CSTNode) -> bool:
    return (isinstance(node, cst.Call) and isinstance(node.func, cst.Name)
            and node.func.value == "bool" and len(node.args) == 1 and not node.args[0].star)


def _name_use(scope_node: cst.CSTNode, name: str, target: cst.Name) -> str:
    """The combined use of every read of `name` in the scope (nested functions included, so a
    closure that reads it counts)."""
    nodes = list(_walk(scope_node))
    bindings = {id(n) for node, _ in nodes for n in _bound_names(node)}
    worst = "unused"
    order = ("unused", "truth", "compared", "other")
    for node, chain in nodes:
        if isinstance(node, (cst.Global, cst.Nonlocal, cst.AugAssign)) and name in {
                n.value for n in _bound_names(node)}:
            return "other"  # shared with other scopes, or updated in place
        if not isinstance(node, cst.Name) or node.value != name or id(node) in bindings:
            continue
        parent = chain[-1] if chain else None
        if isinstance(parent, cst.Attribute) and parent.attr is node:
            continue  # `obj.name`
        if isinstance(parent, cst.Arg) and parent.keyword is node:
            continue  # `f(name=...)`
        use = _context(node, chain)[0]
        use = {"bound": "other"}.get(use, use)
        if order.index(use) > order.index(worst):
            worst = use
    return worst


def _bound_names(node: cst.CSTNode) -> Iterator[cst.Name]:
    """The names a node binds: assignment and loop targets, parameters, `as` names, defs,
    imports, `global`/`nonlocal` declarations."""
    targets: List[cst.CSTNode] = []
    if isinstance(node, cst.AssignTarget):
        targets = [node.target]
    elif isinstance(node, (cst.AnnAssign, cst.AugAssign, cst.NamedExpr, cst.For, cst.CompFor)):
        targets = [node.target]
    elif isinstance(node, (cst.AsName, cst.Param)):
        targets = [node.name]
    elif isinstance(node, (cst.FunctionDef, cst.ClassDef)):
        targets = [node.name]
    elif isinstance(node, cst.ImportAlias) and node.asname is None:
        head = node.name
        while isinstance(head, cst.Attribute):
            head = head.value
        targets = [head]
    elif isinstance(node, (cst.Global, cst.Nonlocal)):
        targets = [item.name for item in node.names]
    while targets:
        target = targets.pop()
        if isinstance(target, cst.Name):
            yield target
        elif isinstance(target, (cst.Tuple, cst.List)):
            targets.extend(element.value for element in target.elements)
        elif isinstance(target, cst.StarredElement):
            targets.append(target.value)


def _walk(root: cst.CSTNode) -> Iterator[Tuple[cst.CSTNode, List[cst.CSTNode]]]:
    """Every node under `root` (itself included) with its ancestors below `root`."""
    stack: List[Tuple[cst.CSTNode, List[cst.CSTNode]]] = [(root, [])]
    while stack:
        node, chain = stack.pop()
        yield node, chain
        inner = chain + [node]
        stack.extend((child, inner) for child in reversed(list(iter_children(node))))


# -- what an expression can do and be ------------------------------------------------------
def is_pure(expr: cst.CSTNode) -> bool:
    """No calls (besides formatting and conversions), no await, no walrus, no yield."""
    for node, _ in _walk(expr):
        if isinstance(node, (cst.Await, cst.NamedExpr, cst.Yield, cst.Lambda)):
            return False
        if isinstance(node, cst.Call):
            func = node.func
            if isinstance(func, cst.Attribute) and func.attr.value in _PURE_METHODS:
                continue
            if dotted(func) not in _PURE_CALLS:
                return False
    return True


def never_none(expr: cst.BaseExpression, module: cst.Module,
               scope_node: Optional[cst.CSTNode] = None, _depth: int = 0) -> bool:
    """The expression is a number or raises: see the module docstring. `scope_node` is the
    function the expression is in (a name it binds itself is not a module constant)."""
    if _depth > 5:
        return False
    if isinstance(expr, (cst.Integer, cst.Float)):
        return True
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, (cst.Minus, cst.Plus)):
        return never_none(expr.expression, module, scope_node, _depth + 1)
    if isinstance(expr, cst.BinaryOperation):
        return True  # arithmetic gives a value or raises
    if isinstance(expr, cst.Call):
        return dotted(expr.func) in _NUMBER_CALLS
    if isinstance(expr, cst.Name):
        if scope_node is not None and not isinstance(scope_node, cst.Module) and \
                _binds(scope_node, expr.value):
            return False
        value = _module_constant(module, expr.value)
        return value is not None and never_none(value, module, None, _depth + 1)
    return False


def _binds(scope_node: cst.CSTNode, name: str) -> bool:
    """The function binds `name` itself (a parameter, an assignment, a loop target...)."""
    return any(bound.value == name for node, _ in _walk(scope_node) for bound in _bound_names(node))


def _module_constant(module: cst.Module, name: str) -> Optional[cst.BaseExpression]:
    """The value of `NAME = value` when that is the module's only binding of NAME outside
    functions and classes."""
    found: List[cst.BaseExpression] = []
    for statement in module.body:
        if isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
            if statement.name.value == name or any(
                    isinstance(node, cst.Global) and any(i.name.value == name for i in node.names)
                    for node, _ in _walk(statement)):
                return None  # defined as a function, or rebound through `global`
            continue
        if isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1:
            small = statement.body[0]
            if isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(
                    small.targets[0].target, cst.Name) and small.targets[0].target.value == name:
                found.append(small.value)
                continue
        if any(bound.value == name for node, _ in _walk(statement)
               for bound in _bound_names(node)):
            return None  # bound another way (a tuple, a loop, an import, inside an `if`)
    return found[0] if len(found) == 1 else None
