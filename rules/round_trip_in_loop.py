from typing import Dict, List, Optional, Set, Tuple

import libcst as cst

from redislint.rule import Fix, Invalid, Rule, Valid
from redislint.semantic.facts import FunctionFacts
from redislint.semantic.fixes.edits import renamed_call
from redislint.semantic.context.frameworks import in_test_code, is_cached_factory
from redislint.semantic.atomic.locks import SLEEP_FUNCTIONS
from redislint.semantic.flow.calls import local_callee
from redislint.semantic.flow.helpers import is_generator, runs_every_call
from redislint.semantic.flow.loops import (assigned_names, body_calls, body_nodes, exits_early,
                                      is_bounded, iterable, mentions, targets,
                                      under_batch_check, under_handler, walks_collection)
from redislint.semantic.model import RedisCall, Scope
from redislint.semantic.redispy import BLOCKING_TIMEOUT_POSITION, NOT_COMMANDS, is_admin_command

# Reads that wait for data to arrive: a loop around one is a consumer, not a batch.
_WAITING = frozenset(BLOCKING_TIMEOUT_POSITION) | {"xread", "xreadgroup", "get_message",
                                                   "listen", "wait", "waitaof", "subscribe",
                                                   "psubscribe"}
# Optimistic transactions: a loop running one per item cannot be batched.
_TRANSACTIONS = frozenset({"watch", "transaction"})
# What a consumer loop may iterate: messages that arrive one at a time.
_STREAMS = frozenset({"listen", "get_message"})


class RoundTripInLoop(Rule):
    """
    ## What it does
    Flags a loop that sends a Redis data command through a client (not a pipeline) on every
    iteration: a `for` loop, a list/set/dict/generator comprehension, or a `while` loop that
    walks a local collection item by item (`while todo: key = todo.pop()`, adding nothing
    back; `while i < len(items): ... i += 1`). One finding per loop, at its first command.
    Administration commands (`xgroup_create` per stream, `config_set`, `info`, `ping`) are
    set-up and monitoring, not data access, and are not counted.

    A loop that calls a helper of the same module (a function, or a method of the same class:
    `if not self.has(key)`) is flagged the same way, at the call, when the helper sends a
    command through a client on every call: not in a loop, branch or `except` block of its
    own, not after an early `return` (a local cache that answers some calls), not on a client
    or pipeline its caller passes in. One level only: a helper's helpers are not followed.

    Not flagged: other `while` loops (consumers, pollers, retries, work lists that grow from
    the replies, pages read `offset += 100` at a time), loops over a handful of items written
    in the source (`for k in ("a", "b")`, `range(3)`), loops that can stop early (`break`,
    `return`, `yield`, a `raise` outside an `except` block: searches, retries, lazy
    generators; a `raise` in an `except` block only reports a failed iteration), loops that
    sleep or block on a read (`brpop`, `xread(block=...)`, `get_message`), loops that run an
    optimistic transaction (`watch`, `transaction()`) per item, loops over
    `pubsub.listen()`, commands in an `except` block, commands that already take many keys
    (`r.unlink(*batch)`: a batching loop), commands on a client made or picked per iteration
    (one per shard), helpers that are memoised (`@lru_cache`), generators, or wait, sleep or
    run a transaction, and test code. A command per key inside
    `for key in r.scan_iter(...)` is flagged: each key costs a round trip of its own.

    ## Why is this bad?
    Every command waits for a network round trip (typically 0.2-1 ms in one data centre, far
    more across zones), and Redis spends most of that time idle. A loop over N items makes N
    sequential round trips: 10,000 keys take seconds instead of milliseconds. A pipeline or a
    multi-key command (`MGET`, `MSET`, `HMGET`, `SADD k m1 m2 ...`) sends them all at once.

    ## Example
    ```python
    names = [r.get(f"user:{uid}:name") for uid in user_ids]

    for uid, score in scores.items():
        r.zadd("leaderboard", {uid: score})
    ```

    ## Use instead:
    ```python
    names = r.mget([f"user:{uid}:name" for uid in user_ids])

    pipe = r.pipeline(transaction=False)
    for uid, score in scores.items():
        pipe.zadd("leaderboard", {uid: score})
    pipe.execute()
    ```
    (here one `r.zadd("leaderboard", scores)` is better still). For very large inputs,
    execute the pipeline every few thousand commands. See `redislint patterns warming`.

    ## Fix safety
    A list comprehension that only collects `get` replies (`[r.get(k) for k in keys]`, also
    awaited on `redis.asyncio`) becomes `r.mget(keys)` (or `r.mget([<key> for k in keys])`
    when the key is computed). The fix is unsafe: MGET returns None for a key that holds
    another type where GET raises WRONGTYPE; redis-py before 3.0 sends an invalid MGET for
    an empty list and raises where the comprehension returned `[]`; and a client that is
    really a `RedisCluster` (not recognised as one here) rejects cross-slot MGET. It is not
    offered on `RedisCluster` clients. Other loops and helpers have no fix: moving
    commands into a pipeline changes when errors surface and when replies can be read.
    """

    code = "RL502"
    name = "round-trip-in-loop"
    message = ("this loop sends `{command}` to Redis once per iteration, one network round "
               "trip each: queue the loop's commands on one `pipeline(transaction=False)` and "
               "execute it once, or use a multi-key command ({multi}) "
               "(see `redislint patterns warming`)")
    helper_message = ("this loop calls `{helper}()`, which sends `{command}` to Redis, once per "
                      "iteration, one network round trip each: give `{helper}` a batch form "
                      "that queues its commands on one `pipeline(transaction=False)` (or uses "
                      "a multi-key command) and call it once (see `redislint patterns warming`)")
    fix_safety = "unsafe"
    pattern = "warming"

    VALID = [
        Valid('import redis\nr = redis.Redis()\ndef load(keys):\n'
              '    pipe = r.pipeline(transaction=False)\n    for k in keys:\n'
              '        pipe.get(k)\n    return pipe.execute()\n'),
        Valid('import redis\nr = redis.Redis()\ndef consume():\n    while True:\n'
              '        job = r.brpop("jobs", timeout=5)\n        if job:\n'
              '            r.incr("done")\n'),
        Valid('import redis\nr = redis.Redis()\nfor name in ("hits", "misses"):\n'
              '    r.set(name, 0, ex=60)\n'),
        Valid('import redis\nr = redis.Redis()\ndef first_free(slots):\n'
              '    for slot in slots:\n        if r.set(f"slot:{slot}", 1, nx=True, ex=30):\n'
              '            return slot\n'),
        Valid('import redis\nr = redis.Redis()\ncache = {}\ndef load(keys):\n'
              '    return [cache.get(k) for k in keys]\n'),
        Valid('import redis\nr = redis.Redis()\ndef load(keys):\n    return r.mget(keys)\n'),
        Valid('import redis\nr = redis.Redis()\ndef watch(channel):\n    p = r.pubsub()\n'
              '    p.subscribe(channel)\n    for message in p.listen():\n'
              '        r.incr("seen")\n'),
        Valid('import time\nimport redis\nr = redis.Redis()\ndef wait_ready(keys):\n'
              '    for k in keys:\n        time.sleep(0.5)\n        r.exists(k)\n'),
        Valid('import redis\nr = redis.Redis()\ndef copy(items):\n    for item in items:\n'
              '        try:\n            save(item)\n        except ValueError:\n'
              '            r.incr("errors")\n'),
        Valid('import redis\nr = redis.Redis()\ndef stream(keys):\n    for k in keys:\n'
              '        yield r.get(k)\n'),
        Valid('import redis\nr = redis.Redis()\ndef each(clients):\n'
              '    for c in clients:\n        c.ping()\n'),
        Valid('import redis\nr = redis.Redis()\ndef claim(ids):\n    for i in ids:\n'
              '        r.zrem("stale", i)\n        with r.pipeline() as pipe:\n'
              '            pipe.watch("job:" + i)\n            pipe.multi()\n'
              '            pipe.hset("job:" + i, "state", "claimed")\n            pipe.execute()\n'),
        Valid('import redis\nr = redis.Redis()\ndef purge(pattern):\n    batch = []\n'
              '    for key in r.scan_iter(match=pattern, count=1000):\n'
              '        batch.append(key)\n        if len(batch) == 1000:\n'
              '            r.unlink(*batch)\n            batch = []\n'),
        Valid('import asyncio\nfrom redis.asyncio import Redis\nasync def load(r: Redis, keys):\n'
              '    return await asyncio.gather(*(r.get(k) for k in keys))\n'),
        Valid('import redis\nr = redis.Redis()\ndef load(prefix):\n    out, buffer = [], []\n'
              '    for key in r.scan_iter(match=prefix + "*"):\n        buffer.append(key)\n'
              '        if len(buffer) >= 500:\n            out.extend(r.mget(buffer))\n'
              '            buffer = []\n    return out\n'),
        Valid('import redis\nr = redis.Redis()\ndef declare(streams):\n'
              '    for s in streams:\n        r.xgroup_create(s, "workers", mkstream=True)\n'),
        # a helper that answers from a local cache first, one taking the caller's client
        # (a pipeline here), a memoised one, a generator, and coroutines gathered
        Valid('import redis\nclass Store:\n    def __init__(self):\n'
              '        self.r = redis.Redis()\n        self.local = {}\n'
              '    def get(self, k):\n        if k in self.local:\n'
              '            return self.local[k]\n        return self.r.get(k)\n'
              '    def load(self, keys):\n        return [self.get(k) for k in keys]\n'),
        Valid('import redis\nr = redis.Redis()\ndef add(client: redis.Redis, k):\n'
              '    client.sadd("seen", k)\ndef add_all(keys):\n'
              '    pipe = r.pipeline(transaction=False)\n    for k in keys:\n'
              '        add(pipe, k)\n    pipe.execute()\n'),
        Valid('import functools\nimport redis\nr = redis.Redis()\n'
              '@functools.lru_cache(maxsize=1024)\ndef flag(name):\n'
              '    return r.get("flag:" + name)\ndef flags(names):\n'
              '    return {n: flag(n) for n in names}\n'),
        Valid('import redis\nr = redis.Redis()\ndef members(k):\n'
              '    for m in r.sscan_iter(k):\n        yield m\ndef show(keys):\n'
              '    for k in keys:\n        print(list(members(k)))\n'),
        Valid('import asyncio\nfrom redis.asyncio import Redis\nclass Store:\n'
              '    def __init__(self, r: Redis):\n        self.r = r\n'
              '    async def has(self, k):\n        return await self.r.exists(k)\n'
              '    async def have(self, keys):\n'
              '        return await asyncio.gather(*[self.has(k) for k in keys])\n'),
        # while loops that are not walks of a collection: a work list that grows from the
        # replies, pages read 100 at a time, a retry
        Valid('import redis\nr = redis.Redis()\ndef reachable(start):\n'
              '    seen, todo = set(), [start]\n'
              '    while todo:\n        node = todo.pop()\n        seen.add(node)\n'
              '        todo.extend(r.smembers("edges:" + node) - seen)\n    return seen\n'),
        Valid('import redis\nr = redis.Redis()\ndef scores(total):\n    out, offset = [], 0\n'
              '    while offset < total:\n'
              '        out.extend(r.zrange("board", offset, offset + 99, withscores=True))\n'
              '        offset += 100\n    return out\n'),
        Valid('import redis\nr = redis.Redis()\ndef save(k, v):\n    tries = 3\n'
              '    while tries > 0:\n        try:\n            r.set(k, v)\n            break\n'
              '        except redis.ConnectionError:\n            tries -= 1\n'),
        Valid('import redis\ndef memory(urls):\n    for url in urls:\n'
              '        client = redis.Redis.from_url(url)\n        print(client.info("memory"))\n'),
        Valid('import redis\nr = redis.Redis()\ndef keys_of(patterns):\n'
              '    for p in patterns:\n        for k in r.scan_iter(match=p):\n'
              '            print(k)\n'),
    ]
    INVALID = [
        Invalid('import redis\nr = redis.Redis()\ndef names(user_ids):\n'
                '    return [r.get(f"user:{uid}:name") for uid in user_ids]\n',
                expected_fix='import redis\nr = redis.Redis()\ndef names(user_ids):\n'
                '    return r.mget([f"user:{uid}:name" for uid in user_ids])\n',
                unsafe=True),
        Invalid('import redis\nr = redis.Redis()\ndef load(keys):\n'
                '    values = [r.get(k) for k in keys]\n    return values\n',
                expected_fix='import redis\nr = redis.Redis()\ndef load(keys):\n'
                '    values = r.mget(keys)\n    return values\n',
                unsafe=True),
        Invalid('from redis.asyncio import Redis\nasync def load(r: Redis, keys):\n'
                '    return [await r.get(k) for k in keys]\n',
                expected_fix='from redis.asyncio import Redis\nasync def load(r: Redis, keys):\n'
                '    return await r.mget(keys)\n',
                unsafe=True),
        Invalid('import redis\nclass Board:\n    def __init__(self, url):\n'
                '        self.r = redis.Redis.from_url(url)\n'
                '    def save(self, scores):\n        for uid, score in scores.items():\n'
                '            self.r.zadd("board", {uid: score})\n'
                '            self.r.hset("user:" + uid, "score", score)\n'),
        Invalid('import redis\nr = redis.Redis()\ndef purge(pattern):\n'
                '    for key in r.scan_iter(match=pattern):\n        r.unlink(key)\n'),
        Invalid('from redis.asyncio import Redis\nasync def ages(r: Redis, users):\n'
                '    return {u: await r.ttl("session:%s" % u) for u in users}\n'),
        Invalid('import redis\nfrom redis import RedisCluster\nrc = RedisCluster()\n'
                'def load(keys):\n    return [rc.get(k) for k in keys]\n'),
        Invalid('import redis\nr = redis.Redis()\ndef fill(n):\n    for i in range(n):\n'
                '        r.rpush("numbers", i)\n'),
        # one level of helpers: a method of the same class, a function of the module
        Invalid('import redis\nclass Store:\n    def __init__(self, url):\n'
                '        self.r = redis.Redis.from_url(url)\n    def has(self, k):\n'
                '        return self.r.exists("item:" + k) > 0\n'
                '    def missing(self, keys):\n'
                '        return [k for k in keys if not self.has(k)]\n'),
        Invalid('import json\nimport redis\nr = redis.Redis()\ndef save(item):\n'
                '    if not item:\n        raise ValueError("empty")\n'
                '    r.set("item:" + item["id"], json.dumps(item))\n'
                'def save_all(items):\n    for item in items:\n        save(item)\n'),
        Invalid('from redis.asyncio import Redis\nclass Tokens:\n'
                '    def __init__(self, r: Redis):\n        self.r = r\n'
                '    async def revoke(self, jti):\n'
                '        await self.r.delete("token:" + jti)\n'
                '    async def revoke_all(self, jtis):\n        for jti in jtis:\n'
                '            await self.revoke(jti)\n'),
        # a `raise` in an `except` block reports a failed iteration: every item is still sent
        Invalid('import redis\nr = redis.Redis()\ndef copy(items):\n    for k, v in items:\n'
                '        try:\n            r.set(k, v)\n        except redis.RedisError as e:\n'
                '            raise RuntimeError(k) from e\n'),
        # while loops that walk a local collection
        Invalid('import redis\nr = redis.Redis()\ndef purge(keys):\n    todo = list(keys)\n'
                '    while todo:\n        r.unlink(todo.pop())\n'),
        Invalid('import redis\nr = redis.Redis()\ndef load(keys):\n    out, i = [], 0\n'
                '    while i < len(keys):\n        out.append(r.get(keys[i]))\n        i += 1\n'
                '    return out\n'),
    ]

    def __init__(self, model, settings) -> None:
        super().__init__(model, settings)
        self._judged: Set[int] = set()
        # Calls in a loop to a helper of this module, judged when every function is known:
        # (loop, call, helper, whether it is a method, awaited).
        self._helper_calls: List[Tuple[cst.CSTNode, cst.Call, FunctionFacts, bool, bool]] = []
        self._walks: Dict[int, bool] = {}  # loop -> `_walks_data`, for loops with helper calls

    def on_redis_call(self, call: RedisCall) -> None:
        if call.receiver.role != "client" or call.command in NOT_COMMANDS:
            return
        loop = call.loop
        if loop is None or id(loop) in self._judged:
            return
        if not self._per_iteration(call, loop):
            return
        self._judged.add(id(loop))
        if not self._walks_data(loop) or in_test_code(self.model):
            return
        multi = "`mget`" if call.command == "get" else "`mget`, `mset`, `hmget`"
        self.report(call.node, self.message.format(command=call.command, multi=multi),
                    fix=self._fix(loop, call))

    def visit_Call(self, node: cst.Call) -> None:
        """A call in a loop to a function of this module (or a method of this class), which
        may send a command of its own on every call: judged at the end of the module."""
        func = node.func
        if not isinstance(func, (cst.Name, cst.Attribute)):
            return
        found = local_callee(self.model, node)
        if found is None:
            return
        loop = self.model.loop_of(node)
        if loop is None or id(loop) in self._judged:
            return
        chain = self.model.ancestors
        if any(arg.star for arg in node.args) or under_batch_check(chain, loop) or \
                under_handler(chain, loop):
            return
        walks = self._walks.get(id(loop))
        if walks is None:
            walks = self._walks[id(loop)] = self._walks_data(loop) and not in_test_code(self.model)
        if not walks:
            return
        awaited = bool(chain) and isinstance(chain[-1], cst.Await)
        self._helper_calls.append((loop, node, found[0], found[1], awaited))

    def on_scope_exit(self, scope: Scope) -> None:
        if scope.kind != "module" or not self._helper_calls:
            return
        by_function: Dict[int, List[RedisCall]] = {}
        for call in self.model.redis_calls:
            by_function.setdefault(id(call.scope.node), []).append(call)
        trips: Dict[int, Optional[RedisCall]] = {}
        for loop, node, helper, method, awaited in self._helper_calls:
            if id(loop) in self._judged:
                continue  # one finding per loop: it sends a command of its own
            key = id(helper.node)
            if key not in trips:
                trips[key] = self._round_trip(helper, method, by_function.get(key, []))
            trip = trips[key]
            if trip is None or (helper.node.asynchronous is not None and not awaited):
                continue  # coroutines gathered, not awaited one by one
            self._judged.add(id(loop))
            name = helper.node.name.value
            self.report(node, self.helper_message.format(helper=name, command=trip.command))

    def _round_trip(self, helper: FunctionFacts, method: bool, calls: List[RedisCall]
                    ) -> Optional[RedisCall]:
        """The command `helper` sends through a client on every call, if any: not in a loop,
        branch or handler of its own, not after an early `return` (a local cache), not on a
        client its caller passes in (which may be a pipeline); None when it is memoised, a
        generator, or waits, sleeps or runs a transaction (a consumer or a retry)."""
        function = helper.node
        if is_cached_factory(function) or is_generator(function):
            return None
        for inner in body_nodes(function):
            if not isinstance(inner, cst.Call):
                continue
            if self.model.qualified_name(inner.func) in SLEEP_FUNCTIONS:
                return None
            if isinstance(inner.func, cst.Attribute) and \
                    inner.func.attr.value in _WAITING | _TRANSACTIONS:
                return None
        params = list(helper.params)
        if method and not any(isinstance(d.decorator, cst.Name) and d.decorator.value ==
                              "staticmethod" for d in function.decorators):
            params = params[1:]  # `self`: the object's own client
        for call in calls:
            if call.receiver.role != "client" or call.command in NOT_COMMANDS or \
                    is_admin_command(call.command) or call.has_star_args:
                continue
            if call.receiver.is_async and not call.awaited:
                continue
            if call.loop is not None or call.receiver_text.split(".")[0].split("(")[0] in params:
                continue
            if runs_every_call(call.ancestors, function, call.node):
                return call
        return None

    @staticmethod
    def _per_iteration(call: RedisCall, loop: cst.CSTNode) -> bool:
        """This command costs a round trip of its own on every iteration."""
        if is_admin_command(call.command):
            return False  # `xgroup_create` per stream, `info` per section: set-up, not data
        if call.has_star_args or under_batch_check(call.ancestors, loop):
            return False  # `r.unlink(*batch)`, `if len(buf) >= 500: r.mget(buf)`: batching
        if call.receiver.is_async and not call.awaited and not call.result_unused:
            # coroutines gathered (`asyncio.gather(*(r.get(k) for k in keys))`); a bare call
            # missing its `await` (RL604) is still meant as a round trip per iteration
            return False
        if under_handler(call.ancestors, loop):
            return False  # only when an iteration fails
        receiver = call.receiver_text.split(".")[0].split("(")[0]
        # A client made or picked per iteration (one per shard): one connection each.
        return receiver not in targets(loop) | assigned_names(loop)

    def _walks_data(self, loop: cst.CSTNode) -> bool:
        """The loop walks data to the end, item by item: not a handful of literals, not a
        search or retry that stops early, not a consumer or poller that waits."""
        if isinstance(loop, cst.While):
            if not walks_collection(loop):
                return False
        else:
            source = iterable(loop)
            if source is None or is_bounded(source) or self._consumes(source):
                return False
        if exits_early(loop):
            return False
        for inner in body_calls(loop):
            if self.model.qualified_name(inner.func) in SLEEP_FUNCTIONS:
                return False
            # Names bound later in the loop cannot be inferred yet: judge by the method alone.
            func = inner.func
            if isinstance(func, cst.Attribute) and func.attr.value in _WAITING | _TRANSACTIONS:
                return False
        return True

    def _consumes(self, source: cst.BaseExpression) -> bool:
        """`for message in pubsub.listen()`: messages arrive one at a time."""
        return isinstance(source, cst.Call) and isinstance(source.func, cst.Attribute) and \
            source.func.attr.value in _STREAMS and self.model.is_redis(source.func.value)

    def _fix(self, loop: cst.CSTNode, call: RedisCall) -> Optional[Fix]:
        """`[r.get(k) for k in keys]` -> `r.mget(keys)`."""
        if not isinstance(loop, cst.ListComp) or call.command != "get" or call.receiver.cluster:
            return None
        comp = loop.for_in
        if comp.inner_for_in is not None or comp.ifs or comp.asynchronous is not None:
            return None
        element = loop.elt
        awaited = isinstance(element, cst.Await)
        if (element.expression if awaited else element) is not call.node:
            return None
        if len(call.node.args) != 1 or call.args != list(call.node.args):
            return None
        receiver = call.node.func.value
        if mentions(receiver, targets(loop)):
            return None
        key = call.args[0].value
        if isinstance(key, cst.Name) and isinstance(comp.target, cst.Name) and \
                key.value == comp.target.value:
            keys = comp.iter
        else:
            keys = loop.with_changes(elt=key, lpar=[], rpar=[])
        batched: cst.BaseExpression = renamed_call(call.node, "mget", [cst.Arg(keys)])
        if awaited:
            batched = cst.Await(batched)
        batched = batched.with_changes(lpar=loop.lpar, rpar=loop.rpar)
        return Fix("Read every key with one `mget`", {loop: batched}, "unsafe")
