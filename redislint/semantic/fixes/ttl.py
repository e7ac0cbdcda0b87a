"""Folding an expiry into the write: `set(k, v)` + `expire(k, t)` -> `set(k, v, ex=t)`.

Shared by the fixes of RL202 (SET then EXPIRE), RL203 (SETNX then EXPIRE) and RL101/RL301
(a configured TTL). redis-py signatures (4.x to 8.x):
`set(name, value, ex, px, nx, xx, keepttl, get, exat, pxat, ...)`,
`expire(name, time, nx, xx, gt, lt)`, `pexpire(name, time, ...)`,
`expireat(name, when, ...)`, `pexpireat(name, when, ...)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, NamedTuple, Optional, Tuple

import libcst as cst

from redislint.semantic.fixes.edits import (bind_arguments, expression_statement, keyword,
                                      remove_statements)
from redislint.semantic.redispy import SET_PARAMS, TTL_OPTIONS
from redislint.semantic.fixes.safety import is_pure, never_none

if TYPE_CHECKING:
    from redislint.config import Settings
    from redislint.semantic.model import RedisCall, SemanticModel


class _Expiry(NamedTuple):
    option: str  # the SET option it becomes
    param: str  # redis-py's name for the time argument
    since: Tuple[int, int]  # the Redis version whose SET has the option


EXPIRE_TO_SET = {
    "expire": _Expiry("ex", "time", (2, 6)),
    "pexpire": _Expiry("px", "time", (2, 6)),
    "expireat": _Expiry("exat", "when", (6, 2)),
    "pexpireat": _Expiry("pxat", "when", (6, 2)),
}
_EXPIRE_OPTIONS = ("nx", "xx", "gt", "lt")
# Newer redis-py SET conditions (`ifeq`...): a call that uses one is left alone.
_SET_SIGNATURE = SET_PARAMS


@dataclass
class Folded:
    """An EXPIRE that can move into the write before it."""

    option: cst.Arg  # `ex=t`
    applicability: str  # "safe", or "unsafe" when the TTL may be None at run time
    removal: Dict[cst.CSTNode, object]  # deletes the EXPIRE statement


def sent_as_written(call: "RedisCall") -> bool:
    """The command is sent where it is written: on a client, awaited exactly when the client is
    async (an un-awaited coroutine never runs)."""
    return call.receiver.role == "client" and call.awaited == call.receiver.is_async


def own_statement(call: "RedisCall", assigned: bool = False) -> bool:
    """The call (or `await call`) is a whole statement line, its result unused; with
    `assigned`, also `name = call` (a line that does nothing else with it)."""
    statement = call.statement
    value = expression_statement(statement)
    if value is None and assigned and isinstance(statement, cst.SimpleStatementLine) and \
            len(statement.body) == 1 and isinstance(statement.body[0], (cst.Assign, cst.AnnAssign)):
        value = statement.body[0].value
    if isinstance(value, cst.Await):
        value = value.expression
    return value is call.node


def fold_expire(expire: "RedisCall", model: "SemanticModel", settings: "Settings"
                ) -> Optional[Folded]:
    """The SET option `expire` becomes, and the removal of its statement; None when it cannot
    move exactly: options (`nx`/`xx`/`gt`/`lt`) SET has no equivalent for, a key or TTL
    expression with side effects (it would be evaluated earlier, or not at all), a comment on
    the line, a target Redis without the option."""
    spec = EXPIRE_TO_SET.get(expire.command)
    if spec is None or settings.target_redis_version < spec.since:
        return None
    if not (sent_as_written(expire) and own_statement(expire)):
        return None
    bound = bind_arguments(expire.node, ("name", spec.param) + _EXPIRE_OPTIONS, required=2)
    if bound is None or len(bound) != 2:
        return None
    key, ttl = bound["name"].value, bound[spec.param].value
    if not (is_pure(key) and is_pure(ttl)):
        return None
    removal = remove_statements(expire.statement)  # type: ignore[arg-type]
    if removal is None:
        return None
    safe = never_none(ttl, model.module, expire.scope.node)
    return Folded(keyword(spec.option, ttl), "safe" if safe else "unsafe", removal)


def set_without_expiry(call: "RedisCall") -> Optional[Dict[str, cst.Arg]]:
    """The arguments of a `set(...)` that an expiry option can be added to: bound exactly,
    with no `ex`/`px`/`exat`/`pxat`/`keepttl` given at all (not even `None`)."""
    if call.command != "set":
        return None
    bound = bind_arguments(call.node, _SET_SIGNATURE, required=2)
    if bound is None or any(name in bound for name in TTL_OPTIONS + ("keepttl",)):
        return None
    return bound
