"""A cheap statement-level pre-pass: what a module defines before any rule looks at it.

Clients are often bound after the code that uses them (a module global at the bottom, `self.r`
set in `__init__` below the methods, a factory defined later), so bindings are gathered first,
from statements only, without descending into expressions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import libcst as cst

from redislint.semantic.names import Imports

_COMPOUND_BODIES = ("body", "orelse", "handlers", "finalbody", "cases")
# Container methods that store a value, and the position of that value among their arguments.
_STORES = {"append": 0, "add": 0, "insert": 1, "setdefault": 1, "appendleft": 0}


def _blocks(stmt: cst.CSTNode):
    """The statement lists nested in a compound statement (if/else, try/except, with, match...)."""
    for name in _COMPOUND_BODIES:
        value = getattr(stmt, name, None)
        if value is None:
            continue
        if isinstance(value, cst.BaseSuite):
            yield list(value.body)
        elif isinstance(value, (list, tuple)):
            for item in value:
                yield from _blocks(item)
        elif isinstance(value, cst.If):
            yield [value]
        elif isinstance(value, cst.CSTNode):
            yield from _blocks(value)


@dataclass
class FunctionFacts:
    node: cst.CSTNode
    params: Dict[str, Optional[cst.BaseExpression]] = field(default_factory=dict)
    locals: Dict[str, List[cst.BaseExpression]] = field(default_factory=dict)
    returns: List[cst.BaseExpression] = field(default_factory=list)
    annotation: Optional[cst.BaseExpression] = None
    is_property: bool = False
    globals: set = field(default_factory=set)
    # What `yield` hands out (a `@contextmanager` function's `with` value).
    yields: List[cst.BaseExpression] = field(default_factory=list)
    # Names bound by `for name in X` ("iter", X, position in a tuple target or None) and
    # `with X as name` ("enter", X, None).
    targets: Dict[str, List[tuple]] = field(default_factory=dict)
    # Names stored into with `name[k] = v` (kind "dict"), `name.append(v)` ("list"): (value,
    # kind) for each value stored.
    items: Dict[str, List[tuple]] = field(default_factory=dict)


@dataclass
class ClassFacts:
    node: cst.ClassDef
    # attribute -> (value expression or None, annotation or None, method it was set in or None)
    attrs: Dict[str, List[tuple]] = field(default_factory=dict)
    methods: Dict[str, FunctionFacts] = field(default_factory=dict)
    bases: List[str] = field(default_factory=list)
    # attribute -> (value stored into it, method, kind): `self.servers[name] = v`, `.append(v)`.
    items: Dict[str, List[tuple]] = field(default_factory=dict)


@dataclass
class ModuleFacts:
    imports: Imports
    assigns: Dict[str, List[cst.BaseExpression]] = field(default_factory=dict)
    annotations: Dict[str, cst.BaseExpression] = field(default_factory=dict)
    functions: Dict[str, FunctionFacts] = field(default_factory=dict)
    classes: Dict[str, ClassFacts] = field(default_factory=dict)
    from_imports: Dict[str, str] = field(default_factory=dict)
    # Module globals stored into (`CLIENTS[name] = v`, `POOL.append(v)`): (value, kind).
    items: Dict[str, List[tuple]] = field(default_factory=dict)
    # Module globals bound by `for` / `with` at module level, as in `FunctionFacts.targets`.
    targets: Dict[str, List[tuple]] = field(default_factory=dict)


def _targets(node: cst.CSTNode):
    """(target, value, annotation) for each simple binding a small statement makes."""
    if isinstance(node, cst.Assign):
        for target in node.targets:
            yield target.target, node.value, None
    elif isinstance(node, cst.AnnAssign):
        yield node.target, node.value, node.annotation.annotation


def _is_property(func: cst.FunctionDef) -> bool:
    for decorator in func.decorators:
        expr = decorator.decorator
        name = expr.attr.value if isinstance(expr, cst.Attribute) else getattr(expr, "value", "")
        if name in ("property", "cached_property", "cache", "lru_cache"):
            return True
    return False


def _is_accessor(func: cst.FunctionDef, methods: Dict[str, "FunctionFacts"]) -> bool:
    """`@name.setter` / `@name.deleter` below `@property def name`."""
    name = func.name.value
    for decorator in func.decorators:
        expr = decorator.decorator
        if isinstance(expr, cst.Attribute) and expr.attr.value in ("setter", "deleter") and \
                isinstance(expr.value, cst.Name) and expr.value.value == name:
            return name in methods
    return False


class _Collector:
    def __init__(self, facts: ModuleFacts) -> None:
        self.facts = facts

    def statements(self, body: Sequence[cst.CSTNode], func: Optional[FunctionFacts],
                   cls: Optional[ClassFacts], self_name: Optional[str]) -> None:
        # Iterative over nested blocks; recursion only for def/class, which Python bounds.
        pending = list(reversed(body))
        while pending:
            stmt = pending.pop()
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    self.small(small, func, cls, self_name)
            elif isinstance(stmt, cst.BaseSmallStatement):
                self.small(stmt, func, cls, self_name)
            elif isinstance(stmt, cst.FunctionDef):
                self.function(stmt, cls if func is None else None, func is None and cls is not None)
            elif isinstance(stmt, cst.ClassDef):
                if func is None and cls is None:
                    self.klass(stmt)
                else:
                    self.statements(stmt.body.body, None, None, None)
            else:
                if isinstance(stmt, (cst.For, cst.With)) and (cls is None or func is not None):
                    self.bound_by(stmt, func)
                for block in reversed(list(_blocks(stmt))):
                    pending.extend(reversed(block))

    def bound_by(self, stmt: cst.CSTNode, func: Optional[FunctionFacts]) -> None:
        """Names a `for` or `with` statement binds, and what to."""
        targets = func.targets if func is not None else self.facts.targets
        if isinstance(stmt, cst.For):
            target = stmt.target
            if isinstance(target, cst.Name):
                targets.setdefault(target.value, []).append(("iter", stmt.iter, None))
            elif isinstance(target, (cst.Tuple, cst.List)):
                for position, element in enumerate(target.elements):
                    if isinstance(element.value, cst.Name):
                        targets.setdefault(element.value.value, []).append(
                            ("iter", stmt.iter, position))
        elif isinstance(stmt, cst.With):
            for item in stmt.items:
                if item.asname is not None and isinstance(item.asname.name, cst.Name):
                    targets.setdefault(item.asname.name.value, []).append(
                        ("enter", item.item, None))

    def small(self, node, func, cls, self_name) -> None:
        facts = self.facts
        if isinstance(node, (cst.Import, cst.ImportFrom)):
            added = facts.imports.add(node)
            if func is None and cls is None and isinstance(node, cst.ImportFrom):
                facts.from_imports.update(added)
            return
        if isinstance(node, cst.Global) and func is not None:
            func.globals.update(n.name.value for n in node.names)
            return
        if isinstance(node, cst.Return) and func is not None and node.value is not None:
            func.returns.append(node.value)
            return
        if isinstance(node, cst.Expr):
            value = node.value
            if isinstance(value, cst.Yield) and func is not None:
                if isinstance(value.value, cst.BaseExpression):
                    func.yields.append(value.value)
            elif isinstance(value, cst.Call):
                self.stored(value, func, cls, self_name)
            return
        for target, value, annotation in _targets(node):
            if isinstance(target, cst.Name):
                name = target.value
                if func is not None and name in func.globals:
                    if value is not None:
                        facts.assigns.setdefault(name, []).append(value)
                elif func is not None:
                    if value is not None:
                        func.locals.setdefault(name, []).append(value)
                elif cls is not None:
                    cls.attrs.setdefault(name, []).append((value, annotation, None))
                else:
                    if value is not None:
                        facts.assigns.setdefault(name, []).append(value)
                    if annotation is not None:
                        facts.annotations[name] = annotation
            elif (
                isinstance(target, cst.Attribute)
                and cls is not None
                and self_name is not None
                and isinstance(target.value, cst.Name)
                and target.value.value == self_name
            ):
                cls.attrs.setdefault(target.attr.value, []).append((value, annotation, func))
            elif isinstance(target, cst.Subscript) and value is not None:
                self.store(target.value, value, func, cls, self_name)

    def stored(self, call: cst.Call, func, cls, self_name) -> None:
        """`x.append(v)`, `x.add(v)`, `x.setdefault(k, v)`: `v` is stored into `x`."""
        method = call.func
        if not isinstance(method, cst.Attribute) or method.attr.value not in _STORES:
            return
        position = _STORES[method.attr.value]
        values = [a.value for a in call.args if a.keyword is None and not a.star]
        if len(values) > position:
            kind = "dict" if method.attr.value == "setdefault" else "list"
            self.store(method.value, values[position], func, cls, self_name, kind)

    def store(self, holder: cst.BaseExpression, value: cst.BaseExpression, func, cls,
              self_name, kind: str = "dict") -> None:
        if isinstance(holder, cst.Name):
            name = holder.value
            if func is not None and name not in func.globals:
                func.items.setdefault(name, []).append((value, kind))
            elif cls is None or func is not None:
                self.facts.items.setdefault(name, []).append((value, kind))
        elif (isinstance(holder, cst.Attribute) and cls is not None and self_name is not None
              and isinstance(holder.value, cst.Name) and holder.value.value == self_name):
            cls.items.setdefault(holder.attr.value, []).append((value, func, kind))

    def function(self, node: cst.FunctionDef, cls: Optional[ClassFacts], is_method: bool) -> None:
        func = FunctionFacts(node, annotation=node.returns.annotation if node.returns else None,
                             is_property=_is_property(node))
        params = node.params
        for param in (*params.posonly_params, *params.params, *params.kwonly_params):
            func.params[param.name.value] = param.annotation.annotation if param.annotation else None
        self_name = None
        if is_method and cls is not None:
            if not _is_accessor(node, cls.methods):  # a property's setter keeps the property
                cls.methods[node.name.value] = func
            first = (*params.posonly_params, *params.params)[:1]
            if first:
                self_name = first[0].name.value
        elif not is_method and cls is None:
            self.facts.functions.setdefault(node.name.value, func)
        body = node.body.body  # an indented block, or the small statements of `def f(): ...`
        self.statements(body, func, cls, self_name)

    def klass(self, node: cst.ClassDef) -> None:
        from redislint.semantic.names import dotted

        cls = ClassFacts(node, bases=[d for d in (dotted(b.value) for b in node.bases) if d])
        self.facts.classes[node.name.value] = cls
        self.statements(node.body.body, None, cls, None)


def collect(module: cst.Module, name: str = "", is_package: bool = False) -> ModuleFacts:
    facts = ModuleFacts(Imports(name, is_package))
    _Collector(facts).statements(module.body, None, None, None)
    return facts
