"""Writes that make a collection grow, and what keeps one bounded.

- `growth_family(call, qualify)`: "list" for LPUSH/RPUSH(X), "stream" for an XADD with no
  `maxlen`/`minid`, "zset" for a ZADD whose scores are the current time (and no `xx=True`,
  which only updates members, nor only literal members, which are overwritten); None
  otherwise, or when `*args`/`**kwargs` hide the options.
- `bounded_patterns(model)`: family -> key patterns something in the module or the project
  drains, trims (a hash: HDEL, HEXPIRE), expires or deletes (`redislint.semantic.keys.keyspace`
  for the project side; a Lua script of the module that trims a family counts as trimming any
  key of it).

Timestamps are recognised from calls only (`time.time()`, `time.time_ns()`,
`datetime.now()`/`utcnow()`/`today()`, `<anything>.timestamp()`), directly in the score or
through a local name bound to one (`now = time.time()`), arithmetic included
(`int(time.time() * 1000)`, `now + delay`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Set

import libcst as cst

from redislint.semantic.keys import keyspace
from redislint.semantic.keys.expiry import ttl_patterns
from redislint.semantic.flow.results import scope_nodes
from redislint.semantic.keys.expressions import key_of
from redislint.semantic.names import string_value
from redislint.semantic.redispy import DELETE_COMMANDS
from redislint.walk import iter_children

if TYPE_CHECKING:
    from redislint.semantic.model import RedisCall, SemanticModel

LIST_PUSHES = frozenset({"lpush", "rpush", "lpushx", "rpushx"})
TIME_CALLS = frozenset({"time.time", "time.time_ns", "datetime.datetime.now",
                        "datetime.datetime.utcnow", "datetime.datetime.today", "datetime.now",
                        "datetime.utcnow", "datetime.today"})
# redis-py's xadd(name, fields, id="*", maxlen=None, approximate=True, nomkstream=False,
# minid=None, limit=None): positions of the trimming options.
_XADD_TRIM = (("maxlen", 3), ("minid", 6))
# Script commands that bound a family (or every family, for expiry and deletion).
_SCRIPT_BOUNDS = {
    "list": re.compile(r"\b(?:[LR]POP|BL?[LR]?POP|LMPOP|L?MOVE|RPOPLPUSH|LTRIM|LREM)\b", re.I),
    "zset": re.compile(r"\b(?:ZREM\w*|B?ZPOP\w*|B?ZMPOP)\b", re.I),
    "stream": re.compile(r"\b(?:XTRIM|XDEL|MAXLEN|MINID)\b", re.I),
    "hash": re.compile(r"\b(?:HDEL|HGETDEL|H?P?EXPIRE(?:AT)?)\b", re.I),
    "any": re.compile(r"\b(?:P?EXPIRE(?:AT)?|DEL|UNLINK)\b", re.I),
}
_SCRIPT_CALL = re.compile(r"\b(?:redis|server)\.p?call\b")

Qualify = Callable[[cst.BaseExpression], Optional[str]]


def _is_none(expr: Optional[cst.BaseExpression]) -> bool:
    return expr is None or (isinstance(expr, cst.Name) and expr.value in ("None", "False"))


def growth_family(call: "RedisCall", qualify: Qualify) -> Optional[str]:
    command = call.command
    if call.has_star_args:
        return None
    if command in LIST_PUSHES:
        return "list"
    if command == "xadd":
        trimmed = any(not _is_none(call.arg(position, name)) for name, position in _XADD_TRIM)
        return None if trimmed else "stream"
    if command == "zadd" and _is_none(call.arg(3, "xx")):
        mapping = call.arg(1, "mapping")
        if _fixed_members(mapping):
            return None  # `{"last": now}` overwrites one member: it cannot grow
        scores = _scores(mapping)
        if scores and all(is_timestamp(score, qualify, _time_names(call, qualify))
                          for score in scores):
            return "zset"
    return None


def _fixed_members(mapping: Optional[cst.BaseExpression]) -> bool:
    return isinstance(mapping, cst.Dict) and all(
        isinstance(el, cst.DictElement) and string_value(el.key) is not None
        for el in mapping.elements)


def _scores(mapping: Optional[cst.BaseExpression]) -> List[cst.BaseExpression]:
    if isinstance(mapping, cst.Dict):
        return [el.value for el in mapping.elements if isinstance(el, cst.DictElement)]
    if isinstance(mapping, cst.DictComp):
        return [mapping.value]
    return []


def is_timestamp(expr: cst.BaseExpression, qualify: Qualify, names: Set[str] = frozenset()
                 ) -> bool:  # type: ignore[assignment]
    """`expr` is computed from the current time (see the module doc)."""
    stack: List[cst.CSTNode] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Name) and node.value in names:
            return True
        if isinstance(node, cst.Call):
            func = node.func
            if isinstance(func, cst.Attribute) and func.attr.value == "timestamp":
                return True
            if qualify(func) in TIME_CALLS:
                return True
        if not isinstance(node, (cst.Lambda, cst.FunctionDef)):
            stack.extend(iter_children(node))
    return False


def _time_names(call: "RedisCall", qualify: Qualify) -> Set[str]:
    """Names the call's scope binds to a timestamp (`now = time.time()`), to a fixed point."""
    names: Set[str] = set()
    binders = [(node.targets[0].target, node.value) for node in scope_nodes(call.scope.node)
               if isinstance(node, cst.Assign) and len(node.targets) == 1]
    changed = True
    while changed:
        changed = False
        for target, value in binders:
            if isinstance(target, cst.Name) and target.value not in names and \
                    is_timestamp(value, qualify, names):
                names.add(target.value)
                changed = True
    return names


# -- what bounds a key ---------------------------------------------------------------------
def bounded_patterns(model: "SemanticModel") -> Dict[str, Set[str]]:
    """Family ("list", "zset", "stream", "hash") -> patterns drained or trimmed in the module or
    the project; "any" -> patterns expired or deleted (they bound a key of any family)."""
    calls = model.redis_calls
    found: Dict[str, Set[str]] = {family: set() for family in keyspace.FAMILIES}
    found["any"] = set(ttl_patterns(calls))
    for call in calls:
        family = keyspace.family_of(call.command)
        lookup = call.scope.key_lookup
        if family is not None:
            exprs = keyspace.key_arguments(call.command, call.node)
            found[family] |= keyspace.patterns_of(exprs, lambda e: key_of(e, lookup))
        elif call.command in DELETE_COMMANDS:
            for arg in call.args:
                pattern = keyspace.named_pattern(key_of(arg.value, lookup))
                if pattern is not None:
                    found["any"].add(pattern)
    index = model.inferer.index
    if index is not None:
        for family in keyspace.FAMILIES:
            found[family] |= index.key_uses(family)
        found["any"] |= index.key_uses("expire") | index.key_uses("delete")
    for family in _script_bounds(model.module):
        found[family].add(keyspace.ANY)
    return found


def _script_bounds(module: cst.Module) -> Set[str]:
    """Families a Lua script written in the module trims (any string with `redis.call`)."""
    families: Set[str] = set()
    stack: List[cst.CSTNode] = [module]
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.SimpleString, cst.ConcatenatedString)):
            text = string_value(node)
            if text and _SCRIPT_CALL.search(text):
                families.update(f for f, word in _SCRIPT_BOUNDS.items() if word.search(text))
            continue
        stack.extend(iter_children(node))
    return families
