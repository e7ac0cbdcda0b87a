"""Questions about the order of Redis calls in one scope ("X then Y of the same key")."""

from __future__ import annotations

from typing import Dict, Iterator, List, Optional, Sequence, Tuple

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
    # One pass: per key, the last `first` still waiting for its `then` (linear in the calls).
    waiting: Dict[Key, RedisCall] = {}
    for call in calls:
        key = call.key
        if key is None:
            continue
        first = waiting.get(key)
        if first is not None and call.command in thens:
            del waiting[key]
            if atomic_together(first, call) is False:
                yield first, call
        if call.command in firsts:
            waiting[key] = call


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
    positions, last_expiry, last_any = _expiries(call.scope)
    position = positions.get(id(call))
    if position is None:
        return False
    if keys is None:
        return call.key is not None and last_expiry.get(call.key, -1) > position
    return last_any > position and all(
        key is None or last_expiry.get(key, -1) > position for key in keys)


def _expiries(scope) -> tuple:
    """(call id -> position, key -> position of its last EXPIRE*, position of the last EXPIRE*)
    for a scope's calls, indexed once (not once per call) and again only when calls are added."""
    calls = scope.calls
    known = getattr(scope, "_expiries", None)
    if known is not None and known[0] == len(calls):
        return known[1]
    positions: Dict[int, int] = {}
    last_expiry: Dict[Optional[Key], int] = {}
    last_any = -1
    for index, other in enumerate(calls):
        positions[id(other)] = index
        if other.command in EXPIRE_COMMANDS:
            last_expiry[other.key] = index
            last_any = index
    index = (positions, last_expiry, last_any)
    scope._expiries = (len(calls), index)
    return index
