"""Questions about the order of Redis calls in one scope ("X then Y of the same key")."""

from __future__ import annotations

from typing import Iterator, List, Optional, Sequence, Tuple

import libcst as cst

from redislint.semantic.keys.expressions import Key
from redislint.semantic.model import RedisCall
from redislint.semantic.redispy import EXPIRE_COMMANDS


def atomic_together(first: RedisCall, then: RedisCall) -> Optional[bool]:
    """Whether two calls run in one transaction: True, False, or None when we cannot tell."""
    if first.atomic is None or then.atomic is None:
        return None
    if first.atomic and then.atomic:
        # Both queued on transactional pipelines: atomic when it is the same pipeline.
        return first.receiver_text == then.receiver_text
    return False


def follow_ups(calls: List[RedisCall], firsts, thens) -> Iterator[Tuple[RedisCall, RedisCall]]:
    """Each call in `firsts` paired with the next call in `thens` on the same key, when the
    pair is certainly not atomic. A key written again in between starts a new pair."""
    for index, first in enumerate(calls):
        if first.command not in firsts or first.key is None:
            continue
        for then in calls[index + 1:]:
            if then.key != first.key:
                continue
            if then.command in thens:
                if atomic_together(first, then) is False:
                    yield first, then
                break
            if then.command in firsts:
                break


def exclusive(first: RedisCall, then: RedisCall) -> bool:
    """The two calls sit on different branches of one `if` / `elif` chain, conditional
    expression or `match`, which no loop of their function runs again: at most one of them
    runs."""
    a = list(first.ancestors) + [first.node]
    b = list(then.ancestors) + [then.node]
    common = 0
    for x, y in zip(a, b):
        if x is not y:
            break
        common += 1
    if common == 0 or common >= len(a) or common >= len(b):
        return False
    holder, left, right = a[common - 1], a[common], b[common]
    if isinstance(holder, (cst.If, cst.IfExp)):
        branches = {id(holder.body), id(holder.orelse)}
        if not (id(left) in branches and id(right) in branches):
            return False
    elif not (isinstance(holder, cst.Match) and isinstance(left, cst.MatchCase)
              and isinstance(right, cst.MatchCase)):
        return False
    for node in reversed(a[:common - 1]):
        if isinstance(node, (cst.FunctionDef, cst.Lambda)):
            break
        if isinstance(node, (cst.For, cst.While, cst.CompFor)):
            return False
    return True


def calls_after(call: RedisCall) -> List[RedisCall]:
    """The calls of `call`'s scope that come after it, in execution order."""
    calls = call.scope.calls
    for index, other in enumerate(calls):
        if other is call:
            return calls[index + 1:]
    return []


def expired_after(call: RedisCall, keys: Optional[Sequence[Optional[Key]]] = None) -> bool:
    """An EXPIRE* of `call`'s key follows it in the same scope (atomically or not: rules about
    atomicity judge that themselves). `keys` replaces the call's own key for writes of several
    keys (MSET); a None among them is a key we cannot name, which any later EXPIRE may cover."""
    expired = {c.key for c in calls_after(call) if c.command in EXPIRE_COMMANDS}
    if keys is None:
        return call.key is not None and call.key in expired
    return bool(expired) and all(key is None or key in expired for key in keys)
