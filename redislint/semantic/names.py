"""Dotted names and the imports that give them meaning."""

from __future__ import annotations

from typing import Dict, Optional, Sequence

from functools import lru_cache

import libcst as cst


def dotted(expr: cst.BaseExpression) -> Optional[str]:
    """`a.b.c` for a Name/Attribute chain, else None."""
    parts = []
    while isinstance(expr, cst.Attribute):
        parts.append(expr.attr.value)
        expr = expr.value
    if not isinstance(expr, cst.Name):
        return None
    parts.append(expr.value)
    return ".".join(reversed(parts))


def callee_name(call: cst.Call) -> Optional[str]:
    """The method or function name a call invokes: `set` for `r.set(...)`."""
    func = call.func
    if isinstance(func, cst.Attribute):
        return func.attr.value
    if isinstance(func, cst.Name):
        return func.value
    return None


def string_value(expr: cst.BaseExpression) -> Optional[str]:
    """The value of a plain or implicitly concatenated string literal."""
    if isinstance(expr, cst.SimpleString):
        return _literal(expr.value)
    if isinstance(expr, cst.ConcatenatedString):
        left, right = string_value(expr.left), string_value(expr.right)
        if left is not None and right is not None:
            return left + right
    return None


def number_value(expr: cst.BaseExpression) -> Optional[float]:
    """The value of a literal number: `10`, `2.5`, `-1`, `1_000`, `(5)`, or literal arithmetic
    such as `60 * 5` and `30 / 2`; None for anything else (a name, a call, a division by 0)."""
    if isinstance(expr, (cst.Integer, cst.Float)):
        return float(expr.evaluated_value)
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, (cst.Minus, cst.Plus)):
        inner = number_value(expr.expression)
        if inner is None:
            return None
        return -inner if isinstance(expr.operator, cst.Minus) else inner
    if isinstance(expr, cst.BinaryOperation):
        left, right = number_value(expr.left), number_value(expr.right)
        if left is None or right is None:
            return None
        op = expr.operator
        if isinstance(op, cst.Add):
            return left + right
        if isinstance(op, cst.Subtract):
            return left - right
        if isinstance(op, cst.Multiply):
            return left * right
        if isinstance(op, (cst.Divide, cst.FloorDivide)) and right:
            return left / right if isinstance(op, cst.Divide) else float(left // right)
    return None


def resolve_relative(module: str, is_package: bool, level: int, target: str) -> str:
    """`from ..x import y` seen in `module` -> the absolute module it names."""
    parts = module.split(".") if module else []
    if not is_package and parts:
        parts = parts[:-1]
    if level > 1:
        parts = parts[: len(parts) - (level - 1)] if level - 1 <= len(parts) else []
    if target:
        parts.append(target)
    return ".".join(parts)


class Imports:
    """Local name -> fully qualified name, from every import in a module."""

    def __init__(self, module: str = "", is_package: bool = False) -> None:
        self.module = module
        self.is_package = is_package
        self.names: Dict[str, str] = {}

    def add(self, node: cst.CSTNode) -> Dict[str, str]:
        """Record an import statement; returns the names it binds."""
        added: Dict[str, str] = {}
        if isinstance(node, cst.Import):
            for alias in node.names:
                full = dotted(alias.name)
                if full is None:
                    continue
                if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                    added[alias.asname.name.value] = full
                else:
                    head = full.split(".")[0]
                    added[head] = self.names.get(head, head)
        elif isinstance(node, cst.ImportFrom) and not isinstance(node.names, cst.ImportStar):
            base = dotted(node.module) if node.module is not None else ""
            if base is None:
                return added
            level = len(node.relative)
            if level:
                base = resolve_relative(self.module, self.is_package, level, base)
            for alias in node.names:
                name = dotted(alias.name)
                if name is None:
                    continue
                local = name
                if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                    local = alias.asname.name.value
                added[local] = f"{base}.{name}" if base else name
        self.names.update(added)
        return added

    def qualify(self, name: str) -> Optional[str]:
        """`R.from_url` with `from redis import Redis as R` -> `redis.Redis.from_url`."""
        head, _, rest = name.partition(".")
        full = self.names.get(head)
        if full is None:
            return None
        return f"{full}.{rest}" if rest else full


def strip_optional(annotation: cst.BaseExpression) -> Sequence[cst.BaseExpression]:
    """The types an annotation admits: `Optional[R]`, `R | None`, `Union[...]`, `"R"`, `R[bytes]`."""
    if isinstance(annotation, cst.BinaryOperation) and isinstance(annotation.operator, cst.BitOr):
        return [*strip_optional(annotation.left), *strip_optional(annotation.right)]
    if isinstance(annotation, cst.Subscript):
        head = dotted(annotation.value) or ""
        inner = [
            el.slice.value for el in annotation.slice if isinstance(el.slice, cst.Index)
        ]
        if head.split(".")[-1] in ("Optional", "Union", "Annotated", "Final", "ClassVar"):
            if head.endswith("Annotated"):
                inner = inner[:1]
            return [t for el in inner for t in strip_optional(el)]
        return [annotation.value]
    if isinstance(annotation, (cst.SimpleString, cst.ConcatenatedString)):
        text = string_value(annotation)
        if text:
            try:
                return strip_optional(_annotation_expression(text))
            except Exception:
                return []
    return [annotation]


@lru_cache(maxsize=1024)
def _annotation_expression(text: str) -> cst.BaseExpression:
    """A string annotation parsed once per distinct text (`"Redis"` recurs in every module)."""
    return cst.parse_expression(text)


@lru_cache(maxsize=4096)
def _literal(text: str) -> Optional[str]:
    """A string literal's value; evaluating it (`ast.literal_eval`) is costly, and keys recur."""
    try:
        value = cst.SimpleString(text).evaluated_value
    except Exception:  # an odd prefix or escape: not worth a crash
        return None
    return value.decode("latin-1") if isinstance(value, bytes) else value
