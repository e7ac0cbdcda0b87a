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


@dataclass
class ClassFacts:
    node: cst.ClassDef
    # attribute -> (value expression or None, annotation or None, method it was set in or None)
    attrs: Dict[str, List[tuple]] = field(default_factory=dict)
    methods: Dict[str, FunctionFacts] = field(default_factory=dict)
    bases: List[str] = field(default_factory=list)


@dataclass
class ModuleFacts:
    imports: Imports
    assigns: Dict[str, List[cst.BaseExpression]] = field(default_factory=dict)
    annotations: Dict[str, cst.BaseExpression] = field(default_factory=dict)
    functions: Dict[str, FunctionFacts] = field(default_factory=dict)
    classes: Dict[str, ClassFacts] = field(default_factory=dict)
    from_imports: Dict[str, str] = field(default_factory=dict)


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
                for block in reversed(list(_blocks(stmt))):
                    pending.extend(reversed(block))

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

    def function(self, node: cst.FunctionDef, cls: Optional[ClassFacts], is_method: bool) -> None:
        func = FunctionFacts(node, annotation=node.returns.annotation if node.returns else None,
                             is_property=_is_property(node))
        params = node.params
        for param in (*params.posonly_params, *params.params, *params.kwonly_params):
            func.params[param.name.value] = param.annotation.annotation if param.annotation else None
        self_name = None
        if is_method and cls is not None:
            cls.methods[node.name.value] = func
            first = (*params.posonly_params, *params.params)[:1]
            if first:
                self_name = first[0].name.value
        elif not is_method and cls is None:
            self.facts.functions.setdefault(node.name.value, func)
        body = node.body.body if isinstance(node.body, cst.IndentedBlock) else [node.body]
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
