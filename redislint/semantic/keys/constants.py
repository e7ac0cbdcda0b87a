"""Constant values: what a name is bound to, and the value of an expression built only from
literals (a Lua script, a connection URL, a key declared once as a module constant).

- `bound_value(model, expr)`: the one expression a bare name (a local of the function being
  walked, else a module global) or a class attribute (`self.X`, `cls.X`, `Class.X`) is bound
  to, with the context to read that expression in; None when the name is a parameter, is bound
  more than once, is imported, or is unknown.
- `constant_value(model, expr)`: the str / int / float an expression always evaluates to:
  literals, implicit concatenation, names and class attributes bound once to constants, `+`,
  `*`, `%` and `.format` over constants, f-strings of constants, `textwrap.dedent`, `.strip()`.
  None when any part is not a constant. `constant_text` is the same, for strings only.
- `template_pieces(model, expr)`: a string expression as literal text and run-time `Hole`s,
  braces kept as written (for hash tags and URLs).
- `definition(model, expr)` / `possible_values(model, expr)`: the expression(s) behind a name,
  with the context to read them in.
- `dynamic_parts(model, expr)`: for a string *built* at run time (f-string, `%`, `.format`,
  `+` with a string), the interpolated values that are not constants; None when `expr` is not
  such a build.

Flow-insensitive and local to the module, like the rest of the engine: a name bound twice is
not a constant, even if both values are equal.
"""

from __future__ import annotations

import re
import string
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING, FrozenSet, List, Optional, Sequence, Tuple, Union

import libcst as cst

from redislint.semantic.facts import ClassFacts, FunctionFacts, ModuleFacts
from redislint.semantic.keys.expressions import source
from redislint.semantic.names import string_value

if TYPE_CHECKING:
    from redislint.semantic.model import SemanticModel

Value = Union[str, int, float]
# Where an expression is read: the functions around it (innermost first) and its class.
Context = Tuple[Tuple[FunctionFacts, ...], Optional[ClassFacts], Optional[str]]

_MAX_DEPTH = 10
_STRIPS = frozenset({"strip", "lstrip", "rstrip"})
_DEDENT = frozenset({"textwrap.dedent", "inspect.cleandoc"})
_PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[sdirfx]")


def _function_facts(facts: ModuleFacts, node: cst.CSTNode) -> Optional[FunctionFacts]:
    for func in facts.functions.values():
        if func.node is node:
            return func
    for cls in facts.classes.values():
        for func in cls.methods.values():
            if func.node is node:
                return func
    return None


def current_context(model: "SemanticModel") -> Optional[Context]:
    """The context of the code being walked now; None inside a function the facts pre-pass
    does not know (a nested function that shares another's name, a lambda's parameters)."""
    chain: List[FunctionFacts] = []
    scope = model.scope
    while scope is not None:
        if scope.kind == "function":
            func = _function_facts(model.facts, scope.node)
            if func is None:
                return None
            chain.append(func)
        elif scope.kind == "lambda":
            return None
        scope = scope.parent
    return tuple(chain), model.scope.cls, model.scope.self_name


class _Reader:
    def __init__(self, model: "SemanticModel") -> None:
        self.model = model
        self.facts: ModuleFacts = model.facts

    # -- names --------------------------------------------------------------------------------
    def bound(self, expr: cst.BaseExpression, context: Context
              ) -> Optional[Tuple[cst.BaseExpression, Context]]:
        chain, cls, self_name = context
        if isinstance(expr, cst.Name):
            found = self._name_values(expr.value, context)
            return found[0] if found is not None and len(found) == 1 else None
        if isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name):
            owner = expr.value.value
            if cls is not None and owner in (self_name, "cls"):
                if self._overridden(cls, expr.attr.value):
                    return None  # `self.X` may be a subclass's X
                return self._class_attr(cls, expr.attr.value, 0)
            if owner in self.facts.classes and not any(owner in f.locals or owner in f.params
                                                       for f in chain):
                return self._class_attr(self.facts.classes[owner], expr.attr.value, 0)
        return None

    def alternatives(self, expr: cst.BaseExpression, context: Context
                     ) -> Optional[List[Tuple[cst.BaseExpression, Context]]]:
        """Every expression a bare name may be bound to (a local assigned in several branches),
        each with its context; None for a parameter or an unknown name."""
        if isinstance(expr, cst.Name):
            return self._name_values(expr.value, context)
        found = self.bound(expr, context)
        return [found] if found is not None else None

    def _name_values(self, name: str, context: Context
                     ) -> Optional[List[Tuple[cst.BaseExpression, Context]]]:
        chain, cls, self_name = context
        for index, func in enumerate(chain):
            if name in func.globals:
                break
            if name in func.params:
                return None
            values = func.locals.get(name)
            if values is not None:
                inner = (chain[index:], cls, self_name)
                return [(value, inner) for value in values]
        if chain and self._bound_otherwise(name, chain):
            return None
        values = self.facts.assigns.get(name)
        if not values or name in self.facts.imports.names:
            return None
        return [(value, ((), None, None)) for value in values]

    def _bound_otherwise(self, name: str, chain: Tuple[FunctionFacts, ...]) -> bool:
        """A name the functions being walked bind without an assignment the facts record (a
        `for` target, `with ... as`, `except ... as`): not the module global of that name."""
        nodes = {id(func.node) for func in chain}
        scope = self.model.scope
        while scope is not None:
            if id(scope.node) in nodes and (name in scope.bindings or name in scope.history):
                return True
            scope = scope.parent
        return False

    def _overridden(self, cls: ClassFacts, attr: str) -> bool:
        """Some class of the module derived from `cls` sets `attr` again."""
        name = cls.node.name.value
        for other in self.facts.classes.values():
            seen, pending = set(), list(other.bases)
            while pending and other is not cls:
                base = pending.pop()
                if base in seen:
                    continue
                seen.add(base)
                if base == name:
                    if attr in other.attrs:
                        return True
                    break
                parent = self.facts.classes.get(base)
                if parent is not None:
                    pending.extend(parent.bases)
        return False

    def _class_attr(self, cls: ClassFacts, attr: str, depth: int
                    ) -> Optional[Tuple[cst.BaseExpression, Context]]:
        entries = [entry for entry in cls.attrs.get(attr, ()) if entry[0] is not None]
        if len(entries) == 1:
            value, _, func = entries[0]
            chain = (func,) if func is not None else ()
            self_name = next(iter(func.params), None) if func is not None else None
            return value, (chain, cls, self_name)
        if entries or depth > 3:
            return None
        for base in cls.bases:
            parent = self.facts.classes.get(base)
            if parent is not None and parent is not cls:
                found = self._class_attr(parent, attr, depth + 1)
                if found is not None:
                    return found
        return None

    # -- values -------------------------------------------------------------------------------
    def value(self, expr: cst.BaseExpression, context: Context, depth: int = 0) -> Optional[Value]:
        if depth > _MAX_DEPTH:
            return None
        text = string_value(expr)
        if text is not None:
            return text
        if isinstance(expr, cst.Integer):
            return int(expr.evaluated_value)
        if isinstance(expr, cst.Float):
            return float(expr.evaluated_value)
        if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
            inner = self.value(expr.expression, context, depth + 1)
            return -inner if isinstance(inner, (int, float)) else None
        if isinstance(expr, (cst.Name, cst.Attribute)):
            found = self.bound(expr, context)
            return self.value(found[0], found[1], depth + 1) if found is not None else None
        if isinstance(expr, cst.BinaryOperation):
            return self._binary(expr, context, depth)
        if isinstance(expr, cst.FormattedString):
            return self._fstring(expr, context, depth)
        if isinstance(expr, cst.Call):
            return self._call(expr, context, depth)
        return None

    def _binary(self, expr: cst.BinaryOperation, context: Context, depth: int) -> Optional[Value]:
        left = self.value(expr.left, context, depth + 1)
        if left is None:
            return None
        op = expr.operator
        if isinstance(op, cst.Modulo) and isinstance(left, str):
            operand = self._operand(expr.right, context, depth)
            if operand is None:
                return None
            try:
                return left % operand
            except (TypeError, ValueError, KeyError):
                return None
        right = self.value(expr.right, context, depth + 1)
        if right is None:
            return None
        try:
            if isinstance(op, cst.Add):
                return left + right  # type: ignore[operator]
            if isinstance(op, cst.Multiply) and not (isinstance(left, str) and isinstance(right, str)):
                result = left * right  # type: ignore[operator]
                return result if not isinstance(result, str) or len(result) < 1_000_000 else None
            if isinstance(op, cst.Subtract):
                return left - right  # type: ignore[operator]
        except TypeError:
            return None
        return None

    def _operand(self, expr: cst.BaseExpression, context: Context, depth: int):
        """The right side of `fmt % operand`: a value, a tuple of values or a str-keyed dict."""
        if isinstance(expr, cst.Tuple):
            values = [self.value(el.value, context, depth + 1) for el in expr.elements
                      if isinstance(el, cst.Element)]
            if len(values) != len(expr.elements) or any(v is None for v in values):
                return None
            return tuple(values)
        if isinstance(expr, cst.Dict):
            out = {}
            for element in expr.elements:
                if not isinstance(element, cst.DictElement):
                    return None
                key = string_value(element.key)
                value = self.value(element.value, context, depth + 1)
                if key is None or value is None:
                    return None
                out[key] = value
            return out
        return self.value(expr, context, depth + 1)

    def _fstring(self, expr: cst.FormattedString, context: Context, depth: int) -> Optional[str]:
        out = []
        for part in expr.parts:
            if isinstance(part, cst.FormattedStringText):
                out.append(part.value.replace("{{", "{").replace("}}", "}"))
                continue
            if not isinstance(part, cst.FormattedStringExpression):
                return None
            value = self.value(part.expression, context, depth + 1)
            if value is None:
                return None
            spec = ""
            if part.format_spec:
                if not all(isinstance(p, cst.FormattedStringText) for p in part.format_spec):
                    return None
                spec = "".join(p.value for p in part.format_spec)  # type: ignore[union-attr]
            if part.conversion == "r":
                value = repr(value)
            try:
                out.append(format(value, spec))
            except (TypeError, ValueError):
                return None
        return "".join(out)

    def _call(self, expr: cst.Call, context: Context, depth: int) -> Optional[Value]:
        func = expr.func
        positional = [a for a in expr.args if a.keyword is None and not a.star]
        if len(positional) != len(expr.args):
            keywords = [a for a in expr.args if a.keyword is not None]
            if len(keywords) + len(positional) != len(expr.args):
                return None
        else:
            keywords = []
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            if method in _STRIPS and not expr.args:
                base = self.value(func.value, context, depth + 1)
                return getattr(base, method)() if isinstance(base, str) else None
            if method == "format":
                base = self.value(func.value, context, depth + 1)
                if not isinstance(base, str):
                    return None
                args = [self.value(a.value, context, depth + 1) for a in positional]
                kwargs = {a.keyword.value: self.value(a.value, context, depth + 1)  # type: ignore[union-attr]
                          for a in keywords}
                if any(v is None for v in args) or any(v is None for v in kwargs.values()):
                    return None
                try:
                    return base.format(*args, **kwargs)
                except (IndexError, KeyError, ValueError, AttributeError):
                    return None
        qual = self.model.qualified_name(func)
        if (qual in _DEDENT or qual == "str") and len(positional) == 1 and not keywords:
            inner = self.value(positional[0].value, context, depth + 1)
            if qual == "str":
                return str(inner) if inner is not None else None
            if isinstance(inner, str):
                return textwrap.dedent(inner) if qual == "textwrap.dedent" else \
                    textwrap.dedent(inner).strip()
        return None

    # -- builds -------------------------------------------------------------------------------
    def dynamic(self, expr: cst.BaseExpression, context: Context, depth: int = 0
                ) -> Optional[List[cst.BaseExpression]]:
        if depth > _MAX_DEPTH:
            return None
        if isinstance(expr, cst.FormattedString):
            parts = [p.expression for p in expr.parts if isinstance(p, cst.FormattedStringExpression)]
            if not parts:
                return None
            return [p for p in parts if self.value(p, context) is None]
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Modulo):
            if not isinstance(self.value(expr.left, context), str):
                return None
            right = expr.right
            if isinstance(right, cst.Tuple):
                values: Sequence[cst.BaseExpression] = [el.value for el in right.elements]
            elif isinstance(right, cst.Dict):
                values = [el.value for el in right.elements if isinstance(el, cst.DictElement)]
            else:
                values = [right]
            return [v for v in values if self.value(v, context) is None]
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) \
                and expr.func.attr.value == "format":
            if not isinstance(self.value(expr.func.value, context), str):
                return None
            return [a.value for a in expr.args if self.value(a.value, context) is None]
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Add):
            out: List[cst.BaseExpression] = []
            textual = False
            for side in (expr.left, expr.right):
                constant = self.value(side, context)
                if constant is not None:
                    textual = textual or isinstance(constant, str)
                    continue
                inner = self.dynamic(side, context, depth + 1)
                if inner is None:
                    out.append(side)
                else:
                    textual = True
                    out.extend(inner)
            return out if textual else None
        return None


# -- strings as literal text and holes ---------------------------------------------------------
@dataclass(frozen=True)
class Hole:
    """A part of a key computed at run time: its source text and the names it reads."""

    text: str
    names: FrozenSet[str] = frozenset()


Piece = Union[str, Hole]


def _hole(expr: cst.BaseExpression) -> Hole:
    names = set()
    stack: List[cst.CSTNode] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Name):
            names.add(node.value)
        stack.extend(node.children)
    return Hole(source(expr), frozenset(names))


class _Pieces:
    """Literal text and holes of a string expression (see `template_pieces`)."""

    def __init__(self, model: "SemanticModel") -> None:
        self.model = model

    def of(self, expr: cst.BaseExpression, context: Context, depth: int = 0) -> Optional[List[Piece]]:
        if depth > 8:
            return None
        constant = constant_value(self.model, expr, context)
        if isinstance(constant, str):
            return [constant]
        if isinstance(constant, int):
            return [str(constant)]
        if isinstance(expr, cst.FormattedString):
            out: List[Piece] = []
            for part in expr.parts:
                if isinstance(part, cst.FormattedStringText):
                    out.append(part.value.replace("{{", "{").replace("}}", "}"))
                elif isinstance(part, cst.FormattedStringExpression):
                    if part.format_spec or part.conversion:
                        out.append(_hole(part.expression))
                    else:
                        out.extend(self.part(part.expression, context, depth))
            return out
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Add):
            left = self.of(expr.left, context, depth + 1)
            right = self.of(expr.right, context, depth + 1)
            if left is None and right is None:
                return None
            return (left or [_hole(expr.left)]) + (right or [_hole(expr.right)])
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Modulo):
            fmt = constant_value(self.model, expr.left, context)
            if not isinstance(fmt, str) or "%%" in fmt:
                return None
            right = expr.right
            values = [el.value for el in right.elements] if isinstance(right, cst.Tuple) else [right]
            texts = _PERCENT.split(fmt)
            if len(texts) - 1 != len(values) or "%(" in fmt:
                return None
            out = [texts[0]]
            for value, text in zip(values, texts[1:]):
                out.extend(self.part(value, context, depth))
                out.append(text)
            return out
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) \
                and expr.func.attr.value == "format":
            return self._format(expr, context, depth)
        if isinstance(expr, (cst.Name, cst.Attribute)):
            found = bound_in(self.model, expr, context)
            if found is not None:
                inner = self.of(found[0], found[1], depth + 1)
                if inner is not None:
                    return inner
            return [_hole(expr)]
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and \
                expr.func.value in ("str", "int") and len(expr.args) == 1:
            return self.part(expr.args[0].value, context, depth)
        if isinstance(expr, (cst.Subscript, cst.Call)):
            return [_hole(expr)]
        return None

    def part(self, expr: cst.BaseExpression, context: Context, depth: int) -> List[Piece]:
        """A value interpolated into a key: its own pieces when known, else one hole."""
        inner = self.of(expr, context, depth + 1)
        return inner if inner is not None else [_hole(expr)]

    def _format(self, expr: cst.Call, context: Context, depth: int) -> Optional[List[Piece]]:
        fmt = constant_value(self.model, expr.func.value, context)  # type: ignore[union-attr]
        if not isinstance(fmt, str) or any(a.star for a in expr.args):
            return None
        positional = [a.value for a in expr.args if a.keyword is None]
        named = {a.keyword.value: a.value for a in expr.args if a.keyword is not None}
        out: List[Piece] = []
        auto = 0
        try:
            parsed = list(string.Formatter().parse(fmt))
        except ValueError:
            return None
        for literal, field, spec, conversion in parsed:
            out.append(literal)
            if field is None:
                continue
            if spec or conversion:
                return None
            if field == "":
                field = str(auto)
                auto += 1
            if field.isdigit() and int(field) < len(positional):
                out.extend(self.part(positional[int(field)], context, depth))
            elif field in named:
                out.extend(self.part(named[field], context, depth))
            else:
                return None
        return out


def template_pieces(model: "SemanticModel", expr: cst.BaseExpression,
                    context: Optional[Context] = None) -> Optional[List[Piece]]:
    """The literal text and the run-time holes of a string expression, braces kept as written
    (`f"{{user:{uid}}}:name"` -> `["{user:", Hole("uid"), "}:name"]`), names bound once
    followed; None when `expr` is not string-like at all."""
    context = context if context is not None else current_context(model)
    if context is None:
        return None
    return _Pieces(model).of(expr, context)


def bound_value(model: "SemanticModel", expr: cst.BaseExpression
                ) -> Optional[Tuple[cst.BaseExpression, Context]]:
    context = current_context(model)
    if context is None:
        return None
    return _Reader(model).bound(expr, context)


def bound_in(model: "SemanticModel", expr: cst.BaseExpression, context: Context
             ) -> Optional[Tuple[cst.BaseExpression, Context]]:
    """`bound_value` for an expression read in `context` (one returned by this module)."""
    return _Reader(model).bound(expr, context)


def constant_value(model: "SemanticModel", expr: Optional[cst.BaseExpression],
                   context: Optional[Context] = None) -> Optional[Value]:
    if expr is None:
        return None
    context = context if context is not None else current_context(model)
    if context is None:
        text = string_value(expr)
        return text
    return _Reader(model).value(expr, context)


def constant_text(model: "SemanticModel", expr: Optional[cst.BaseExpression],
                  context: Optional[Context] = None) -> Optional[str]:
    value = constant_value(model, expr, context)
    return value if isinstance(value, str) else None


def dynamic_parts(model: "SemanticModel", expr: cst.BaseExpression,
                  context: Optional[Context] = None) -> Optional[List[cst.BaseExpression]]:
    context = context if context is not None else current_context(model)
    if context is None:
        return None
    return _Reader(model).dynamic(expr, context)


def possible_values(model: "SemanticModel", expr: cst.BaseExpression
                    ) -> List[Tuple[cst.BaseExpression, Optional[Context]]]:
    """The expressions `expr` may stand for: itself, or every value a name is bound to
    (`lua = A` in one branch, `lua = B` in the other), names followed as in `definition`."""
    context = current_context(model)
    if context is None:
        return [(expr, None)]
    reader = _Reader(model)
    if isinstance(expr, cst.Name):
        found = reader.alternatives(expr, context)
        if found is not None and len(found) > 1:
            out: List[Tuple[cst.BaseExpression, Optional[Context]]] = []
            for value, inner in found:
                out.append(_follow(reader, value, inner))
            return out
    return [_follow(reader, expr, context)]


def _follow(reader: "_Reader", expr: cst.BaseExpression, context: Context, max_hops: int = 4
            ) -> Tuple[cst.BaseExpression, Optional[Context]]:
    for _ in range(max_hops):
        if not isinstance(expr, (cst.Name, cst.Attribute)):
            break
        found = reader.bound(expr, context)
        if found is None:
            break
        expr, context = found
    return expr, context


def definition(model: "SemanticModel", expr: cst.BaseExpression, max_hops: int = 4
               ) -> Tuple[cst.BaseExpression, Optional[Context]]:
    """The expression behind `expr` after following names bound once (`LUA` -> its literal),
    and the context to read it in (None when the current code has no known context)."""
    context = current_context(model)
    if context is None:
        return expr, None
    return _follow(_Reader(model), expr, context, max_hops)
