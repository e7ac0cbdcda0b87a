from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Callable, Dict, FrozenSet, List, Optional, Sequence, Set, Tuple

import libcst as cst

from redislint.rule import Invalid, Rule, Valid
from redislint.semantic.atomic.locks import (KeyIndex, is_lock_constructor, is_lock_key,
                                             is_nx_set, lock_name_argument)
from redislint.semantic.atomic.lua import owner_checks
from redislint.semantic.atomic.scripts import script_argument, script_texts
from redislint.semantic.atomic.transactions import guards, set_if_empty, watched_keys
from redislint.semantic.context.frameworks import in_test_code
from redislint.semantic.flow.results import ResultFlow
from redislint.semantic.keys.constants import constant_text, constant_value, definition
from redislint.semantic.keys.expressions import Key
from redislint.semantic.keys.keyspace import named_pattern
from redislint.semantic.model import RedisCall, Scope
from redislint.semantic.names import number_value
from redislint.semantic.redispy import EXPIRE_COMMANDS, write_ttl
from redislint.walk import children_of

_DELETES = ("delete", "unlink", "getdel")
# Clocks a holder reads to know its lock has not expired yet (`time.monotonic() < deadline`).
_CLOCKS = frozenset({"time.monotonic", "time.time", "time.perf_counter", "time.monotonic_ns",
                     "time.time_ns", "time.perf_counter_ns"})


_RELEASE = ('import redis\nr = redis.Redis()\n'
            'RELEASE = r.register_script("if redis.call(\'GET\', KEYS[1]) == ARGV[1] then '
            'return redis.call(\'DEL\', KEYS[1]) end return 0")\n'
            'def lock_key(name):\n    return f"lock:{name}"\n')


class UnsafeLockRelease(Rule):
    """
    ## What it does
    Flags a lock released by a plain `delete`/`unlink`/`getdel` of its key, without an atomic check that
    the caller still owns it, and an owner check that cannot tell owners apart:
    - a DEL of a key taken as a lock: by `set(..., nx=True)` (or `setnx`) as an expiring lock
      (with `ex`/`px`, or an EXPIRE after it) or under a lock-like name (`lock:{}`), by
      redis-py's `client.lock(name)` / `Lock(client, name)` (the lock lives under `name`), or
      by an optimistic SET-if-empty (WATCH the key, read it, and only when it is empty MULTI,
      SET with an expiry, EXEC). The take may be in the same function (before the DEL, or
      after it: a blind DEL before the acquisition deletes whoever holds the lock), in another
      function (same key pattern or `self` attribute), or in another module of the project
      (same key pattern);
    - GET-compare-then-DEL of a lock key: `if r.get(key) == token: r.delete(key)`, and a
      GETDEL of a lock-named key whose value is compared with the token afterwards (the owner
      is checked once the lock is gone);
    - a Lua compare-and-delete (`if redis.call('GET', KEYS[1]) == ARGV[1] then ... DEL`) of a
      lock key that compares against a constant: a literal in the script or a constant passed
      as its token (`RELEASE(keys=[key], args=[1])`), which every holder writes alike.

    Keys are read through one-line key helpers (`def lock_key(job): return
    f"job:{job}:lock"`, also imported from another module, see
    `redislint.semantic.keys.helpers`), so `r.delete(lock_key(job))` is the same key as
    `r.set(f"job:{job}:lock", ...)`.

    Not flagged: a DEL queued in a transaction pipeline (after WATCH and MULTI), a Lua
    compare-and-delete with a per-holder token, redis-py's `Lock.release()`, a DEL before the
    acquisition that a read of the key decides (`if r.ttl(key) == -1: r.delete(key)`, a stale
    lock with no expiry), a DEL that runs only before the holder's own deadline (`if
    time.monotonic() < deadline:`, computed with the lock's expiry), a GETDEL of a key not
    named like a lock (a one-time code consumed), a permanent claim (`set(..., nx=True)` without expiry and without a
    lock-like name), a compare-and-swap under WATCH (`if p.get(k) == old:`), and test code.

    ## Why is this bad?
    A lock with a timeout can expire while its holder is still working (a GC pause, a slow
    query). Another worker then takes the lock, and the first one's DEL deletes *their* lock, so
    a third worker gets in too. Checking the token with GET first does not help: the lock can
    expire and change hands between the GET and the DEL.

    ## Example
    ```python
    token = secrets.token_hex(16)
    if r.set("lock:report", token, nx=True, ex=30):
        try:
            build_report()
        finally:
            if r.get("lock:report") == token:
                r.delete("lock:report")
    ```

    ## Use instead:
    ```python
    RELEASE = r.register_script(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end "
        "return 0")
    ...
        finally:
            RELEASE(keys=["lock:report"], args=[token])
    ```
    or `with r.lock("report", timeout=30):`, whose `release()` runs that script; see
    `redislint patterns locks`.

    A compare-and-delete is only as good as its token: when every holder writes `1`, the
    compare matches anyone's lock.

    ## Fix safety
    No automatic fix: the fix needs the owner token, which only the author knows.
    """

    code = "RL303"
    name = "unsafe-lock-release"
    message = ("this `{command}` releases a lock without checking its owner, so once the lock has "
               "expired and passed to another worker it deletes theirs: compare the token and "
               "delete in one Lua script or use `Lock.release()` (see `redislint patterns locks`)")
    get_message = ("`get` then `{command}` of a lock key is not atomic: the lock can expire and "
                   "pass to another worker between the check and the delete; compare and delete in "
                   "one Lua script or use `Lock.release()` (see `redislint patterns locks`)")
    constant_message = ("this compare-and-delete checks the lock against the constant `{token}`, "
                        "which every holder writes, so it deletes another worker's lock like a "
                        "plain DEL: store a unique token per holder (`uuid.uuid4().hex`) and "
                        "compare against that (see `redislint patterns locks`)")
    pattern = "locks"

    VALID = [
        Valid('import redis\nr = redis.Redis()\n'
              'RELEASE = r.register_script("if redis.call(\'GET\', KEYS[1]) == ARGV[1] then '
              'return redis.call(\'DEL\', KEYS[1]) end return 0")\n'
              'def run(token):\n    if r.set("lock:report", token, nx=True, ex=30):\n'
              '        try:\n            pass\n        finally:\n'
              '            RELEASE(keys=["lock:report"], args=[token])\n'),
        Valid('import redis\nr = redis.Redis()\nLUA = "if redis.call(\'get\', KEYS[1]) == ARGV[1] '
              'then return redis.call(\'del\', KEYS[1]) end"\n'
              'def release(name, token):\n    return r.eval(LUA, 1, f"lock:{name}", token)\n'),
        Valid('import redis\nr = redis.Redis()\nlock = r.lock("report", timeout=30)\n'
              'if lock.acquire(blocking=False):\n    try:\n        pass\n    finally:\n'
              '        lock.release()\n'),
        Valid('import redis\nr = redis.Redis()\ndef release(key, token):\n'
              '    with r.pipeline() as pipe:\n        pipe.watch(key)\n'
              '        if pipe.get(key) == token:\n            pipe.multi()\n'
              '            pipe.delete(key)\n            pipe.execute()\n'),
        Valid('import redis\nr = redis.Redis()\ndef claim(email, uid):\n'
              '    # a permanent unique claim: nobody else can hold it, so the rollback is safe\n'
              '    if not r.set(f"email:{email}", uid, nx=True):\n        raise ValueError(email)\n'
              'def forget(email):\n    r.delete(f"email:{email}")\n'),
        Valid('import redis\nr = redis.Redis()\ndef refresh(k):\n'
              '    if r.get(f"cache:{k}") == b"stale":\n        r.delete(f"cache:{k}")\n'),
        Valid('import redis\nr = redis.Redis()\ndef take(k, token):\n'
              '    return r.set(f"lock:{k}", token, nx=True, ex=10)\n'
              'def drop(k):\n    r.delete(f"session:{k}")\n'),
        Valid('locks = {}\ndef release(k):\n    if locks.get(k) == 1:\n        locks.pop(k)\n'
              'import redis\n'),
        # a stale lock without expiry, recovered before the acquisition
        Valid('import redis\nr = redis.Redis()\ndef take(name, token):\n'
              '    if r.ttl(f"job:{name}:lease") == -1:\n'
              '        r.delete(f"job:{name}:lease")\n'
              '    return r.set(f"job:{name}:lease", token, nx=True, ex=30)\n'),
        # a compare-and-swap under WATCH is no lock; its key may be deleted
        Valid('import redis\nr = redis.Redis()\ndef bump(k, old, new):\n'
              '    with r.pipeline() as p:\n        p.watch(f"counter:{k}")\n'
              '        if p.get(f"counter:{k}") == old:\n            p.multi()\n'
              '            p.set(f"counter:{k}", new, ex=60)\n            p.execute()\n'
              'def reset(k):\n    r.delete(f"counter:{k}")\n'),
        # a compare-and-delete with a per-holder token; one of a status key (not a lock)
        Valid(_RELEASE + 'def take(name, token):\n'
              '    return r.set(lock_key(name), token, nx=True, ex=30)\n'
              'def release(name, token):\n    RELEASE(keys=[lock_key(name)], args=[token])\n'
              'def finish(job):\n    RELEASE(keys=[f"status:{job}"], args=["running"])\n'),
        # a key helper whose key is not the lock's
        Valid(_RELEASE + 'def cache_key(name):\n    return f"cache:{name}"\n'
              'def take(name, token):\n'
              '    return r.set(lock_key(name), token, nx=True, ex=30)\n'
              'def forget(name):\n    r.delete(cache_key(name))\n'),
        # the holder deletes only before its own deadline: the lock cannot have expired
        Valid('import time\nimport redis\nr = redis.Redis()\ndef run(name):\n'
              '    deadline = time.monotonic() + 30\n'
              '    if r.set(f"lock:{name}", "1", nx=True, ex=30):\n        try:\n'
              '            pass\n        finally:\n'
              '            if time.monotonic() < deadline:\n'
              '                r.delete(f"lock:{name}")\n'),
        # GETDEL consuming a one-time code is no release
        Valid('import redis\nr = redis.Redis()\ndef send(user, code):\n'
              '    return r.set(f"otp:{user}", code, nx=True, ex=300)\n'
              'def check(user, code):\n    return r.getdel(f"otp:{user}") == code\n'),
        # a test cleaning up
        Valid('import redis\nr = redis.Redis()\ndef take(name, token):\n'
              '    return r.set(f"lock:{name}", token, nx=True, ex=30)\n'
              'def test_take():\n    r.delete("lock:x")\n    assert take("x", "t")\n'),
    ]
    INVALID = [
        Invalid('import redis\nr = redis.Redis()\ndef run(name, token):\n'
                '    key = f"lock:{name}"\n    if r.set(key, token, nx=True, ex=30):\n'
                '        try:\n            pass\n        finally:\n            r.delete(key)\n'),
        Invalid('import redis\nclass Mutex:\n    def __init__(self, name):\n'
                '        self.r = redis.Redis()\n        self.key = name\n'
                '    def acquire(self, token):\n'
                '        return self.r.set(self.key, token, nx=True, px=5000)\n'
                '    def release(self):\n        self.r.delete(self.key)\n'),
        Invalid('import redis\nr = redis.Redis()\ndef take(name, token):\n'
                '    return r.set("lock:" + name, token, nx=True, ex=30)\n'
                'def release(name, token):\n    if r.get(f"lock:{name}") == token:\n'
                '        r.delete("lock:{}".format(name))\n'),
        Invalid('import redis\nr = redis.Redis()\ndef release(name, token):\n'
                '    key = "lock:%s" % name\n    owner = r.get(key).decode()\n'
                '    if owner == token:\n        r.delete(key)\n'),
        Invalid('from redis.asyncio import Redis\nasync def release(r: Redis, job, token):\n'
                '    owner = await r.get(f"jobs:{job}:lock")\n    if owner != token:\n'
                '        return\n    await r.unlink(f"jobs:{job}:lock")\n'),
        Invalid('import redis\nr = redis.Redis()\ndef run(name):\n'
                '    if r.setnx("lock:" + name, 1):\n        r.expire("lock:" + name, 30)\n'
                '    r.delete(f"lock:{name}")\n'),
        # keys built by a one-line helper, a function or a method
        Invalid('import redis\nr = redis.Redis()\ndef job_key(job):\n'
                '    return f"job:{job}:owner"\n'
                'def acquire(job, token):\n    return r.set(job_key(job), token, nx=True, ex=60)\n'
                'def release(job):\n    key = job_key(job)\n    r.delete(key)\n'),
        Invalid('import redis\nclass Scheduler:\n    lock_key = "rq:scheduler_lock"\n'
                '    def __init__(self):\n        self.connection = redis.Redis()\n'
                '    def acquire(self):\n        key = self.lock_key\n'
                '        return self.connection.set(key, 1, ex=60, nx=True)\n'
                '    def remove(self):\n        key = self.lock_key\n'
                '        self.connection.delete(key)\n'),
        # keys taken by redis-py's lock, and by WATCH/MULTI SET-if-empty
        Invalid('import redis\nfrom redis.lock import Lock\nr = redis.Redis()\n'
                'def report():\n    with r.lock("report", timeout=60):\n        pass\n'
                'def nightly():\n    with Lock(r, "nightly", timeout=60):\n        pass\n'
                'def unstick():\n    r.delete("report")\n    r.delete("nightly")\n', count=2),
        Invalid('import redis\nr = redis.Redis()\ndef claim(job, token):\n'
                '    with r.pipeline() as p:\n        p.watch(f"claim:{job}")\n'
                '        if p.get(f"claim:{job}") is None:\n            p.multi()\n'
                '            p.set(f"claim:{job}", token, ex=60)\n            p.execute()\n'
                'def unclaim(job):\n    r.delete(f"claim:{job}")\n'),
        # GETDEL of a lock, its value compared with the token only once it is gone
        Invalid('import redis.asyncio\nr = redis.asyncio.Redis()\n'
                'def lock_key(token):\n    return f"{token}_lock".encode()\n'
                'async def release(token, lock_id):\n'
                '    deleted = await r.getdel(lock_key(token))\n'
                '    if deleted != lock_id:\n        print("released someone else\'s lock")\n'),
        # a blind DEL before the acquisition
        Invalid('import redis\nr = redis.Redis()\ndef take(name, token):\n'
                '    r.delete(f"mutex:{name}")\n'
                '    return r.set(f"mutex:{name}", token, nx=True, ex=30)\n'),
        # a compare-and-delete against a constant: in the script, or passed as its token
        Invalid(_RELEASE + 'def take(name):\n'
                '    return r.set(lock_key(name), 1, nx=True, ex=30)\n'
                'def release(name):\n    RELEASE(keys=[lock_key(name)], args=[1])\n'
                'def release_too(name):\n'
                '    r.eval("if redis.call(\'get\', KEYS[1]) == \'1\' then '
                'return redis.call(\'del\', KEYS[1]) end", 1, lock_key(name))\n', count=2),
    ]

    def __init__(self, model, settings) -> None:
        super().__init__(model, settings)
        # `Lock(r, name)` constructors: not Redis calls, but takes of `name` all the same.
        self._constructed: List[_Take] = []
        # Compare-and-delete scripts run with a constant token: (call, key, scope, token).
        self._constant_checks: List[Tuple[cst.Call, Optional[Key], Scope, str]] = []
        # Names and attributes the module binds to `x.register_script(...)`.
        self._script_names: Optional[Set[str]] = None

    def _scope(self) -> Scope:
        scope = self.model.scope
        while scope.kind == "class" and scope.parent is not None:
            scope = scope.parent
        return scope

    # -- during the traversal: what needs the context of the node ---------------------------
    def visit_Call(self, node: cst.Call) -> None:
        if is_lock_constructor(self.model, node) and self.model.is_redis(node, "lock"):
            name = lock_name_argument(node, constructor=True)
            key = self.model.key(name) if isinstance(name, cst.BaseExpression) else None
            if key is not None:
                scope = self._scope()
                # between the calls met before it and the next one
                self._constructed.append(_Take(key, scope, len(scope.calls) - 0.5, node))
            return
        if not isinstance(node.func, cst.Attribute) or node.func.attr.value not in _EVALS:
            self._registered_script_call(node)

    def on_redis_call(self, call: RedisCall) -> None:
        if call.command in _EVALS and call.receiver.role in ("client", "pipeline"):
            found = script_argument(self.model, call.node)
            if found is None:
                return
            texts = [text for _, text in script_texts(self.model, found.expr)]
            args = call.args[1:]
            count = number_value(args[0].value) if args else None
            if count is None or count < 0 or any(a.star for a in call.node.args):
                return
            values = [a.value for a in args[1:]]
            count = int(count)
            self._constant_owner_check(call.node, texts, values[:count], values[count:])

    def _registered_script_call(self, node: cst.Call) -> None:
        """`RELEASE(keys=[k], args=[token])` with `RELEASE = r.register_script(LUA)`."""
        func = node.func
        if type(func) is cst.Name:
            name = func.value  # type: ignore[attr-defined]
        elif type(func) is cst.Attribute:
            name = func.attr.value  # type: ignore[attr-defined]
        else:
            return
        if self._script_names is None:
            self._script_names = _registered_names(self.model.facts)
        if name not in self._script_names:
            return
        made, context = definition(self.model, func)
        if not (isinstance(made, cst.Call) and isinstance(made.func, cst.Attribute)
                and made.func.attr.value == "register_script" and made.args):
            return
        script = next((a.value for a in made.args if a.keyword is not None
                       and a.keyword.value == "script"), made.args[0].value)
        text = constant_text(self.model, script, context) if context is not None else None
        if text is None:
            return
        keys, args = _script_arguments(node)
        if keys is not None and args is not None:
            self._constant_owner_check(node, [text], keys, args)

    def _constant_owner_check(self, node: cst.Call, texts: List[Optional[str]],
                              keys: Sequence[cst.BaseExpression],
                              args: Sequence[cst.BaseExpression]) -> None:
        """A compare-and-delete whose token is the same for every holder: a literal in the
        script, or a constant passed as its ARGV."""
        for text in texts:
            if text is None:
                continue
            for check in owner_checks(text):
                if not 1 <= check.key <= len(keys):
                    continue
                if check.argv:
                    position = int(float(check.token)) - 1
                    if not 0 <= position < len(args):
                        continue
                    token = _constant(self.model, args[position])
                else:
                    token = check.token
                if token is not None:
                    key = self.model.key(keys[check.key - 1])
                    self._constant_checks.append((node, key, self._scope(), token))
                    return

    # -- at the end of the module: every take and release is known ---------------------------
    def on_scope_exit(self, scope: Scope) -> None:
        if scope.kind != "module":
            return
        calls = self.model.redis_calls
        index = _Calls(calls)
        takes = _Takes(self._takes(calls, index) + self._constructed, self._project_patterns(),
                       index)
        for release in calls:
            if release.command not in _DELETES or release.atomic is not False:
                continue
            if release.key is None or in_test_code(self.model, release.ancestors):
                continue
            if release.command == "getdel" and not is_lock_key(release.key):
                continue  # GETDEL consumes a value (a one-time code); of a lock, it releases
            check = self._owner_check(release, takes, index)
            if check is not None:
                message = self.get_message.format(command=release.command)
                self.report(check.node, message, end=release.node)
            elif self._within_validity(release):
                continue
            elif takes.released_by(release, lambda call: self._guarded_by_read(call, index)) or (
                    release.command == "getdel"
                    and ResultFlow(release.scope.node, release.node).compared_for_equality()):
                # (a GETDEL whose value is compared with a token afterwards: the owner is
                # checked once the lock is gone)
                self.report(release.node, self.message.format(command=release.command))
        for node, key, where, token in self._constant_checks:
            if key is not None and takes.is_lock_key(key, where):
                self.report(node, self.constant_message.format(token=_short(token)))

    def _project_patterns(self) -> FrozenSet[str]:
        index = self.model.inferer.index
        return index.key_uses("lock") if index is not None else frozenset()

    @staticmethod
    def _takes(calls: Sequence[RedisCall], index: "_Calls") -> List[_Take]:
        """Every lock the module takes, with its position among its scope's calls."""
        out: List[_Take] = []
        watched: Dict[int, Set[Optional[Key]]] = {}
        for call in calls:
            if call.key is None:
                continue
            scope = call.scope
            taken = _takes_lock(call, index)
            if not taken and call.command in _SETS and call.atomic is True:
                if id(scope) not in watched:
                    watched[id(scope)] = watched_keys(scope.calls)
                taken = set_if_empty(call, watched[id(scope)], index.before(call)) and (
                    write_ttl(call) is not False or is_lock_key(call.key)
                    or index.expired_after(call))
            if taken:
                out.append(_Take(call.key, scope, index.position[id(call)], call.node))
        return out

    def _within_validity(self, release: RedisCall) -> bool:
        """The DEL runs only while the holder's own deadline has not passed (`if
        time.monotonic() < deadline:`): its lock cannot have expired and changed hands."""
        qualify = self.model.qualified_name

        def reads_clock(test: cst.BaseExpression) -> bool:
            comparisons = [node for node in _walk(test) if isinstance(node, cst.Comparison)]
            return any(isinstance(node, cst.Call) and qualify(node.func) in _CLOCKS
                       for comparison in comparisons for node in _walk(comparison))

        return bool(guards(reads_clock, release.ancestors, release.node))

    @staticmethod
    def _guarded_by_read(release: RedisCall, index: "_Calls") -> bool:
        """A test on a read of the key decides whether the DEL runs (`if r.ttl(k) == -1:`)."""
        for call in index.before(release):
            if call.command in _READS:
                flow = ResultFlow(call.scope.node, call.node)
                if guards(flow.derives, release.ancestors, release.node):
                    return True
        return False

    @staticmethod
    def _owner_check(release: RedisCall, takes: "_Takes", index: "_Calls"
                     ) -> Optional[RedisCall]:
        """The non-atomic GET of the lock key, compared for equality, before this DEL."""
        if not takes.is_lock_key(release.key, release.scope):  # type: ignore[arg-type]
            return None
        for call in index.before(release):
            if call.command == "get" and call.atomic is False:
                if ResultFlow(call.scope.node, call.node).compared_for_equality():
                    return call
        return None


class _Calls:
    """The module's calls filed once: each one's position among its scope's calls, and each
    scope's calls of a key, in order (no question walks a whole scope per call)."""

    def __init__(self, calls: Sequence[RedisCall]) -> None:
        self.position: Dict[int, int] = {}
        self._by_key: Dict[Tuple[int, Key], List[RedisCall]] = {}
        scopes: Set[int] = set()
        for call in calls:
            scope = call.scope
            if id(scope) in scopes:
                continue
            scopes.add(id(scope))
            for position, other in enumerate(scope.calls):
                self.position[id(other)] = position
                if other.key is not None:
                    self._by_key.setdefault((id(scope), other.key), []).append(other)

    def _same_key(self, call: RedisCall) -> List[RedisCall]:
        return self._by_key.get((id(call.scope), call.key), []) if call.key is not None else []

    def before(self, call: RedisCall) -> List[RedisCall]:
        """The calls of `call`'s key that come before it in its scope."""
        here = self.position[id(call)]
        return [c for c in self._same_key(call) if self.position[id(c)] < here]

    def expired_after(self, call: RedisCall) -> bool:
        """An EXPIRE* of the key follows `call` in its scope."""
        here = self.position[id(call)]
        return any(c.command in EXPIRE_COMMANDS and self.position[id(c)] > here
                   for c in self._same_key(call))


_EVALS = frozenset({"eval", "eval_ro"})
_SETS = frozenset({"set", "setex", "psetex"})
# Reads whose result may decide that a DEL is a recovery, not a release (`if r.ttl(k) < 0:`).
_READS = frozenset({"get", "exists", "ttl", "pttl", "type", "object"})


@dataclass
class _Take:
    """A lock taken: its key, the scope and position among the scope's calls, the node."""

    key: Key
    scope: Scope
    order: float
    node: cst.CSTNode


class _Takes:
    """The module's takes, filed by key once: same scope and key, key pattern with literal
    text, `self` attribute; and the project's lock patterns (`lock` family)."""

    def __init__(self, takes: Sequence[_Take], project: FrozenSet[str], calls: "_Calls") -> None:
        self.calls = calls
        self.same: Dict[Tuple[int, Key], List[_Take]] = {}
        self.keys = KeyIndex()
        self.patterns: Set[str] = set()
        for take in takes:
            key = take.key
            self.same.setdefault((id(take.scope), key), []).append(take)
            self.keys.add(key, take.scope)
            pattern = named_pattern(key)
            if pattern is not None:
                self.patterns.add(pattern)
        # The module's own takes are judged above, where order and scope are known.
        self.project = frozenset(p for p in project if p not in self.patterns)
        self._globs: Dict[str, List[str]] = {}
        for pattern in self.project:
            self._globs.setdefault(pattern.split("*", 1)[0], []).append(pattern)

    def _in_project(self, key: Key) -> bool:
        """Taken as a lock by another module: the same named pattern, or a literal key of a
        pattern (`lock:report` of `lock:*`)."""
        if not self.project:
            return False
        pattern = named_pattern(key)
        if pattern is None or pattern in self.patterns:
            return False
        if pattern in self.project:
            return True
        if not key.is_literal:
            return False
        text = key.template
        return any(fnmatch.fnmatchcase(text, glob) for end in range(len(text) + 1)
                   for glob in self._globs.get(text[:end], ()))

    def is_lock_key(self, key: Key, scope: Scope) -> bool:
        """The key names a lock (`lock:{}`) or is taken as one, here or in the project."""
        return (is_lock_key(key) or bool(self.same.get((id(scope), key)))
                or self.keys.elsewhere(key, scope) or self._in_project(key))

    def released_by(self, release: RedisCall, guarded: Callable[[RedisCall], bool]) -> bool:
        """`release` deletes a key taken as a lock: after the take in its scope, or before it
        unless a read of the key decides it (a blind DEL takes anyone's lock away), or in
        another function or module."""
        key = release.key
        if key is None:
            return False
        same = self.same.get((id(release.scope), key))
        if same:
            position = self.calls.position[id(release)]
            if any(take.order < position for take in same):
                return True
            return not guarded(release)
        return self.keys.elsewhere(key, release.scope) or self._in_project(key)


def _registered_names(facts) -> Set[str]:
    """The names (module or local) and attributes bound to `x.register_script(...)`."""
    def registers(value: Optional[cst.BaseExpression]) -> bool:
        return (isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute)
                and value.func.attr.value == "register_script")

    out = {name for name, values in facts.assigns.items() if any(map(registers, values))}
    functions = list(facts.functions.values())
    for cls in facts.classes.values():
        functions.extend(cls.methods.values())
        out.update(attr for attr, bindings in cls.attrs.items()
                   if any(registers(value) for value, _, _ in bindings))
    for func in functions:
        out.update(name for name, values in func.locals.items() if any(map(registers, values)))
    return out


def _walk(node: cst.CSTNode) -> List[cst.CSTNode]:
    out = []
    stack = [node]
    while stack:
        current = stack.pop()
        out.append(current)
        stack.extend(children_of(current))
    return out


def _script_arguments(node: cst.Call) -> Tuple[Optional[List[cst.BaseExpression]],
                                               Optional[List[cst.BaseExpression]]]:
    """The keys and args a registered script is called with (`script(keys=[...],
    args=[...])` or `script([...], [...])`), as list literals; None where unknown."""
    found: Dict[str, cst.BaseExpression] = {}
    positional = []
    for arg in node.args:
        if arg.star:
            return None, None
        if arg.keyword is not None:
            found[arg.keyword.value] = arg.value
        else:
            positional.append(arg.value)
    keys = found.get("keys", positional[0] if positional else None)
    args = found.get("args", positional[1] if len(positional) > 1 else None)
    return _literal_list(keys), _literal_list(args) if args is not None else []


def _literal_list(expr: Optional[cst.BaseExpression]) -> Optional[List[cst.BaseExpression]]:
    if isinstance(expr, (cst.List, cst.Tuple)) and not any(
            isinstance(el, cst.StarredElement) for el in expr.elements):
        return [el.value for el in expr.elements]
    return None


def _constant(model, expr: cst.BaseExpression) -> Optional[str]:
    """The text of a token every caller passes alike: a literal or a constant (`"1"`, `1`,
    `True`, `b"locked"`, a module constant bound once to one)."""
    if isinstance(expr, cst.Name) and expr.value in ("True", "False"):
        return expr.value
    if isinstance(expr, cst.SimpleString) and expr.value[:1] in "bB":
        return expr.value
    value = constant_value(model, expr)
    return None if value is None else str(value)


def _short(text: str) -> str:
    return text if len(text) <= 20 else text[:17] + "..."


def _takes_lock(call: RedisCall, index: _Calls) -> bool:
    """A SET NX (or SETNX) of a lease (an expiry, now or by a later EXPIRE) or a lock-named
    key, or redis-py's `client.lock(name)` (its token lives under `name`)."""
    if call.key is None:
        return False
    if call.command == "lock":
        return call.receiver.role == "client"
    if not is_nx_set(call):
        return False
    return write_ttl(call) is not False or is_lock_key(call.key) or index.expired_after(call)
