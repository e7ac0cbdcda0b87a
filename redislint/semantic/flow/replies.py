"""Replies that are `bytes` (on a client without `decode_responses=True`) and the places code
compares them with a `str`, which is always unequal in Python 3.

Measured against redis-py 8.1 and a real server: GET, HGET, LPOP, TYPE, ECHO, LINDEX... return
`b"..."`; MGET, HMGET, LRANGE, SMEMBERS, ZRANGE, KEYS, HKEYS, HVALS return collections of bytes;
HGETALL a dict of bytes to bytes; BLPOP/BRPOP a `(key, value)` tuple of bytes; a PubSub
message is a dict whose `"data"`, `"channel"` and `"pattern"` are bytes (its `"type"` is a str).
Commands whose replies redis-py converts (`ping`, `set`, `info`, `config_get`, integers, floats)
are not listed.

`str_comparisons(uses, call, kind)` follows one call's reply through `await`, names bound
exactly once (`v = r.get(k)`, `_, job = r.brpop(q)`, `for m in r.smembers(s)`) and subscripts
of collections, and yields each comparison that can never hold: `reply == "x"`, `reply != "x"`,
`reply in ("a", "b")`, `"x" in collection`. `passed_on(uses, values)` lists the calls the
reply (or one bytes value of it) is handed to as an argument, and `parameter_comparisons(uses,
param, kind)` the same comparisons of a parameter that receives it, in the callee: a helper of
the module (`redislint.semantic.flow.calls.local_callee`) comparing what it is given.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional, Tuple, Union

import libcst as cst

from redislint.semantic.flow.bindings import Bindings, Parents, target_names
from redislint.semantic.names import string_value

# Replies that are one bulk string (or None).
SCALAR = frozenset({"get", "getdel", "getex", "getset", "getrange", "substr", "hget", "lindex",
                    "randomkey", "type", "echo", "rpoplpush", "brpoplpush", "lmove", "blmove"})
# Replies that are one bulk string, or a list of them when a count is passed.
SCALAR_UNLESS_COUNT = {"lpop": 1, "rpop": 1, "spop": 1, "srandmember": 1, "zrandmember": 1,
                       "hrandfield": 1}
# Replies that are collections (list, set, tuple) of bulk strings.
COLLECTION = frozenset({"mget", "hmget", "hkeys", "hvals", "lrange", "smembers", "sinter",
                        "sunion", "sdiff", "keys", "blpop", "brpop", "zrevrange",
                        "zrangebyscore", "zrevrangebyscore", "zrange", "sort"})
# Options that make a sorted-set reply pairs of (member, score) instead of members.
_WITH_SCORES = ("withscores",)
# A hash read whole: a dict whose keys and values are bytes.
MAPPING = frozenset({"hgetall"})
# PubSub message fields that are bytes.
MESSAGE_FIELDS = frozenset({"data", "channel", "pattern"})
PUBSUB_MESSAGES = frozenset({"get_message", "listen"})

SCALAR_KIND, COLLECTION_KIND, MAPPING_KIND, MESSAGE_KIND = "scalar", "collection", "mapping", "message"


def reply_kind(command: str, call: cst.Call, role: str) -> Optional[str]:
    """What a call's reply is made of, when it is bytes: scalar, collection, mapping, message."""
    if role == "pubsub":
        return MESSAGE_KIND if command in PUBSUB_MESSAGES else None
    if role != "client":
        return None
    if command in SCALAR:
        return SCALAR_KIND
    positional = [a for a in call.args if a.keyword is None]
    if any(a.star for a in call.args):
        return None
    if command in SCALAR_UNLESS_COUNT:
        counted = len(positional) > SCALAR_UNLESS_COUNT[command] or any(
            a.keyword is not None and a.keyword.value in ("count", "number") for a in call.args)
        return COLLECTION_KIND if counted else SCALAR_KIND
    if command in COLLECTION:
        if any(a.keyword is not None and a.keyword.value in _WITH_SCORES for a in call.args):
            return None
        return COLLECTION_KIND
    if command in MAPPING:
        return MAPPING_KIND
    return None


def is_str_literal(expr: cst.BaseExpression, constant: Callable[[str], Optional[str]]) -> bool:
    """A `str` (never `bytes`) literal, f-string, or a module constant bound to one."""
    if isinstance(expr, cst.FormattedString):
        return "b" not in expr.prefix.lower()
    if isinstance(expr, cst.SimpleString):
        return "b" not in expr.prefix.lower()
    if isinstance(expr, cst.ConcatenatedString):
        return is_str_literal(expr.left, constant) and is_str_literal(expr.right, constant)
    if isinstance(expr, cst.Name):
        return constant(expr.value) is not None
    return False


def _str_collection(expr: cst.BaseExpression, constant) -> bool:
    """`("a", "b")`, `["a"]`, `{"a", "b"}`: every element a str literal."""
    if isinstance(expr, (cst.Tuple, cst.List, cst.Set)) and expr.elements:
        return all(not isinstance(e, cst.StarredElement) and is_str_literal(e.value, constant)
                   for e in expr.elements)
    return False


@dataclass
class Mismatch:
    """A comparison that can never hold: `node` compares `reply` with the str `literal`."""

    node: cst.Comparison
    literal: cst.BaseExpression


def _strip(expr: cst.BaseExpression) -> cst.BaseExpression:
    while isinstance(expr, cst.Await):
        expr = expr.expression
    return expr


class _Values:
    """The expressions that evaluate to bytes from one reply: the reply itself (scalars), its
    elements (collections), its keys (mappings), its bytes fields (messages)."""

    def __init__(self, call: cst.Call, kind: str, bindings: Optional[Bindings]) -> None:
        self.call = call
        self.kind = kind
        self.bindings = bindings
        self.whole: set = set()      # names holding the reply as it is
        self.elements: set = set()   # names holding one bytes element of it

    def is_reply(self, expr: cst.BaseExpression) -> bool:
        expr = _strip(expr)
        return expr is self.call or (isinstance(expr, cst.Name) and expr.value in self.whole)

    def is_bytes(self, expr: cst.BaseExpression) -> bool:
        """`expr` is certainly one bytes value of the reply."""
        expr = _strip(expr)
        if self.kind == SCALAR_KIND and self.is_reply(expr):
            return True
        if isinstance(expr, cst.Name) and expr.value in self.elements:
            return True
        if isinstance(expr, cst.Subscript) and len(expr.slice) == 1 and isinstance(
                expr.slice[0].slice, cst.Index) and self.is_reply(expr.value):
            index = expr.slice[0].slice.value
            if self.kind == COLLECTION_KIND:
                return isinstance(index, (cst.Integer, cst.UnaryOperation))
            if self.kind == MESSAGE_KIND:
                return string_value(index) in MESSAGE_FIELDS
        return False


class ReplyUses:
    """A function's binders and comparisons, each filed under the name or call its value starts
    from: built once per function, so following one reply visits only the statements that can
    involve it (a module with thousands of reads would otherwise be rescanned per read)."""

    def __init__(self, bindings: Bindings) -> None:
        self.bindings = bindings
        # (target, value, iterating) in source order, and their positions per root.
        self.binders: List[Tuple[cst.BaseExpression, cst.BaseExpression, bool]] = []
        self.binders_by_root: Dict[Root, List[int]] = {}
        self.comparisons: List[cst.Comparison] = []
        self.comparisons_by_root: Dict[Root, List[int]] = {}
        # (call, argument) for each argument of a call in the function, per root.
        self.arguments_by_root: Dict[Root, List[Tuple[cst.Call, cst.BaseExpression]]] = {}
        for node, parents in bindings.nodes:
            if isinstance(node, cst.Call):
                if not _in_nested(parents, bindings.function):
                    for arg in node.args:
                        root = None if arg.star else _root(arg.value)
                        if root is not None:
                            self.arguments_by_root.setdefault(root, []).append((node, arg.value))
                continue
            if isinstance(node, cst.Assign) and len(node.targets) == 1:
                binder = (node.targets[0].target, node.value, False)
            elif isinstance(node, (cst.NamedExpr, cst.AnnAssign)) and node.value is not None:
                binder = (node.target, node.value, False)
            elif isinstance(node, (cst.For, cst.CompFor)):
                binder = (node.target, node.iter, True)
            elif isinstance(node, cst.Comparison) and len(node.comparisons) == 1 and \
                    not _in_nested(parents, bindings.function):
                position = len(self.comparisons)
                self.comparisons.append(node)
                for root in {_root(node.left), _root(node.comparisons[0].comparator)}:
                    if root is not None:
                        self.comparisons_by_root.setdefault(root, []).append(position)
                continue
            else:
                continue
            root = _root(binder[1])
            if root is not None:
                self.binders_by_root.setdefault(root, []).append(len(self.binders))
            self.binders.append(binder)


# What a value starts from: a name, or (the id of) a call.
Root = Union[str, int]


def _root(expr: cst.BaseExpression) -> Optional[Root]:
    """The name or call `_Values.is_reply` / `is_bytes` would look at in `expr`."""
    expr = _strip(expr)
    if isinstance(expr, cst.Subscript):
        expr = _strip(expr.value)
    if isinstance(expr, cst.Name):
        return expr.value
    return id(expr) if isinstance(expr, cst.Call) else None


def _roots(values: _Values) -> List[Root]:
    return [id(values.call), *values.whole, *values.elements]


def _bind(values: _Values, uses: ReplyUses) -> None:
    """Names bound once from the reply (`v = reply`, `a, b = reply`, `for e in reply`).

    One pass in source order over the binders that start from the reply or from a name bound
    from it so far: the others cannot bind anything."""
    by_root = uses.binders_by_root
    pending = sorted({i for root in _roots(values) for i in by_root.get(root, ())})
    queued = set(pending)
    while pending:
        position = heapq.heappop(pending)
        target, value, iterating = uses.binders[position]
        for name in _bind_one(values, uses.bindings, target, value, iterating):
            for later in by_root.get(name, ()):
                if later > position and later not in queued:
                    queued.add(later)
                    heapq.heappush(pending, later)


def _bind_one(values: _Values, bindings: Bindings, target: cst.BaseExpression,
              value: cst.BaseExpression, iterating: bool) -> List[str]:
    """Bind the names of one binder that takes the reply or a bytes part of it; they are
    returned (whether new or not)."""
    names = list(target_names(target))
    if not names or not all(bindings.single(n) for n in names):
        return []
    if values.is_reply(value):
        if iterating and values.kind in (COLLECTION_KIND, MAPPING_KIND):
            values.elements.update(n.value for n in names)  # `for m in r.smembers(s)`
        elif iterating and values.kind == MESSAGE_KIND and isinstance(target, cst.Name):
            values.whole.add(target.value)  # `for message in pubsub.listen()`
        elif not iterating and isinstance(target, cst.Name):
            values.whole.add(target.value)  # `v = r.get(k)`
        elif not iterating and values.kind == COLLECTION_KIND:
            values.elements.update(n.value for n in names)  # `_, job = r.brpop(q)`
        else:
            return []
        return [n.value for n in names]
    if not iterating and isinstance(target, cst.Name) and values.is_bytes(value):
        values.elements.add(target.value)  # `data = message["data"]`, `first = items[0]`
        return [target.value]
    return []


def str_comparisons(uses: ReplyUses, call: cst.Call, kind: str,
                    constant: Callable[[str], Optional[str]],
                    values: Optional["_Values"] = None) -> Iterator[Mismatch]:
    """Comparisons of the reply of `call` (made in `uses.bindings.function`) with a str: never
    true. `values` is the reply as `reply_values` followed it, when already at hand."""
    if values is None:
        values = reply_values(uses, call, kind)
    return _mismatches(values, uses, constant)


def reply_values(uses: ReplyUses, call: cst.Call, kind: str) -> "_Values":
    """The reply of `call` and the names bound from it in `uses.bindings.function`."""
    values = _Values(call, kind, uses.bindings)
    for _ in range(2):  # names bound from names bound from the reply
        _bind(values, uses)
    return values


def passed_on(uses: ReplyUses, values: "_Values"
              ) -> Iterator[Tuple[cst.Call, cst.BaseExpression, str]]:
    """(call, argument, kind) for each call that receives the reply or one bytes value of it
    as an argument: `helper(r.type(k))`, `v = r.get(k)` ... `check(v)`."""
    by_root = uses.arguments_by_root
    seen = set()
    for root in _roots(values):
        for call, argument in by_root.get(root, ()):
            if id(argument) in seen:
                continue
            seen.add(id(argument))
            if values.is_bytes(argument):
                yield call, argument, SCALAR_KIND
            elif values.is_reply(argument) and values.kind in (COLLECTION_KIND, MAPPING_KIND):
                yield call, argument, values.kind


def parameter_comparisons(uses: ReplyUses, param: str, kind: str,
                          constant: Callable[[str], Optional[str]]) -> Iterator[Mismatch]:
    """Comparisons with a str of a parameter that receives bytes (`kind`) in the function
    `uses` describes. Nothing when the parameter is rebound (`v = v.decode()`), when the
    function is not a plain `def`, or when it also compares the value with bytes (a helper
    written for both kinds of client)."""
    function = uses.bindings.function
    if not isinstance(function, cst.FunctionDef):
        return iter(())
    params = function.params
    found = next((p for p in (*params.posonly_params, *params.params, *params.kwonly_params)
                  if p.name.value == param), None)
    if found is None or not uses.bindings.single(found.name):
        return iter(())
    values = _Values(function, kind, uses.bindings)  # the function stands for "no call"
    values.whole.add(param)
    for _ in range(2):
        _bind(values, uses)
    for position in {i for root in _roots(values)
                     for i in uses.comparisons_by_root.get(root, ())}:
        node = uses.comparisons[position]
        if any(_is_bytes_literal(side) for side in (node.left, node.comparisons[0].comparator)):
            return iter(())
    return _mismatches(values, uses, constant)


def _is_bytes_literal(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, cst.SimpleString):
        return "b" in expr.prefix.lower()
    if isinstance(expr, (cst.Tuple, cst.List, cst.Set)):
        return any(_is_bytes_literal(e.value) for e in expr.elements
                   if not isinstance(e, cst.StarredElement))
    return False


def _mismatches(values: "_Values", uses: ReplyUses,
                constant: Callable[[str], Optional[str]]) -> Iterator[Mismatch]:
    kind = values.kind
    by_root = uses.comparisons_by_root
    for position in sorted({i for root in _roots(values) for i in by_root.get(root, ())}):
        node = uses.comparisons[position]
        left, target = node.left, node.comparisons[0]
        right, operator = target.comparator, target.operator
        if isinstance(operator, (cst.Equal, cst.NotEqual)):
            for reply, other in ((left, right), (right, left)):
                if values.is_bytes(reply) and is_str_literal(other, constant):
                    yield Mismatch(node, other)
                    break
        elif isinstance(operator, (cst.In, cst.NotIn)):
            if values.is_bytes(left) and _str_collection(right, constant):
                yield Mismatch(node, right)
            elif kind in (COLLECTION_KIND, MAPPING_KIND) and values.is_reply(right) and \
                    is_str_literal(left, constant):
                yield Mismatch(node, left)


def _in_nested(parents: Parents, function: cst.CSTNode) -> bool:
    return any(isinstance(p, (cst.FunctionDef, cst.Lambda, cst.ClassDef)) and p is not function
               for p in parents)


def module_str_constants(assigns: dict) -> Callable[[str], Optional[str]]:
    """A lookup of module-level names bound once, to a str literal (`DONE = "done"`)."""

    def constant(name: str) -> Optional[str]:
        if not name.isupper():
            return None
        values: List[cst.BaseExpression] = assigns.get(name, [])
        if len(values) != 1 or not isinstance(values[0], (cst.SimpleString, cst.ConcatenatedString)):
            return None
        if not is_str_literal(values[0], lambda _: None):
            return None
        return string_value(values[0])

    return constant


def bytes_literal(literal: cst.BaseExpression) -> Optional[cst.BaseExpression]:
    """The bytes spelling of a plain ASCII str literal (`"yes"` -> `b"yes"`), of a tuple/list/set
    of them; None when there is none (an f-string, a name, non-ASCII text, a `u` prefix)."""
    if isinstance(literal, cst.SimpleString):
        prefix = literal.prefix
        if prefix.lower() not in ("", "r"):
            return None
        value = string_value(literal)
        if value is None or not value.isascii():
            return None
        return literal.with_changes(value="b" + literal.value)
    if isinstance(literal, (cst.Tuple, cst.List, cst.Set)):
        elements = []
        for element in literal.elements:
            changed = bytes_literal(element.value)
            if changed is None:
                return None
            elements.append(element.with_changes(value=changed))
        return literal.with_changes(elements=elements)
    return None
