"""Questions about the loops that run a call once per iteration (`RedisCall.loop`).

- `loops_around(ancestors, node)`: every loop that repeats `node`, innermost first, up to the
  enclosing function.
- `iterable(loop)` / `targets(loop)`: what a `for` loop or comprehension walks, and the names
  it binds; `mentions(expr, names)`.
- `is_bounded(expr)`: a literal collection, a string, `range(<literal>)`: a handful of items
  written in the source, not data that grows.
- `exits_early(loop)`: the body can leave the loop (`break`, `return`, `yield`, `raise` outside
  an `except` block): a search, retry or streaming loop, whose later iterations may never run.
- `walks_collection(loop)`: a `while` loop that walks a local collection item by item: it
  drains it (`while todo: k = todo.pop()`, adding nothing back) or steps an index or a count
  by one (`while i < len(items): ... i += 1`, `while n > 0: ... n -= 1`); not a consumer,
  poller or retry (`while True:`, `while not stop.is_set():`, `while r.llen(q):`).
- `body_calls(loop)`: the calls a loop makes per iteration (not in nested functions);
  `assigned_names(loop)`: the names its body rebinds.
- `under_handler(ancestors, loop)`: the node sits in an `except` block inside the loop, so it
  runs only when an iteration fails; `under_batch_check(ancestors, loop)`: in an `if` that
  tests a size or count (`if len(buffer) >= 1000:`), so it runs once per batch.
- `grows(model, expr, scope_node)`: there is evidence in the code that an iterable holds data
  that grows with the dataset: a Redis scan (`scan_iter`, `keys`, `sscan_iter`...: nobody
  scans what is small), a database query (`.all()`, `.filter()`, `.iterator()`,
  `.fetchall()`), a file, `range(<variable>)`, a name bound to one of those (through
  comprehensions, `list()`, `sorted()`, `.items()`...), or a call of a function or method of
  the module (`self.active_users()`) that returns one. A parameter, an attribute, the reply of
  one read (`smembers`: already in memory at once), a `range` whose stop is a constant
  (`range(level, LIMIT + 1)`), and a keyspace scan whose pattern pins one entity
  (`f"{ns}:{tag}:*"`, `redislint.semantic.keys.keyspace.entity_pattern`) are not evidence.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, List, Optional, Sequence, Set

import libcst as cst

from redislint.semantic.flow.calls import local_callee
from redislint.semantic.flow.results import _target_names
from redislint.semantic.keys.constants import constant_value, current_context
from redislint.semantic.keys.keyspace import entity_pattern
from redislint.semantic.model import innermost_loop
from redislint.semantic.names import number_value
from redislint.walk import iter_children

if TYPE_CHECKING:
    from redislint.semantic.facts import FunctionFacts
    from redislint.semantic.keys.constants import Context
    from redislint.semantic.model import SemanticModel

_COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)
_NESTED = (cst.FunctionDef, cst.Lambda, cst.ClassDef)
_LITERALS = (cst.Tuple, cst.List, cst.Set, cst.Dict, cst.SimpleString, cst.ConcatenatedString,
             cst.FormattedString)
# `range(n)` with a literal `n` up to this many items is a handful written in the source.
SMALL_RANGE = 100
# Wrappers that walk the same items as their argument.
_SAME_ITEMS = frozenset({"enumerate", "reversed", "sorted", "list", "tuple", "set", "frozenset",
                         "iter"})


def loops_around(ancestors: Sequence[cst.CSTNode], node: cst.CSTNode) -> List[cst.CSTNode]:
    """The loops that run `node` per iteration, innermost first (within its function)."""
    chain = list(ancestors)
    found: List[cst.CSTNode] = []
    current = node
    while True:
        loop = innermost_loop(chain, current)
        if loop is None:
            return found
        found.append(loop)
        index = next(i for i in range(len(chain) - 1, -1, -1) if chain[i] is loop)
        chain, current = chain[:index], loop


def iterable(loop: cst.CSTNode) -> Optional[cst.BaseExpression]:
    """What a `for` loop or a comprehension (its first `for`) iterates; None for `while`."""
    if isinstance(loop, cst.For):
        return loop.iter
    if isinstance(loop, _COMPREHENSIONS):
        return loop.for_in.iter
    return None


def _comp_fors(loop: cst.CSTNode) -> Iterator[cst.CompFor]:
    comp = loop.for_in if isinstance(loop, _COMPREHENSIONS) else None
    while comp is not None:
        yield comp
        comp = comp.inner_for_in


def targets(loop: cst.CSTNode) -> Set[str]:
    """The names a `for` loop or comprehension binds per iteration."""
    if isinstance(loop, cst.For):
        return set(_target_names(loop.target))
    return {name for comp in _comp_fors(loop) for name in _target_names(comp.target)}


def mentions(expr: cst.CSTNode, names: Set[str]) -> bool:
    """`expr` reads one of `names`."""
    if not names:
        return False
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Name) and node.value in names:
            return True
        if isinstance(node, cst.Attribute):
            stack.append(node.value)  # `x.attr`: the attribute name is not a read of `attr`
            continue
        stack.extend(iter_children(node))
    return False


def is_bounded(expr: Optional[cst.BaseExpression]) -> bool:
    """A few items written in the source: a literal collection or string, `range(<literal>)`
    (up to SMALL_RANGE), or `enumerate`/`sorted`/... of one of those."""
    if expr is None:
        return False
    if isinstance(expr, _LITERALS):
        return True
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.args:
        name = expr.func.value
        if name == "range":
            stop = expr.args[1].value if len(expr.args) > 1 else expr.args[0].value
            start = number_value(expr.args[0].value) if len(expr.args) > 1 else 0.0
            count = number_value(stop)
            return count is not None and start is not None and count - start <= SMALL_RANGE
        if name in _SAME_ITEMS or name == "zip":
            return all(is_bounded(arg.value) for arg in expr.args if arg.keyword is None)
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and \
            expr.func.attr.value in ("items", "keys", "values") and not expr.args:
        return isinstance(expr.func.value, cst.Dict)
    return False


def body_nodes(loop: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """The nodes evaluated per iteration (not nested functions or classes, not a `for`'s
    iterable or `else`); for a function or module, the nodes of its own code."""
    if isinstance(loop, cst.Module):
        roots: List[cst.CSTNode] = list(loop.body)
    elif isinstance(loop, (cst.FunctionDef, cst.Lambda)):
        roots = [loop.body]
    elif isinstance(loop, (cst.For, cst.While)):
        roots = [loop.body]
        if isinstance(loop, cst.While):
            roots.append(loop.test)
    elif isinstance(loop, _COMPREHENSIONS):
        roots = [loop.elt] if not isinstance(loop, cst.DictComp) else [loop.key, loop.value]
        for index, comp in enumerate(_comp_fors(loop)):
            roots.extend(comp.ifs)
            if index:
                roots.append(comp.iter)
    else:
        roots = []
    stack = list(reversed(roots))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, _NESTED):
            stack.extend(reversed(list(iter_children(node))))


def assigned_names(loop: cst.CSTNode) -> Set[str]:
    """Names (re)bound in the loop's body (`url = urls[i]`): values that change per iteration."""
    names: Set[str] = set()
    for node in body_nodes(loop):
        if isinstance(node, cst.AssignTarget):
            names.update(_target_names(node.target))
        elif isinstance(node, (cst.AnnAssign, cst.AugAssign, cst.NamedExpr)):
            names.update(_target_names(node.target))
    return names


# Methods that take one item off a collection, and that put items (back) in.
_TAKES = frozenset({"pop", "popleft", "popitem"})
_ADDS = frozenset({"append", "appendleft", "extend", "extendleft", "insert", "add", "update",
                   "setdefault"})


def walks_collection(loop: cst.CSTNode) -> bool:
    """See the module doc."""
    if not isinstance(loop, cst.While):
        return False
    drained = _drained_name(loop.test)
    if drained is not None and _drains(loop, drained):
        return True
    counter = _counter(loop.test)
    return counter is not None and _steps_by_one(loop, *counter)


def _drained_name(test: cst.BaseExpression) -> Optional[str]:
    """`x`, `len(x)`, `len(x) > 0`, `len(x) != 0`: the name `x` the loop runs until empty."""
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
        comparison = test.comparisons[0]
        if not (isinstance(comparison.operator, (cst.GreaterThan, cst.NotEqual)) and
                number_value(comparison.comparator) == 0):
            return None
        test = test.left
    if isinstance(test, cst.Call) and isinstance(test.func, cst.Name) and \
            test.func.value == "len" and len(test.args) == 1:
        test = test.args[0].value
    return test.value if isinstance(test, cst.Name) else None


def _drains(loop: cst.While, name: str) -> bool:
    """The body takes items off `name` (`name.pop()`) and never adds any or rebinds it."""
    takes = False
    for node in body_nodes(loop):
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and \
                isinstance(node.func.value, cst.Name) and node.func.value.value == name:
            method = node.func.attr.value
            if method in _ADDS:
                return False
            takes = takes or method in _TAKES
        elif isinstance(node, (cst.AssignTarget, cst.AugAssign, cst.AnnAssign, cst.NamedExpr)):
            target = node.target
            if isinstance(target, cst.Subscript):
                target = target.value
            if name in set(_target_names(target)):
                return False
    return takes


def _counter(test: cst.BaseExpression) -> Optional[tuple]:
    """`i < <bound>` / `i <= <bound>` (counting up) or `i > <bound>` / `i >= <bound>`
    (counting down), with a bound that is not a small number written in the source."""
    if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1 or \
            not isinstance(test.left, cst.Name):
        return None
    comparison = test.comparisons[0]
    bound = number_value(comparison.comparator)
    if isinstance(comparison.operator, (cst.LessThan, cst.LessThanEqual)):
        if bound is not None and bound <= SMALL_RANGE:
            return None
        return test.left.value, cst.AddAssign
    if isinstance(comparison.operator, (cst.GreaterThan, cst.GreaterThanEqual)) and \
            bound is not None and bound <= 1:
        return test.left.value, cst.SubtractAssign
    return None


def _steps_by_one(loop: cst.While, name: str, step: type) -> bool:
    """The body changes `name` only by `name += 1` (or `-= 1`), once, outside any branch."""
    steps = 0
    for node in body_nodes(loop):
        if isinstance(node, cst.AugAssign) and isinstance(node.target, cst.Name) and \
                node.target.value == name:
            if not isinstance(node.operator, step) or number_value(node.value) != 1:
                return False
            steps += 1
        elif isinstance(node, (cst.AssignTarget, cst.AnnAssign, cst.NamedExpr)) and \
                name in set(_target_names(node.target)):
            return False
    if steps != 1 or not isinstance(loop.body, cst.IndentedBlock):
        return False
    return any(isinstance(small, cst.AugAssign) and isinstance(small.target, cst.Name) and
               small.target.value == name
               for stmt in loop.body.body if isinstance(stmt, cst.SimpleStatementLine)
               for small in stmt.body)


def body_calls(loop: cst.CSTNode) -> Iterator[cst.Call]:
    return (node for node in body_nodes(loop) if isinstance(node, cst.Call))


def exits_early(loop: cst.CSTNode) -> bool:
    """The body can leave the loop before it has walked everything: `break` (of this loop),
    `return`, `yield` (the consumer may stop) or `raise`. A `raise` in an `except` block
    (re-raising, or wrapping the error) is not one: it runs only when an iteration fails,
    and a loop that walks every item still does so on the normal path."""
    if not isinstance(loop, (cst.For, cst.While)):
        return False
    stack = [(loop.body, False, False)]
    while stack:
        node, nested, handling = stack.pop()
        if isinstance(node, (cst.Return, cst.Yield)):
            return True
        if isinstance(node, cst.Raise) and not handling:
            return True
        if isinstance(node, cst.Break) and not nested:
            return True
        if isinstance(node, _NESTED):
            continue
        # A `break` in an inner loop leaves that loop only; returns and raises still count.
        inner = nested or isinstance(node, (cst.For, cst.While))
        handler = handling or isinstance(node, (cst.ExceptHandler, cst.ExceptStarHandler))
        stack.extend((child, inner, handler) for child in iter_children(node))
    return False


def under_batch_check(ancestors: Sequence[cst.CSTNode], loop: cst.CSTNode) -> bool:
    """Some `if` between `loop` and the node tests a size or a count (`if len(buffer) >=
    1000:`, `if n % 500 == 0:`): the node runs once per batch, not once per iteration."""
    inside = False
    for node in ancestors:
        if node is loop:
            inside = True
        elif inside and isinstance(node, cst.If) and _counts(node.test):
            return True
    return False


def _counts(test: cst.CSTNode) -> bool:
    stack = [test]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and \
                node.func.value == "len":
            return True
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Modulo):
            return True
        stack.extend(iter_children(node))
    return False


def under_handler(ancestors: Sequence[cst.CSTNode], loop: cst.CSTNode) -> bool:
    """Some `except` block between `loop` and the node whose ancestors these are."""
    inside = False
    for node in ancestors:
        if node is loop:
            inside = True
        elif inside and isinstance(node, cst.ExceptHandler):
            return True
    return False


# Redis scans: whoever walks a keyspace or a collection with SCAN expects it to be big.
_REDIS_SCANS = frozenset({"keys", "scan", "scan_iter", "sscan", "sscan_iter", "hscan",
                          "hscan_iter", "zscan", "zscan_iter"})
# The scans of the keyspace, whose `match` pattern says how much of it they walk.
_KEYSPACE_SCANS = frozenset({"keys", "scan", "scan_iter"})
# Query methods of ORMs and DB-API cursors, and file reads.
_QUERIES = frozenset({"all", "iterator", "fetchall", "filter", "exclude", "values_list",
                      "scalars", "readlines"})
_SOURCES = frozenset({"open", "csv.reader", "csv.DictReader", "os.listdir", "os.scandir",
                      "os.walk", "glob.glob", "glob.iglob", "itertools.count", "sys.stdin"})
_PASS_THROUGH = _SAME_ITEMS | {"zip", "map", "filter", "chain", "itertools.chain"}


def grows(model: "SemanticModel", expr: Optional[cst.BaseExpression],
          scope_node: cst.CSTNode, depth: int = 0, context: Optional["Context"] = None) -> bool:
    """Evidence that `expr` iterates data that grows with the dataset (see module doc).
    `context` is where `expr` is read (`redislint.semantic.keys.constants`): the code being
    walked unless a call was followed into a function of the module."""
    if expr is None or depth > 6 or is_bounded(expr):
        return False
    if isinstance(expr, cst.Await):
        return grows(model, expr.expression, scope_node, depth + 1, context)
    if isinstance(expr, _COMPREHENSIONS):
        return grows(model, expr.for_in.iter, scope_node, depth + 1, context)
    if isinstance(expr, cst.Name):
        return any(grows(model, value, scope_node, depth + 1, context)
                   for value in _bound_values(scope_node, expr.value))
    if not isinstance(expr, cst.Call):
        return False
    func = expr.func
    if isinstance(func, cst.Attribute):
        method = func.attr.value
        if method in _REDIS_SCANS and (method != "keys" or model.is_redis(func.value)):
            return not (method in _KEYSPACE_SCANS and
                        entity_pattern(model, _scan_match(method, expr), context))
        if method in ("items", "keys", "values") and not expr.args:
            return grows(model, func.value, scope_node, depth + 1, context)
        if method in _QUERIES:
            return True
    name = model.qualified_name(func) or ""
    if name in _SOURCES:
        return True
    if name == "range":
        # `range(200)` or `range(start, LIMIT + 1)`: a count written in the source, however
        # large, is not data; `range(n)` / `range(0, len(rows))` is.
        if not expr.args or any(arg.star for arg in expr.args):
            return True
        stop = expr.args[1].value if len(expr.args) > 1 else expr.args[0].value
        return not isinstance(constant_value(model, stop, context), (int, float))
    if name in _PASS_THROUGH:
        return any(grows(model, arg.value, scope_node, depth + 1, context) for arg in expr.args)
    # A function or method of this module: what it returns (`self.active_users()` returning a
    # query).
    found = local_callee(model, expr, context)
    if found is not None:
        callee, is_method = found
        inner = _context_of(model, callee, is_method, context)
        return any(grows(model, value, callee.node, depth + 1, inner) for value in callee.returns)
    return False


def _context_of(model: "SemanticModel", callee: "FunctionFacts", is_method: bool,
                context: Optional["Context"]) -> Optional["Context"]:
    """Where a callee's own code is read: its function, its class and `self` name."""
    around = context if context is not None else current_context(model)
    cls = around[1] if around is not None and is_method else None
    node = callee.node
    self_name = None
    if is_method and isinstance(node, cst.FunctionDef):
        params = list(node.params.posonly_params) + list(node.params.params)
        self_name = params[0].name.value if params else None
    return (callee,), cls, self_name


def _scan_match(method: str, call: cst.Call) -> Optional[cst.BaseExpression]:
    """The `match` pattern of a keyspace scan (`scan_iter(match=...)`, `keys(pattern)`)."""
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value in ("match", "pattern"):
            return arg.value
    position = 1 if method == "scan" else 0
    positional = [a.value for a in call.args if a.keyword is None and not a.star]
    return positional[position] if len(positional) > position else None


def _bound_values(scope_node: cst.CSTNode, name: str) -> Iterator[cst.BaseExpression]:
    """The values `name` is assigned in a scope's own code (`x = v`, `a, x = v`, `with v as
    x`, `x := v`); a loop variable is not assigned its loop's iterable."""
    for node in body_nodes(scope_node):
        if isinstance(node, cst.Assign):
            if any(name in set(_target_names(t.target)) for t in node.targets):
                yield node.value
        elif isinstance(node, (cst.AnnAssign, cst.NamedExpr)) and node.value is not None:
            if name in set(_target_names(node.target)):
                yield node.value
        elif isinstance(node, cst.WithItem) and node.asname is not None:
            if name in set(_target_names(node.asname.name)):
                yield node.item
