from typing import Dict, List, Optional, Set, Tuple

import libcst as cst

from redislint.rule import Fix, Invalid, Rule, Valid
from redislint.semantic.fixes.edits import add_keywords, keyword, literal_number
from redislint.semantic.flow.results import ResultFlow
from redislint.semantic.atomic import wrappers
from redislint.semantic.atomic.locks import (DYNAMIC, KeyIndex, is_lock_constructor,
                                             is_lock_key, is_none, is_nx_set, lock_timeout)
from redislint.semantic.model import RedisCall, Scope
from redislint.semantic.redispy import DELETE_COMMANDS, write_ttl
from redislint.semantic.flow.sequences import expired_after
from redislint.semantic.fixes.ttl import set_without_expiry


_WHY = {wrappers.LEFT_OUT_HERE: "and a call here leaves it out (or passes None)",
        wrappers.LEFT_OUT_ELSEWHERE: "and a call in another module leaves it out",
        wrappers.NO_CALLER: "and no call in the project is seen to pass it"}
_WRAPPER = ('import redis\nr = redis.Redis()\nclass DistributedLock:\n'
            '    def __init__(self, name, timeout=None):\n'
            '        self.lock = r.lock(name, timeout=timeout, blocking_timeout=5)\n'
            '    def __enter__(self):\n        self.lock.acquire()\n        return self\n'
            '    def __exit__(self, *exc):\n        self.lock.release()\n')


class LockWithoutTimeout(Rule):
    """
    ## What it does
    Flags a Redis lock that never expires:
    - `client.lock(name)` or `Lock(client, name)` (redis-py's `redis.lock.Lock`, sync or
      asyncio) without `timeout`, or with `timeout=None`;
    - a hand-made lock, `set(key, token, nx=True)` (or `setnx`) with no `ex`/`px`/`exat`/`pxat`,
      whose result is checked (`if r.set(...)`, returned, or bound to a name that is tested),
      when the key is a lock: its name says so (`lock:{}`, `{}:mutex`) or the module deletes
      it again (releases it), and no EXPIRE of the key follows in the same function;
    - the lock of a project's own lock wrapper whose callers may leave its timeout at None:
      a function or class whose `r.lock(name, timeout=...)` / `Lock(r, name, ...)` takes its
      timeout from a parameter whose default is None (`def __init__(self, name,
      timeout=None)`), a `**kwargs` key read with a None default (`options.pop("timeout",
      None)`), or an attribute set once from one of those (`self.timeout = timeout`), when a
      call of it leaves that out or passes None (`with DistributedLock("resource"):`), in
      this module or (as far as the project index tells) in another one, or when no call of
      it is seen at all (an API for other code). The finding is at the wrapper's lock: its
      None default is what makes the lock never expire. A wrapper that forwards its own None
      default to another (`def make(name, timeout=None): return DistributedLock(name,
      timeout)`) is a wrapper too; the finding is then at the call that forwards it.

    Calls in other modules are known from the project index, for the modules redislint parses
    (those that mention Redis or a client another module exports): a wrapper whose callers are
    all in other files counts as having no call seen.

    Stays silent on a wrapper whose calls all pass the timeout (or `*args` / `**options` that
    may carry it), on a default other than None, on a parameter the wrapper rebinds (`timeout
    = timeout or 30`, `if timeout is None: timeout = 60`), and on wrappers of locks that are
    not Redis locks.

    ## Why is this bad?
    A lock without a timeout is held until its owner releases it. If the owner crashes, is
    killed by a deploy or loses its connection in the critical section, the lock is never
    released, and every other worker waits for it forever (or, with `blocking=False`, skips the
    work forever) until someone deletes the key by hand.

    ## Example
    ```python
    with r.lock("report"):
        build_report()

    if r.set(f"lock:{order_id}", token, nx=True):
        charge(order_id)

    class DistributedLock:
        def __init__(self, name, timeout=None):
            self.lock = r.lock(name, timeout=timeout)
        ...

    with DistributedLock("resource"):
        time.sleep(1000)
    ```

    ## Use instead:
    ```python
    with r.lock("report", timeout=60, blocking_timeout=5):
        build_report()

    if r.set(f"lock:{order_id}", token, nx=True, ex=30):
        charge(order_id)

    class DistributedLock:
        def __init__(self, name, timeout=1200):
            self.lock = r.lock(name, timeout=timeout)
    ```
    Choose a timeout longer than the critical section can take, or `extend()` the lock while
    working; see `redislint patterns locks`.

    ## Fix safety
    Only with `lock-timeout` configured (`[tool.redislint]`, seconds), an unsafe fix adds
    `timeout=<lock-timeout>` to `lock(...)`/`Lock(...)` (or puts it in place of the `None`
    passed), and `ex=<lock-timeout>` (`px=` in milliseconds for a fraction of a second) to a
    hand-made `set(key, token, nx=True)` lock, and gives a wrapper's parameter (or its
    `options.pop(..., None)`) the default `<lock-timeout>` in place of None. Without it there
    is no fix: redislint never
    invents a timeout. Unsafe because a timeout shorter than the critical section lets a
    second holder in while the first still works. No fix for SETNX (it has no expiry option:
    RL901/RL203 turn it into `set(..., nx=True)` first) or for a SET that passes an expiry
    option already (even `ex=None`).
    """

    code = "RL301"
    name = "lock-without-timeout"
    message = ("this lock has no `timeout`, so a holder that crashes keeps it forever and blocks "
               "every other worker: pass `timeout=` longer than the critical section "
               "(see `redislint patterns locks`)")
    wrapper_message = ("this lock's `timeout` is `{slot}` of `{callee}`, None unless the caller "
                       "passes it, {why}: such a lock never expires, and a holder that crashes "
                       "blocks every other worker; give `{slot}` a default longer than the "
                       "critical section (see `redislint patterns locks`)")
    set_message = ("`{command}` used as a lock sets no expiry, so a holder that crashes keeps the "
                   "lock forever: add `ex=`/`px=` in the same `set(..., nx=True)` call "
                   "(see `redislint patterns locks`)")
    fix_safety = "unsafe"
    pattern = "locks"

    VALID = [
        Valid('import redis\nr = redis.Redis()\nwith r.lock("report", timeout=60):\n    pass\n'),
        Valid('import redis\nr = redis.Redis()\nlock = r.lock("report", 30, blocking_timeout=5)\n'
              'lock.acquire()\n'),
        Valid('import redis\nfrom redis.lock import Lock\nr = redis.Redis()\n'
              'with Lock(r, "n", timeout=5):\n    pass\n'),
        Valid('import redis\nfrom redis.lock import Lock\nr = redis.Redis()\nLock(r, "n", 5).acquire()\n'),
        Valid('import redis\nr = redis.Redis()\ndef take(k, token):\n'
              '    if r.set(f"lock:{k}", token, nx=True, ex=30):\n        return True\n'),
        Valid('import redis\nr = redis.Redis()\ndef take(k, token, ttl):\n'
              '    return r.set("lock:" + k, token, nx=True, px=ttl)\n'),
        Valid('import redis\nr = redis.Redis()\ndef once(msg_id):\n'
              '    # an idempotency marker, never released: not a lock\n'
              '    if r.set(f"seen:{msg_id}", 1, nx=True):\n        return True\n'),
        Valid('import redis\nr = redis.Redis()\ndef take(k):\n'
              '    if r.set(f"lock:{k}", 1, nx=True):\n        r.expire(f"lock:{k}", 30)\n'
              '        return True\n'),
        Valid('import redis\nr = redis.Redis()\ndef make(name, **options):\n'
              '    return r.lock(name, **options)\n'),
        Valid('import threading, asyncio\nimport redis\nr = redis.Redis()\n'
              'lock = threading.Lock()\nalock = asyncio.Lock()\nwith lock:\n    pass\n'),
        Valid('import redis\nclass Store:\n    def lock(self, name):\n        return self\n'
              'Store().lock("x")\n'),
        Valid('import redis\nr = redis.Redis()\ndef put_if_empty(key, value):\n'
              '    return r.setnx(key, value)\ndef forget(key):\n    r.delete(key)\n'),
        Valid('import redis\nr = redis.Redis()\nconfig = {}\nif config.set("lock:x", 1, nx=True):\n'
              '    pass\n'),
        Valid('import redis\nr = redis.Redis()\ndef take(k):\n    with r.pipeline() as p:\n'
              '        p.set(f"lock:{k}", 1, nx=True)\n        p.expire(f"lock:{k}", 30)\n'
              '        return p.execute()[0]\n'),
        # a wrapper with a None default whose callers all pass a timeout
        Valid(_WRAPPER + 'with DistributedLock("resource", 1200):\n    pass\n'
              'with DistributedLock("other", timeout=60):\n    pass\n'),
        # the wrapper replaces the None itself, or defaults to a number
        Valid('import redis\nr = redis.Redis()\nclass Guard:\n'
              '    def __init__(self, name, timeout=None):\n'
              '        if timeout is None:\n            timeout = 60\n'
              '        self.lock = r.lock(name, timeout=timeout)\n'
              'def locked(name, timeout=30):\n    return r.lock(name, timeout=timeout)\n'
              'def fallback(name, timeout=None):\n    return r.lock(name, timeout=timeout or 30)\n'
              'Guard("a")\nlocked("b")\nfallback("c")\n'),
        # a `**kwargs` key read with a default, and a call whose `**options` may carry it
        Valid('import redis\nr = redis.Redis()\ndef make(name, **options):\n'
              '    timeout = options.pop("timeout", 60)\n'
              '    return r.lock(name, timeout=timeout, **options)\n'
              'def plain(name, timeout=None):\n    return r.lock(name, timeout=timeout)\n'
              'make("a")\nsettings = {"timeout": 5}\nplain("b", **settings)\n'),
        # not a Redis lock
        Valid('import filelock\nimport redis\nclass Guard:\n'
              '    def __init__(self, path, timeout=None):\n'
              '        self.lock = filelock.FileLock(path, timeout=timeout)\n'
              'Guard("/tmp/x")\n'),
    ]
    INVALID = [
        Invalid('import redis\nr = redis.Redis()\nwith r.lock("report"):\n    pass\n'),
        Invalid('import redis\nr = redis.Redis()\nlock = r.lock("report", timeout=None)\n'),
        Invalid('import redis\nclass Jobs:\n    def __init__(self, url):\n'
                '        self.r = redis.Redis.from_url(url)\n'
                '    def run(self):\n        with self.r.lock("jobs", blocking_timeout=5):\n'
                '            pass\n'),
        Invalid('from redis.asyncio import Redis\nasync def run(r: Redis):\n'
                '    async with r.lock("jobs", sleep=0.5):\n        pass\n'),
        Invalid('import redis\nfrom redis.lock import Lock\nr = redis.Redis()\n'
                'def run():\n    with Lock(r, "nightly"):\n        pass\n'),
        Invalid('import redis.asyncio\nfrom redis.asyncio.lock import Lock\n'
                'async def run(r: redis.asyncio.Redis):\n'
                '    lock = Lock(r, "nightly", None, blocking=False)\n'
                '    if await lock.acquire():\n        pass\n'),
        Invalid('import redis\nr = redis.Redis()\ndef take(order_id, token):\n'
                '    if r.set(f"lock:{order_id}", token, nx=True):\n        return True\n'
                '    return False\n'),
        Invalid('import redis\nr = redis.Redis()\ndef acquire(job):\n'
                '    key = "job:" + job + ":owner"\n    got = r.set(key, "me", nx=True)\n'
                '    if not got:\n        return False\n    return True\n'
                'def release(job):\n    r.delete("job:{}:owner".format(job))\n'),
        Invalid('import redis\nr = redis.Redis()\ndef take(name, token):\n'
                '    return bool(r.set(f"{name}:lock", token, nx=True))\n'),
        Invalid('from redis.asyncio import Redis\nasync def take(r: Redis, name):\n'
                '    return await r.setnx(f"mutex:{name}", 1)\n'),
        # `keepttl=False` is no expiry
        Invalid('import redis\nr = redis.Redis()\ndef take(k):\n'
                '    return r.set(f"lock:{k}", 1, nx=True, keepttl=False)\n'),
        # with `lock-timeout` configured: unsafe fixes
        Invalid('import redis\nfrom redis.lock import Lock\nr = redis.Redis()\ndef run(k, token):\n'
                '    with r.lock("report", blocking_timeout=5):\n        pass\n'
                '    if Lock(r, "nightly", None, blocking=False).acquire():\n        pass\n'
                '    if r.set(f"lock:{k}", token, nx=True):\n        return True\n',
                settings={"lock-timeout": 30}, count=3, unsafe=True,
                expected_fix='import redis\nfrom redis.lock import Lock\nr = redis.Redis()\n'
                'def run(k, token):\n    with r.lock("report", blocking_timeout=5, timeout=30):\n'
                '        pass\n    if Lock(r, "nightly", 30, blocking=False).acquire():\n        pass\n'
                '    if r.set(f"lock:{k}", token, nx=True, ex=30):\n        return True\n'),
        Invalid('import redis\nr = redis.Redis()\ndef take(k):\n'
                '    return r.set(f"lock:{k}", 1, nx=True)\n', settings={"lock-timeout": 0.5},
                unsafe=True, expected_fix='import redis\nr = redis.Redis()\ndef take(k):\n'
                '    return r.set(f"lock:{k}", 1, nx=True, px=500)\n'),
        # no fix even so: SETNX has no expiry option
        Invalid('import redis\nr = redis.Redis()\ndef take(k):\n'
                '    return r.setnx(f"lock:{k}", 1)\n', settings={"lock-timeout": 30}),
        # a wrapper whose call leaves the timeout out (or passes None): the wrapper's lock
        Invalid(_WRAPPER + 'import time\nwith DistributedLock("resource"):\n'
                '    time.sleep(1000)\nwith DistributedLock("other", timeout=60):\n    pass\n'),
        Invalid(_WRAPPER + 'with DistributedLock("other", timeout=None):\n    pass\n'),
        Invalid('from contextlib import contextmanager\nimport redis\nr = redis.Redis()\n'
                '@contextmanager\ndef locked(name, *, timeout=None):\n'
                '    with r.lock(name, timeout=timeout, blocking_timeout=5):\n        yield\n'
                'def nightly():\n    with locked("nightly"):\n        pass\n'),
        Invalid('import redis\nr = redis.Redis()\ndef make_lock(name, **options):\n'
                '    timeout = options.pop("timeout", None)\n'
                '    return r.lock(name, timeout=timeout, **options)\n'
                'lock = make_lock("jobs", blocking_timeout=5)\n'),
        # the timeout travels through an attribute, and through another wrapper (the finding
        # is at the call that forwards it)
        Invalid('import redis\nclass Job:\n'
                '    def __init__(self, name, lock_timeout=None):\n'
                '        self.r = redis.Redis()\n        self.name = name\n'
                '        self.lock_timeout = lock_timeout\n'
                '    def run(self):\n'
                '        with self.r.lock(self.name, timeout=self.lock_timeout):\n'
                '            pass\n'
                'def job(name, lock_timeout=None):\n    return Job(name, lock_timeout)\n'
                'job("nightly").run()\njob("hourly", 60).run()\n'),
        Invalid('import redis\nclass Store:\n    def __init__(self):\n'
                '        self.r = redis.Redis()\n'
                '    def locked(self, name, timeout=None):\n'
                '        return self.r.lock(name, timeout=timeout)\n'
                '    def compact(self):\n        with self.locked("compact"):\n'
                '            pass\n'),
        # an API nobody in the project is seen to call: its default is all its callers get
        Invalid('from redis.asyncio import Redis\nclass Broker:\n'
                '    def __init__(self, url, lock_timeout: float | None = None):\n'
                '        self.redis = Redis.from_url(url)\n'
                '        self.lock_timeout = lock_timeout\n'
                '    async def claim(self, stream):\n'
                '        async with self.redis.lock(f"autoclaim:{stream}",\n'
                '                                   timeout=self.lock_timeout):\n'
                '            pass\n'),
        Invalid(_WRAPPER + 'with DistributedLock("resource"):\n    pass\n',
                settings={"lock-timeout": 30}, unsafe=True,
                expected_fix=_WRAPPER.replace("timeout=None", "timeout=30")
                + 'with DistributedLock("resource"):\n    pass\n'),
    ]

    def __init__(self, model, settings) -> None:
        super().__init__(model, settings)
        self._callables: Optional[wrappers.Callables] = None
        # Callables of the module whose lock times out only if their caller says so.
        self._wrappers: Dict[str, Set[wrappers.Slot]] = {}
        self._calls: List[wrappers.CallSite] = []
        # (callable, slot) -> the lock call that takes its timeout from the slot.
        self._made: Dict[Tuple[str, wrappers.Slot], cst.Call] = {}

    @property
    def callables(self) -> wrappers.Callables:
        if self._callables is None:
            self._callables = wrappers.Callables(self.model.facts)
        return self._callables

    def _definition(self) -> Optional[wrappers.Definition]:
        scope = self.model.scope
        while scope.kind == "class" and scope.parent is not None:
            scope = scope.parent
        return self.callables.definition(scope.node) if scope.kind == "function" else None

    def on_redis_call(self, call: RedisCall) -> None:
        if call.command == "lock" and call.receiver.role == "client":
            self._check_lock(call.node)

    def visit_Call(self, node: cst.Call) -> None:
        if is_lock_constructor(self.model, node) and self.model.is_redis(node, "lock"):
            self._check_lock(node)
        func = node.func
        if type(func) is cst.Name:
            callee = self.callables.callee(node, None)
            if callee is not None:
                self._calls.append(wrappers.CallSite(callee, node, self._definition()))
        elif type(func) is cst.Attribute and type(func.value) is cst.Name:  # type: ignore[attr-defined]
            caller = self._definition()
            callee = self.callables.callee(node, caller)
            if callee is not None:
                self._calls.append(wrappers.CallSite(callee, node, caller))

    def _check_lock(self, node: cst.Call) -> None:
        timeout = lock_timeout(self.model, node)
        if timeout is DYNAMIC:
            return
        if timeout is None or is_none(timeout):
            self.report(node, fix=self._lock_fix(node, timeout))
            return
        # `timeout=timeout` with `timeout=None` for a default: its callers decide
        found = wrappers.slot_of(self.model.facts, self.callables.defs, self._definition(),
                                 timeout)
        if found is not None:
            self._wrappers.setdefault(found[0].callee, set()).add(found[1])
            self._made.setdefault((found[0].callee, found[1]), node)

    def _check_wrappers(self) -> None:
        """Each lock of a wrapper (made here, or a call that forwards a wrapper's timeout)
        whose None default its callers may leave in place."""
        direct = dict(self._wrappers)
        imported = wrappers.imported(self.model.inferer.index, self._calls)
        direct.update(imported)
        if not direct:
            return
        found, forwards = wrappers.propagate(direct, self._calls, self.model.facts,
                                             self.callables.defs)
        made = dict(forwards)
        made.update(self._made)
        calls: Dict[str, List[wrappers.CallSite]] = {}
        for site in self._calls:
            calls.setdefault(site.callee, []).append(site)
        index, module = self.model.inferer.index, self.model.facts.imports.module
        reported = set()
        for (callee, slot), node in made.items():
            if callee in imported or id(node) in reported:
                continue
            reason = wrappers.open_default(callee, slot, calls.get(callee, ()),
                                           wrappers.remote_calls(index, module, callee))
            if reason is None:
                continue
            reported.add(id(node))
            message = self.wrapper_message.format(callee=callee, slot=slot.name,
                                                  why=_WHY[reason])
            self.report(node, message, fix=self._default_fix(slot))

    def _default_fix(self, slot: wrappers.Slot) -> Optional[Fix]:
        """The wrapper's None default replaced by the configured `lock-timeout`."""
        seconds = self.settings.lock_timeout
        if seconds is None or slot.default is None:
            return None
        return Fix(f"Default `{slot.name}` to the configured `lock-timeout` ({seconds:g} s)",
                   {slot.default: literal_number(seconds)}, "unsafe")

    def _lock_fix(self, node: cst.Call, timeout: object) -> Optional[Fix]:
        """`timeout=<lock-timeout>` added, or put in place of the `None` passed."""
        seconds = self.settings.lock_timeout
        if seconds is None:
            return None
        value = literal_number(seconds)
        if timeout is None:
            new = add_keywords(node, keyword("timeout", value))
        else:
            new = node.with_changes(args=[arg.with_changes(value=value) if arg.value is timeout
                                          else arg for arg in node.args])
        return Fix(f"Time the lock out after the configured `lock-timeout` ({seconds:g} s)",
                   {node: new}, "unsafe")

    def on_scope_exit(self, scope: Scope) -> None:
        if scope.kind != "module":
            return
        self._check_wrappers()
        calls = self.model.redis_calls
        releases = KeyIndex()
        for call in calls:
            if call.command in DELETE_COMMANDS:
                releases.add(call.key, call.scope)
        for call in calls:
            if not self._sets_lock_without_expiry(call):
                continue
            if not (is_lock_key(call.key) or releases.matches(call.key, call.scope)):
                continue
            if expired_after(call):
                continue
            flow = ResultFlow(call.scope.node, call.node)
            if flow.decides_branch() or flow.returned():
                self.report(call.node, self.set_message.format(command=call.command),
                            fix=self._set_fix(call))

    def _set_fix(self, call: RedisCall) -> Optional[Fix]:
        """`set(k, token, nx=True)` -> `set(..., ex=<lock-timeout>)` (`px=` for a fraction);
        SETNX has no expiry option (RL203/RL901 turn it into SET first)."""
        seconds = self.settings.lock_timeout
        if seconds is None or set_without_expiry(call) is None:
            return None
        if float(seconds).is_integer():
            option = keyword("ex", literal_number(seconds))
        else:
            option = keyword("px", literal_number(round(seconds * 1000)))
        return Fix(f"Expire the lock after the configured `lock-timeout` ({seconds:g} s)",
                   {call.node: add_keywords(call.node, option)}, "unsafe")

    @staticmethod
    def _sets_lock_without_expiry(call: RedisCall) -> bool:
        return (call.receiver.role == "client" and call.key is not None and is_nx_set(call)
                and write_ttl(call) is False)
