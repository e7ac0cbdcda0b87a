"""Sync and async redis-py calls: which ones do I/O, which ones return a coroutine, and where code
runs off the event loop.

Read from redis-py 8.1's source (`redis/asyncio/client.py`, `redis/asyncio/lock.py`,
`redis/commands/core.py`) and unchanged in substance since redis-py 4.2 brought `redis.asyncio`:

- On an async client every command method returns a coroutine (the command mixins call
  `self.execute_command`, an `async def`), except the methods that build an object or page a
  cursor (`NO_COROUTINE_CLIENT`). The `*scan_iter` methods are async generators.
- On an async pipeline, queuing a command returns the pipeline itself (no coroutine, nothing to
  await); `execute`, `watch`, `unwatch`, `reset`, `discard`, `aclose` and
  `immediate_execute_command` are coroutines.
- On an async PubSub, `subscribe`/`unsubscribe` (and the p/s variants), `get_message`, `ping`,
  `run`, `aclose`, `reset` return awaitables; `listen()` is an async generator.
- On an async Lock, `acquire`, `release`, `extend`, `reacquire`, `locked`, `owned` do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Sequence, Tuple

import libcst as cst

from redislint.semantic.flow.bindings import single_binding
from redislint.semantic.names import callee_name
from redislint.semantic.redispy import NOT_COMMANDS

if TYPE_CHECKING:
    from redislint.semantic.model import RedisCall

# Client methods that neither send a command nor return a coroutine on `redis.asyncio`.
NO_COROUTINE_CLIENT = (NOT_COMMANDS - {"transaction", "close", "aclose", "initialize"}) | frozenset({
    "bitfield", "client", "keyspace_notifications", "digest_local", "vset",
})
# Methods that talk to the server, per role of the receiver (client: every method but those).
PIPELINE_IO = frozenset({"execute", "watch", "unwatch", "reset", "discard", "aclose",
                         "immediate_execute_command"})
PUBSUB_IO = frozenset({"subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe",
                       "sunsubscribe", "get_message", "ping", "run", "aclose", "close", "reset",
                       "connect", "check_health", "execute_command", "parse_response",
                       "handle_message"})
LOCK_IO = frozenset({"acquire", "release", "extend", "reacquire", "locked", "owned"})
# Sync methods that block on the server although no command name says so.
_SYNC_BLOCKING_EXTRA = frozenset({"listen"})

# Calls whose callable argument runs in a worker thread (or later, elsewhere): code inside a
# lambda or function passed to them does not run on the event loop.
OFF_LOOP_CALLS = frozenset({
    "run_in_executor", "to_thread", "run_sync", "sync_to_async", "run_in_threadpool",
    "submit", "defer_to_thread", "deferToThread", "call_soon_threadsafe", "partial",
    "database_sync_to_async", "make_async",
})


def _io_methods(role: str) -> Optional[frozenset]:
    return {"pipeline": PIPELINE_IO, "pubsub": PUBSUB_IO, "lock": LOCK_IO}.get(role)


def returns_coroutine(call: "RedisCall") -> bool:
    """The call, on a `redis.asyncio` object, returns something that must be awaited."""
    receiver = call.receiver
    if not receiver.is_async or call.command.startswith("_"):
        return False
    if receiver.role == "client":
        return call.command not in NO_COROUTINE_CLIENT
    methods = _io_methods(receiver.role)
    return methods is not None and call.command in methods


def blocks_on_server(call: "RedisCall") -> bool:
    """The call, on a sync redis-py object, waits for the server (a network round trip)."""
    return blocks(call.receiver, call.command)


def blocks(receiver, command: str) -> bool:
    """`command` called on the sync redis-py object `receiver` waits for the server."""
    if receiver.is_async or command.startswith("_") or not receiver.sends(command):
        return False
    if receiver.role == "client":
        return command not in NOT_COMMANDS and command not in NO_COROUTINE_CLIENT
    if receiver.role == "pubsub" and command in _SYNC_BLOCKING_EXTRA:
        return True
    methods = _io_methods(receiver.role)
    return methods is not None and command in methods and command != "aclose"


def blocking_helper(model, node: cst.Call) -> Optional[Tuple[str, str]]:
    """(function, command) when `node` calls a function or method of the project that itself
    sends a blocking command through a sync redis-py object (`REDIS_CONN.get(k)` where
    `RedisDB.get` does `self.REDIS.get(k)`): one level deep."""
    inferer = model.inferer
    for value in inferer.values(node.func, model.scope.lookup, model.scope.cls):
        qual = getattr(value, "qual", None)
        if type(value).__name__ != "Func" or qual is None:
            continue
        for receiver, command in inferer.sent_by(qual):
            if blocks(receiver, command):
                return qual, command
    return None


def off_loop(ancestors: Sequence[cst.CSTNode]) -> bool:
    """The code at the end of `ancestors` is deferred rather than run by the enclosing
    `async def` itself: inside a lambda, or inside the arguments of a call that hands work to
    a thread (`loop.run_in_executor`, `asyncio.to_thread`, `sync_to_async`, ...). A nested
    `def` is its own scope and is never `async` unless it says so."""
    for index in range(len(ancestors) - 1, -1, -1):
        node = ancestors[index]
        if isinstance(node, cst.FunctionDef):
            return False
        if isinstance(node, cst.Lambda):
            return True
        if isinstance(node, cst.Arg) and index > 0 and isinstance(ancestors[index - 1], cst.Call):
            if callee_name(ancestors[index - 1]) in OFF_LOOP_CALLS:
                return True
    return False


# -- a coroutine bound to a name and never awaited -------------------------------------------
# Calls that only read a value as data: passing the coroutine to them cannot be how it gets
# awaited (unlike `asyncio.gather(c)` or a helper that may `await` its argument).
_DATA_CALLS = frozenset({"int", "float", "str", "bytes", "bool", "len", "print", "repr",
                         "list", "dict", "set", "tuple", "sorted", "loads", "decode"})
# Coroutine methods that drive or dispose of it: using them is handling the coroutine.
_COROUTINE_METHODS = frozenset({"send", "throw", "close", "__await__", "cr_frame", "cr_await"})
_VALUE_READS = (cst.Comparison, cst.ComparisonTarget, cst.BinaryOperation, cst.UnaryOperation,
                cst.FormattedStringExpression, cst.If, cst.While, cst.IfExp, cst.Assert)
_TESTS = (cst.If, cst.While, cst.IfExp, cst.Assert, cst.UnaryOperation, cst.BooleanOperation)


def _is_data_use(name: cst.Name, parents: Tuple[cst.CSTNode, ...]) -> bool:
    """`name` is read as a plain value (compared, tested, indexed, formatted, converted), not
    handed on, stored or awaited."""
    parent = parents[-1] if parents else None
    if isinstance(parent, cst.Attribute):
        return parent.attr.value not in _COROUTINE_METHODS
    if isinstance(parent, _VALUE_READS):
        return True
    if isinstance(parent, cst.BooleanOperation):  # `if c and x:` tests it; `y = c or d` passes it on
        return len(parents) > 1 and isinstance(parents[-2], _TESTS)
    if isinstance(parent, cst.Subscript):
        return parent.value is name
    if isinstance(parent, cst.Arg) and len(parents) > 1 and isinstance(parents[-2], cst.Call):
        return callee_name(parents[-2]) in _DATA_CALLS
    return False


def never_awaited(function: cst.CSTNode, call: cst.Call, parent: cst.CSTNode) -> Optional[cst.Name]:
    """The name in `name = call` (`parent` is the Assign) when that name is bound only there in
    `function` and every read of it treats the coroutine as a value, so it is certainly never
    awaited, scheduled or handed on. None when unsure."""
    if not isinstance(parent, cst.Assign) or len(parent.targets) != 1 or parent.value is not call:
        return None
    target = parent.targets[0].target
    bindings = single_binding(function, target)
    if bindings is None:
        return None  # rebound or deleted somewhere: a flow-insensitive reading would guess
    for node, parents, nested in bindings.reads(target.value):  # type: ignore[union-attr]
        if nested or not _is_data_use(node, parents):
            return None
    return target  # type: ignore[return-value]
