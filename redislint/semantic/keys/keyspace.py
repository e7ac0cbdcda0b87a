"""Which key patterns a module drains, trims or expires: facts other modules can rely on.

A list pushed in `app.py` is usually popped in `worker.py`; a session hash written in one module
may get its TTL in another. Rules that say "this key is never consumed / never expired" must
look at the whole project, so every module's summary (`redislint.project.ModuleSummary`)
carries the patterns it bounds, per family:

- `list`: popped, moved, trimmed or removed from (LPOP/RPOP/BLPOP/BRPOP/LMPOP/BLMPOP,
  LMOVE/BLMOVE/RPOPLPUSH/BRPOPLPUSH, LTRIM, LREM);
- `zset`: members removed (ZREM, ZREMRANGEBYSCORE/RANK/LEX, ZPOPMIN/ZPOPMAX, BZPOP*, ZMPOP);
- `stream`: trimmed or deleted from (XTRIM, XDEL);
- `set`: members removed (SREM, SPOP, SMOVE from it);
- `hash`: fields removed (HDEL, HGETDEL) or expired (HEXPIRE, HPEXPIRE, HEXPIREAT, HPEXPIREAT);
- `expire`: given a TTL (EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT, SETEX/PSETEX, GETEX or SET with an
  expiry option);
- `delete`: deleted (DEL, UNLINK, GETDEL);
- `lock`: taken as a lock: `set(key, token, nx=True)` with an expiry option (a lease) or of a
  lock-named key (`lock:{}`, see `redislint.semantic.atomic.locks.is_lock_key`),
  `setnx(key, ...)` of a lock-named key, `x.lock(key, ...)` and `Lock(r, key, ...)` (redis-py's
  lock keeps its token under `key`). Test modules record none: a test taking a lock says
  nothing about the code under test;
- `key-helper`: the module's one-line key helpers (`redislint.semantic.keys.helpers`), recorded
  even when the module sends no command;
- `lock-wrapper`: its functions and classes that make a lock whose timeout their caller gives,
  None by default (`redislint.semantic.atomic.wrappers`);
- `project-calls`: how it calls the callables it imports from the project (the arguments it
  passes), so a wrapper's module knows whether its callers give the timeout;
- `cache:<entity>`, `invalidates:<entity>`, `signals:<entity>`: the entities the module caches
  and the functions that invalidate them; `redis:clients`, `redis:factories`: the module globals
  bound to a client and the functions returning one (`redislint.semantic.context.database`,
  for RL401).

The project scan is syntactic: any `x.<command>(key, ...)` counts whatever `x` is, since these
facts mostly silence a rule. The `cache:` family makes RL401 look at an entity, so its entries
carry what the receiver is known to be, checked by the module that reads them against the
clients and factories the modules declare (`redis:clients`, `redis:factories`;
`database.ProjectClients`). The `lock` family makes one speak (a DEL elsewhere of a key taken
as a lock is a release), so it records only a lock's shape: a literal `nx=True` with an expiry
or a lock-like name, `.lock(key, ...)`, redis-py's `Lock` class. Keys are normalised like `redislint.semantic.keys.expressions` does, with
module constants and a function's simple locals resolved. A pop or trim whose key cannot be
read at all (`r.rpop(self.key)`, `r.brpop(queues)`) is recorded as the pattern `*`: it may
drain any key of its family. Not so for sorted sets and sets (`NAMED_ONLY`): a generic
`r.zrem(key, member)` says nothing about the time-indexed set `"logins"`, so such a removal
is recorded under `<family>.names` as the name it reads the key from (`key` for `key` or
`self.key`, `_key` for `self._key(x)`; see `name_token`), which bounds only the keys code
passes under that same name (`key = f"rate:{uid}"; r.zadd(key, ...)`), and as the patterns a
one-level helper of the module hands out, when it does (`helper_patterns`: `self._key(uid)`
or `key_for(uid)` whose `return`s are all named keys, a property likewise, an attribute of
the class assigned once: `self.key = f"rate:{name}"`). Expiries and deletions of unreadable
keys are not recorded: generic helpers (`def touch(key, ttl): r.expire(key, ttl)`) say nothing
about a given key.
Keys built by the module's own key helpers (`lock_key(job)`, `self._key(name)`) are resolved
like the lint phase does; helpers imported from other modules are not (the project is not
known yet when modules are scanned).
"""

from __future__ import annotations

import bisect
import fnmatch
import re
from typing import TYPE_CHECKING, Callable, Dict, Iterable, List, Optional, Set

import libcst as cst

from redislint.prefilter import mentions_redis
from redislint.semantic.atomic import wrappers
from redislint.semantic.atomic.locks import is_lock_key, lock_timeout_argument
from redislint.semantic.context.database import (
    CACHE_COMMANDS, INVALIDATE_COMMANDS, project_cache_uses,
)
from redislint.semantic.facts import ClassFacts, FunctionFacts, ModuleFacts
from redislint.semantic.keys import helpers
from redislint.semantic.keys.expressions import Key, key_of
from redislint.semantic.redispy import EXPIRE_COMMANDS, LOCK_CLASSES, TTL_OPTIONS
from redislint.walk import children_of

if TYPE_CHECKING:
    from redislint.semantic.keys.constants import Context
    from redislint.semantic.model import SemanticModel

LIST_DRAINS = frozenset({"lpop", "rpop", "blpop", "brpop", "lmpop", "blmpop", "lmove", "blmove",
                         "rpoplpush", "brpoplpush", "ltrim", "lrem"})
ZSET_DRAINS = frozenset({"zrem", "zremrangebyscore", "zremrangebyrank", "zremrangebylex",
                         "zpopmin", "zpopmax", "bzpopmin", "bzpopmax", "zmpop", "bzmpop"})
STREAM_DRAINS = frozenset({"xtrim", "xdel"})
SET_DRAINS = frozenset({"zrem", "zremrangebyscore", "zremrangebyrank", "zremrangebylex",
                         "zpopmin", "zpopmax", "bzpopmin", "bzpopmax", "zmpop", "bzmpop"})
STREAM_DRAINS = frozenset({"xtrim", "xdel"})
SET_DRAINS = frozenset({"srem", "spop", "smove"})
# Hash fields removed (HDEL, HGETDEL) or given a TTL of their own (HEXPIRE & co, Redis 7.4).
HASH_DRAINS = frozenset({"hdel", "hgetdel", "hexpire", "hpexpire", "hexpireat", "hpexpireat"})
FAMILIES: Dict[str, frozenset] = {"list": LIST_DRAINS, "zset": ZSET_DRAINS,
                                  "stream": STREAM_DRAINS, "set": SET_DRAINS,
                                  "hash": HASH_DRAINS}
# Families whose drains of an unreadable key bound only keys passed under the same name.
NAMED_ONLY = frozenset({"zset", "set"})
TTL_WRITES = frozenset({"setex", "psetex"})
DELETES = frozenset({"delete", "unlink", "getdel"})
# Any key: the pattern recorded for a drain whose key cannot be read.
ANY = "*"

# Commands whose first argument is a key or a list of keys.
_KEY_LISTS = frozenset({"blpop", "brpop", "bzpopmin", "bzpopmax"})
# Commands whose keys follow a count: (position of the first key, keys given as a list?).
_COUNTED = {"lmpop": (1, False), "zmpop": (1, True), "blmpop": (2, False), "bzmpop": (2, True)}
_ALL_COMMANDS = set().union(*FAMILIES.values(), EXPIRE_COMMANDS, TTL_WRITES, DELETES,
                            {"set", "getex"})
_LOCK_COMMANDS = frozenset({"set", "setnx", "lock"})
_MENTIONS = re.compile(rb"\.\s*(?:" + b"|".join(
    re.escape(c.encode()) for c in sorted(_ALL_COMMANDS - {"set"} | {"setnx", "lock"},
                                          key=len, reverse=True))
    + rb"|set\s*\([^)]*\b(?:ex|px|exat|pxat|nx)\s*=)\s*\(?|\bLock\s*\(")
_TEST_PARTS = frozenset({"test", "tests", "testing", "conftest"})
_WORD = re.compile(r"[A-Za-z0-9]")
_CACHE_MENTIONS = re.compile(rb"\.\s*(?:" + b"|".join(
    re.escape(c.encode()) for c in sorted(CACHE_COMMANDS | INVALIDATE_COMMANDS, key=len,
                                          reverse=True)) + rb")\s*\(")


def named_pattern(key: Optional[Key]) -> Optional[str]:
    """The key's glob (`user:*`) when its literal text names something (a letter or digit);
    None for keys built from values alone (`{}`, `{}:{}`), which could be any key."""
    if key is None or not _WORD.search(key.template.replace("{}", "")):
        return None
    return key.pattern


# What ends a key segment: the id of one entity sits between two of them.
_SEPARATORS = ":/|#.-_"


def entity_pattern(model: "SemanticModel", pattern: Optional[cst.BaseExpression],
                   context: Optional["Context"] = None) -> bool:
    """A SCAN / KEYS pattern that pins one entity: a run-time value (a local or a parameter,
    not `self.x` or a CONSTANT) between a namespace and a separator, then one trailing `*`
    (`f"{self.name}:{tag}:*"`, `"user:%s:*" % uid`): it walks that entity's keys, not the
    keyspace. Not `prefix + "*"` or a pattern passed in whole (any breadth), nor a pattern with
    other wildcards."""
    from redislint.semantic.keys.constants import Hole, current_context, template_pieces

    if pattern is None:
        return False
    context = context if context is not None else current_context(model)
    if context is None:
        return False
    pieces = template_pieces(model, pattern, context)
    if not pieces or not isinstance(pieces[-1], str) or not pieces[-1].endswith("*"):
        return False
    texts = [p for p in pieces if isinstance(p, str)]
    if any(ch in text for text in texts for ch in "?[") or \
            sum(text.count("*") for text in texts) != 1:
        return False
    if len(pieces) < 3:
        return False
    entity, tail = pieces[-2], pieces[-1]
    if not isinstance(entity, Hole) or not entity.names or len(tail) < 2 or \
            tail[0] not in _SEPARATORS:
        return False
    self_names = {"self", "cls"}
    if context[2]:
        self_names.add(context[2])
    if entity.names & self_names or all(name.isupper() for name in entity.names):
        return False  # a namespace the object or the module configures
    return any(p for p in pieces[:-2])  # something (a namespace) comes before the entity


def overlap(a: str, b: str) -> bool:
    """Whether two key globs may denote the same key (`queue:*` and `queue:emails`)."""
    return a == b or fnmatch.fnmatchcase(a, b) or fnmatch.fnmatchcase(b, a)


def matches_any(pattern: str, patterns: Iterable[str]) -> bool:
    return any(overlap(pattern, other) for other in patterns)


def names_family(family: str) -> str:
    """The `key_uses` family that holds the names of a NAMED_ONLY family's unreadable keys."""
    return family + ".names"


def name_token(expr: Optional[cst.BaseExpression]) -> Optional[str]:
    """The name code reads a key from: `key` for `key` and `self.key`, `_key` for
    `self._key(uid)`; None for anything else (`keys[0]`, a literal)."""
    while isinstance(expr, cst.Call):
        expr = expr.func
    if isinstance(expr, cst.Name):
        return expr.value
    if isinstance(expr, cst.Attribute):
        return expr.attr.value
    return None


def helper_patterns(expr: cst.BaseExpression, facts: ModuleFacts, cls: Optional[ClassFacts]
                    ) -> Set[str]:
    """The named patterns a key comes from when a one-level helper of the module hands it out:
    a call of a function of the module or a method of `cls` (`self._key(uid)`) whose `return`s
    are all named keys, a property of `cls` likewise, or an attribute of `cls` assigned once
    to a named key (`self.key = f"rate:{name}"`). Empty when any of them cannot be read."""
    helper: Optional[FunctionFacts] = None
    if isinstance(expr, cst.Call):
        func = expr.func
        if isinstance(func, cst.Name):
            helper = facts.functions.get(func.value)
        elif _on_self(func) and cls is not None:
            helper = cls.methods.get(func.attr.value)  # type: ignore[union-attr]
            if helper is not None and helper.is_property:
                helper = None
    elif _on_self(expr) and cls is not None:
        name = expr.attr.value  # type: ignore[union-attr]
        helper = cls.methods.get(name)
        if helper is None or not helper.is_property:
            values = cls.attrs.get(name, [])
            if len(values) != 1 or values[0][0] is None:
                return set()
            value, _, method = values[0]
            pattern = named_pattern(key_of(value, _lookup(facts, method)))
            return {pattern} if pattern is not None else set()
    if helper is None or not helper.returns:
        return set()
    lookup = _lookup(facts, helper)
    out = set()
    for value in helper.returns:
        pattern = named_pattern(key_of(value, lookup))
        if pattern is None:
            return set()
        out.add(pattern)
    return out


def _on_self(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name) and \
        expr.value.value in ("self", "cls")


def drained(family: str, exprs: Optional[List[cst.BaseExpression]],
            key: Callable[[cst.BaseExpression], Optional[Key]],
            helper: Callable[[cst.BaseExpression], Set[str]]) -> Dict[str, Set[str]]:
    """What a drain of `family` on the key expressions `exprs` bounds: family -> patterns,
    `ANY` for a key that cannot be read; for NAMED_ONLY families, the patterns a helper hands
    out (`helper`) and, under `names_family(family)`, the name the key is read from."""
    if exprs is None:
        return {family: {ANY}}
    out: Dict[str, Set[str]] = {family: set()}
    for expr in exprs:
        pattern = named_pattern(key(expr))
        if pattern is not None:
            out[family].add(pattern)
            continue
        if family not in NAMED_ONLY:
            out[family].add(ANY)
            continue
        out[family] |= helper(expr)
        token = name_token(expr)
        if token is not None:
            out.setdefault(names_family(family), set()).add(token)
    return out


_WILDCARD = re.compile(r"[*?\[]")


def _literal_prefix(pattern: str) -> str:
    match = _WILDCARD.search(pattern)
    return pattern if match is None else pattern[:match.start()]


class PatternIndex:
    """Key globs indexed by their literal prefix: `overlaps(p)` answers `matches_any(p, globs)`
    without trying every glob. Two globs can only overlap when one's literal prefix is a prefix
    of the other's, so only those are tried."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self._exact = frozenset(patterns)
        self._by_prefix: Dict[str, List[str]] = {}
        for pattern in self._exact:
            self._by_prefix.setdefault(_literal_prefix(pattern), []).append(pattern)
        self._prefixes = sorted(self._by_prefix)

    def __bool__(self) -> bool:
        return bool(self._exact)

    def overlaps(self, pattern: str) -> bool:
        if pattern in self._exact:
            return True
        if not self._exact:
            return False
        prefix = _literal_prefix(pattern)
        for end in range(len(prefix) + 1):
            for other in self._by_prefix.get(prefix[:end], ()):
                if overlap(pattern, other):
                    return True
        prefixes = self._prefixes
        index = bisect.bisect_right(prefixes, prefix)
        while index < len(prefixes) and prefixes[index].startswith(prefix):
            if any(overlap(pattern, other) for other in self._by_prefix[prefixes[index]]):
                return True
            index += 1
        return False


def family_of(command: str) -> Optional[str]:
    for family, commands in FAMILIES.items():
        if command in commands:
            return family
    return None


def gives_ttl(command: str, call: cst.Call) -> Optional[bool]:
    """Whether `x.<command>(...)` gives its key a TTL: EXPIRE*, SETEX/PSETEX, and SET/GETEX with
    an expiry option. None when `**options` may carry one."""
    if command in EXPIRE_COMMANDS or command in TTL_WRITES:
        return True
    if command not in ("set", "getex"):
        return False
    names = TTL_OPTIONS if command == "set" else TTL_OPTIONS + ("persist",)
    for arg in call.args:
        if arg.star == "**":
            return None
        if arg.keyword is not None and arg.keyword.value in names and not (
                isinstance(arg.value, cst.Name) and arg.value.value in ("None", "False")):
            return command == "set" or arg.keyword.value != "persist"
    positional = [a for a in call.args if a.keyword is None and not a.star]
    # redis-py's set(name, value, ex=None, px=None, ...) and getex(name, ex=None, px=None, ...)
    first_option = 2 if command == "set" else 1
    return any(not (isinstance(a.value, cst.Name) and a.value.value in ("None", "False"))
               for a in positional[first_option:first_option + 2])


def key_arguments(command: str, call: cst.Call) -> Optional[List[cst.BaseExpression]]:
    """The expressions a drain or expiry call passes as its keys (the source list of a move);
    None when they cannot be told (`*args`, a missing argument)."""
    positional = []
    for arg in call.args:
        if arg.star:
            return None
        if arg.keyword is None:
            positional.append(arg.value)
    keyword = {a.keyword.value: a.value for a in call.args if a.keyword is not None}
    if command in _COUNTED:
        start, as_list = _COUNTED[command]
        if as_list:
            found = positional[start] if len(positional) > start else keyword.get("keys")
            return _elements(found) if found is not None else None
        return positional[start:] or None
    first = positional[0] if positional else (
        keyword.get("name") or keyword.get("keys") or keyword.get("src") or keyword.get("first"))
    if first is None:
        return None
    return _elements(first) if command in _KEY_LISTS else [first]


def _elements(expr: cst.BaseExpression) -> List[cst.BaseExpression]:
    if isinstance(expr, (cst.List, cst.Tuple, cst.Set)):
        return [el.value for el in expr.elements if not isinstance(el, cst.StarredElement)]
    return [expr]


def patterns_of(exprs: Optional[List[cst.BaseExpression]],
                key: Callable[[cst.BaseExpression], Optional[Key]]) -> Set[str]:
    """The named patterns of some key expressions; `ANY` for one that names nothing."""
    if exprs is None:
        return {ANY}
    out = set()
    for expr in exprs:
        pattern = named_pattern(key(expr))
        out.add(pattern if pattern is not None else ANY)
    return out


# -- the project scan -------------------------------------------------------------------------
def scan(module: cst.Module, facts: ModuleFacts, data: Optional[bytes] = None
         ) -> Dict[str, List[str]]:
    """Family -> sorted key patterns this module drains (list/zset/stream/set/hash), expires,
    deletes or locks; its key helpers and lock wrappers; the entities it caches and invalidates
    (see the module doc)."""
    known = helpers.ModuleHelpers(facts)
    out: Dict[str, List[str]] = {}
    # (a module that only builds the client must still declare it: `redis:clients`)
    if data is None or _CACHE_MENTIONS.search(data) or mentions_redis(data):
        out.update(project_cache_uses(module, facts))
    exported = helpers.export(known)
    if exported:
        out[helpers.FAMILY] = exported
    mentions = data is None or _MENTIONS.search(data) is not None
    if not mentions and not wrappers.imports_project(facts):
        return out
    callables = wrappers.Callables(facts)
    defs = callables.defs
    found: Dict[str, Set[str]] = {}
    locks = not _is_test_module(facts.imports.module)
    direct: Dict[str, Set[wrappers.Slot]] = {}
    sites: List[wrappers.CallSite] = []
    definition: Optional[wrappers.Definition] = None
    lookup = _lookup(facts, None, known, None)
    # Children are pushed reversed, so the walk is in source order; a `_Restore` below a
    # function's children gives back the enclosing function's facts when they are done.
    stack: List[object] = [module]
    pop, extend = stack.pop, stack.extend
    while stack:
        node = pop()
        node_type = type(node)
        if node_type is _Restore:
            definition, lookup = node.definition, node.lookup  # type: ignore[attr-defined]
            continue
        if node_type is cst.FunctionDef:
            stack.append(_Restore(definition, lookup))
            definition = defs.get(id(node), None)
            lookup = _lookup(facts, definition.func if definition else None, known,
                             definition.cls if definition else None)
        elif node_type is cst.Call:
            callee = node.func  # type: ignore[attr-defined]
            if mentions:
                command = callee.attr.value.lower() if type(callee) is cst.Attribute else None
                if command in _ALL_COMMANDS:
                    _record(node, command, lookup, found, facts,  # type: ignore[arg-type]
                            definition.cls if definition is not None else None)
                if command in _LOCK_COMMANDS or (command is None
                                                 and _is_lock_class(facts, callee)):
                    _record_lock(node, command or "Lock", lookup, found if locks else None,
                                 facts, defs, definition, direct)
            name = callables.callee(node, definition)  # type: ignore[arg-type]
            if name is not None:
                sites.append(wrappers.CallSite(name, node, definition))  # type: ignore[arg-type]
        children = children_of(node)  # type: ignore[arg-type]
        children.reverse()
        extend(children)
    out.update((family, sorted(patterns)) for family, patterns in found.items())
    if direct:
        exported = wrappers.export(facts.imports.module,
                                   wrappers.propagate(direct, sites, facts, defs)[0])
        if exported:
            out[wrappers.FAMILY] = exported
    calls = wrappers.summarize_calls(sites)
    if calls:
        out[wrappers.CALLS_FAMILY] = calls
    return out


class _Restore:
    __slots__ = ("definition", "lookup")

    def __init__(self, definition: Optional["wrappers.Definition"], lookup) -> None:
        self.definition = definition
        self.lookup = lookup


def _is_test_module(module: str) -> bool:
    parts = module.split(".") if module else []
    return any(part in _TEST_PARTS or part.startswith("test_") or part.endswith("_test")
               for part in parts)


def _is_lock_class(facts: ModuleFacts, callee: cst.BaseExpression) -> bool:
    """`Lock(...)` / `redis.lock.Lock(...)`: redis-py's lock class, however imported."""
    name = callee.value if type(callee) is cst.Name else None  # type: ignore[attr-defined]
    if name is None and type(callee) is cst.Attribute:
        name = callee.attr.value  # type: ignore[attr-defined]
        if name != "Lock":
            return False
        from redislint.semantic.names import dotted
        name = dotted(callee)
    if name is None or not name.endswith("Lock"):
        return False
    return facts.imports.qualify(name) in LOCK_CLASSES


def _record_lock(call: cst.Call, command: str, lookup, found: Optional[Dict[str, Set[str]]],
                 facts: ModuleFacts, defs, definition, direct) -> None:
    """A lock taken (`lock` family) and, for a lock made here, the wrapper its timeout makes
    of the enclosing callable."""
    positional = [a.value for a in call.args if a.keyword is None and not a.star]
    keyword = {a.keyword.value: a.value for a in call.args if a.keyword is not None}
    if command == "Lock":
        name = positional[1] if len(positional) > 1 else keyword.get("name")
    else:
        name = positional[0] if positional else keyword.get("name")
    key = key_of(name, lookup) if name is not None else None
    if command in ("lock", "Lock"):
        timeout = lock_timeout_argument(call, command == "Lock")
        slot = wrappers.slot_of(facts, defs, definition, timeout)
        if slot is not None:
            direct.setdefault(slot[0].callee, set()).add(slot[1])
        taken = True
    elif command == "set":
        nx = keyword.get("nx")
        taken = (isinstance(nx, cst.Name) and nx.value == "True"
                 and (gives_ttl("set", call) is not False or is_lock_key(key)))
    else:  # setnx
        taken = is_lock_key(key)
    pattern = named_pattern(key) if taken else None
    if found is not None and pattern is not None:
        found.setdefault("lock", set()).add(pattern)


def _record(call: cst.Call, command: str, lookup, found: Dict[str, Set[str]],
            facts: ModuleFacts, cls: Optional[ClassFacts]) -> None:
    family = family_of(command)
    if family is not None:
        exprs = key_arguments(command, call)
        bounds = drained(family, exprs, lambda e: key_of(e, lookup),
                         lambda e: helper_patterns(e, facts, cls))
        for name, patterns in bounds.items():
            found.setdefault(name, set()).update(patterns)
    elif command in DELETES or (command in _ALL_COMMANDS and gives_ttl(command, call)):
        exprs = key_arguments(command, call)
        if command in DELETES and exprs is not None:
            exprs = [a.value for a in call.args if a.keyword is None]  # DEL takes many keys
        named = patterns_of(exprs, lambda e: key_of(e, lookup)) - {ANY}
        if named:
            found.setdefault("delete" if command in DELETES else "expire", set()).update(named)


def _lookup(facts: ModuleFacts, func: Optional[FunctionFacts],
            known: Optional[helpers.ModuleHelpers] = None, cls: Optional[ClassFacts] = None):
    """A bare name's key: a function's simple local, else a module constant, when it has one
    value (a name assigned twice could be either); the module's key helpers under their
    entry names (`lock_key()`, `self.lock_key`)."""
    entries = known.of_class(cls) if known is not None and cls is not None else {}
    module_entries = known.module if known is not None else {}

    def helper_lookup(name: str):
        if "(" in name or "." in name:
            found = entries.get(name)
            return found if found is not None else module_entries.get(name)
        return None

    def lookup(name: str):
        if "(" in name or "." in name:
            return helper_lookup(name)
        values = None
        if func is not None and name in func.locals:
            values = func.locals[name]
        elif func is None or name not in func.params:
            values = facts.assigns.get(name)
        if not values or len(values) != 1:
            return None
        found = key_of(values[0], helper_lookup)
        return found if named_pattern(found) is not None else None

    return lookup
