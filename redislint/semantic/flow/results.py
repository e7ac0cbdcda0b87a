"""Where a call's result goes inside its own scope: tested, compared, passed on.

`ResultFlow(scope_node, call_node)` follows the value of one call through the names it is bound
to in the same function (`x = call`, `a, b = call`, `for j in call`, `y := call`, `z = x[1]`),
without entering nested functions or classes. It is flow-insensitive and local: enough for
"`if r.set(k, v, nx=True):`", "`if r.get(k) == token:`" and "`job = r.brpop(q); handle(job)`".

`ElementFlow(scope_node, call, position, length)` does the same for one element of a call's
list result: the reply `pipe.execute()` gives to the command queued at `position` among
`length` (`a, b = pipe.execute()`, `res = pipe.execute(); res[1]`, `pipe.execute()[-1]`).
"""

from __future__ import annotations

from typing import Dict, Iterator, List, Optional, Set, Tuple

import libcst as cst

from redislint.walk import children_of

_NESTED = (cst.FunctionDef, cst.Lambda, cst.ClassDef)
# Exact types (node classes have no subclasses): a set lookup instead of isinstance misses.
_NESTED_TYPES = frozenset(_NESTED)
_BINDER_TYPES = frozenset({cst.Assign, cst.AnnAssign, cst.NamedExpr, cst.AugAssign, cst.For,
                           cst.CompFor})
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
    return iter(_index(scope_node).nodes)


def _walk_scope(scope_node: cst.CSTNode) -> List[cst.CSTNode]:
    if isinstance(scope_node, cst.Module):
        roots: List[cst.CSTNode] = list(scope_node.body)
    elif isinstance(scope_node, cst.FunctionDef):
        roots = [scope_node.body]
    elif isinstance(scope_node, cst.Lambda):
        roots = [scope_node.body]
    else:
        roots = [scope_node]
    out = []
    stack = list(reversed(roots))
    while stack:
        node = stack.pop()
        out.append(node)
        if type(node) in _NESTED_TYPES:
            continue
        children = children_of(node)
        children.reverse()
        stack.extend(children)
    return out


class _ScopeIndex:
    """One scope's nodes and binders, and the binders filed under the names and calls their
    value carries or mentions: built once per scope and shared by every `ResultFlow` in it, so
    following one result costs the binders that involve it, not a walk of the scope."""

    def __init__(self, scope_node: cst.CSTNode) -> None:
        self.scope_node = scope_node
        self.nodes = _walk_scope(scope_node)
        binders = []
        for node in self.nodes:
            if type(node) not in _BINDER_TYPES:
                continue
            if isinstance(node, cst.Assign):
                binders.extend((t.target, node.value, False) for t in node.targets)
            elif isinstance(node, (cst.AnnAssign, cst.NamedExpr, cst.AugAssign)) and \
                    node.value is not None:
                binders.append((node.target, node.value, isinstance(node, cst.AugAssign)))
            elif isinstance(node, (cst.For, cst.CompFor)):
                binders.append((node.target, node.iter, False))
        self.binders: List[Tuple[cst.CSTNode, cst.BaseExpression, bool]] = binders
        self._carriers: Optional[Dict[object, List[int]]] = None
        self._mentioners: Optional[Dict[object, List[int]]] = None
        self._values: Optional[Dict[str, List[cst.BaseExpression]]] = None

    def values(self) -> Dict[str, List[cst.BaseExpression]]:
        """Name -> the values plain assignments (`name = value`, `name := value`) bind to it."""
        if self._values is None:
            self._values = {}
            for target, value, augmented in self.binders:
                if not augmented and isinstance(target, cst.Name):
                    self._values.setdefault(target.value, []).append(value)
        return self._values

    def carriers(self) -> Dict[object, List[int]]:
        """Name (str) or id of a node -> the non-augmented binders whose value carries it
        (`ResultFlow.carries` is true when it is the call or a name bound from it)."""
        if self._carriers is None:
            self._carriers = {}
            for position, (_, value, augmented) in enumerate(self.binders):
                if not augmented:
                    for term in set(_carried(value)):
                        self._carriers.setdefault(term, []).append(position)
        return self._carriers

    def mentioners(self) -> Dict[object, List[int]]:
        """Name (str) or id of a call -> every binder whose value contains it, outside nested
        functions (`ResultFlow._mentions`)."""
        if self._mentioners is None:
            self._mentioners = {}
            for position, (_, value, _) in enumerate(self.binders):
                for term in _mentioned(value):
                    self._mentioners.setdefault(term, []).append(position)
        return self._mentioners


def _unwrap(expr: cst.BaseExpression) -> cst.BaseExpression:
    """The value inside `await x`, `x[i]`, `str(x)`, `x.decode()`: the same value."""
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
    return expr


def _carried(expr: cst.BaseExpression) -> Iterator[object]:
    """What `expr` evaluates to as far as `ResultFlow.carries` looks: a name, or the id of the
    expression left after the same unwrapping."""
    expr = _unwrap(expr)
    if isinstance(expr, cst.BooleanOperation) and isinstance(expr.operator, cst.Or):
        yield from _carried(expr.left)
        yield from _carried(expr.right)
        return
    yield id(expr)
    if isinstance(expr, cst.Name):
        yield expr.value


def _read_parts(node: cst.CSTNode) -> List[cst.CSTNode]:
    """The children of `node` that may read a value: not the attribute name of `x.attr` nor
    the keyword of `f(attr=...)`, which are no reads of a variable `attr`."""
    if isinstance(node, cst.Attribute):
        return [node.value]
    if isinstance(node, cst.Arg):
        return [node.value]
    return children_of(node)


def _mentioned(expr: cst.CSTNode) -> Set[object]:
    """The names and the ids of the calls in `expr`, not inside nested functions or classes."""
    found: Set[object] = set()
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Name):
            found.add(node.value)
        elif isinstance(node, cst.Call):
            found.add(id(node))
        if not isinstance(node, _NESTED):
            stack.extend(_read_parts(node))
    return found


# Recent scopes' indexes, by id (each holds its node, so the id cannot be reused meanwhile).
_INDEXES: Dict[int, _ScopeIndex] = {}
_KEPT = 8


def _index(scope_node: cst.CSTNode) -> _ScopeIndex:
    found = _INDEXES.get(id(scope_node))
    if found is None or found.scope_node is not scope_node:
        if len(_INDEXES) >= _KEPT:
            del _INDEXES[next(iter(_INDEXES))]
        found = _INDEXES[id(scope_node)] = _ScopeIndex(scope_node)
    return found


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
        self._index = _index(scope_node)
        self.nodes = self._index.nodes
        self.names: Set[str] = set()
        self._derived: Optional[Set[str]] = None
        self._bind()

    # -- what carries the value ---------------------------------------------------------
    def carries(self, expr: cst.BaseExpression) -> bool:
        """`expr` evaluates to the result (or a part of it): the call, `await call`, a name
        bound from it, a subscript of one of those, `that or default`, or the same value
        converted (`bool(that)`, `str(that)`, `that.decode()`)."""
        expr = _unwrap(expr)
        if isinstance(expr, cst.BooleanOperation) and isinstance(expr.operator, cst.Or):
            return self.carries(expr.left) or self.carries(expr.right)
        if expr is self.call:
            return True
        return isinstance(expr, cst.Name) and expr.value in self.names

    def _bind(self) -> None:
        """Every name a (non-augmented) binder assigns from a value that carries the result,
        to a fixed point."""
        self._propagate(self.names, self._index.carriers())

    def _propagate(self, names: Set[str], index: Dict[object, List[int]]) -> None:
        """Add to `names` the targets of the binders `index` files under the call or a name
        in `names`, until none is added."""
        binders = self._index.binders
        queue: List[object] = list(names)
        if id(self.call) in _carried(self.call):  # not itself unwrapped (`x.decode()`)
            queue.append(id(self.call))
        done: Set[int] = set()
        while queue:
            for position in index.get(queue.pop(), ()):
                if position in done:
                    continue
                done.add(position)
                for name in _target_names(binders[position][0]):
                    if name not in names:
                        names.add(name)
                        queue.append(name)

    # -- values computed from the result ------------------------------------------------
    def derived_names(self) -> Set[str]:
        """Names bound to the result or to a value computed from it, however
        (`n = int(v) + 1`, `data = json.loads(v)`, `total += v`)."""
        if self._derived is None:
            names = set(self.names)
            self._propagate(names, self._index.mentioners())
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
                stack.extend(_read_parts(node))
        return False

    def contains(self, expr: cst.CSTNode) -> bool:
        """`expr` or one of its parts (not inside a nested function) carries the result."""
        return self._mentions(expr, set())

    def bound_values(self, name: str) -> List[cst.BaseExpression]:
        """The values the scope assigns to `name` (`ok = n < limit`): what a test of `ok`
        tests."""
        return self._index.values().get(name, [])

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

    def handed_back(self) -> List[cst.CSTNode]:
        """The `return` and `yield` nodes that give the caller the result: as it is, or inside
        a tuple, list, set or dict written there (`return [(None, job[1])]`)."""
        found: List[cst.CSTNode] = []
        for node in self.nodes:
            if isinstance(node, (cst.Return, cst.Yield)) and node.value is not None and \
                    self._holds(node.value):
                found.append(node)
        return found

    def _holds(self, expr: cst.BaseExpression) -> bool:
        if self.carries(expr):
            return True
        if isinstance(expr, (cst.Tuple, cst.List, cst.Set)):
            return any(self._holds(el.value) for el in expr.elements)
        if isinstance(expr, cst.Dict):
            return any(isinstance(el, cst.DictElement) and self._holds(el.value)
                       for el in expr.elements)
        return False

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


def _literal_index(expr: cst.BaseExpression) -> Optional[int]:
    """`1` -> 1, `-1` -> -1; None for anything else (a name, a slice)."""
    negative = False
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
        negative, expr = True, expr.expression
    if isinstance(expr, cst.Integer):
        value = int(expr.value, 0)
        return -value if negative else value
    return None


class ElementFlow(ResultFlow):
    """The uses of one element of a call's list result (see the module doc): the element
    bound by tuple unpacking, or a subscript with the literal index of `position` (a negative
    one counted from `length`) of the call or of a name bound to the whole result."""

    def __init__(self, scope_node: cst.CSTNode, call: cst.Call, position: int,
                 length: int) -> None:
        self.position, self.length = position, length
        self.containers: Set[str] = set()
        super().__init__(scope_node, call)

    def _whole(self, expr: cst.BaseExpression) -> bool:
        while isinstance(expr, cst.Await):
            expr = expr.expression
        return expr is self.call or (isinstance(expr, cst.Name) and expr.value in self.containers)

    def _element(self, expr: cst.Subscript) -> bool:
        if len(expr.slice) != 1 or not isinstance(expr.slice[0].slice, cst.Index):
            return False
        index = _literal_index(expr.slice[0].slice.value)
        if index is None or not self._whole(expr.value):
            return False
        return index == self.position or index + self.length == self.position

    def carries(self, expr: cst.BaseExpression) -> bool:
        while True:  # the same value in another form, as `_unwrap` does, but for subscripts
            if isinstance(expr, cst.Await):
                expr = expr.expression
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
        if isinstance(expr, cst.Subscript):
            return self._element(expr)
        return isinstance(expr, cst.Name) and expr.value in self.names

    def _bind(self) -> None:
        for target, value, augmented in self._index.binders:
            if augmented or not self._whole(value) or isinstance(value, cst.Name):
                continue
            if isinstance(target, cst.Name):
                self.containers.add(target.value)
            elif isinstance(target, (cst.Tuple, cst.List)):
                elements = target.elements
                if len(elements) == self.length and not any(
                        isinstance(e.value, cst.StarredElement) for e in elements) and \
                        isinstance(elements[self.position].value, cst.Name):
                    self.names.add(elements[self.position].value.value)
        self._propagate(self.names, self._index.carriers())

    def _propagate(self, names: Set[str], index: Dict[object, List[int]]) -> None:
        """As `ResultFlow._propagate`, keeping only the binders whose value holds this
        element (a binder of the whole result, or of another element, binds nothing)."""
        binders = self._index.binders
        carrying = index is self._index.carriers()
        queue: List[object] = list(names) + list(self.containers) + [id(self.call)]
        done: Set[int] = set()
        while queue:
            for position in index.get(queue.pop(), ()):
                if position in done:
                    continue
                value = binders[position][1]
                held = self.carries(value) if carrying else self._mentions(value, names)
                if not held:
                    continue  # may hold it once a name it mentions is added
                done.add(position)
                for name in _target_names(binders[position][0]):
                    if name not in names:
                        names.add(name)
                        queue.append(name)
