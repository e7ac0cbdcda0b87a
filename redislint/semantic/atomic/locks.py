"""Questions about locks: a lock's timeout, lock-like keys, and how long work may take.

redis-py's lock lifetime is `timeout` (seconds): `client.lock(name, timeout=None, ...)` (the
second positional) and `Lock(redis, name, timeout=None, ...)` (the third). Work is measured only
from literal numbers: `time.sleep(30)`, `requests.get(url, timeout=30)`, `r.blpop(q, 30)`.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Dict, Optional, Set, Tuple

import libcst as cst

from redislint.semantic.keys.expressions import Key
from redislint.semantic.names import number_value
from redislint.semantic.redispy import BLOCKING_TIMEOUT_POSITION, LOCK_CLASSES

if TYPE_CHECKING:
    from redislint.semantic.model import RedisCall, SemanticModel

# The timeout argument could not be read (`**options`): the caller must stay silent.
DYNAMIC = object()
SLEEP_FUNCTIONS = frozenset({"time.sleep", "asyncio.sleep", "trio.sleep", "anyio.sleep",
                             "gevent.sleep", "eventlet.sleep"})
_LOCK_WORDS = frozenset({"lock", "locks", "mutex", "lck"})
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_SELF_ATTRIBUTE = re.compile(r"^(?:self|cls)\.\w+$")


def _argument(call: cst.Call, position: int, name: str) -> object:
    """The expression passed at `position` or as `name`; None when absent; DYNAMIC when a
    `*args`/`**kwargs` could carry it."""
    positional = []
    for arg in call.args:
        if arg.keyword is not None:
            if arg.keyword.value == name:
                return arg.value
        elif arg.star == "**":
            continue
        elif arg.star:
            return DYNAMIC if len(positional) <= position else positional[position]
        else:
            positional.append(arg.value)
    if position < len(positional):
        return positional[position]
    if any(arg.star == "**" for arg in call.args):
        return DYNAMIC
    return None


def is_lock_constructor(model: "SemanticModel", call: cst.Call) -> bool:
    """`Lock(r, name)` (redis.lock.Lock and its async and valkey twins), however imported."""
    return model.qualified_name(call.func) in LOCK_CLASSES


def lock_timeout(model: "SemanticModel", call: cst.Call) -> object:
    """The `timeout` expression of a call that makes a lock (`r.lock(...)` or `Lock(...)`):
    the expression, None when it is not passed, or DYNAMIC."""
    return lock_timeout_argument(call, is_lock_constructor(model, call))


def lock_name_argument(call: cst.Call, constructor: bool) -> object:
    """The lock's name (its key) in `client.lock(name, ...)` or, `constructor`,
    `Lock(client, name, ...)`: the expression, None when absent, or DYNAMIC."""
    return _argument(call, 1 if constructor else 0, "name")


def lock_timeout_argument(call: cst.Call, constructor: bool) -> object:
    """`lock_timeout` for a call known to be `client.lock(name, timeout)` or, `constructor`,
    `Lock(client, name, timeout)`."""
    return _argument(call, 2 if constructor else 1, "timeout")


def is_none(expr: object) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "None"


def lock_seconds(model: "SemanticModel", expr: cst.BaseExpression) -> Optional[float]:
    """The literal timeout (seconds) of the lock `expr` denotes: `r.lock("x", timeout=10)`,
    or a name/attribute bound to one; None when unknown, absent or not a literal."""
    found = model.infer(expr)
    if found is None or found.role != "lock" or not isinstance(found.origin, cst.Call):
        return None
    timeout = lock_timeout(model, found.origin)
    if not isinstance(timeout, cst.BaseExpression):
        return None
    seconds = number_value(timeout)
    return seconds if seconds is not None and seconds > 0 else None


def is_lock_key(key: Optional[Key]) -> bool:
    """The key's literal text names a lock: `lock:{}`, `{}:lock`, `job_mutex`, `orderLock`."""
    if key is None:
        return False
    words = _WORD.findall(key.template.replace("{}", " "))
    return any(word.lower() in _LOCK_WORDS for word in words)


def same_lock_key(a: "RedisCall", b: "RedisCall") -> bool:
    """Whether two calls name the same lock key: the same `Key` in one scope; across functions
    the same key pattern with literal text (`lock:{}`), or the same `self` attribute
    (`self.key`). Two functions' parameters that happen to share a name are not enough."""
    if a.key is None or b.key is None:
        return False
    if a.scope is b.scope:
        return a.key == b.key
    if a.key.template.replace("{}", ""):
        return a.key.template == b.key.template
    return a.key == b.key and bool(a.key.parts) and all(
        _SELF_ATTRIBUTE.match(part) for part in a.key.parts)


class KeyIndex:
    """Keys filed once (with the scope of the call that names them), so that "does any of
    them name the same lock as this call" (`same_lock_key`) is a lookup, not a scan."""

    def __init__(self) -> None:
        self._same: Set[Tuple[int, Key]] = set()
        self._templates: Dict[str, Set[int]] = {}
        self._attributes: Dict[Key, Set[int]] = {}

    def add(self, key: Optional[Key], scope: object) -> None:
        if key is None:
            return
        self._same.add((id(scope), key))
        if key.template.replace("{}", ""):
            self._templates.setdefault(key.template, set()).add(id(scope))
        elif key.parts and all(_SELF_ATTRIBUTE.match(part) for part in key.parts):
            self._attributes.setdefault(key, set()).add(id(scope))

    def in_scope(self, key: Optional[Key], scope: object) -> bool:
        """The same key is named in the same scope."""
        return key is not None and (id(scope), key) in self._same

    def elsewhere(self, key: Optional[Key], scope: object) -> bool:
        """Another scope names the same key pattern (with literal text) or `self` attribute."""
        if key is None:
            return False
        if key.template.replace("{}", ""):
            scopes = self._templates.get(key.template, ())
        elif key.parts and all(_SELF_ATTRIBUTE.match(part) for part in key.parts):
            scopes = self._attributes.get(key, ())
        else:
            return False
        return len(scopes) > 1 or (len(scopes) == 1 and id(scope) not in scopes)

    def matches(self, key: Optional[Key], scope: object) -> bool:
        """`same_lock_key` with any key of the index."""
        return self.in_scope(key, scope) or self.elsewhere(key, scope)


def work_seconds(model: "SemanticModel", call: cst.Call,
                 redis_call: Optional["RedisCall"] = None) -> Optional[Tuple[str, float]]:
    """How long a call may take, from literal numbers only.

    ("sleep", N) for `time.sleep(N)` / `await asyncio.sleep(N)` (it takes N seconds);
    ("bound", N) for a call with a literal `timeout=N` (it may take up to N seconds), a Redis
    blocking command with a literal timeout, or `xread(block=ms)`; ("bound", inf) for a Redis
    blocking command that blocks forever (timeout 0, None or absent). None otherwise, and for
    calls that make a lock (their `timeout` is the lock's lifetime, not a wait).
    """
    if redis_call is not None:
        if redis_call.receiver.role != "client" and redis_call.receiver.role != "pubsub":
            return None
        command = redis_call.command
        if command in BLOCKING_TIMEOUT_POSITION:
            timeout = _argument(call, BLOCKING_TIMEOUT_POSITION[command], "timeout")
            if timeout is DYNAMIC:
                return None
            if timeout is None or is_none(timeout):
                return ("bound", math.inf)
            seconds = number_value(timeout)  # type: ignore[arg-type]
            if seconds is None:
                return None
            return ("bound", seconds if seconds > 0 else math.inf)
        if command in ("xread", "xreadgroup"):
            block = _argument(call, 99, "block")
            millis = number_value(block) if isinstance(block, cst.BaseExpression) else None
            if millis is None:
                return None
            return ("bound", millis / 1000 if millis > 0 else math.inf)
        if command == "get_message" and redis_call.receiver.role == "pubsub":
            timeout = _argument(call, 1, "timeout")
            seconds = number_value(timeout) if isinstance(timeout, cst.BaseExpression) else None
            return ("bound", seconds) if seconds is not None else None
        return None  # other commands: `timeout` may be milliseconds (WAIT), or no wait at all
    name = model.qualified_name(call.func)
    if name in SLEEP_FUNCTIONS:
        delay = _argument(call, 0, "delay" if name != "time.sleep" else "secs")
        seconds = number_value(delay) if isinstance(delay, cst.BaseExpression) else None
        return ("sleep", seconds) if seconds is not None else None
    timeout = _argument(call, 99, "timeout")
    if not isinstance(timeout, cst.BaseExpression):
        return None
    seconds = number_value(timeout)
    if seconds is None or seconds <= 0:
        return None
    found = model.infer(call)
    if found is not None and found.role == "lock":
        return None
    return ("bound", seconds)



def is_nx_set(call: "RedisCall") -> bool:
    """`set(key, value, nx=True)` (a literal True) or `setnx(key, value)`: a try-to-take.
    Whether it also sets an expiry is `redislint.semantic.redispy.write_ttl`."""
    if call.command == "setnx":
        return True
    if call.command != "set":
        return False
    nx = call.arg(None, "nx")
    return isinstance(nx, cst.Name) and nx.value == "True"

