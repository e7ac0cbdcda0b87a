"""Pipelines a scope makes: how each is bound, what is queued on it, whether it is executed.

`made_pipelines(scope)` looks at the `x.pipeline(...)` calls of one function (or of the module)
whose pipeline stays in that scope:

- `with r.pipeline() as pipe:` / `async with ...`: `within` is the `with` statement. redis-py's
  `Pipeline.__exit__` only calls `reset()`, which drops whatever is still queued, so only an
  `execute()` inside the block sends the commands;
- `pipe = r.pipeline()` (or an annotated assignment);
- a chain `r.pipeline().set(k, v).incr(c)` used as a statement.

The name a pipeline is bound to must not escape: any use of it other than calling one of its
methods in this scope (passing it to a function, returning or yielding it, storing it on an
object or in a container, using it in a nested function, binding the name to anything else)
means someone else may execute it, and `escapes` is True.

Commands sent while the pipeline is WATCHing (after `watch()`, before `multi()`) run at once
(redis-py's immediate execution mode): they are not `queued`.
"""

from __future__ import annotations

import bisect

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, Iterator, List, Optional, Sequence, Tuple

import libcst as cst

from redislint.semantic.redispy import PIPELINE_METHODS
from redislint.walk import iter_children

if TYPE_CHECKING:
    from redislint.semantic.model import RedisCall, Scope

# Pipeline methods that queue nothing.
NOT_QUEUED = frozenset({"execute", "reset", "multi", "watch", "unwatch", "discard", "close",
                        "aclose", "immediate_execute_command", "__enter__", "__aenter__",
                        "__exit__", "__aexit__"})
_NESTED = (cst.FunctionDef, cst.Lambda, cst.ClassDef)


@dataclass
class MadePipeline:
    made: "RedisCall"                 # the `pipeline()` call
    name: Optional[str]               # the local name it is bound to; None for a chain
    within: Optional[cst.CSTNode]     # the `with` statement that binds it, if any
    queued: List["RedisCall"] = field(default_factory=list)
    executed: List["RedisCall"] = field(default_factory=list)
    # `execute()` calls after the `with` block: they run an empty pipeline.
    executed_after_reset: List["RedisCall"] = field(default_factory=list)
    escapes: bool = False


def made_pipelines(scope: "Scope") -> List[MadePipeline]:
    """Each pipeline the scope makes (asked by several rules at scope exit: made once)."""
    known = getattr(scope, "_pipelines", None)
    if known is not None and known[0] == len(scope.calls):
        return known[1]
    found = _made_pipelines(scope)
    scope._pipelines = (len(scope.calls), found)  # type: ignore[attr-defined]
    return found


def _made_pipelines(scope: "Scope") -> List[MadePipeline]:
    made = [c for c in scope.calls
            if c.command in PIPELINE_METHODS and c.receiver.role == "client"]
    if not made:
        return []
    found: List[MadePipeline] = []
    by_name: Dict[str, List[MadePipeline]] = {}
    for call in made:
        pipeline = _bound(call)
        if pipeline is None:
            continue
        found.append(pipeline)
        if pipeline.name is not None:
            by_name.setdefault(pipeline.name, []).append(pipeline)
    if not by_name:
        return found
    # The scope's calls on each receiver, and each name's uses, gathered once for all the
    # pipelines of the scope (not once per pipeline).
    on_receiver: Dict[str, List["RedisCall"]] = {}
    for call in scope.calls:
        if call.receiver.role == "pipeline" and call.receiver_text in by_name:
            on_receiver.setdefault(call.receiver_text, []).append(call)
    uses = _uses(scope.node, frozenset(by_name))
    position = {id(c): i for i, c in enumerate(scope.calls)}
    for name, pipelines in by_name.items():
        targets = {id(p.made.node) for p in pipelines}
        escapes = _escapes(uses.get(name, ()), targets)
        calls = on_receiver.get(name, [])
        # Each call on the name goes to the `with` block (of one of these pipelines) it is in.
        blocks = {id(p.within) for p in pipelines if p.within is not None}
        inside: Dict[int, List["RedisCall"]] = {}
        if blocks:
            for call in calls:
                for ancestor in reversed(call.ancestors):
                    if id(ancestor) in blocks:
                        inside.setdefault(id(ancestor), []).append(call)
                        break
        executes = [c for c in calls if c.command == "execute"]
        execute_positions = [position[id(c)] for c in executes]
        for pipeline in pipelines:
            pipeline.escapes = escapes or len(pipelines) > 1
            if pipeline.within is None:
                _follow(calls, pipeline)
                continue
            mine = inside.get(id(pipeline.within), [])
            _follow(mine, pipeline)
            # An `execute()` after the block, on a pipeline the block's exit reset: the first.
            own = {id(c) for c in mine}
            start = bisect.bisect_right(execute_positions, position.get(id(pipeline.made), -1))
            later = next((c for c in executes[start:] if id(c) not in own), None)
            if later is not None:
                pipeline.executed_after_reset.append(later)
    return found


def _bound(call: "RedisCall") -> Optional[MadePipeline]:
    chain = call.ancestors
    parent = chain[-1] if chain else None
    if isinstance(parent, cst.WithItem) and parent.item is call.node:
        asname = parent.asname
        if asname is not None and isinstance(asname.name, cst.Name) and len(chain) > 1:
            return MadePipeline(call, asname.name.value, chain[-2])
        return None
    if isinstance(parent, cst.Assign) and len(parent.targets) == 1 and isinstance(
            parent.targets[0].target, cst.Name):
        return MadePipeline(call, parent.targets[0].target.value, None)
    if isinstance(parent, cst.AnnAssign) and isinstance(parent.target, cst.Name):
        return MadePipeline(call, parent.target.value, None)
    if isinstance(parent, cst.Attribute):
        return _chain(call)
    return None


def _chain(call: "RedisCall") -> Optional[MadePipeline]:
    """`r.pipeline().set(k, v).incr(c)`: the commands of a chain whose result is dropped."""
    chain = list(call.ancestors)
    node: cst.CSTNode = call.node
    commands: List[cst.Call] = []
    index = len(chain) - 1
    while index >= 1:
        attribute, outer = chain[index], chain[index - 1]
        if not (isinstance(attribute, cst.Attribute) and attribute.value is node
                and isinstance(outer, cst.Call) and outer.func is attribute):
            break
        commands.append(outer)
        node = outer
        index -= 2
    if not commands:
        return None
    if any(isinstance(c.func, cst.Attribute) and c.func.attr.value == "execute" for c in commands):
        return MadePipeline(call, None, None)
    holder = chain[index] if index >= 0 else None
    if isinstance(holder, cst.Await):
        holder = chain[index - 1] if index >= 1 else None
    pipeline = MadePipeline(call, None, None, escapes=not isinstance(holder, cst.Expr))
    queued = {id(c) for c in commands
              if isinstance(c.func, cst.Attribute) and c.func.attr.value not in NOT_QUEUED}
    pipeline.queued = [c for c in call.scope.calls if id(c.node) in queued]
    return pipeline


def _follow(calls: Sequence["RedisCall"], pipeline: MadePipeline) -> None:
    """Fill `queued` and `executed` from the calls on the pipeline (for a `with` pipeline,
    those inside its block)."""
    immediate = False
    for call in calls:
        command = call.command
        if command == "watch":
            immediate = True
        elif command in ("multi", "execute", "reset", "discard", "unwatch"):
            immediate = False
        if command == "execute":
            pipeline.executed.append(call)
        elif command not in NOT_QUEUED and not immediate:
            pipeline.queued.append(call)


def _escapes(uses, made: set) -> bool:
    """Whether a name is used in the scope other than as the receiver of a method call in the
    scope's own code (or as the target that binds one of the `made` pipelines)."""
    for node, parents, nested in uses:
        parent = parents[-1] if parents else None
        if (isinstance(parent, cst.Attribute) and parent.attr is node) or (
                isinstance(parent, cst.Arg) and parent.keyword is node):
            continue  # `x.pipe`, `f(pipe=...)`: another name spelt the same
        if isinstance(parent, cst.AssignTarget) or isinstance(parent, cst.AsName):
            holder = parents[-2] if len(parents) > 1 else None
            value = getattr(holder, "value", None) if isinstance(parent, cst.AssignTarget) else (
                getattr(holder, "item", None))
            if id(value) in made and not nested:
                continue
            return True
        if isinstance(parent, cst.AnnAssign) and parent.target is node:
            if id(parent.value) in made and not nested:
                continue
            return True
        if isinstance(parent, cst.Del) or (
                isinstance(parent, cst.Attribute) and parent.value is node and len(parents) > 1
                and isinstance(parents[-2], cst.Call) and parents[-2].func is parent and not nested):
            continue
        return True
    return False


def _uses(root: cst.CSTNode, names: frozenset) -> Dict[str, List[tuple]]:
    """Every `Name` node spelling one of `names` under `root`, with its two nearest parents
    (grandparent first) and whether it sits in a function, lambda or class nested in `root`:
    one walk of the scope for all the names."""
    children = list(root.body) if isinstance(root, cst.Module) else [root.body] if isinstance(
        root, (cst.FunctionDef, cst.Lambda)) else [root]
    found: Dict[str, List[tuple]] = {}
    stack: List[tuple] = [(c, (), False) for c in children]
    while stack:
        node, parents, nested = stack.pop()
        if type(node) is cst.Name and node.value in names:  # type: ignore[attr-defined]
            found.setdefault(node.value, []).append((node, parents, nested))  # type: ignore[attr-defined]
            continue
        inner = nested or isinstance(node, _NESTED)
        below = (parents[-1], node) if parents else (node,)
        stack.extend((child, below, inner) for child in iter_children(node))
    return found
