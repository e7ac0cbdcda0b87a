"""One batched, copy-free traversal of a libcst tree.

libcst's own visitor rebuilds every parent node on the way up, which costs more than parsing.
Linting only reads the tree, so we walk the dataclass fields directly, in source order, skipping
whitespace and punctuation, and dispatch each node to every interested handler. Each node carries
`visit_<Type>` handlers (called before children) and `leave_<Type>` handlers (called after).
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from typing import Callable, Dict, Iterable, List, Sequence, Tuple

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


# Types known to be CST nodes / known not to be: `isinstance(x, cst.CSTNode)` goes through ABC
# machinery, and the walk asks it for every field of every node.
_NODES: set = set()
_LEAVES: set = {str, int, bool, float, type(None), cst.MaybeSentinel}
_all_nodes = _NODES.issuperset


def _is_node(value_type: type) -> bool:
    if value_type in _NODES:
        return True
    if value_type in _LEAVES:
        return False
    known = issubclass(value_type, cst.CSTNode)
    (_NODES if known else _LEAVES).add(value_type)
    return known


def _other(out: List[cst.CSTNode], value: object, value_type: type) -> None:
    if _is_node(value_type):
        out.append(value)  # type: ignore[arg-type]


def _items(out: List[cst.CSTNode], values: Sequence[object]) -> None:
    out.extend(item for item in values if _is_node(type(item)))  # type: ignore[misc]


# type -> its children function, generated once per type: unrolling the field loop and testing
# each value's type against known sets halves the cost of the walks every analysis makes.
_CHILDREN: Dict[type, Callable[[cst.CSTNode], List[cst.CSTNode]]] = {}
_SCOPE = {"_NODES": _NODES, "_LEAVES": _LEAVES, "_all_nodes": _all_nodes, "_other": _other,
          "_items": _items}


def _no_children(node: cst.CSTNode) -> List[cst.CSTNode]:
    return []


def _children_function(node_type: type) -> Callable[[cst.CSTNode], List[cst.CSTNode]]:
    # Fields declared `str` (a Name's value, a literal's text) never hold a node.
    text = {f.name for f in dataclasses.fields(node_type) if f.type is str}
    names = [name for name in child_fields(node_type) if name not in text]
    if not names:
        _CHILDREN[node_type] = _no_children
        return _no_children
    lines = ["def children(node):", "    out = []"]
    for name in names:
        lines += [f"    v = node.{name}",
                  "    t = type(v)",
                  "    if t in _NODES: out.append(v)",
                  "    elif t is tuple or t is list:",
                  "        if _all_nodes(map(type, v)): out += v",
                  "        else: _items(out, v)",
                  "    elif t not in _LEAVES: _other(out, v, t)"]
    lines.append("    return out")
    namespace: Dict[str, object] = {}
    exec("\n".join(lines), dict(_SCOPE), namespace)  # noqa: S102 - field names are identifiers
    function = _CHILDREN[node_type] = namespace["children"]  # type: ignore[assignment]
    return function  # type: ignore[return-value]


def children_of(node: cst.CSTNode) -> List[cst.CSTNode]:
    """The node's meaningful children in source order (no whitespace or punctuation): a new
    list."""
    function = _CHILDREN.get(type(node))
    if function is None:
        function = _children_function(type(node))
    return function(node)


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

        `ancestors` is kept up to date so handlers can ask for a node's parents. The stack holds
        nodes; `_LEAVE` on top of a node means its children are done.
        """
        visits, leaves, children_functions = self.visits, self.leaves, _CHILDREN
        stack: List[object] = [root]
        pop, push, extend = stack.pop, stack.append, stack.extend
        enter, leave = ancestors.append, ancestors.pop
        while stack:
            node = pop()
            if node is _LEAVE:
                node = pop()
                leave()
                handlers = leaves.get(type(node))
                if handlers:
                    for handler in handlers:
                        handler(node)
                continue
            node_type = type(node)
            function = children_functions.get(node_type)
            if function is None:
                function = _children_function(node_type)
            handlers = visits.get(node_type)
            if handlers:
                for handler in handlers:
                    handler(node)
            if function is _no_children:  # a leaf (a third of all nodes are names): leave now
                handlers = leaves.get(node_type)
                if handlers:
                    for handler in handlers:
                        handler(node)
                continue
            enter(node)
            push(node)
            push(_LEAVE)
            children = function(node)
            if children:
                children.reverse()
                extend(children)


_LEAVE = object()
