"""How a redis-py lock is taken: may the acquisition wait forever, and is it released on error?

redis-py (`redis/lock.py`, sync and asyncio alike): `Lock.acquire()` uses the `blocking` and
`blocking_timeout` given to it, falling back to the lock's own (an explicit `None` falls back
too); the defaults are `blocking=True, blocking_timeout=None`, which retries every `sleep`
seconds with no end. `with lock:` / `async with lock:` calls `acquire()` with no arguments.

Argument positions: `client.lock(name, timeout, sleep, blocking, blocking_timeout, lock_class,
...)`, `Lock(redis, name, timeout, sleep, blocking, blocking_timeout, ...)`, sync
`acquire(sleep, blocking, blocking_timeout, token)`, asyncio `acquire(blocking,
blocking_timeout, token)`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Sequence

import libcst as cst

from redislint.semantic.atomic.locks import DYNAMIC, _argument, is_lock_constructor, is_none
from redislint.semantic.redispy import RedisObject

if TYPE_CHECKING:
    from redislint.semantic.model import SemanticModel

_UNKNOWN = object()


def _flag(expr: object) -> object:
    """True/False for a literal, None when absent or `None` (use the fallback), else _UNKNOWN."""
    if expr is None or is_none(expr):
        return None
    if isinstance(expr, cst.Name) and expr.value in ("True", "False"):
        return expr.value == "True"
    return _UNKNOWN


def waits_forever(model: "SemanticModel", lock: RedisObject,
                  acquire: Optional[cst.Call] = None) -> Optional[bool]:
    """Whether taking `lock` (by `acquire`, or by `with` when None) blocks with no time limit:
    True, False (non-blocking, or a `blocking_timeout` is given), None when it cannot be told
    (the lock's maker is unknown, `**options`, a custom `lock_class`, `blocking=flag`) or the
    lock spells out `blocking_timeout=None` (an explicit choice to wait forever)."""
    maker = lock.origin
    if not isinstance(maker, cst.Call):
        return None
    offset = 4 if is_lock_constructor(model, maker) else 3
    if offset == 3 and _argument(maker, 5, "lock_class") is not None:
        return None  # a custom Lock class may take the lock its own way
    made_blocking = _argument(maker, offset, "blocking")
    made_timeout = _argument(maker, offset + 1, "blocking_timeout")
    asked_blocking = asked_timeout = None
    if acquire is not None:
        first = 0 if lock.is_async else 1
        asked_blocking = _argument(acquire, first, "blocking")
        asked_timeout = _argument(acquire, first + 1, "blocking_timeout")
    if DYNAMIC in (made_blocking, made_timeout, asked_blocking, asked_timeout):
        return None
    blocking = _flag(asked_blocking)
    if blocking is None:
        blocking = _flag(made_blocking)
    if blocking is None:
        blocking = True  # redis-py's default
    if blocking is False:
        return False
    if asked_timeout is not None and not is_none(asked_timeout):
        return False
    if made_timeout is not None:
        # `blocking_timeout=None` written out on the lock: waiting forever was chosen.
        return None if is_none(made_timeout) else False
    return True if blocking is True else None


def in_cleanup(ancestors: Sequence[cst.CSTNode]) -> bool:
    """The node runs on the error path too: inside a `finally` block or an `except` handler."""
    return any(isinstance(node, (cst.Finally, cst.ExceptHandler)) for node in ancestors)
