"""Cached values: which reads return one, which writes store one, and whether it can be empty.

- `CACHE_READS` return the stored value, or None on a miss; `CACHE_FILLS` store one.
- `stored_value(call)`: the value expression a fill writes.
- `never_empty(expr, qualify, known)`: the value can never be stored as empty bytes (a number,
  arithmetic such as `2 ** n` or `a - b`, a non-empty literal, `json.dumps(...)`,
  `pickle.dumps(...)`...), so a plain truth test of the raw bytes read back is a correct miss
  test for it.
- `recomputes(expr, qualify)`: the value stored is worked out where it is written (a call other
  than a conversion such as `str(...)` / `json.dumps(...)`, an `await`), and `read_names(expr)`
  the names it reads: a refill recomputes its value when one of them, or the value itself, is
  computed on the miss path.
- `truth_tests(test)`: the operands an `if` test checks only for truthiness, each with the
  branch (`body` / `orelse`) that runs when that operand is falsy.
"""

from __future__ import annotations

from typing import Callable, Iterator, Optional, Set, Tuple

import libcst as cst

from redislint.semantic.model import RedisCall
from redislint.semantic.names import string_value

CACHE_READS = frozenset({"get", "getex", "hget"})
CACHE_FILLS = frozenset({"set", "setex", "psetex", "setnx", "getset", "hset", "hsetnx"})
# Where each fill takes its value: (position, keyword).
_VALUE_ARG = {"set": (1, "value"), "setnx": (1, "value"), "getset": (1, "value"),
              "setex": (2, "value"), "psetex": (2, "value"), "hset": (2, "value"),
              "hsetnx": (2, "value")}
# Calls whose result is never empty once stored: serialisers and numbers.
_NEVER_EMPTY_CALLS = frozenset({
    "json.dumps", "orjson.dumps", "ujson.dumps", "simplejson.dumps", "rapidjson.dumps",
    "pickle.dumps", "cPickle.dumps", "dill.dumps", "cloudpickle.dumps", "marshal.dumps",
    "msgpack.packb", "msgpack.dumps", "int", "float", "len", "round", "time.time",
})
_NEVER_EMPTY_METHODS = frozenset({"model_dump_json", "isoformat"})
# Calls whose result is a number (never empty once stored).
_NUMBER_CALLS = frozenset({"int", "float", "len", "round", "abs", "time.time", "time.monotonic",
                           "math.ceil", "math.floor", "math.trunc", "math.log", "math.log2",
                           "math.sqrt", "math.pow"})
# Operators whose result is a number, or a value redis-py refuses to store (a set): never an
# empty string. `+`, `*` and `%` also build strings.
_NUMBER_OPERATORS = (cst.Power, cst.Subtract, cst.Divide, cst.FloorDivide, cst.LeftShift,
                     cst.RightShift)
# Calls that only convert a value already at hand into the form stored: a refill that stores
# `str(x)` or `json.dumps(x)` computes nothing more than `x` itself.
_CONVERSIONS = (_NEVER_EMPTY_CALLS - {"len", "time.time"}) | frozenset({"str", "bytes", "repr",
                                                                       "bool", "round", "abs"})
_CONVERSION_METHODS = _NEVER_EMPTY_METHODS | frozenset({"encode", "decode", "strip", "lower",
                                                        "upper"})


def stored_value(call: RedisCall) -> Optional[cst.BaseExpression]:
    where = _VALUE_ARG.get(call.command)
    return call.arg(*where) if where is not None else None


def never_empty(expr: Optional[cst.BaseExpression],
                qualify: Callable[[cst.BaseExpression], Optional[str]],
                known: Set[str] = frozenset()) -> bool:  # type: ignore[assignment]
    """True when `expr`, stored in Redis, is certainly not the empty string."""
    if expr is None:
        return False
    if is_number(expr, qualify):
        return True
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Add):
        # str + str is empty only if both are; number + number is a number
        return never_empty(expr.left, qualify, known) or never_empty(expr.right, qualify, known)
    if isinstance(expr, (cst.SimpleString, cst.ConcatenatedString)):
        return bool(string_value(expr))
    if isinstance(expr, cst.FormattedString):
        return any(isinstance(p, cst.FormattedStringText) and p.value for p in expr.parts)
    if isinstance(expr, cst.Name):
        return expr.value in known
    if isinstance(expr, cst.BooleanOperation) and isinstance(expr.operator, cst.Or):
        return never_empty(expr.right, qualify, known)  # `value or "__none__"`
    if isinstance(expr, cst.IfExp):
        return never_empty(expr.body, qualify, known) and never_empty(expr.orelse, qualify, known)
    if isinstance(expr, cst.Call):
        func = expr.func
        if isinstance(func, cst.Attribute) and func.attr.value in _NEVER_EMPTY_METHODS:
            return True
        name = qualify(func)
        return name in _NEVER_EMPTY_CALLS
    return False


def is_number(expr: cst.BaseExpression,
              qualify: Callable[[cst.BaseExpression], Optional[str]]) -> bool:
    """`expr` certainly evaluates to a number (or to a value Redis cannot store at all)."""
    if isinstance(expr, (cst.Integer, cst.Float)):
        return True
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, (cst.Minus, cst.Plus)):
        return is_number(expr.expression, qualify)
    if isinstance(expr, cst.BinaryOperation):
        if isinstance(expr.operator, _NUMBER_OPERATORS):
            return True
        if isinstance(expr.operator, (cst.Add, cst.Multiply, cst.Modulo)):
            return is_number(expr.left, qualify) and is_number(expr.right, qualify)
        return False
    if isinstance(expr, cst.Call):
        return qualify(expr.func) in _NUMBER_CALLS
    return False


def recomputes(expr: Optional[cst.BaseExpression],
               qualify: Callable[[cst.BaseExpression], Optional[str]]) -> bool:
    """`expr` does work of its own where it is evaluated: an `await`, a comprehension, or a
    call that is not a plain conversion (`str(x)`, `json.dumps(x)`, `x.encode()`)."""
    stack = [expr] if expr is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.Await, cst.ListComp, cst.SetComp, cst.DictComp,
                             cst.GeneratorExp, cst.Lambda)):
            return True
        if isinstance(node, cst.Call):
            func = node.func
            if isinstance(func, cst.Attribute) and func.attr.value in _CONVERSION_METHODS:
                stack.append(func.value)
            elif qualify(func) not in _CONVERSIONS:
                return True
            stack.extend(arg.value for arg in node.args)
            continue
        if isinstance(node, cst.Attribute):
            stack.append(node.value)
            continue
        stack.extend(n for n in node.children if isinstance(n, cst.CSTNode))
    return False


def read_names(expr: Optional[cst.BaseExpression]) -> Set[str]:
    """The plain names `expr` reads (not attribute names or keywords)."""
    found: Set[str] = set()
    stack = [expr] if expr is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Name):
            found.add(node.value)
        elif isinstance(node, cst.Attribute):
            stack.append(node.value)
        elif isinstance(node, cst.Arg):
            stack.append(node.value)
        else:
            stack.extend(node.children)
    return found


def truth_tests(test: cst.BaseExpression) -> Iterator[Tuple[cst.BaseExpression, str]]:
    """(operand, branch run when it is falsy) for each operand tested only for truthiness:
    `not v` -> (v, "body"); `v` -> (v, "orelse"); through `and` / `or` chains."""
    pending = [test]
    while pending:
        node = pending.pop(0)
        if isinstance(node, cst.BooleanOperation):
            pending[:0] = [node.left, node.right]
        elif isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Not):
            inner = node.expression
            if isinstance(inner, (cst.Name, cst.Call, cst.Await, cst.NamedExpr)):
                yield inner, "body"
        elif isinstance(node, (cst.Name, cst.Call, cst.Await, cst.NamedExpr)):
            yield node, "orelse"


def always_exits(block: cst.BaseSuite) -> bool:
    """The block ends with return / raise / continue / break."""
    body = block.body if isinstance(block, cst.IndentedBlock) else []
    if isinstance(block, cst.SimpleStatementSuite):
        small = block.body
    elif body and isinstance(body[-1], cst.SimpleStatementLine):
        small = body[-1].body
    else:
        return False
    return bool(small) and isinstance(small[-1], (cst.Return, cst.Raise, cst.Continue, cst.Break))
