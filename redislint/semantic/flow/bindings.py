"""Names bound exactly once in a function, and every place they are read.

A flow-insensitive reading of a local variable is only exact when the variable has a single
binding in its function: `v = r.get(k)` ... `v == "x"` certainly compares the reply, while
`v = r.get(k)` ... `v = v.decode()` ... `v == "x"` does not. `single_binding(function, target)`
answers "is `target` the only binding of its name?", and `reads(function, name)` lists the
reads of that name with their ancestors, so a rule can judge each one.
"""

from __future__ import annotations

from typing import Iterator, List, Optional, Tuple

import libcst as cst

from redislint.walk import children_of

Parents = Tuple[cst.CSTNode, ...]
NESTED = (cst.FunctionDef, cst.Lambda, cst.ClassDef)


def walk(root: cst.CSTNode) -> Iterator[Tuple[cst.CSTNode, Parents]]:
    """Every node under `root` (nested scopes included) with its ancestors from `root` down."""
    stack: List[Tuple[cst.CSTNode, Parents]] = [(root, ())]
    while stack:
        node, parents = stack.pop()
        yield node, parents
        children = children_of(node)
        if children:
            below = parents + (node,)
            children.reverse()
            stack.extend([(child, below) for child in children])


def target_names(target: cst.CSTNode) -> Iterator[cst.Name]:
    """The plain names an assignment target binds (`a`, `a, (b, *c)`; not `x.y` or `x[0]`)."""
    if isinstance(target, cst.Name):
        yield target
    elif isinstance(target, (cst.Tuple, cst.List)):
        for element in target.elements:
            yield from target_names(element.value)
    elif isinstance(target, cst.StarredElement):
        yield from target_names(target.value)


def bound_names(node: cst.CSTNode) -> Iterator[cst.Name]:
    """The names a node binds, rebinds or deletes."""
    if isinstance(node, cst.Assign):
        for target in node.targets:
            yield from target_names(target.target)
    elif isinstance(node, (cst.AugAssign, cst.AnnAssign, cst.NamedExpr, cst.For, cst.CompFor)):
        yield from target_names(node.target)
    elif isinstance(node, cst.AsName):
        yield from target_names(node.name)
    elif isinstance(node, cst.Del):
        yield from target_names(node.target)
    elif isinstance(node, cst.Param):
        yield node.name
    elif isinstance(node, (cst.FunctionDef, cst.ClassDef)):
        yield node.name


# The node types `bound_names` answers for, and global / nonlocal (node classes have no
# subclasses, so their exact types are enough).
_BINDING_TYPES = frozenset({cst.Assign, cst.AugAssign, cst.AnnAssign, cst.NamedExpr, cst.For,
                            cst.CompFor, cst.AsName, cst.Del, cst.Param, cst.FunctionDef,
                            cst.ClassDef, cst.Global, cst.Nonlocal})


class Bindings:
    """The binding sites and reads of every name in one function (walked once)."""

    def __init__(self, function: cst.CSTNode) -> None:
        self.function = function
        self.nodes = list(walk(function))
        self.sites: dict = {}
        self.declared: set = set()  # global / nonlocal
        for node, _ in self.nodes:
            if type(node) not in _BINDING_TYPES:  # most nodes: skip the isinstance chains
                continue
            if isinstance(node, (cst.Global, cst.Nonlocal)):
                self.declared.update(n.name.value for n in node.names)
            if node is function:
                continue
            for name in bound_names(node):
                self.sites.setdefault(name.value, set()).add(id(name))

    def single(self, target: cst.Name) -> bool:
        """`target` is the one and only binding of its name in the function."""
        return target.value not in self.declared and self.sites.get(target.value) == {id(target)}

    def reads(self, name: str) -> Iterator[Tuple[cst.Name, Parents, bool]]:
        """(node, ancestors, nested) for each read of `name`: `nested` when it happens in a
        function, lambda or class defined inside."""
        sites = self.sites.get(name, set())
        for node, parents in self.nodes:
            if not isinstance(node, cst.Name) or node.value != name or id(node) in sites:
                continue
            parent = parents[-1] if parents else None
            if isinstance(parent, cst.Attribute) and parent.attr is node:
                continue
            if isinstance(parent, cst.Arg) and parent.keyword is node:
                continue
            if isinstance(parent, (cst.ImportAlias, cst.AsName)):
                continue
            yield node, parents, any(isinstance(p, NESTED) for p in parents[1:])


def single_binding(function: cst.CSTNode, target: cst.CSTNode) -> Optional[Bindings]:
    """The function's bindings when `target` is a plain name bound only there, else None."""
    if not isinstance(target, cst.Name):
        return None
    bindings = Bindings(function)
    return bindings if bindings.single(target) else None
