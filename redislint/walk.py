"""One batched, copy-free traversal of a libcst tree.

libcst's own visitor rebuilds every parent node on the way up, which costs more than parsing.
Linting only reads the tree, so we walk the dataclass fields directly, in source order, skipping
whitespace and punctuation, and dispatch each node to every interested handler. Each node carries
`visit_<Type>` handlers (called before children) and `leave_<Type>` handlers (called after).
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from typing import Callable, Dict, Iterable, List, Tuple

import libcst as cst

Handler = Callable[[cst.CSTNode], object]

_SKIPPED = {
    "lpar", "rpar", "leading_lines", "lines_after_decorators", "header", "footer", "comma",
    "semicolon", "newline", "trailing_whitespace", "colon", "equal", "dot", "default_indent",
    "default_newline", "encoding", "has_trailing_newline", "operator", "asynchronous", "star",
    "indent", "whitespace",
}
# Fields whose dataclass order differs from the order the code runs or reads.
_ORDER = {
    cst.FunctionDef: ("decorators", "name", "params", "returns", "body"),
    cst.ClassDef: ("decorators", "name", "bases", "keywords", "body"),
    cst.IfExp: ("test", "body", "orelse"),
    cst.ListComp: ("for_in", "elt"),
    cst.SetComp: ("for_in", "elt"),
    cst.GeneratorExp: ("for_in", "elt"),
    cst.DictComp: ("for_in", "key", "value"),
    cst.CompFor: ("iter", "target", "ifs", "inner_for_in"),
}
_fields_cache: Dict[type, Tuple[str, ...]] = {}


def child_fields(node_type: type) -> Tuple[str, ...]:
    fields = _fields_cache.get(node_type)
    if fields is None:
        fields = _ORDER.get(node_type) or tuple(
            f.name
            for f in dataclasses.fields(node_type)
            if f.name not in _SKIPPED and "whitespace" not in f.name
        )
        _fields_cache[node_type] = fields
    return fields


# type -> True for CST nodes: `isinstance(x, cst.CSTNode)` goes through ABC machinery, and the
# walk asks it for every field of every node.
_IS_NODE: Dict[type, bool] = {}


def _is_node(value_type: type) -> bool:
    known = _IS_NODE.get(value_type)
    if known is None:
        known = _IS_NODE[value_type] = issubclass(value_type, cst.CSTNode)
    return known


def children_of(node: cst.CSTNode) -> List[cst.CSTNode]:
    """The node's meaningful children in source order (no whitespace or punctuation)."""
    out: List[cst.CSTNode] = []
    for name in child_fields(type(node)):
        value = getattr(node, name)
        value_type = type(value)
        if value_type is tuple or value_type is list:
            out.extend(item for item in value if _is_node(type(item)))
        elif _is_node(value_type):
            out.append(value)
    return out


def iter_children(node: cst.CSTNode) -> Iterable[cst.CSTNode]:
    return iter(children_of(node))


@lru_cache(maxsize=None)
def _handler_names(cls: type) -> Tuple[Tuple[str, str, type], ...]:
    """(method name, "visit"/"leave", node type) for a class: computed once, not per file."""
    found = []
    for attr in dir(cls):
        kind, _, type_name = attr.partition("_")
        if kind not in ("visit", "leave") or not type_name:
            continue
        node_type = getattr(cst, type_name, None)
        if isinstance(node_type, type) and issubclass(node_type, cst.CSTNode):
            found.append((attr, kind, node_type))
    return tuple(found)


class Dispatcher:
    """Routes each node type to the visit/leave handlers registered for it."""

    def __init__(self) -> None:
        self.visits: Dict[type, List[Handler]] = {}
        self.leaves: Dict[type, List[Handler]] = {}

    def add(self, obj: object, *, wraps: bool = False) -> None:
        """Register every `visit_<Type>`/`leave_<Type>` method of `obj`.

        `wraps` runs the object's visits before, and its leaves after, those already registered:
        a context tracker opens a scope before rules see a node and closes it after them.
        """
        for attr, kind, node_type in _handler_names(type(obj)):
            table = self.visits if kind == "visit" else self.leaves
            handlers = table.setdefault(node_type, [])
            method = getattr(obj, attr)
            if kind == "visit" and wraps:
                handlers.insert(0, method)
            else:
                handlers.append(method)

    def walk(self, root: cst.CSTNode, ancestors: List[cst.CSTNode]) -> None:
        """Pre-order walk without recursion (deeply nested code must not overflow the stack).

        `ancestors` is kept up to date so handlers can ask for a node's parents.
        """
        visits, leaves = self.visits, self.leaves
        stack: List[Tuple[cst.CSTNode, bool]] = [(root, False)]
        pop, push = stack.pop, stack.append
        while stack:
            node, leaving = pop()
            node_type = type(node)
            if leaving:
                ancestors.pop()
                for handler in leaves.get(node_type, ()):
                    handler(node)
                continue
            for handler in visits.get(node_type, ()):
                handler(node)
            ancestors.append(node)
            push((node, True))
            children = children_of(node)
            for index in range(len(children) - 1, -1, -1):
                push((children[index], False))

