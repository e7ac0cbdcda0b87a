"""Key expressions, normalised so the same key is recognised however it is spelt.

`"user:" + uid`, `f"user:{uid}"`, `"user:{}".format(uid)`, `"user:%s" % uid` and a local variable
holding any of them all normalise to `Key("user:{}", ("uid",))`; so does `user_key(uid)` when
`user_key` is a one-line key helper (`KeyHelper`, see `redislint.semantic.keys.helpers`), and
`.encode()` of any of them.

A lookup answers bare names with the key they hold, and, under names no variable can have,
the helpers of the scope: `lock_key()` (a function), `self.lock_key()` / `Jobs.lock_key()` (a
method), `self.LOCK` (a property or a class constant).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple, Union

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


@dataclass(frozen=True)
class KeyHelper:
    """A function whose body only builds a key from its parameters
    (`def lock_key(job): return f"job:{job}:lock"` -> `Key("job:{}:lock", ("job",))`, params
    `("job",)`). A hole of `key` that is a parameter (or an attribute or item of one) is filled
    by the argument a call passes; any other hole is a name of the helper's own module."""

    params: Tuple[str, ...]
    key: Key

    def apply(self, call: cst.Call, lookup: Optional["NameLookup"]) -> Optional[Key]:
        """The key `call` builds; None when its arguments cannot be matched to the
        parameters (`*args`, a missing or unknown argument)."""
        bound: Dict[str, cst.BaseExpression] = {}
        params = self.params
        for index, arg in enumerate(call.args):
            if arg.star:
                return None
            if arg.keyword is None:
                if index >= len(params):
                    return None
                bound[params[index]] = arg.value
            else:
                name = arg.keyword.value
                if name not in params or name in bound:
                    return None
                bound[name] = arg.value
        if len(bound) != len(params):
            return None
        texts = self.key.template.split("{}")
        if len(texts) != len(self.key.parts) + 1:
            return None
        pieces: List[Piece] = [texts[0]]
        for part, text in zip(self.key.parts, texts[1:]):
            filled = _fill_part(part, bound, lookup)
            if filled is None:
                return None
            pieces += [filled, text]
        return _join(pieces)


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _fill_part(part: str, bound: Dict[str, cst.BaseExpression],
               lookup: Optional["NameLookup"]) -> Optional[Key]:
    """A helper's hole as the caller spells it: the argument's own key for a parameter
    (`job`), the argument's text for an attribute or item of one (`job.id`); the hole itself
    when it names no parameter; None when it uses one in another way (`job + 1`)."""
    head = _IDENTIFIER.match(part)
    name = head.group() if head is not None else None
    if name in bound:
        value = bound[name]  # type: ignore[index]
        rest = part[len(name):]  # type: ignore[arg-type]
        if not rest:
            return _join(_pieces(value, lookup) or [_hole(value, lookup)])
        if rest[0] in ".[" and not any(word in bound for word in _IDENTIFIER.findall(rest)):
            text = _plain_dotted(value)
            return Key("{}", (text + rest,)) if text is not None else None
        return None
    if any(word in bound for word in _IDENTIFIER.findall(part)):
        return None
    return Key("{}", (part,))


# Looks a bare name up in the enclosing scopes: its key, if it was assigned one; under
# `name()` / `self.name()` / `self.name`, the key helper or constant of that name.
NameLookup = Callable[[str], Optional[Union[Key, KeyHelper]]]


def source(node: cst.CSTNode) -> str:
    """The node's code without whitespace."""
    dotted = _plain_dotted(node)
    if dotted is not None:
        return dotted
    if type(node) is cst.Call:
        text = _plain_call(node)  # type: ignore[arg-type]
        if text is not None:
            return text
    return "".join(_EMPTY.code_for_node(node).split())


_SIMPLE_LITERALS = frozenset({cst.Integer, cst.Float, cst.SimpleString})


def _plain_call(node: cst.BaseExpression, depth: int = 0) -> Optional[str]:
    """`f(a, b.c[0], g("x"), n=1)` without parentheses around its parts: the text `source`
    gives, without paying for code generation (values are often bound from such calls)."""
    node_type = type(node)
    if node_type is cst.Name or node_type is cst.Attribute:
        return _plain_dotted(node)
    if depth > 8 or node.lpar:  # type: ignore[attr-defined]
        return None
    if node_type in _SIMPLE_LITERALS:
        return "".join(node.value.split())  # type: ignore[attr-defined]
    if node_type is cst.Subscript:
        inner = node.slice  # type: ignore[attr-defined]
        if len(inner) != 1 or type(inner[0].slice) is not cst.Index or \
                type(inner[0].comma) is cst.Comma or inner[0].slice.star is not None:
            return None
        value = _plain_call(node.value, depth + 1)  # type: ignore[attr-defined]
        index = _plain_call(inner[0].slice.value, depth + 1)
        return None if value is None or index is None else f"{value}[{index}]"
    if node_type is not cst.Call:
        return None
    func = _plain_call(node.func, depth + 1)  # type: ignore[attr-defined]
    if func is None:
        return None
    out = [func, "("]
    for arg in node.args:  # type: ignore[attr-defined]
        text = _plain_call(arg.value, depth + 1)
        if text is None:
            return None
        if arg.keyword is not None:
            text = arg.keyword.value + "=" + text
        out.append(arg.star + text)
        if type(arg.comma) is cst.Comma:
            out.append(",")
    out.append(")")
    return "".join(out)


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
    return _join(pieces)


def _join(pieces: List[Piece]) -> Key:
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
    """`key_of(expr)` is one hole and no literal text, whatever the lookup (`a[i]`, `a.b.c`,
    `obj.method(x)`): answered without generating the hole's source. Not for what a lookup
    may know: `f(x)` (a key helper), `self.m(x)` / `Cls.m(x)` (a helper method), `self.x`
    (a property or class constant), `str(uid)`, `.encode()` and `.format(...)`."""
    expr_type = type(expr)
    if expr_type is cst.Call:
        func = expr.func  # type: ignore[attr-defined]
        if type(func) is cst.Attribute:
            return func.attr.value not in ("format", "encode") and not _owner_name(func)
        return type(func) is not cst.Name
    if expr_type is cst.Attribute:
        return not _owner_name(expr)  # type: ignore[arg-type]
    return expr_type is cst.Subscript


def _owner_name(expr: cst.Attribute) -> bool:
    """`self.x` / `Cls.x`: an attribute of a bare name, which a helper lookup may know."""
    return type(expr.value) is cst.Name and not expr.lpar


def _hole(expr: cst.BaseExpression, lookup: Optional[NameLookup]) -> Piece:
    expr_type = type(expr)
    if expr_type is cst.Name:
        if lookup is not None:
            known = lookup(expr.value)  # type: ignore[attr-defined]
            if type(known) is Key:
                return known  # type: ignore[return-value]
    elif expr_type is cst.Call:
        func = expr.func  # type: ignore[attr-defined]
        if type(func) is cst.Name:
            if func.value in ("str", "int") and len(expr.args) == 1:  # type: ignore[attr-defined]
                # str(uid) / int(uid) spell the same key as uid
                return _hole(expr.args[0].value, lookup)  # type: ignore[attr-defined]
            helper = lookup(func.value + "()") if lookup is not None else None
        elif type(func) is cst.Attribute and lookup is not None and _owner_name(func):
            helper = lookup(f"{func.value.value}.{func.attr.value}()")
        else:
            helper = None
        if type(helper) is KeyHelper:
            found = helper.apply(expr, lookup)  # type: ignore[union-attr, arg-type]
            if found is not None:
                return found
    elif expr_type is cst.Attribute and lookup is not None and _owner_name(expr):  # type: ignore[arg-type]
        known = lookup(f"{expr.value.value}.{expr.attr.value}")  # type: ignore[attr-defined]
        if type(known) is Key:
            return known  # type: ignore[return-value]
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
        if expr.func.attr.value == "encode" and len(expr.args) <= 1 and not any(
                a.star or a.keyword is not None for a in expr.args):
            # `f"lock:{name}".encode()` is the key `lock:{name}`, as bytes
            inner = _pieces(expr.func.value, lookup)
            if inner is not None:
                return inner
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
