"""Which key patterns a module drains, trims or expires: facts other modules can rely on.

A list pushed in `app.py` is usually popped in `worker.py`; a session hash written in one module
may get its TTL in another. Rules that say "this key is never consumed / never expired" must
look at the whole project, so every module's summary (`redislint.project.ModuleSummary`)
carries the patterns it bounds, per family:

- `list`: popped, moved, trimmed or removed from (LPOP/RPOP/BLPOP/BRPOP/LMPOP/BLMPOP,
  LMOVE/BLMOVE/RPOPLPUSH/BRPOPLPUSH, LTRIM, LREM);
- `zset`: members removed (ZREM, ZREMRANGEBYSCORE/RANK/LEX, ZPOPMIN/ZPOPMAX, BZPOP*, ZMPOP);
- `stream`: trimmed or deleted from (XTRIM, XDEL);
- `expire`: given a TTL (EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT, SETEX/PSETEX, GETEX or SET with an
  expiry option);
- `delete`: deleted (DEL, UNLINK, GETDEL).

The project scan is syntactic: any `x.<command>(key, ...)` counts whatever `x` is, since these
facts only ever silence a rule. Keys are normalised like `redislint.semantic.keys.expressions` does, with
module constants and a function's simple locals resolved. A pop or trim whose key cannot be
read at all (`r.rpop(self.key)`, `r.brpop(queues)`) is recorded as the pattern `*`: it may
drain any key of its family. Expiries and deletions of unreadable keys are not recorded:
generic helpers (`def touch(key, ttl): r.expire(key, ttl)`) say nothing about a given key.
"""

from __future__ import annotations

import fnmatch
import re
from typing import TYPE_CHECKING, Callable, Dict, Iterable, List, Optional, Set

import libcst as cst

from redislint.semantic.facts import FunctionFacts, ModuleFacts
from redislint.semantic.keys.expressions import Key, key_of
from redislint.semantic.redispy import EXPIRE_COMMANDS, TTL_OPTIONS
from redislint.walk import children_of

if TYPE_CHECKING:
    from redislint.semantic.keys.constants import Context
    from redislint.semantic.model import SemanticModel

LIST_DRAINS = frozenset({"lpop", "rpop", "blpop", "brpop", "lmpop", "blmpop", "lmove", "blmove",
                         "rpoplpush", "brpoplpush", "ltrim", "lrem"})
ZSET_DRAINS = frozenset({"zrem", "zremrangebyscore", "zremrangebyrank", "zremrangebylex",
                         "zpopmin", "zpopmax", "bzpopmin", "bzpopmax", "zmpop", "bzmpop"})
STREAM_DRAINS = frozenset({"xtrim", "xdel"})
FAMILIES: Dict[str, frozenset] = {"list": LIST_DRAINS, "zset": ZSET_DRAINS,
                                  "stream": STREAM_DRAINS}
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
_MENTIONS = re.compile(rb"\.\s*(?:" + b"|".join(
    re.escape(c.encode()) for c in sorted(_ALL_COMMANDS - {"set"}, key=len, reverse=True))
    + rb"|set\s*\([^)]*\b(?:ex|px|exat|pxat)\s*=)\s*\(?")
_WORD = re.compile(r"[A-Za-z0-9]")


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
    """Family -> sorted key patterns this module drains (list/zset/stream) or expires."""
    if data is not None and _MENTIONS.search(data) is None:
        return {}
    functions = _function_facts(facts)
    found: Dict[str, Set[str]] = {}
    func: Optional[FunctionFacts] = None
    # Children are pushed reversed, so the walk is in source order; a `_Restore` below a
    # function's children gives back the enclosing function's facts when they are done.
    stack: List[object] = [module]
    pop, extend = stack.pop, stack.extend
    while stack:
        node = pop()
        node_type = type(node)
        if node_type is _Restore:
            func = node.func  # type: ignore[attr-defined]
            continue
        if node_type is cst.FunctionDef:
            stack.append(_Restore(func))
            func = functions.get(id(node), None)
        elif node_type is cst.Call:
            callee = node.func  # type: ignore[attr-defined]
            if type(callee) is cst.Attribute:
                command = callee.attr.value.lower()
                if command in _ALL_COMMANDS:
                    _record(node, command, _lookup(facts, func), found)  # type: ignore[arg-type]
        children = children_of(node)  # type: ignore[arg-type]
        children.reverse()
        extend(children)
    return {family: sorted(patterns) for family, patterns in found.items()}


class _Restore:
    __slots__ = ("func",)

    def __init__(self, func: Optional[FunctionFacts]) -> None:
        self.func = func


def _record(call: cst.Call, command: str, lookup, found: Dict[str, Set[str]]) -> None:
    family = family_of(command)
    if family is not None:
        exprs = key_arguments(command, call)
        found.setdefault(family, set()).update(
            patterns_of(exprs, lambda e: key_of(e, lookup)))
    elif command in DELETES or (command in _ALL_COMMANDS and gives_ttl(command, call)):
        exprs = key_arguments(command, call)
        if command in DELETES and exprs is not None:
            exprs = [a.value for a in call.args if a.keyword is None]  # DEL takes many keys
        named = patterns_of(exprs, lambda e: key_of(e, lookup)) - {ANY}
        if named:
            found.setdefault("delete" if command in DELETES else "expire", set()).update(named)


def _function_facts(facts: ModuleFacts) -> Dict[int, FunctionFacts]:
    out = {id(f.node): f for f in facts.functions.values()}
    for cls in facts.classes.values():
        out.update((id(f.node), f) for f in cls.methods.values())
    return out


def _lookup(facts: ModuleFacts, func: Optional[FunctionFacts]):
    """A bare name's key: a function's simple local, else a module constant, when it has one
    value (a name assigned twice could be either)."""

    def lookup(name: str) -> Optional[Key]:
        values = None
        if func is not None and name in func.locals:
            values = func.locals[name]
        elif func is None or name not in func.params:
            values = facts.assigns.get(name)
        if not values or len(values) != 1:
            return None
        found = key_of(values[0])
        return found if named_pattern(found) is not None else None

    return lookup
