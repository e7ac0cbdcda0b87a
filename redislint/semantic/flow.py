"""Where a call's result goes inside its own scope: tested, compared, passed on.

`ResultFlow(scope_node, call_node)` follows the value of one call through the names it is bound
to in the same function (`x = call`, `a, b = call`, `for j in call`, `y := call`, `z = x[1]`),
without entering nested functions or classes. It is flow-insensitive and local: enough for
"`if r.set(k, v, nx=True):`", "`if r.get(k) == token:`" and "`job = r.brpop(q); handle(job)`".
"""

from __future__ import annotations

from typing import Iterator, List, Optional, Set

import libcst as cst

from redislint.walk import iter_children

_NESTED = (cst.FunctionDef, cst.Lambda, cst.ClassDef)
_TESTED = (cst.If, cst.While, cst.IfExp, cst.Assert)
_EQUALITY = (cst.Equal, cst.NotEqual)
# Calls that return the same value in another form.
_CONVERSIONS = frozenset({"bool", "str", "bytes"})
_CONVERTING_METHODS = frozenset({"decode", "encode", "strip"})
# Calls that look at a value without processing it.
_INSPECTING = frozenset({"print", "len", "bool", "isinstance", "repr", "type", "id", "debug",
                         "info", "warning", "warn", "error", "exception", "critical", "log"})


def scope_nodes(scope_node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """Every node of a scope's own code (not of the functions and classes defined in it)."""
    if isinstance(scope_node, cst.Module):
        roots: List[cst.CSTNode] = list(scope_node.body)
    elif isinstance(scope_node, cst.FunctionDef):
        roots = [scope_node.body]
    elif isinstance(scope_node, cst.Lambda):
        roots = [scope_node.body]
    else:
        roots = [scope_node]
    stack = list(reversed(roots))
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, _NESTED):
            continue
        stack.extend(reversed(list(iter_children(node))))


def _target_names(target: cst.CSTNode) -> Iterator[str]:
    if isinstance(target, cst.Name):
        yield target.value
    elif isinstance(target, (cst.Tuple, cst.List)):
        for element in target.elements:
            yield from _target_names(element.value)
    elif isinstance(target, cst.StarredElement):
        yield from _target_names(target.value)


class ResultFlow:
    """The uses of one call's result in the scope that makes the call."""

    def __init__(self, scope_node: cst.CSTNode, call: cst.Call) -> None:
        self.call = call
        self.nodes = list(scope_nodes(scope_node))
        self.names: Set[str] = set()
        self._derived: Optional[Set[str]] = None
        self._bind()

    # -- what carries the value ---------------------------------------------------------
    def carries(self, expr: cst.BaseExpression) -> bool:
        """`expr` evaluates to the result (or a part of it): the call, `await call`, a name
        bound from it, a subscript of one of those, `that or default`, or the same value
        converted (`bool(that)`, `str(that)`, `that.decode()`)."""
        while True:
            if isinstance(expr, cst.Await):
                expr = expr.expression
            elif isinstance(expr, cst.Subscript):
                expr = expr.value
            elif isinstance(expr, cst.Call) and len(expr.args) == 1 and isinstance(
                    expr.func, cst.Name) and expr.func.value in _CONVERSIONS:
                expr = expr.args[0].value
            elif isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and \
                    expr.func.attr.value in _CONVERTING_METHODS:
                expr = expr.func.value
            else:
                break
        if isinstance(expr, cst.BooleanOperation) and isinstance(expr.operator, cst.Or):
            return self.carries(expr.left) or self.carries(expr.right)
        if expr is self.call:
            return True
        return isinstance(expr, cst.Name) and expr.value in self.names

    def _binders(self) -> List[tuple]:
        binders = []
        for node in self.nodes:
            if isinstance(node, cst.Assign):
                binders.extend((t.target, node.value, False) for t in node.targets)
            elif isinstance(node, (cst.AnnAssign, cst.NamedExpr, cst.AugAssign)) and \
                    node.value is not None:
                binders.append((node.target, node.value, isinstance(node, cst.AugAssign)))
            elif isinstance(node, (cst.For, cst.CompFor)):
                binders.append((node.target, node.iter, False))
        return binders

    def _bind(self) -> None:
        self._propagate(self.names, self.carries, augmented=False)

    def _propagate(self, names: Set[str], binds, augmented: bool) -> None:
        """Add to `names` every name a binder assigns from a value `binds` accepts, until no
        name is added (`augmented`: also `x += value`)."""
        binders = [(t, v) for t, v, aug in self._binders() if augmented or not aug]
        changed = True
        while changed:
            changed = False
            for target, value in binders:
                if binds(value):
                    for name in _target_names(target):
                        if name not in names:
                            names.add(name)
                            changed = True

    # -- values computed from the result ------------------------------------------------
    def derived_names(self) -> Set[str]:
        """Names bound to the result or to a value computed from it, however
        (`n = int(v) + 1`, `data = json.loads(v)`, `total += v`)."""
        if self._derived is None:
            names = set(self.names)
            self._propagate(names, lambda value: self._mentions(value, names), augmented=True)
            self._derived = names
        return self._derived

    def derives(self, expr: cst.CSTNode) -> bool:
        """`expr` is computed from the result: it contains it or a name derived from it."""
        return self._mentions(expr, self.derived_names())

    def _mentions(self, expr: cst.CSTNode, names: Set[str]) -> bool:
        stack = [expr]
        while stack:
            node = stack.pop()
            if isinstance(node, cst.Name) and node.value in names:
                return True
            if isinstance(node, cst.BaseExpression) and self.carries(node):
                return True
            if not isinstance(node, _NESTED):
                stack.extend(iter_children(node))
        return False

    def contains(self, expr: cst.CSTNode) -> bool:
        """`expr` or one of its parts (not inside a nested function) carries the result."""
        return self._mentions(expr, set())

    # -- questions ----------------------------------------------------------------------
    def _tests(self, expr: cst.BaseExpression) -> bool:
        if self.carries(expr):
            return True
        if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Not):
            return self._tests(expr.expression)
        if isinstance(expr, cst.BooleanOperation):
            return self._tests(expr.left) or self._tests(expr.right)
        if isinstance(expr, cst.Comparison):
            return self.carries(expr.left) or any(self.carries(c.comparator)
                                                  for c in expr.comparisons)
        return False

    def decides_branch(self) -> bool:
        """The result is the condition (or part of it) of an if/while/ternary/assert."""
        return any(isinstance(node, _TESTED) and self._tests(node.test) for node in self.nodes)

    def returned(self) -> bool:
        """The result is returned (or yielded) as it is, for the caller to decide on."""
        return any(isinstance(node, (cst.Return, cst.Yield)) and node.value is not None
                   and self.carries(node.value) for node in self.nodes)

    def compared_for_equality(self) -> List[cst.Comparison]:
        """Comparisons `result == x` / `result != x` (either side)."""
        found = []
        for node in self.nodes:
            if not isinstance(node, cst.Comparison):
                continue
            operands = [node.left] + [c.comparator for c in node.comparisons]
            if any(isinstance(c.operator, _EQUALITY) for c in node.comparisons) and \
                    any(self.carries(o) for o in operands):
                found.append(node)
        return found

    def passed_to_call(self) -> List[cst.Call]:
        """Calls that receive the result (or something computed from it) as an argument,
        besides calls that only inspect it (print, len, logging) or convert it (`str(x)`)."""
        found = []
        for node in self.nodes:
            if not isinstance(node, cst.Call) or node is self.call:
                continue
            func = node.func
            name = func.attr.value if isinstance(func, cst.Attribute) else getattr(func, "value", None)
            if name in _INSPECTING or name in _CONVERSIONS:
                continue
            if any(self.contains(arg.value) for arg in node.args):
                found.append(node)
        return found
