"""Lock wrappers: a project's own function or class that makes a redis-py lock whose `timeout`
its caller gives, with None when the caller says nothing.

```python
class DistributedLock:
    def __init__(self, name, timeout=None):
        self.lock = r.lock(name, timeout=timeout)
    ...
with DistributedLock("resource"):   # no timeout: the lock never expires
    time.sleep(1000)
```

The lock's timeout is a *slot* of the callable around it when it is:
- a parameter whose default is None, never rebound in the function (`timeout=None`);
- a key of the function's `**kwargs` read with a None default, directly or through a local
  bound once (`options.pop("timeout", None)`, `kwargs.get("timeout")`);
- an attribute (`self.timeout`) bound once in a method, from one of those (a class attribute
  bound to None as well does not change that).

A slot of `__init__` is one of the class (its callers are `DistributedLock(...)`); of a module
function, of the function; of another method, of `Class.method` (its callers are
`self.method(...)` in the class). A call of the callable that does not pass the slot
(`passed` gives "omitted"), or passes a literal None ("none"), makes a lock without timeout; one
that forwards a slot of its own callable (`def make(name, timeout=None): return
DistributedLock(name, timeout)`) makes that callable a wrapper too (`propagate`).

`slot_of` reads module facts only, so the project scan (`redislint.semantic.keys.keyspace`)
finds the same wrappers as the lint phase; it exports those of module functions and classes
as the `lock-wrapper` family (`export`), for the calls other modules make (`project_wrappers`).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from typing import (Dict, FrozenSet, Iterable, List, Optional, Sequence, Set, Tuple)

import libcst as cst

from redislint.semantic.facts import ClassFacts, FunctionFacts, ModuleFacts
from redislint.semantic.names import string_value

# The family under which module summaries carry their wrappers (`ModuleSummary.key_uses`).
FAMILY = "lock-wrapper"
_OPTION_READS = frozenset({"pop", "get"})


@dataclass(frozen=True)
class Slot:
    """A parameter (`position` among the positional parameters a caller fills, None when
    keyword-only) or a `**kwargs` key (`option`), None unless the caller passes it; `default`
    is the None written in the wrapper (the parameter's default, the `None` of `pop(k,
    None)`), when there is one to change."""

    name: str
    position: Optional[int]
    option: bool = False
    default: Optional[cst.CSTNode] = field(default=None, compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class Definition:
    """A function of the module as its callers name it: `name` for a module function,
    `Class` for `__init__`, `Class.method` for another method."""

    callee: str
    func: FunctionFacts
    cls: Optional[ClassFacts]
    skip_first: bool  # callers do not pass the first parameter (self / cls)


def definitions(facts: ModuleFacts) -> Dict[int, Definition]:
    """id(FunctionDef node) -> its Definition, for module functions and methods."""
    out: Dict[int, Definition] = {}
    for name, func in facts.functions.items():
        out[id(func.node)] = Definition(name, func, None, False)
    for class_name, cls in facts.classes.items():
        for method, func in cls.methods.items():
            node = func.node
            static = isinstance(node, cst.FunctionDef) and any(
                _decorator_name(d) == "staticmethod" for d in node.decorators)
            callee = class_name if method == "__init__" else f"{class_name}.{method}"
            out[id(node)] = Definition(callee, func, cls, not static)
    return out


def _decorator_name(decorator: cst.Decorator) -> Optional[str]:
    expr = decorator.decorator
    if isinstance(expr, cst.Call):
        expr = expr.func
    if isinstance(expr, cst.Attribute):
        return expr.attr.value
    return expr.value if isinstance(expr, cst.Name) else None


def _is_none(expr: Optional[cst.BaseExpression]) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "None"


def _param_slot(definition: Definition, name: str) -> Optional[Slot]:
    """The slot of parameter `name` when its default is None and the body never rebinds it."""
    node = definition.func.node
    if not isinstance(node, cst.FunctionDef) or name in definition.func.locals:
        return None
    params = node.params
    positional = [*params.posonly_params, *params.params]
    if definition.skip_first:
        positional = positional[1:]
    for index, param in enumerate(positional):
        if param.name.value == name:
            return Slot(name, index, default=param.default) if _is_none(param.default) else None
    for param in params.kwonly_params:
        if param.name.value == name:
            return Slot(name, None, default=param.default) if _is_none(param.default) else None
    return None


def _kwargs_name(definition: Definition) -> Optional[str]:
    node = definition.func.node
    star = node.params.star_kwarg if isinstance(node, cst.FunctionDef) else None
    return star.name.value if isinstance(star, cst.Param) else None


def _option_slot(definition: Definition, expr: cst.BaseExpression) -> Optional[Slot]:
    """`kwargs.pop("timeout", None)` / `kwargs.get("timeout")` on the function's `**kwargs`."""
    if not (isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute)
            and expr.func.attr.value in _OPTION_READS and isinstance(expr.func.value, cst.Name)):
        return None
    kwargs = _kwargs_name(definition)
    if kwargs is None or expr.func.value.value != kwargs or kwargs in definition.func.locals:
        return None
    args = expr.args
    if any(a.star or a.keyword is not None for a in args) or not 1 <= len(args) <= 2:
        return None
    key = string_value(args[0].value)
    if key is None or (len(args) == 2 and not _is_none(args[1].value)):
        return None
    return Slot(key, None, option=True, default=args[1].value if len(args) == 2 else None)


def slot_of(facts: ModuleFacts, defs: Dict[int, Definition], definition: Optional[Definition],
            expr: object, depth: int = 0) -> Optional[Tuple[Definition, Slot]]:
    """The callable and slot whose caller decides `expr` (a lock's timeout, read in
    `definition`), when it is None unless that caller passes it; None otherwise."""
    if definition is None or not isinstance(expr, cst.BaseExpression) or depth > 3:
        return None
    if isinstance(expr, cst.Name):
        name = expr.value
        if name in definition.func.params:
            slot = _param_slot(definition, name)
            return (definition, slot) if slot is not None else None
        values = definition.func.locals.get(name, ())
        if len(values) == 1:
            slot = _option_slot(definition, values[0])
            return (definition, slot) if slot is not None else None
        return None
    if isinstance(expr, cst.Call):
        slot = _option_slot(definition, expr)
        return (definition, slot) if slot is not None else None
    if isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name):
        cls = definition.cls
        node = definition.func.node
        first = [*node.params.posonly_params, *node.params.params][:1] \
            if isinstance(node, cst.FunctionDef) else []
        if cls is None or not first or expr.value.value != first[0].name.value:
            return None
        setters = []
        for value, _, func in cls.attrs.get(expr.attr.value, ()):
            if func is None:
                if not _is_none(value):
                    return None  # a class-level default other than None
                continue
            setters.append((value, func))
        if len(setters) != 1:
            return None
        value, func = setters[0]
        setter = defs.get(id(func.node))
        return slot_of(facts, defs, setter, value, depth + 1)
    return None


# -- calls ------------------------------------------------------------------------------------
OMITTED = "omitted"
NONE = "none"
UNKNOWN = "unknown"


def passed(call: cst.Call, slot: Slot) -> Tuple[str, Optional[cst.BaseExpression]]:
    """What a call gives the slot: (OMITTED, None), (NONE, node), (UNKNOWN, None) when
    `*args` / `**kwargs` may carry it, or ("value", expression)."""
    positional: List[cst.BaseExpression] = []
    starred = False
    for arg in call.args:
        if arg.keyword is not None:
            if arg.keyword.value == slot.name:
                return (NONE, arg.value) if _is_none(arg.value) else ("value", arg.value)
        elif arg.star == "**":
            return (UNKNOWN, None)
        elif arg.star:
            starred = True
        elif not starred:
            positional.append(arg.value)
    if slot.option or slot.position is None:
        return (OMITTED, None)
    if slot.position < len(positional):
        value = positional[slot.position]
        return (NONE, value) if _is_none(value) else ("value", value)
    return (UNKNOWN, None) if starred else (OMITTED, None)


class Callables:
    """The module's functions and methods as their callers name them."""

    def __init__(self, facts: ModuleFacts) -> None:
        self.facts = facts
        self.defs = definitions(facts)
        self._class_names = {id(cls.node): name for name, cls in facts.classes.items()}

    def definition(self, node: Optional[cst.CSTNode]) -> Optional[Definition]:
        return self.defs.get(id(node)) if node is not None else None

    def callee(self, call: cst.Call, caller: Optional[Definition]) -> Optional[str]:
        """How `call` names a callable: a module function or class (`name`), `Class.method`
        for `self.method(...)` in a method of the class, `import:<qualified name>` for an
        imported one (`Lock(...)`, `locks.Lock(...)`); None otherwise."""
        facts = self.facts
        func = call.func
        if type(func) is cst.Name:
            name = func.value  # type: ignore[attr-defined]
            if name in facts.functions or name in facts.classes:
                return name
            qualified = facts.imports.names.get(name)
            return "import:" + qualified if qualified else None
        if type(func) is not cst.Attribute or type(func.value) is not cst.Name:  # type: ignore[attr-defined]
            return None
        owner, method = func.value.value, func.attr.value  # type: ignore[attr-defined]
        if caller is not None and caller.cls is not None and caller.skip_first:
            node = caller.func.node
            first = [*node.params.posonly_params, *node.params.params][:1] \
                if isinstance(node, cst.FunctionDef) else []
            if first and owner == first[0].name.value:
                name = self._class_names.get(id(caller.cls.node))
                return f"{name}.{method}" if name else None
        if owner in facts.imports.names and owner not in facts.assigns:
            return f"import:{facts.imports.names[owner]}.{method}"
        return None


@dataclass
class CallSite:
    callee: str
    node: cst.Call
    caller: Optional[Definition]


def propagate(direct: Dict[str, Set[Slot]], calls: Sequence[CallSite], facts: ModuleFacts,
              defs: Dict[int, Definition]
              ) -> Tuple[Dict[str, Set[Slot]], Dict[Tuple[str, Slot], cst.Call]]:
    """The wrappers: `direct` ones, and the callables that forward a slot of their own to one
    (`def make(name, timeout=None): return DistributedLock(name, timeout)`), with the call
    that forwards it (where that callable makes its lock). Each call is read once per slot of
    its callee."""
    wrappers: Dict[str, Set[Slot]] = {name: set(slots) for name, slots in direct.items()}
    forwards: Dict[Tuple[str, Slot], cst.Call] = {}
    by_callee = _by_callee(calls)
    pending = [(name, slot) for name, slots in wrappers.items() for slot in slots]
    while pending:
        name, slot = pending.pop()
        for site in by_callee.get(name, ()):
            kind, value = passed(site.node, slot)
            if kind != "value":
                continue
            found = slot_of(facts, defs, site.caller, value)
            if found is None:
                continue
            definition, inner = found
            known = wrappers.setdefault(definition.callee, set())
            if inner not in known:
                known.add(inner)
                forwards[(definition.callee, inner)] = site.node
                pending.append((definition.callee, inner))
    return wrappers, forwards


def _by_callee(calls: Iterable[CallSite]) -> Dict[str, List[CallSite]]:
    out: Dict[str, List[CallSite]] = {}
    for site in calls:
        out.setdefault(site.callee, []).append(site)
    return out


# How a wrapper's default is reached (`open_default`).
LEFT_OUT_HERE = "here"
LEFT_OUT_ELSEWHERE = "elsewhere"
NO_CALLER = "no caller"


def open_default(callee: str, slot: Slot, calls: Sequence[CallSite],
                 remote: Sequence["CallSummary"]) -> Optional[str]:
    """Whether callers may leave the wrapper's timeout at None: a call of the module that
    leaves it out or passes None (`LEFT_OUT_HERE`), a module whose calls may leave it out
    (`LEFT_OUT_ELSEWHERE`), or no call seen anywhere (`NO_CALLER`: an API for others). None
    when every call seen passes a value (or may, through `*args` / `**kwargs`)."""
    if any(passed(site.node, slot)[0] in (OMITTED, NONE) for site in calls):
        return LEFT_OUT_HERE
    if any(summary.may_leave_out(slot) for summary in remote):
        return LEFT_OUT_ELSEWHERE
    if not calls and not remote:
        return NO_CALLER
    return None


# -- across modules ---------------------------------------------------------------------------
def export(module: str, wrappers: Dict[str, Set[Slot]]) -> List[str]:
    """`lock-wrapper` family entries (JSON text) for the module functions and classes."""
    if not module:
        return []
    out = []
    for name, slots in wrappers.items():
        if "." in name or not slots:
            continue
        out.append(json.dumps([f"{module}.{name}",
                               sorted([s.name, s.position, s.option] for s in slots)]))
    return sorted(out)


# The family under which module summaries carry how they call other modules' callables.
CALLS_FAMILY = "project-calls"
_EXTERNAL = frozenset(getattr(sys, "stdlib_module_names", ())) | {"redis", "valkey"}


@dataclass(frozen=True)
class CallSummary:
    """How one module calls a callable of another: the distinct shapes of its calls, each
    the number of positional arguments and the keywords (calls with `*args` / `**kwargs`,
    which may pass anything, are left out)."""

    shapes: FrozenSet[Tuple[int, FrozenSet[str]]]

    def may_leave_out(self, slot: Slot) -> bool:
        for positional, keywords in self.shapes:
            if slot.name in keywords:
                continue
            if slot.option or slot.position is None or positional <= slot.position:
                return True
        return False


def imports_project(facts: ModuleFacts) -> bool:
    """The module imports a name that may be a callable of the project."""
    return any(q.split(".", 1)[0] not in _EXTERNAL for q in facts.imports.names.values())


def summarize_calls(calls: Iterable[CallSite]) -> List[str]:
    """`project-calls` family entries (JSON text): per imported callable of the project
    (not the standard library's or redis-py's), the `CallSummary` of this module's calls."""
    found: Dict[str, Set[Tuple[int, Tuple[str, ...]]]] = {}
    for site in calls:
        if not site.callee.startswith("import:"):
            continue
        qualified = site.callee[len("import:"):]
        if qualified.split(".", 1)[0] in _EXTERNAL:
            continue
        shapes = found.setdefault(qualified, set())
        if any(arg.star for arg in site.node.args):
            continue
        keywords = tuple(sorted(a.keyword.value for a in site.node.args if a.keyword is not None))
        shapes.add((sum(1 for a in site.node.args if a.keyword is None), keywords))
    return sorted(json.dumps([name, sorted([n, list(k)] for n, k in shapes)])
                  for name, shapes in found.items())


@lru_cache(maxsize=8)
def _decoded_calls(entries: FrozenSet[str]) -> Dict[str, List[Tuple[str, CallSummary]]]:
    out: Dict[str, List[Tuple[str, CallSummary]]] = {}
    for text in entries:
        try:
            qualname, shapes = json.loads(text)
            summary = CallSummary(frozenset((int(n), frozenset(k)) for n, k in shapes))
        except (ValueError, TypeError):
            continue
        out.setdefault(qualname.rsplit(".", 1)[-1], []).append((qualname, summary))
    return out


def remote_calls(index, module: str, callee: str) -> List[CallSummary]:
    """How the other modules of the project call `callee` of `module`."""
    if index is None or not module or "." in callee:
        return []
    qualified = f"{module}.{callee}"
    return [summary for known, summary in
            _decoded_calls(index.key_uses(CALLS_FAMILY)).get(callee, ())
            if _same_name(known, qualified)]


@lru_cache(maxsize=8)
def _decoded(entries: FrozenSet[str]) -> Dict[str, List[Tuple[str, FrozenSet[Slot]]]]:
    out: Dict[str, List[Tuple[str, FrozenSet[Slot]]]] = {}
    for text in entries:
        try:
            qualname, slots = json.loads(text)
            found = frozenset(Slot(name, position, bool(option)) for name, position, option in slots)
        except (ValueError, TypeError):
            continue
        out.setdefault(qualname.rsplit(".", 1)[-1], []).append((qualname, found))
    return out


def imported(index, calls: Iterable[CallSite]) -> Dict[str, Set[Slot]]:
    """`import:<qualified name>` -> slots, for the wrappers of other modules of the project
    that these calls name (`from app.locks import DistributedLock`, `locks.DistributedLock`)."""
    if index is None:
        return {}
    project = _decoded(index.key_uses(FAMILY))
    out: Dict[str, Set[Slot]] = {}
    if not project:
        return out
    for site in calls:
        callee = site.callee
        if not callee.startswith("import:") or callee in out:
            continue
        qualified = callee[len("import:"):]
        for known, slots in project.get(qualified.rsplit(".", 1)[-1], ()):
            if _same_name(known, qualified):
                out[callee] = set(slots)
                break
    return out


def _same_name(a: str, b: str) -> bool:
    return a == b or a.endswith("." + b) or b.endswith("." + a)
