"""Redis Cluster hash slots of key expressions, and the keys of multi-key redis-py commands.

A key's slot is CRC16 (XMODEM) mod 16384 of its hash tag: the text between the first `{` and
the first `}` after it, when that is not empty, else of the whole key. For a key expression:

- a fully literal key (or a constant) has a known slot number;
- a template whose `{tag}` is literal has the slot of that tag (`f"{{cart}}:{uid}"`);
- a template whose tag has holes (`f"{{user:{uid}}}:name"`) has a slot that depends on those
  holes only: two keys with the same tag template share a slot;
- a template with holes and no tag (`f"user:{uid}:name"`) spreads over the slots;
- a bare variable, or a key whose first part is a variable (the prefix may carry a tag), is
  unknown.

Values filling the holes are assumed not to contain braces (ids, names). `same_slot(keys)` says
True when the keys certainly share one slot, False when they share no tag (so they land in one
slot only by chance), None when any key is unknown: rules stay silent on None.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, FrozenSet, List, Optional, Sequence, Tuple, Union

import libcst as cst

from redislint.semantic.keys.constants import (
    Context, Hole, Piece, bound_in, constant_value, current_context, template_pieces,
)

if TYPE_CHECKING:
    from redislint.semantic.model import RedisCall, SemanticModel

SLOTS = 16384


def _crc16_table() -> Tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
        table.append(crc & 0xFFFF)
    return tuple(table)


_TABLE = _crc16_table()


def crc16(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _TABLE[((crc >> 8) ^ byte) & 0xFF]
    return crc


def hashed_part(key: str) -> str:
    """The part of a key Redis Cluster hashes: its `{tag}` if it has a non-empty one."""
    start = key.find("{")
    if start >= 0:
        end = key.find("}", start + 1)
        if end > start + 1:
            return key[start + 1:end]
    return key


def key_slot(key: Union[str, bytes]) -> int:
    if isinstance(key, str):
        key = key.encode("utf-8")
    text = key
    start = text.find(b"{")
    if start >= 0:
        end = text.find(b"}", start + 1)
        if end > start + 1:
            text = text[start + 1:end]
    return crc16(text) % SLOTS


def _merge(pieces: Sequence[Piece]) -> Tuple[Piece, ...]:
    out: List[Piece] = []
    for piece in pieces:
        if isinstance(piece, str):
            if not piece:
                continue
            if out and isinstance(out[-1], str):
                out[-1] = out[-1] + piece
                continue
        out.append(piece)
    return tuple(out)


# -- slots -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SlotKey:
    """Where a key expression lands: `slot` (a known number), `tag` (the same slot as every key
    with this tag template), `spread` (the whole key, holes included, is hashed) or `unknown`."""

    kind: str
    slot: Optional[int] = None
    pieces: Tuple[Piece, ...] = ()

    @property
    def names(self) -> FrozenSet[str]:
        return frozenset(n for p in self.pieces if isinstance(p, Hole) for n in p.names)

    @property
    def identity(self) -> tuple:
        return (self.kind, self.slot) if self.kind == "slot" else (self.kind, self.pieces)


UNKNOWN = SlotKey("unknown")


def slot_key(pieces: Optional[Sequence[Piece]]) -> SlotKey:
    if pieces is None:
        return UNKNOWN
    flat = _merge(pieces)
    if not flat or isinstance(flat[0], Hole):
        return UNKNOWN
    # Find the first "{" and the first "}" after it, in literal text (holes hold no braces).
    opened: Optional[Tuple[int, int]] = None
    closed: Optional[Tuple[int, int]] = None
    for index, piece in enumerate(flat):
        if not isinstance(piece, str):
            continue
        if opened is None:
            at = piece.find("{")
            if at >= 0:
                opened = (index, at)
                end = piece.find("}", at + 1)
                if end >= 0:
                    closed = (index, end)
                    break
        else:
            end = piece.find("}")
            if end >= 0:
                closed = (index, end)
                break
    if opened is not None and closed is not None:
        tag: List[Piece] = []
        for index in range(opened[0], closed[0] + 1):
            piece = flat[index]
            if isinstance(piece, str):
                start = opened[1] + 1 if index == opened[0] else 0
                stop = closed[1] if index == closed[0] else len(piece)
                tag.append(piece[start:stop])
            else:
                tag.append(piece)
        merged = _merge(tag)
        if merged:
            if all(isinstance(p, str) for p in merged):
                return SlotKey("slot", key_slot("".join(merged)))  # type: ignore[arg-type]
            return SlotKey("tag", pieces=merged)
    if all(isinstance(p, str) for p in flat):
        return SlotKey("slot", key_slot("".join(flat)))  # type: ignore[arg-type]
    return SlotKey("spread", pieces=flat)


def slot_of(model: "SemanticModel", expr: cst.BaseExpression,
            context: Optional[Context] = None) -> SlotKey:
    context = context if context is not None else current_context(model)
    if context is None:
        return UNKNOWN
    return slot_key(template_pieces(model, expr, context))


@dataclass(frozen=True)
class Repeated:
    """The keys a comprehension yields: `element` once per value of `targets`."""

    element: cst.BaseExpression
    targets: FrozenSet[str]


KeyExpr = Union[cst.BaseExpression, Repeated]


def same_slot(model: "SemanticModel", keys: Sequence[KeyExpr]) -> Optional[bool]:
    """True: one slot for sure; False: the keys share no hash tag; None: cannot tell."""
    context = current_context(model)
    if context is None:
        return None
    identities = set()
    for key in keys:
        if isinstance(key, Repeated):
            found = slot_of(model, key.element, context)
            if found.kind == "unknown":
                return None
            if found.kind != "slot" and found.names & key.targets:
                return False  # a new key (and tag) per element
            identities.add(found.identity)
            continue
        found = slot_of(model, key, context)
        if found.kind == "unknown":
            return None
        identities.add(found.identity)
    if len(identities) <= 1:
        return True
    return False


# -- the keys of multi-key redis-py commands ------------------------------------------------------
# redis-py method -> how its key arguments are laid out.
#   ("list", i): argument i is a key or a list of keys, the positional arguments after it are keys
#   ("args", i): every positional argument from i on is a key
#   ("fixed", (i, j)): arguments i and j are keys
#   ("map", i): argument i is a dict whose keys are keys
#   ("numkeys", i): argument i is the key count, the keys follow it (eval, fcall)
MULTI_KEY_METHODS = {
    "mget": ("list", 0), "sunion": ("list", 0), "sinter": ("list", 0), "sdiff": ("list", 0),
    "sunionstore": ("store", 0), "sinterstore": ("store", 0), "sdiffstore": ("store", 0),
    "zunionstore": ("store", 0), "zinterstore": ("store", 0), "zdiffstore": ("store", 0),
    "zunion": ("list", 0), "zinter": ("list", 0), "zdiff": ("list", 0),
    "sintercard": ("list", 1), "zintercard": ("list", 1),
    "blpop": ("list", 0), "brpop": ("list", 0), "bzpopmin": ("list", 0), "bzpopmax": ("list", 0),
    "mset": ("map", 0), "msetnx": ("map", 0),
    "rpoplpush": ("fixed", (0, 1)), "brpoplpush": ("fixed", (0, 1)),
    "lmove": ("fixed", (0, 1)), "blmove": ("fixed", (0, 1)), "smove": ("fixed", (0, 1)),
    "rename": ("fixed", (0, 1)), "renamenx": ("fixed", (0, 1)), "copy": ("fixed", (0, 1)),
    "zrangestore": ("fixed", (0, 1)),
    "pfmerge": ("args", 0), "pfcount": ("args", 0), "bitop": ("args", 1),
    "eval": ("numkeys", 1), "evalsha": ("numkeys", 1), "eval_ro": ("numkeys", 1),
    "evalsha_ro": ("numkeys", 1), "fcall": ("numkeys", 1), "fcall_ro": ("numkeys", 1),
}
# Commands that redis-py's RedisCluster splits across slots itself (non-atomically): a
# multi-key DEL/UNLINK/EXISTS/TOUCH on a cluster client never fails for its slots.
SPLIT_BY_CLUSTER_CLIENT = frozenset({"delete", "unlink", "exists", "touch"})


def _elements(model: "SemanticModel", expr: cst.BaseExpression) -> Optional[List[KeyExpr]]:
    """The keys a list-of-keys argument holds: a list/tuple literal (or a name bound once to
    one), a comprehension, or a single key."""
    if isinstance(expr, (cst.Name, cst.Attribute)):
        context = current_context(model)
        found = bound_in(model, expr, context) if context is not None else None
        if found is not None and isinstance(found[0], (cst.List, cst.Tuple, cst.ListComp,
                                                       cst.GeneratorExp)):
            expr = found[0]
        elif found is None and not isinstance(expr, cst.Attribute):
            return None  # a parameter or a variable list: unknown
    if isinstance(expr, (cst.List, cst.Tuple, cst.Set)):
        if any(isinstance(el, cst.StarredElement) for el in expr.elements):
            return None
        return [el.value for el in expr.elements]
    if isinstance(expr, (cst.ListComp, cst.GeneratorExp, cst.SetComp)):
        return _comprehension(expr.elt, expr.for_in)
    if isinstance(expr, cst.Dict):
        if any(not isinstance(el, cst.DictElement) for el in expr.elements):
            return None
        return [el.key for el in expr.elements]  # type: ignore[union-attr]
    if isinstance(expr, cst.DictComp):
        return _comprehension(expr.key, expr.for_in)
    return [expr]


def _comprehension(element: cst.BaseExpression, for_in: cst.CompFor) -> List[KeyExpr]:
    targets = set()
    current: Optional[cst.CompFor] = for_in
    while current is not None:
        stack: List[cst.CSTNode] = [current.target]
        while stack:
            node = stack.pop()
            if isinstance(node, cst.Name):
                targets.add(node.value)
            stack.extend(node.children)
        current = current.inner_for_in
    return [Repeated(element, frozenset(targets))]


def command_keys(model: "SemanticModel", call: "RedisCall") -> Optional[List[KeyExpr]]:
    """The key expressions of a multi-key command call; [] when `call` is not one, None when
    its keys cannot be told (`*args`, a list held in a parameter, a count that is not literal)."""
    layout = MULTI_KEY_METHODS.get(call.command)
    if layout is None:
        return []
    if call.has_star_args or any(a.star for a in call.node.args):
        return None
    kind, where = layout
    args = [a.value for a in call.args]
    if kind == "fixed":
        keys = [call.arg(i) for i in where]  # type: ignore[union-attr]
        return [k for k in keys if k is not None] if all(k is not None for k in keys) else None
    if kind == "numkeys":
        if len(args) <= where:  # type: ignore[operator]
            return None
        count = constant_value(model, args[where])  # type: ignore[index]
        if not isinstance(count, int) or len(args) < where + 1 + count:  # type: ignore[operator]
            return None
        return list(args[where + 1:where + 1 + count])  # type: ignore[operator]
    if kind == "args":
        return list(args[where:])  # type: ignore[index]
    if kind == "map":
        mapping = call.arg(0, "mapping")
        return _elements(model, mapping) if mapping is not None else None
    if kind == "store":
        if len(args) < 2:
            keys_arg = call.arg(1, "keys")
            if keys_arg is None or not args:
                return None
            rest: List[cst.BaseExpression] = []
        else:
            keys_arg, rest = args[1], args[2:]
        inner = _elements(model, keys_arg)
        if inner is None:
            return None
        if call.command.startswith("z"):
            rest = []  # zunionstore(dest, keys, aggregate): no more keys
        return [args[0]] + inner + list(rest)
    # "list"
    first = call.arg(where, "keys")  # type: ignore[arg-type]
    if first is None:
        return None
    inner = _elements(model, first)
    if inner is None:
        return None
    rest = list(args[where + 1:]) if call.command in ("mget", "sunion", "sinter", "sdiff") else []  # type: ignore[operator]
    return inner + rest


def keys_argument(model: "SemanticModel", call: cst.Call) -> Optional[List[KeyExpr]]:
    """The keys a registered script is called with: `script(keys=[...], args=[...])` or
    `script([...], [...])`; [] when it gets none, None when they cannot be told."""
    for arg in call.args:
        if arg.star:
            return None
        if arg.keyword is not None and arg.keyword.value == "keys":
            return _elements(model, arg.value)
    positional = [a.value for a in call.args if a.keyword is None]
    return _elements(model, positional[0]) if positional else []
