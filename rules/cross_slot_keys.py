from typing import Dict, List, Optional, Set

import libcst as cst

from redislint.rule import Invalid, Rule, Valid
from redislint.semantic.keys.keyspecs import FIRST
from redislint.semantic.model import RedisCall, Scope
from redislint.semantic.keys.slots import (
    SPLIT_BY_CLUSTER_CLIENT, KeyExpr, Repeated, command_keys, keys_argument, same_slot,
)

_HEAD = 'from redis.cluster import RedisCluster\nrc = RedisCluster(host="localhost", port=7000)\n'
# Pipeline methods that queue no command (or end the transaction).
_NOT_COMMANDS = frozenset({"multi", "execute", "reset", "discard", "unwatch", "__enter__",
                           "__exit__", "close"})
_ALL_KEYS = frozenset({"delete", "unlink", "exists", "touch", "watch"})


class CrossSlotKeys(Rule):
    """
    ## What it does
    Flags, on a `RedisCluster` client (`redis.cluster.RedisCluster`, `redis.asyncio.cluster`,
    their pipelines and scripts), a multi-key command (`mget`, `mset`, `sunion`, `sinterstore`,
    `rpoplpush`, `lmove`, `rename`, `zunionstore`, `pfmerge`, `blpop` on several lists...), an
    `eval`/`evalsha`/`fcall` or a registered script (`script(keys=[...])`) with several keys, or
    a `pipeline(transaction=True)`, whose keys share no `{hash tag}`.

    Slots are computed (CRC16) only for fully literal keys; a key template must have the same
    tag as the others: the same literal `{tag}`, or the same expression inside the braces
    (`f"{{user:{uid}}}:name"` and `f"{{user:{uid}}}:email"`). A key the rule cannot read (a
    parameter, a helper's result, a variable prefix) keeps it silent. DEL, UNLINK, EXISTS and
    TOUCH are not flagged on a cluster client: redis-py splits them across slots itself.

    ## Why is this bad?
    Redis Cluster serves each of the 16384 hash slots from one node, and a command, transaction
    or script may only touch keys of one slot. Keys without a common hash tag land in different
    slots: redis-py refuses the call (`RedisClusterException: MGET - all keys must map to the
    same key slot`, `CrossSlotTransactionError`) and the server answers `CROSSSLOT`. Code that
    worked on a single server breaks on the day it moves to a cluster.

    ## Example
    ```python
    rc = RedisCluster(host="redis", port=6379)
    name, email = rc.mget(f"user:{uid}:name", f"user:{uid}:email")
    ```

    ## Use instead:
    ```python
    name, email = rc.mget(f"user:{{{uid}}}:name", f"user:{{{uid}}}:email")  # user:{42}:name
    ```
    Only the text between the braces is hashed, so both keys live in the slot of `42`. Keys that
    need not be read together can stay apart: use `mget_nonatomic` or separate commands. See
    `redislint patterns queues`: a queue's keys share the `{name}` tag.

    ## Fix safety
    No automatic fix: renaming keys moves existing data, and the right tag is a design choice.
    """

    code = "RL802"
    name = "cross-slot-keys"
    message = ("`{command}` on a RedisCluster client with keys that share no `{{hash tag}}` fails "
               "with CROSSSLOT, since one command may only touch keys of one slot: give the keys "
               "a common tag such as `user:{{42}}:name` (see `redislint patterns queues`)")
    transaction_message = (
        "this RedisCluster transaction queues keys that share no `{hash tag}`, so it fails "
        "with CROSSSLOT (a transaction runs on one slot): give the keys a common tag such as "
        "`user:{42}:name` (see `redislint patterns queues`)")
    pattern = "queues"

    VALID = [
        Valid(_HEAD + 'def profile(uid):\n'
              '    return rc.mget(f"user:{{{uid}}}:name", f"user:{{{uid}}}:email")\n'),
        Valid(_HEAD + 'def move():\n    return rc.rpoplpush("{jobs}:pending", "{jobs}:working")\n'),
        # a plain client: a single server has no slots
        Valid('import redis\nr = redis.Redis()\nr.mget("user:1:name", "user:2:name")\n'),
        # redis-py splits DEL across slots on a cluster client
        Valid(_HEAD + 'def forget(uid):\n    rc.delete(f"user:{uid}:name", f"user:{uid}:email")\n'),
        # keys the rule cannot read: silent
        Valid(_HEAD + 'def read(keys):\n    return rc.mget(keys)\n'),
        Valid(_HEAD + 'BUMP = "return redis.call(\'INCR\', KEYS[1]) + redis.call(\'INCR\', KEYS[2])"\n'
              'def bump(uid):\n    return rc.eval(BUMP, 2, f"{{hits:{uid}}}:day", f"{{hits:{uid}}}:week")\n'),
        Valid(_HEAD + 'def save(uid, a, b):\n    with rc.pipeline(transaction=True) as pipe:\n'
              '        pipe.set(f"cart:{{{uid}}}:items", a)\n'
              '        pipe.set(f"cart:{{{uid}}}:total", b)\n        pipe.execute()\n'),
        # a non-transactional cluster pipeline routes each command on its own
        Valid(_HEAD + 'def save(uid, a, b):\n    pipe = rc.pipeline()\n'
              '    pipe.set(f"user:{uid}:a", a)\n    pipe.set(f"user:{uid}:b", b)\n    pipe.execute()\n'),
        # the same key twice, and a comprehension over a fixed tag
        Valid(_HEAD + 'FIELDS = ("name", "email")\ndef profile(uid):\n'
              '    return rc.mget([f"{{user:{uid}}}:{f}" for f in FIELDS])\n'),
    ]
    INVALID = [
        Invalid(_HEAD + 'def profile(uid):\n'
                '    return rc.mget(f"user:{uid}:name", f"user:{uid}:email")\n'),
        Invalid(_HEAD + 'def move():\n    return rc.rpoplpush("jobs:pending", "jobs:working")\n'),
        Invalid(_HEAD + 'BUMP = "return redis.call(\'INCR\', KEYS[1]) + redis.call(\'INCR\', KEYS[2])"\n'
                'def bump(uid):\n    return rc.eval(BUMP, 2, f"hits:{uid}:day", f"hits:{uid}:week")\n'),
        Invalid(_HEAD + 'def save(uid, a, b):\n    with rc.pipeline(transaction=True) as pipe:\n'
                '        pipe.set(f"cart:{uid}:items", a)\n'
                '        pipe.set(f"cart:{uid}:total", b)\n        pipe.execute()\n'),
        Invalid(_HEAD + 'MOVE = "return redis.call(\'SMOVE\', KEYS[1], KEYS[2], ARGV[1])"\n'
                'move = rc.register_script(MOVE)\ndef follow(uid, other):\n'
                '    return move(keys=[f"following:{uid}", f"followers:{other}"], args=[other])\n'),
        Invalid(_HEAD + 'def totals(uids):\n'
                '    return rc.mget([f"total:{u}" for u in uids])\n'),
        Invalid('from redis.asyncio.cluster import RedisCluster\n'
                'async def merge(rc: RedisCluster):\n'
                '    await rc.sunionstore("tags:all", ["tags:a", "tags:b"])\n'),
    ]

    def __init__(self, model, settings) -> None:
        super().__init__(model, settings)
        self._reported: Set[int] = set()

    def on_redis_call(self, call: RedisCall) -> None:
        receiver = call.receiver
        if not receiver.cluster or receiver.role not in ("client", "pipeline"):
            return
        if receiver.role == "client" and call.command in SPLIT_BY_CLUSTER_CLIENT:
            return
        keys = command_keys(self.model, call)
        if keys and self._cross_slot(keys):
            self._reported.add(id(call.node))
            self.report(call.node, self.message.format(command=call.command))

    def visit_Call(self, node: cst.Call) -> None:
        """`script(keys=[...])` on a script registered with a cluster client."""
        found = self.model.infer(node.func)
        if found is None or found.role != "script":
            return
        client = next((a.value for a in node.args if a.keyword is not None
                       and a.keyword.value == "client"), None)
        cluster = found.cluster
        if client is not None:
            other = self.model.infer(client)
            cluster = other is not None and other.cluster
        if not cluster:
            return
        keys = keys_argument(self.model, node)
        if keys and self._cross_slot(keys):
            self.report(node, self.message.format(command="script"))

    def _cross_slot(self, keys: List[KeyExpr]) -> bool:
        if len(keys) < 2 and not any(isinstance(k, Repeated) for k in keys):
            return False
        return same_slot(self.model, keys) is False

    def on_scope_exit(self, scope: Scope) -> None:
        groups: Dict[str, List[RedisCall]] = {}
        segments: List[List[RedisCall]] = []
        for call in scope.calls:
            receiver = call.receiver
            if receiver.role != "pipeline" or not receiver.cluster or receiver.transaction is not True:
                continue
            group = groups.setdefault(call.receiver_text, [])
            if call.command in ("execute", "reset", "discard"):
                segments.append(group[:])
                group.clear()
            elif call.command not in _NOT_COMMANDS:
                group.append(call)
        segments.extend(groups.values())
        for segment in segments:
            if len(segment) < 2 or any(id(c.node) in self._reported for c in segment):
                continue
            keys = self._transaction_keys(segment)
            if keys is not None and len(keys) >= 2 and same_slot(self.model, keys) is False:
                self.report(segment[0].node, self.transaction_message, end=segment[-1].node)

    def _transaction_keys(self, calls: List[RedisCall]) -> Optional[List[KeyExpr]]:
        keys: List[KeyExpr] = []
        for call in calls:
            if call.has_star_args:
                return None
            multi = command_keys(self.model, call)
            if multi is None:
                return None
            if multi:
                keys.extend(multi)
            elif call.command in _ALL_KEYS:
                keys.extend(a.value for a in call.args)
            elif call.command.upper() in FIRST:
                first = call.arg(0, "name")
                if first is None:
                    return None
                keys.append(first)
            else:
                return None
        return keys
