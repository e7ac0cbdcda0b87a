"""What a call to one of the module's own functions sends to Redis.

`ModuleHelpers` collects the scopes of a module's functions and methods as the traversal leaves
them (`add(scope)`). Once the module is complete (its own `on_scope_exit`), `sent(caller, call)`
lists the Redis calls that `call` (`self._save(key)`, `save(key)`) makes through a function of
the same module, directly or through up to two more such calls, each with its key rewritten in
the caller's terms: the callee's parameters replaced by the arguments given, `self.x` kept when
a method is called on `self` (or `cls`), module names kept; the key is None when it depends on
the callee's own locals or on an argument we cannot read. A function of another module, a
method called on another object, a nested function or a call with `*args` / `**kwargs` tells
nothing.

`helper_calls(scope_node)` are the calls of a scope's own code that may reach such a function,
each with the chain of nodes from the scope down to it (what `guards` needs).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Dict, List, Optional, Set, Tuple

import libcst as cst

from redislint.semantic.keys.expressions import Key, key_of, source
from redislint.walk import iter_children

if TYPE_CHECKING:
    from redislint.semantic.model import RedisCall, Scope

_NESTED = (cst.FunctionDef, cst.Lambda, cst.ClassDef)
_ROOT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DEPTH = 3
Sent = List[Tuple["RedisCall", Optional[Key]]]


def _callee_name(call: cst.Call) -> Optional[Tuple[Optional[str], str]]:
    """(receiver name or None, function name) for `name(...)` and `self.name(...)`."""
    func = call.func
    if isinstance(func, cst.Name):
        return None, func.value
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
        return func.value.value, func.attr.value
    return None


def helper_calls(scope_node: cst.CSTNode, names: Set[str]
                 ) -> List[Tuple[cst.Call, Tuple[cst.CSTNode, ...]]]:
    """The calls `name(...)` / `obj.name(...)` of a scope's own code (not of nested functions
    or classes) whose name is one of `names` (say the module's functions and methods), each
    with its ancestors from the scope node down."""
    found: List[Tuple[cst.Call, Tuple[cst.CSTNode, ...]]] = []
    roots = list(scope_node.body) if isinstance(scope_node, cst.Module) else [scope_node.body]  # type: ignore[attr-defined]
    base = (scope_node,)
    stack: List[Tuple[cst.CSTNode, Tuple[cst.CSTNode, ...]]] = [(r, base) for r in reversed(roots)]
    while stack:
        node, chain = stack.pop()
        if isinstance(node, _NESTED):
            continue
        if isinstance(node, cst.Call):
            named = _callee_name(node)
            if named is not None and named[1] in names:
                found.append((node, chain))
        below = chain + (node,)
        stack.extend((child, below) for child in reversed(list(iter_children(node))))
    return found


def _class_node(scope: "Scope") -> Optional[cst.CSTNode]:
    """The class whose method (or a function nested in one) `scope` is."""
    current: Optional["Scope"] = scope
    while current is not None:
        if current.kind == "class":
            return current.node
        current = current.parent
    return None


def _is_static(func: cst.FunctionDef) -> bool:
    return any(isinstance(d.decorator, cst.Name) and d.decorator.value == "staticmethod"
               for d in func.decorators)


class ModuleHelpers:
    """The functions and methods of one module and what calling them sends (see the module
    doc). Feed it every scope the module leaves; ask once the module is complete."""

    def __init__(self) -> None:
        # (class node id or None for module level, name) -> the function's scope
        self._functions: Dict[Tuple[Optional[int], str], "Scope"] = {}
        self.names: Set[str] = set()  # every name among them
        self._sent: Dict[int, Sent] = {}
        self._open: Set[int] = set()

    def add(self, scope: "Scope") -> None:
        parent = scope.parent
        if scope.kind != "function" or parent is None or not isinstance(scope.node, cst.FunctionDef):
            return
        name = scope.node.name.value
        if parent.kind == "class":
            self._functions[(id(parent.node), name)] = scope
        elif parent.kind == "module":
            self._functions[(None, name)] = scope
        else:
            return
        self.names.add(name)

    def callee(self, caller: "Scope", call: cst.Call) -> Optional[Tuple["Scope", bool]]:
        """The module's function `call` runs, and whether it is a method called on the
        caller's own `self` / `cls`."""
        named = _callee_name(call)
        if named is None:
            return None
        receiver, name = named
        if receiver is None:
            if caller.lookup(name) is not None:
                return None  # a local or parameter of that name, not the module's function
            found = self._functions.get((None, name))
            return (found, False) if found is not None else None
        if receiver != caller.self_name:
            return None
        cls = _class_node(caller)
        found = self._functions.get((id(cls), name)) if cls is not None else None
        return (found, True) if found is not None else None

    def sent(self, caller: "Scope", call: cst.Call, depth: int = 1) -> Sent:
        """The Redis calls `call` makes through the module's functions, with their keys in
        the caller's terms (see the module doc)."""
        found = self.callee(caller, call)
        if found is None or any(a.star for a in call.args):
            return []
        callee, via_self = found
        mapping = self._arguments(caller, call, callee, via_self)
        if mapping is None:
            return []
        out: Sent = []
        for redis_call, key in self._summary(callee, depth):
            out.append((redis_call, None if key is None else
                        _translate(key, callee, mapping, via_self, caller.self_name)))
        return out

    def _summary(self, function: "Scope", depth: int) -> Sent:
        """Every Redis call `function` makes, itself or through the module's functions it
        calls, with keys in its own terms."""
        ident = id(function.node)
        known = self._sent.get(ident)
        if known is not None:
            return known
        out: Sent = [(c, c.key) for c in function.calls]
        if depth < _DEPTH and ident not in self._open:
            self._open.add(ident)
            for node, _ in helper_calls(function.node, self.names):
                out.extend(self.sent(function, node, depth + 1))
            self._open.discard(ident)
        self._sent[ident] = out
        return out

    @staticmethod
    def _arguments(caller: "Scope", call: cst.Call, callee: "Scope", via_self: bool
                   ) -> Optional[Dict[str, Tuple[Optional[Key], str]]]:
        """Parameter name -> (its key in the caller's terms, the argument's text)."""
        func = callee.node
        if not isinstance(func, cst.FunctionDef):
            return None
        params = [p.name.value for p in (*func.params.posonly_params, *func.params.params)]
        if via_self and not _is_static(func) and params:
            params = params[1:]
        keywords = {p.name.value for p in (*func.params.params, *func.params.kwonly_params)}
        mapping: Dict[str, Tuple[Optional[Key], str]] = {}
        positional = [a.value for a in call.args if a.keyword is None]
        star, star_kwarg = func.params.star_arg, func.params.star_kwarg
        if len(positional) > len(params) and not isinstance(star, cst.Param):
            return None  # a call that raises TypeError, or a callee we misread
        for name, value in zip(params, positional):
            mapping[name] = (key_of(value, caller.key_lookup), source(value))
        for arg in call.args:
            if arg.keyword is not None:
                if arg.keyword.value not in keywords and star_kwarg is None:
                    return None
                mapping[arg.keyword.value] = (key_of(arg.value, caller.key_lookup),
                                              source(arg.value))
        return mapping


def _translate(key: Key, callee: "Scope", mapping: Dict[str, Tuple[Optional[Key], str]],
               via_self: bool, caller_self: Optional[str]) -> Optional[Key]:
    """`key`, written in the callee's terms, in the caller's (None when it cannot be)."""
    func = callee.node
    params = {p.name.value for p in (*func.params.posonly_params, *func.params.params,  # type: ignore[attr-defined]
                                     *func.params.kwonly_params)}  # type: ignore[attr-defined]
    pieces = key.template.split("{}")
    template: List[str] = [pieces[0]]
    parts: List[str] = []
    for part, text in zip(key.parts, pieces[1:]):
        match = _ROOT.match(part)
        root = match.group(0) if match else None
        if part in mapping:
            given, _ = mapping[part]
            if given is None:
                return None
            template.append(given.template)
            parts.extend(given.parts)
        elif root is not None and root == callee.self_name and root not in mapping:
            if not via_self or caller_self is None:
                return None
            template.append("{}")
            parts.append(caller_self + part[len(root):])
        elif root is not None and root in mapping:
            template.append("{}")
            parts.append(mapping[root][1] + part[len(root):])
        elif root is None or root in params or root in callee.bindings:
            return None  # a parameter left to its default, or a local of the callee
        else:
            template.append("{}")
            parts.append(part)  # a module name: the same in the caller
        template.append(text)
    return Key("".join(template), tuple(parts))

