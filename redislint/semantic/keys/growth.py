"""Writes that make a collection grow, and what keeps one bounded.

- `growth_family(call, qualify, times)`: "list" for LPUSH/RPUSH(X), "stream" for an XADD
  with no `maxlen`/`minid`, "zset" for a ZADD whose scores are timestamps (and no `xx=True`,
  which only updates members, nor only literal members, which are overwritten), "set" for an
  SADD of members built from two values or more (`f"{ip}:{path}"`, `"%s:%s" % (a, b)`: one
  new member per combination, where `uid` or `"user:" + uid` is one of a known population);
  None otherwise, or when `*args`/`**kwargs` hide the options.
- `bounded_patterns(model)`: family -> key patterns something in the module or the project
  drains, trims (a hash: HDEL, HEXPIRE), expires or deletes (`redislint.semantic.keys.keyspace`
  for the project side; a Lua script of the module that trims a family counts as trimming any
  key of it), and for sorted sets and sets, `keyspace.names_family(family)` -> the names
  unreadable keys are removed under; `is_bounded(call, family, pattern, bounds)` asks both.

Timestamps are recognised from calls (`time.time()`, `time.time_ns()`,
`datetime.now()`/`utcnow()`/`today()`, `<anything>.timestamp()`, a one-level helper of the
module whose `return`s all are timestamps: `def now_ms(): return int(time.time() * 1000)`,
`self._now()`), from names that say they hold one (`ts`, `timestamp`, `now`, `date`,
`created`, `updated`, `created_at`, `run_at`, `start_time`; not durations such as
`response_time`), as the score itself or in arithmetic (`int(ts)`, `created + ttl`, not
`len(created_items)`), directly or through a local name bound to one (`now = time.time()`),
arithmetic included (`int(time.time() * 1000)`, `now + delay`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Set, Tuple

import libcst as cst

from redislint.semantic.keys import keyspace
from redislint.semantic.keys.expiry import ttl_patterns
from redislint.semantic.flow.results import scope_nodes
from redislint.semantic.facts import ClassFacts, FunctionFacts, ModuleFacts
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
    "set": re.compile(r"\b(?:SREM|SPOP|SMOVE)\b", re.I),
    "stream": re.compile(r"\b(?:XTRIM|XDEL|MAXLEN|MINID)\b", re.I),
    "hash": re.compile(r"\b(?:HDEL|HGETDEL|H?P?EXPIRE(?:AT)?)\b", re.I),
    "any": re.compile(r"\b(?:P?EXPIRE(?:AT)?|DEL|UNLINK)\b", re.I),
}
_SCRIPT_CALL = re.compile(r"\b(?:redis|server)\.p?call\b")

Qualify = Callable[[cst.BaseExpression], Optional[str]]


def _is_none(expr: Optional[cst.BaseExpression]) -> bool:
    return expr is None or (isinstance(expr, cst.Name) and expr.value in ("None", "False"))


# Words of a name that say it holds a point in time; the last word of one that may too
# (`created_at`, `start_time`) unless another word makes it a duration (`response_time`).
_TIME_WORDS = frozenset({"ts", "timestamp", "timestamps", "now", "date", "datetime", "created",
                         "updated", "modified", "epoch"})
_TIME_SUFFIXES = frozenset({"at", "time"})
_DURATION_WORDS = frozenset({"elapsed", "duration", "response", "wait", "waiting", "run",
                             "running", "exec", "execution", "process", "processing", "cpu",
                             "total", "spent", "lead", "cycle", "delta", "idle", "avg", "mean",
                             "max", "min", "sum", "up", "down", "round", "trip", "load",
                             "compute", "query", "render", "request"})
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
# Calls that keep the number they are given.
_NUMERIC = frozenset({"int", "float", "round", "math.floor", "math.ceil"})


class TimeHelpers:
    """The functions of a module, and the methods of its classes, that return a timestamp
    (one level: each `return` is a timestamp by the calls and names above alone)."""

    def __init__(self, facts: ModuleFacts, qualify: "Qualify") -> None:
        self.facts = facts
        self.qualify = qualify
        self._known: Dict[int, bool] = {}
        self._names: Dict[int, Set[str]] = {}  # scope node -> its names bound to a time

    def time_names(self, call: "RedisCall") -> Set[str]:
        """`_time_names` of the call's scope, once per scope."""
        scope = call.scope
        found = self._names.get(id(scope.node))
        if found is None:
            cls = scope.cls
            found = self._names[id(scope.node)] = _time_names(
                call, self.qualify, lambda node: self.returns_time(node, cls))
        return found

    def returns_time(self, call: cst.Call, cls: Optional[ClassFacts]) -> bool:
        func = call.func
        helper: Optional[FunctionFacts] = None
        if isinstance(func, cst.Name):
            helper = self.facts.functions.get(func.value)
        elif isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and \
                func.value.value in ("self", "cls") and cls is not None:
            helper = cls.methods.get(func.attr.value)
        if helper is None or not helper.returns:
            return False
        known = self._known.get(id(helper.node))
        if known is None:
            binders = [(name, value) for name, values in helper.locals.items()
                       for value in values]
            names = _fixed_point(binders, lambda value, names: is_timestamp(
                value, self.qualify, names))
            known = self._known[id(helper.node)] = all(
                is_timestamp(value, self.qualify, names) for value in helper.returns)
        return known


def growth_family(call: "RedisCall", qualify: Qualify,
                  times: Optional[TimeHelpers] = None) -> Optional[str]:
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
        if scores:
            helpers = None
            if times is not None:
                cls = call.scope.cls
                helpers = lambda node: times.returns_time(node, cls)  # noqa: E731
                names = times.time_names(call)
            else:
                names = _time_names(call, qualify)
            if all(is_timestamp(score, qualify, names, helpers) for score in scores):
                return "zset"
    if command == "sadd" and len(call.args) > 1 and all(
            _built(arg.value) for arg in call.args[1:]):
        return "set"
    return None


def _built(member: cst.BaseExpression) -> bool:
    """A member built from two values or more (`f"{ip}:{path}"`, `"%s-%s" % (a, b)`): one per
    combination. One value with a prefix (`"user:" + uid`) is still one of a population."""
    key = key_of(member) if not isinstance(member, (cst.Name, cst.Attribute)) else None
    return key is not None and len(key.parts) >= 2


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


def is_timestamp(expr: cst.BaseExpression, qualify: Qualify, names: Set[str] = frozenset(),
                 helpers: Optional[Callable[[cst.Call], bool]] = None
                 ) -> bool:  # type: ignore[assignment]
    """`expr` is computed from the current time, or says it is a time (see the module doc)."""
    if time_named(expr, qualify):
        return True
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
            if helpers is not None and helpers(node):
                return True
        if not isinstance(node, (cst.Lambda, cst.FunctionDef)):
            stack.extend(iter_children(node))
    return False


def time_named(expr: cst.BaseExpression, qualify: Qualify) -> bool:
    """A value whose name says it is a point in time (`ts`, `created_at`, `row["date"]`,
    `now_ms()`), as it is or through arithmetic and `int()`/`float()`/`round()`."""
    stack: List[cst.BaseExpression] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.BinaryOperation):
            stack.extend((node.left, node.right))
        elif isinstance(node, cst.UnaryOperation):
            stack.append(node.expression)
        elif isinstance(node, cst.Call):
            if qualify(node.func) in _NUMERIC and node.args:
                stack.append(node.args[0].value)
            elif _says_time(_last_name(node.func)):
                return True
        elif _says_time(_last_name(node)):
            return True
    return False


def _last_name(expr: cst.BaseExpression) -> Optional[str]:
    if isinstance(expr, cst.Name):
        return expr.value
    if isinstance(expr, cst.Attribute):
        return expr.attr.value
    if isinstance(expr, cst.Subscript) and len(expr.slice) == 1 and \
            isinstance(expr.slice[0].slice, cst.Index):
        return string_value(expr.slice[0].slice.value)
    return None


def _says_time(name: Optional[str]) -> bool:
    if not name:
        return False
    words = [w.lower() for w in _WORD.findall(name)]
    if any(w in _TIME_WORDS for w in words):
        return True
    return len(words) > 1 and words[-1] in _TIME_SUFFIXES and \
        not any(w in _DURATION_WORDS for w in words)


def _time_names(call: "RedisCall", qualify: Qualify,
                helpers: Optional[Callable[[cst.Call], bool]] = None) -> Set[str]:
    """Names the call's scope binds to a timestamp (`now = time.time()`), to a fixed point."""
    binders = [(node.targets[0].target.value, node.value) for node in scope_nodes(call.scope.node)
               if isinstance(node, cst.Assign) and len(node.targets) == 1 and
               isinstance(node.targets[0].target, cst.Name)]
    return _fixed_point(binders, lambda value, names: is_timestamp(value, qualify, names,
                                                                   helpers))


def _fixed_point(binders: List[Tuple[str, cst.BaseExpression]],
                 test: Callable[[cst.BaseExpression, Set[str]], bool]) -> Set[str]:
    names: Set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, value in binders:
            if name not in names and test(value, names):
                names.add(name)
                changed = True
    return names


# -- what bounds a key ---------------------------------------------------------------------
def bounded_patterns(model: "SemanticModel") -> Dict[str, Set[str]]:
    """Family ("list", "zset", "stream", "set", "hash") -> patterns drained or trimmed in the module or
    the project; "any" -> patterns expired or deleted (they bound a key of any family);
    `keyspace.names_family(f)` -> the names a sorted set's or set's unreadable keys are drained
    under (see `redislint.semantic.keys.keyspace`)."""
    calls = model.redis_calls
    found: Dict[str, Set[str]] = {family: set() for family in keyspace.FAMILIES}
    found.update({keyspace.names_family(family): set() for family in keyspace.NAMED_ONLY})
    found["any"] = set(ttl_patterns(calls))
    facts = model.facts
    for call in calls:
        family = keyspace.family_of(call.command)
        lookup = call.scope.key_lookup
        if family is not None:
            exprs = keyspace.key_arguments(call.command, call.node)
            cls = call.scope.cls
            bounds = keyspace.drained(family, exprs, lambda e: key_of(e, lookup),
                                      lambda e: keyspace.helper_patterns(e, facts, cls))
            for name, patterns in bounds.items():
                found[name] |= patterns
        elif call.command in DELETE_COMMANDS:
            for arg in call.args:
                pattern = keyspace.named_pattern(key_of(arg.value, lookup))
                if pattern is not None:
                    found["any"].add(pattern)
    index = model.inferer.index
    if index is not None:
        for name in list(found):
            if name != "any":
                found[name] |= index.key_uses(name)
        found["any"] |= index.key_uses("expire") | index.key_uses("delete")
    for family in _script_bounds(model.module):
        found[family].add(keyspace.ANY)
    return found


def is_bounded(call: "RedisCall", family: str, pattern: str, bounds: Dict[str, Set[str]]
               ) -> bool:
    """Something bounds the key `call` grows: a drain of its family or an expiry or deletion
    whose pattern overlaps `pattern`, or, for sorted sets and sets, a drain of an unreadable
    key read under the name this call's key is passed as (`key`, `self.key`)."""
    if keyspace.matches_any(pattern, bounds[family] | bounds["any"]):
        return True
    if family not in keyspace.NAMED_ONLY:
        return False
    token = keyspace.name_token(call.arg(0, "name"))
    return token is not None and token in bounds[keyspace.names_family(family)]


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
