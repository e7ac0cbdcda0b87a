"""Key expressions, normalised so the same key is recognised however it is spelt.

`"user:" + uid`, `f"user:{uid}"`, `"user:{}".format(uid)`, `"user:%s" % uid` and a local variable
holding any of them all normalise to `Key("user:{}", ("uid",))`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple, Union

import libcst as cst

from redislint.semantic.names import string_value

_EMPTY = cst.Module(body=[])
_PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[sdirfx]")
_FORMAT_FIELD = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class Key:
    """A key as a template with `{}` holes and the source text of what fills them."""

    template: str
    parts: Tuple[str, ...] = ()

    @property
    def is_literal(self) -> bool:
        return not self.parts

    @property
    def pattern(self) -> str:
        """The glob this key belongs to: `user:*` for `user:{}`."""
        return self.template.replace("{}", "*")

    @property
    def prefix(self) -> str:
        """The literal text before the first hole (`user:` for `user:{}:name`)."""
        return self.template.split("{}", 1)[0]

    def __str__(self) -> str:
        text = self.template
        for part in self.parts:
            text = text.replace("{}", "{" + part + "}", 1)
        return text


Piece = Union[str, Key]
# Looks a bare name up in the enclosing scopes: its key, if it was assigned one.
NameLookup = Callable[[str], Optional[Key]]


def source(node: cst.CSTNode) -> str:
    """The node's code without whitespace."""
    dotted = _plain_dotted(node)
    if dotted is not None:
        return dotted
    return "".join(_EMPTY.code_for_node(node).split())


def _plain_dotted(node: cst.CSTNode) -> Optional[str]:
    """`a.b.c` without parentheses, comments or line continuations: its text, without paying
    for code generation (most key holes are such names)."""
    attrs: List[str] = []
    while type(node) is cst.Attribute:
        dot = node.dot
        if node.lpar or type(dot) is not cst.Dot or not (_plain(dot.whitespace_before) and
                                                         _plain(dot.whitespace_after)):
            return None
        attrs.append(node.attr.value)
        node = node.value
    if type(node) is not cst.Name or node.lpar:
        return None
    attrs.append(node.value)
    return ".".join(reversed(attrs))


def _plain(whitespace: cst.BaseParenthesizableWhitespace) -> bool:
    return type(whitespace) is cst.SimpleWhitespace and "\\" not in whitespace.value


def key_of(expr: cst.BaseExpression, lookup: Optional[NameLookup] = None) -> Optional[Key]:
    """Normalise a key expression; None when it is not a key-like expression at all."""
    pieces = _pieces(expr, lookup)
    if pieces is None:
        return None
    template: List[str] = []
    parts: List[str] = []
    for piece in pieces:
        if isinstance(piece, Key):
            template.append(piece.template)
            parts.extend(piece.parts)
        else:
            template.append(piece.replace("{", "{{").replace("}", "}}"))
    return Key("".join(template).replace("{{", "{").replace("}}", "}"), tuple(parts))


def is_bare_hole(expr: cst.BaseExpression) -> bool:
    """`key_of(expr)` is one hole and no literal text, whatever the lookup (`f(x)`, `a[i]`,
    `a.b`): answered without generating the hole's source."""
    if type(expr) is cst.Call:
        func = expr.func  # type: ignore[attr-defined]
        if type(func) is cst.Attribute:
            return func.attr.value != "format"
        # str(uid) / int(uid) are uid's hole, which a lookup may fill with a key
        return not (type(func) is cst.Name and func.value in ("str", "int")
                    and len(expr.args) == 1)  # type: ignore[attr-defined]
    return type(expr) is cst.Attribute or type(expr) is cst.Subscript


def _hole(expr: cst.BaseExpression, lookup: Optional[NameLookup]) -> Piece:
    if isinstance(expr, cst.Name) and lookup is not None:
        known = lookup(expr.value)
        if known is not None:
            return known
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and len(expr.args) == 1:
        # str(uid) / int(uid) spell the same key as uid
        if expr.func.value in ("str", "int"):
            return _hole(expr.args[0].value, lookup)
    return Key("{}", (source(expr),))


def _pieces(expr: cst.BaseExpression, lookup: Optional[NameLookup]) -> Optional[List[Piece]]:
    literal = string_value(expr)
    if literal is not None:
        return [literal]
    if isinstance(expr, cst.FormattedString):
        out: List[Piece] = []
        for part in expr.parts:
            if isinstance(part, cst.FormattedStringText):
                out.append(part.value)
            elif isinstance(part, cst.FormattedStringExpression):
                out.append(_hole(part.expression, lookup))
        return out
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Add):
        left = _pieces(expr.left, lookup)
        right = _pieces(expr.right, lookup)
        if left is None and right is None:
            return None
        return (left or [_hole(expr.left, lookup)]) + (right or [_hole(expr.right, lookup)])
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Modulo):
        fmt = string_value(expr.left)
        if fmt is None:
            return None
        right = expr.right
        values = [el.value for el in right.elements] if isinstance(right, cst.Tuple) else [right]
        return _fill(_PERCENT.split(fmt), values, lookup)
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute):
        if expr.func.attr.value == "format" and all(a.keyword is None and not a.star for a in expr.args):
            fmt = string_value(expr.func.value)
            if fmt is None or _FORMAT_FIELD.search(fmt.replace("{{", "").replace("}}", "")) is None:
                return None
            return _format_pieces(fmt, [a.value for a in expr.args], lookup)
    if isinstance(expr, (cst.Name, cst.Attribute, cst.Subscript, cst.Call)):
        hole = _hole(expr, lookup)
        return [hole]
    return None


def _fill(texts: List[str], values: List[cst.BaseExpression], lookup) -> Optional[List[Piece]]:
    if len(texts) - 1 != len(values):
        return None
    out: List[Piece] = [texts[0]]
    for value, text in zip(values, texts[1:]):
        out.append(_hole(value, lookup))
        out.append(text)
    return out


def _format_pieces(fmt: str, values: List[cst.BaseExpression], lookup) -> Optional[List[Piece]]:
    out: List[Piece] = []
    pos = 0
    auto = 0
    for match in _FORMAT_FIELD.finditer(fmt):
        out.append(fmt[pos:match.start()])
        field = match.group(1).split(":")[0].split("!")[0]
        if field == "":
            index = auto
            auto += 1
        elif field.isdigit():
            index = int(field)
        else:
            return None
        if index >= len(values):
            return None
        out.append(_hole(values[index], lookup))
        pos = match.end()
    out.append(fmt[pos:])
    return out
