"""Writes that leave a key without the TTL it should have, and which concern each one is.

Three rules look at writes without an expiry, each with its own diagnosis of the same call:

- `TTL_CLEARED` (RL102): a string overwrite (SET or GETSET with no expiry option and no NX) of
  a key pattern the module gives a TTL elsewhere: the write silently discards that TTL.
- `SESSION` (RL103): a write of a session key (`session-key-patterns`); whether the session
  expires is judged across the module and the project, not per function.
- otherwise RL101 (set-without-ttl) judges the write on its own.

`ttl_concern(call, ttl_patterns, settings)` answers which of the first two a call is, so a
write is reported once, by the rule with the most precise message.

Also, each built once and then asked per call (no rescan of the scope or module per call):

- `ScopeExpiry(scope.calls)`: which keys a function writes with a TTL and where it expires
  them; `normal=True` leaves out TTLs that are off by default (`off_by_default`: a
  `ttl=None` / `timeout=0` parameter, or `self.ttl` set from one).
- `ManagedKeys(calls, project_deletes, facts)`: the keys the module deletes (the same key, by
  `key_identity`: a bare parameter is the same key only in its own function) or whose pattern
  the module or project deletes.
- `fixed_key`, `is_constant`, `names_permanent_state`: a key with no variable part (literal,
  module constant, class attribute), a value written as a constant, a key named as state.
"""

from __future__ import annotations

import fnmatch
import re
from typing import (
    TYPE_CHECKING, Dict, FrozenSet, Iterable, List, NamedTuple, Optional, Sequence, Set, Tuple,
)

import libcst as cst

from redislint.semantic.facts import FunctionFacts
from redislint.semantic.keys.expressions import Key, key_of, source
from redislint.semantic.keys.keyspace import DELETES, PatternIndex, gives_ttl, named_pattern
from redislint.semantic.names import dotted, string_value
from redislint.semantic.redispy import EXPIRE_COMMANDS, TTL_OPTIONS, set_option, write_ttl
from redislint.semantic.flow.sequences import expired_after

if TYPE_CHECKING:
    from redislint.config import Settings
    from redislint.semantic.facts import ModuleFacts
    from redislint.semantic.model import RedisCall, Scope

TTL_CLEARED = "ttl-cleared"
SESSION = "session"
# String overwrites: they replace the value and, without an expiry option, drop the TTL.
CLEARS_TTL = frozenset({"set", "getset"})


def ttl_patterns(calls: Iterable["RedisCall"]) -> FrozenSet[str]:
    """Named patterns of the keys these calls give a TTL (EXPIRE*, SETEX/PSETEX, SET/GETEX
    with an expiry option)."""
    out = set()
    for call in calls:
        pattern = named_pattern(call.key)
        if pattern is not None and not call.has_star_args and gives_ttl(call.command, call.node):
            out.add(pattern)
    return frozenset(out)


def clears_ttl(call: "RedisCall") -> bool:
    """SET/GETSET that replaces a value with no expiry option, KEEPTTL or NX (an NX write never
    touches an existing key, so it never drops its TTL)."""
    if call.command not in CLEARS_TTL or call.receiver.role not in ("client", "pipeline"):
        return False
    if write_ttl(call) is not False:
        return False
    return call.command != "set" or set_option(call, "nx") is None


def is_session_key(key: Optional[Key], settings: "Settings") -> bool:
    """The key's pattern matches one of the `session-key-patterns` globs (`session:{}` is
    `session:*`); keys built from values alone never do."""
    pattern = named_pattern(key)
    return pattern is not None and any(
        fnmatch.fnmatchcase(pattern, glob) for glob in settings.session_key_patterns)


def _written_with_ttl_here(call: "RedisCall", expiry: Optional["ScopeExpiry"] = None) -> bool:
    """The same function also writes this key with a TTL (`if ttl: set(k, v, ex=ttl)` /
    `else: set(k, v)`), or expires it after this write: the TTL is handled here."""
    if expiry is not None:
        return expiry.expired_after(call) or expiry.written_with_ttl(call.key)
    return expired_after(call) or any(
        other.key == call.key and write_ttl(other) for other in call.scope.calls)


def ttl_concern(call: "RedisCall", patterns: FrozenSet[str], settings: "Settings",
                expiry: Optional["ScopeExpiry"] = None) -> Optional[str]:
    """`TTL_CLEARED`, `SESSION` or None for a write, given the module's `ttl_patterns` (and,
    to answer without rescanning the function, its `ScopeExpiry`)."""
    pattern = named_pattern(call.key)
    if pattern is None:
        return None
    if clears_ttl(call) and pattern in patterns and not _written_with_ttl_here(call, expiry):
        return TTL_CLEARED
    if is_session_key(call.key, settings):
        return SESSION
    return None


# -- whose key is it: the same key across functions -----------------------------------------
_ROOT = re.compile(r"[A-Za-z_]\w*")
Owner = Optional[Tuple[str, int]]


def function_facts(facts: "ModuleFacts") -> Dict[int, FunctionFacts]:
    """id(def node) -> its facts, for every function and method the pre-pass knows."""
    out = {id(f.node): f for f in facts.functions.values()}
    for cls in facts.classes.values():
        out.update((id(f.node), f) for f in cls.methods.values())
    return out


def key_identity(key: Optional[Key], scope: "Scope", functions: Dict[int, FunctionFacts]
                 ) -> Optional[Tuple[Key, Owner]]:
    """A key read in `scope`, and where the names that start its holes are bound: None when
    they all come from the module (or the key is literal, or built by a module helper,
    `make_key(k)`), so the key means the same in every function; ("class", id) when the
    innermost one is the method's `self` (`self._pause_key`, `self._key(job)`: the same key in
    every method of the class); ("scope", id) when it is a parameter or local of a function:
    `key` in `def put(key, v)` and `key` in `def drop(key)` are two bare parameters that happen
    to share a name, not one key. A hole that is a local bound once (`name =
    self._task_name(task_id)`) stands for that expression, so two functions that build the key
    the same way name the same key."""
    if key is None:
        return None
    if not key.parts:
        return key, None
    parts = []
    owners: List[Tuple[int, Owner]] = []
    for part in key.parts:
        text, depth, owner = _part_owner(part, scope, functions)
        parts.append(text)
        owners.append((depth, owner))
    return Key(key.template, tuple(parts)), max(owners, key=lambda o: o[0])[1]


def _part_owner(part: str, scope: Optional["Scope"], functions: Dict[int, FunctionFacts],
                resolve: bool = True) -> Tuple[str, int, Owner]:
    """(the part's text, how deep its owner is, its owner) for one hole of a key."""
    match = _ROOT.match(part)
    if match is None:
        return part, 0, None
    root = match.group(0)
    depth = 0
    chain = []
    while scope is not None:
        chain.append(scope)
        scope = scope.parent
    for depth, here in zip(range(len(chain), 0, -1), chain):
        if here.kind not in ("function", "lambda") or root not in here.bindings:
            continue
        if root == here.self_name:
            owner = here.cls.node if here.cls is not None else here.node
            return part, depth, ("class", id(owner))
        func = functions.get(id(here.node))
        values = func.locals.get(root, ()) if func is not None and root not in func.params else ()
        if resolve and part == root and len(values) == 1:
            # resolved where the local is bound: its function and those around it
            return _part_owner(source(values[0]), here, functions, resolve=False)
        return part, depth, ("scope", id(here.node))
    return part, 0, None


class ManagedKeys:
    """The keys whose life the code ends itself: deleted (DEL/UNLINK/GETDEL) in the module, by
    the same key (however it is spelt, `self._pause_key`, in the same function or class when its
    holes are local names: see `key_identity`) or by a pattern, or deleted by pattern elsewhere in
    the project. Built once per module; each question is a set look-up and a pattern match."""

    def __init__(self, calls: Iterable["RedisCall"], project_deletes: Iterable[str] = (),
                 facts: Optional["ModuleFacts"] = None) -> None:
        self._functions = function_facts(facts) if facts is not None else {}
        self._keys: Set[Tuple[Key, Owner]] = set()
        patterns: Set[str] = set(project_deletes)
        for other in calls:
            if other.command not in DELETES or other.receiver.role not in ("client", "pipeline"):
                continue
            keys = [other.key]
            if other.command != "getdel":  # DEL and UNLINK take many keys
                lookup = other.scope.key_lookup
                keys += [key_of(arg.value, lookup) for arg in other.node.args[1:]
                         if arg.keyword is None and not arg.star]
            for key in keys:
                identity = key_identity(key, other.scope, self._functions)
                if identity is None:
                    continue
                self._keys.add(identity)
                pattern = named_pattern(key)
                if pattern is not None:
                    patterns.add(pattern)
        self.patterns = PatternIndex(patterns)

    def deleted(self, call: "RedisCall") -> bool:
        """Whether the code deletes this key or its pattern (a flag set by `pause()` and deleted
        by `resume()` is not a key that piles up)."""
        if call.key is not None and \
                key_identity(call.key, call.scope, self._functions) in self._keys:
            return True
        pattern = named_pattern(call.key)
        return pattern is not None and self.patterns.overlaps(pattern)


# -- is the TTL the normal path? -------------------------------------------------------------
# redis-py: expire(name, time), pexpire(name, time), expireat(name, when), pexpireat(name, when),
# setex(name, time, value), psetex(name, time_ms, value).
_TTL_ARGUMENT = {"expire": (1, "time"), "pexpire": (1, "time"), "expireat": (1, "when"),
                 "pexpireat": (1, "when"), "setex": (1, "time"), "psetex": (1, "time_ms")}
# Wrappers that keep a value None (or 0) when it is: `int(ttl)`, `timedelta(seconds=ttl)`.
_SAME_VALUE = frozenset({"int", "float", "round", "abs", "timedelta", "datetime.timedelta"})
_OFF = ("None", "False")


def ttl_argument(call: "RedisCall") -> Optional[cst.BaseExpression]:
    """The expression that gives a write or EXPIRE its TTL (`ex=`/`px=`/`exat=`/`pxat=` of a
    SET, the time of SETEX or EXPIRE*); None when there is none (or `keepttl=True`)."""
    where = _TTL_ARGUMENT.get(call.command)
    if where is not None:
        return call.arg(*where)
    if call.command == "set":
        for name in TTL_OPTIONS:
            value = set_option(call, name)
            if value is not None:
                return value
    return None


class OffTtl(NamedTuple):
    """A TTL that is off by default: parameter `param` of `function` (a def node), which callers
    reach as `callee(...)` (the function's name, or the class's for `__init__`); `offset`: the
    positional arguments a call does not spell (1 for `self`)."""

    function: cst.FunctionDef
    param: str
    callee: str
    offset: int

    def passed_by(self, call: cst.Call) -> bool:
        """Whether this call passes the parameter (by keyword, by position, or maybe through
        `*args`/`**kwargs`)."""
        params = self.function.params
        if any(p.name.value == self.param for p in params.kwonly_params):
            position = None
        else:
            names = [p.name.value for p in (*params.posonly_params, *params.params)]
            position = names.index(self.param) - self.offset if self.param in names else None
        positional = 0
        for arg in call.args:
            if arg.star:
                return True
            if arg.keyword is not None:
                if arg.keyword.value == self.param:
                    return True
            else:
                positional += 1
        return position is not None and positional > position


def off_by_default(call: "RedisCall", expr: Optional[cst.BaseExpression] = None) -> bool:
    """The TTL of this write or EXPIRE is a parameter that defaults to None or 0 (`def put(k, v,
    ttl=None)`, or `self.ttl` set once from such a parameter of `__init__`), never rebound: the
    path without a TTL is the one a caller gets by default."""
    return off_ttl(call, expr) is not None


def off_ttl(call: "RedisCall", expr: Optional[cst.BaseExpression] = None) -> Optional[OffTtl]:
    """`off_by_default`, with the parameter it comes from."""
    expr = ttl_argument(call) if expr is None else expr
    while isinstance(expr, cst.Call) and (dotted(expr.func) or "") in _SAME_VALUE \
            and len(expr.args) == 1 and not expr.args[0].star:
        expr = expr.args[0].value
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Multiply):
        # `ttl * 1000` for PX: None * 1000 fails, so only a 0 default survives; still the default
        for side, other in ((expr.left, expr.right), (expr.right, expr.left)):
            if isinstance(other, (cst.Integer, cst.Float)):
                expr = side
                break
    scope = call.scope
    while scope is not None and scope.kind == "lambda":
        scope = scope.parent
    if scope is None or scope.kind != "function":
        return None
    func: cst.FunctionDef = scope.node  # type: ignore[assignment]
    if isinstance(expr, cst.Name):
        if expr.value in scope.history or not _defaults_off(func, expr.value):
            return None  # `ttl = ttl or DEFAULT_TTL`, or a real default
        in_class = scope.parent is not None and scope.parent.kind == "class"
        static = any((dotted(d.decorator) or "") == "staticmethod" for d in func.decorators)
        return OffTtl(func, expr.value, func.name.value, 1 if in_class and not static else 0)
    if isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name) \
            and expr.value.value == scope.self_name and scope.cls is not None:
        assigned = scope.cls.attrs.get(expr.attr.value, ())
        if len(assigned) != 1:
            return None
        value, _, method = assigned[0]
        if method is None or not isinstance(value, cst.Name) or \
                getattr(method.node.name, "value", None) != "__init__" or value.value in method.locals:
            return None
        if not _defaults_off(method.node, value.value):
            return None
        return OffTtl(method.node, value.value, scope.cls.node.name.value, 1)
    return None


def _defaults_off(func: cst.FunctionDef, name: str) -> bool:
    params = func.params
    for param in (*params.posonly_params, *params.params, *params.kwonly_params):
        if param.name.value != name:
            continue
        default = param.default
        if isinstance(default, cst.Name):
            return default.value in _OFF
        return isinstance(default, (cst.Integer, cst.Float)) and float(default.value) == 0
    return False


class ScopeExpiry:
    """One function's TTLs, indexed by key once (no rescan of the scope per call): which keys
    it writes with a TTL, and after which position each key is expired. Each question can leave
    out the TTLs that are off by default (`normal=True`, see `off_by_default`): a write whose
    TTL only comes when a caller asks for one is not the normal path."""

    def __init__(self, calls: List["RedisCall"]) -> None:
        self._positions: Dict[int, int] = {}
        # (all TTLs, normal-path TTLs only)
        self._with_ttl: Tuple[Set[Key], Set[Key]] = (set(), set())
        self._last_expire: Tuple[Dict[Optional[Key], int], Dict[Optional[Key], int]] = ({}, {})
        self._last_any = [-1, -1]
        self._off: Dict[Optional[Key], Set[OffTtl]] = {}
        for index, call in enumerate(calls):
            self._positions[id(call)] = index
            if call.command in EXPIRE_COMMANDS:
                off = off_ttl(call)
                for normal in (False, True):
                    if normal and off is not None:
                        self._off.setdefault(call.key, set()).add(off)
                        continue
                    self._last_expire[normal][call.key] = index
                    self._last_any[normal] = index
            elif call.key is not None and write_ttl(call):
                self._with_ttl[False].add(call.key)
                off = off_ttl(call)
                if off is None:
                    self._with_ttl[True].add(call.key)
                else:
                    self._off.setdefault(call.key, set()).add(off)

    def off_ttls(self, keys: Sequence[Optional[Key]]) -> Set[OffTtl]:
        """The TTLs off by default that these keys are given in this function."""
        out: Set[OffTtl] = set()
        for key in keys:
            out |= self._off.get(key, set())
        if None in keys:
            for found in self._off.values():
                out |= found
        return out

    def written_with_ttl(self, key: Optional[Key], normal: bool = False) -> bool:
        """The function also writes `key` with a TTL (`if ttl: set(k, v, ex=ttl)` / `else:
        set(k, v)`)."""
        return key is not None and key in self._with_ttl[normal]

    def expired_after(self, call: "RedisCall", keys: Optional[Sequence[Optional[Key]]] = None,
                      normal: bool = False) -> bool:
        """`redislint.semantic.flow.sequences.expired_after`, answered from the index."""
        here = self._positions.get(id(call), -1)
        last = self._last_expire[normal]
        if keys is None:
            return call.key is not None and last.get(call.key, -1) > here
        if self._last_any[normal] <= here:
            return False
        return all(key is None or last.get(key, -1) > here for key in keys)


# -- fixed keys: permanent state or a cache that is never refreshed --------------------------
# Words that say a fixed key holds state meant to outlive any TTL (`app:schema_version`,
# `config`, `feature_flags`, `scheduler:leader`, `last_run`...).
PERMANENT_WORDS = frozenset({
    "version", "versions", "schema", "config", "configuration", "conf", "settings", "setting",
    "options", "preferences", "prefs", "flag", "flags", "feature", "features", "toggle",
    "toggles", "switch", "enabled", "disabled", "maintenance", "mode", "leader", "master",
    "primary", "owner", "election", "migration", "migrations", "migrated", "revision", "epoch",
    "generation", "seq", "sequence", "counter", "cursor", "offset", "checkpoint", "watermark",
    "last", "heartbeat", "started", "startup", "boot", "deploy", "deployed", "release", "build",
    "installed", "initialized", "init", "state", "status", "secret", "salt", "registry",
    # aggregates of a bounded set of fields: a snapshot that is state, not a cache per entity
    "meta", "metadata", "info", "metrics", "stats", "totals",
})
_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")


def names_permanent_state(key: Optional[Key]) -> bool:
    """The key's literal text has a word of `PERMANENT_WORDS` (camelCase and `snake_case`
    split): `app:schema_version`, `FEATURE_FLAGS`, `lastRun`."""
    if key is None:
        return False
    return any(word.lower() in PERMANENT_WORDS for word in _WORDS.findall(key.template))


def is_constant(expr: Optional[cst.BaseExpression], call: "RedisCall",
                facts: "ModuleFacts") -> bool:
    """`expr` is a value written in the code: a literal (`1`, `"on"`, `True`, `-1`), or a module
    constant / class attribute bound once to one. Cheap and syntactic: a local bound to a
    literal counts as computed."""
    if expr is None:
        return False
    if string_value(expr) is not None or isinstance(expr, (cst.Integer, cst.Float)):
        return True
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.expression, (cst.Integer,
                                                                              cst.Float)):
        return True
    if isinstance(expr, cst.Name):
        if expr.value in ("True", "False", "None"):
            return True
        scope = call.scope
        while scope is not None:
            if scope.kind in ("function", "lambda") and expr.value in scope.bindings:
                return False
            scope = scope.parent
        values = facts.assigns.get(expr.value, ())
        return len(values) == 1 and _literal(values[0])
    return class_constant(expr, call, facts) is not None


def class_constant(expr: Optional[cst.BaseExpression], call: "RedisCall", facts: "ModuleFacts"
                   ) -> Optional[cst.BaseExpression]:
    """The literal a class attribute (`self.KEY`, `cls.KEY`, `Store.KEY`) is bound to, once,
    in the class body or a method; None otherwise."""
    if not isinstance(expr, cst.Attribute) or not isinstance(expr.value, cst.Name):
        return None
    owner = expr.value.value
    cls = call.scope.cls if owner in (call.scope.self_name, "cls") else facts.classes.get(owner)
    values = cls.attrs.get(expr.attr.value, ()) if cls is not None else ()
    if len(values) == 1 and values[0][0] is not None and _literal(values[0][0]):
        return values[0][0]
    return None


def fixed_key(call: "RedisCall", facts: "ModuleFacts") -> Optional[Key]:
    """The call's key when it has no variable part: a literal, a module constant, or a class
    attribute bound once to a literal (`self.REDIS_KEY_HASH`)."""
    key = call.key
    if key is not None and key.is_literal:
        return key
    text = string_value(class_constant(call.arg(0, "name"), call, facts))  # type: ignore[arg-type]
    return Key(text) if text is not None else None


def _literal(expr: cst.BaseExpression) -> bool:
    return string_value(expr) is not None or isinstance(expr, (cst.Integer, cst.Float)) or (
        isinstance(expr, cst.Name) and expr.value in ("True", "False", "None"))
