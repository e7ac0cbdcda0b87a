from typing import Dict, Set, Tuple

import libcst as cst

from redislint.rule import Invalid, Rule, Valid
from redislint.semantic.keys.constants import constant_text, current_context
from redislint.semantic.atomic.lua import undeclared_keys
from redislint.semantic.model import Scope
from redislint.semantic.names import string_value
from redislint.semantic.atomic.scripts import is_redis_lua, script_argument, script_texts

_WHAT = {
    "literal": "the literal key {text}",
    "argv": "a key name passed in ARGV ({text})",
    "built": "a key name it builds itself ({text})",
}
_HEAD = 'import redis\nr = redis.Redis()\n'


class LuaUndeclaredKeys(Rule):
    """
    ## What it does
    Flags a Lua script (the literal or constant text passed to `eval`, `eval_ro`,
    `register_script` or `script_load`, or kept in a module or class constant that calls
    `redis.call`) whose `redis.call`/`redis.pcall` touches a key it did
    not receive through `KEYS`: a literal key name (`redis.call('INCR', 'stats:total')`), a name
    passed in `ARGV` (`redis.call('GET', ARGV[1])`), or a name the script builds
    (`'rate:' .. ARGV[1]`, `KEYS[1] .. ':count'`, `'job:' .. id`).

    The script is scanned without a Lua runtime: comments and long strings are understood,
    locals are followed (`local key = KEYS[1]`), and only the key positions of known commands
    are checked (GET's first argument, every argument of DEL and MGET, MSET's odd ones, ...).
    A key from a loop variable, a function parameter or `unpack(KEYS)` is never flagged. The
    finding points at the script text, once however many calls run it.

    ## Why is this bad?
    Redis routes a script by the keys in `KEYS` alone: on Redis Cluster the script runs on the
    node that owns those keys' slot (on a random node when it declares none). A key the script
    names or builds itself is wherever its own hash puts it: when another node serves it, the
    script fails with `Script attempted to access a non local key in a cluster node` (newer
    servers also refuse an undeclared key in another slot of the same node). It fails only for
    some inputs, and may start failing after a resharding. Redis documents that every key a
    script accesses must be passed in `KEYS`.

    ## Example
    ```python
    BUMP = r.register_script('''
    local n = redis.call('INCR', KEYS[1])
    redis.call('INCR', 'stats:' .. ARGV[1])
    return n
    ''')
    BUMP(keys=[f"hits:{uid}"], args=[day])
    ```

    ## Use instead:
    ```python
    BUMP = r.register_script('''
    local n = redis.call('INCR', KEYS[1])
    redis.call('INCR', KEYS[2])
    return n
    ''')
    BUMP(keys=[f"hits:{{{uid}}}", f"stats:{{{uid}}}:{day}"])
    ```
    Every key goes through `KEYS`, and keys used together share a `{hash tag}`. See
    `redislint patterns locks`: its scripts get the lock and its fence counter as `KEYS[1]` and
    `KEYS[2]`, tagged `lock:{name}`.

    ## Fix safety
    No automatic fix: the script and every call site must change together.
    """

    code = "RL801"
    name = "lua-undeclared-keys"
    message = ("this Lua script touches {what} (in {command}, script line {line}){more}, which it "
               "was not given in KEYS: on Redis Cluster it fails whenever that key is served by "
               "another node than its KEYS; pass every key through KEYS, sharing a `{{hash tag}}` "
               "(see `redislint patterns locks`)")
    pattern = "locks"

    VALID = [
        Valid(_HEAD + 'LUA = "redis.call(\'INCR\', KEYS[1]); return redis.call(\'EXPIRE\', KEYS[1], ARGV[1])"\n'
              'hit = r.register_script(LUA)\n'),
        Valid(_HEAD + 'def release(name, token):\n'
              '    return r.eval("if redis.call(\'GET\', KEYS[1]) == ARGV[1] then '
              'return redis.call(\'DEL\', KEYS[1]) end return 0", 1, name, token)\n'),
        # locals bound to KEYS, loops over KEYS, unpack(KEYS)
        Valid(_HEAD + 'CLEAR = """\nlocal main = KEYS[1]\nredis.call(\'DEL\', main)\n'
              'for _, key in ipairs(KEYS) do redis.call(\'UNLINK\', key) end\n'
              'return redis.call(\'EXISTS\', unpack(KEYS))\n"""\nclear = r.register_script(CLEAR)\n'),
        # key-less commands and commented-out code
        Valid(_HEAD + 'PUB = """\n-- redis.call(\'GET\', \'old:key\')\n'
              'redis.call(\'PUBLISH\', \'events\', ARGV[1])\nreturn redis.call(\'TIME\')\n"""\n'
              'pub = r.register_script(PUB)\n'),
        # not a Redis client, and not Redis Lua
        Valid('import lupa\nlua = lupa.LuaRuntime()\n'
              'lua.eval("function(t) return t[\'config:limits\'] end")\n'),
        # a script built at run time is RL703's business, not readable here
        Valid(_HEAD + 'def run(script):\n    return r.eval(script, 0)\n'),
    ]
    INVALID = [
        Invalid(_HEAD + 'BUMP = """\nlocal n = redis.call(\'INCR\', KEYS[1])\n'
                'redis.call(\'INCR\', \'stats:total\')\nreturn n\n"""\n'
                'bump = r.register_script(BUMP)\n'
                'def hit(uid):\n    return bump(keys=[f"hits:{uid}"])\n'),
        Invalid(_HEAD + 'def limit(uid):\n'
                '    return r.eval("redis.call(\'INCR\', KEYS[1]) '
                'return redis.call(\'INCR\', \'rate:\' .. ARGV[1])", 1, f"hits:{uid}", uid)\n'),
        Invalid(_HEAD + 'class Counter:\n'
                '    SCRIPT = "local k = KEYS[1] .. \':count\' return redis.call(\'INCR\', k)"\n'
                '    def __init__(self, client: redis.Redis):\n        self.client = client\n'
                '        self.sha = client.script_load(self.SCRIPT)\n'
                '    def hit(self, key):\n        return self.client.evalsha(self.sha, 1, key)\n'),
        # one finding per script, however many calls run it
        Invalid(_HEAD + 'POP = "local id = redis.call(\'LPOP\', KEYS[1]) '
                'return redis.call(\'HGETALL\', \'job:\' .. id)"\n'
                'def pop(q):\n    return r.eval(POP, 1, q)\n'
                'def pop_ro(q):\n    return r.eval(POP, 1, q)\n'),
        Invalid('from redis.cluster import RedisCluster\nrc = RedisCluster(host="localhost", port=7000)\n'
                'COPY = "return redis.call(\'SET\', KEYS[1], redis.call(\'GET\', ARGV[1]))"\n'
                'def copy(target, source):\n    return rc.eval(COPY, 1, target, source)\n'),
    ]

    def __init__(self, model, settings) -> None:
        super().__init__(model, settings)
        # Script texts met in the module: (the expression that holds the text, the text).
        self._scripts: Dict[int, Tuple[cst.BaseExpression, str]] = {}

    def visit_Call(self, node: cst.Call) -> None:
        """A script passed to eval / register_script / script_load, through names if need be."""
        found = script_argument(self.model, node)
        if found is None:
            return
        for value, text in script_texts(self.model, found.expr):
            if text is not None:
                self._scripts.setdefault(id(value), (value, text))

    def leave_Assign(self, node: cst.Assign) -> None:
        """A script computed from constants into a module or class constant
        (`SCRIPT = textwrap.dedent(...)`, `BOTH = PRELUDE + BODY`)."""
        if self.model.scope.kind not in ("module", "class"):
            return
        context = current_context(self.model)
        text = constant_text(self.model, node.value, context) if context is not None else None
        if text is not None:
            self._scripts.setdefault(id(node.value), (node.value, text))

    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        # Without a backslash the value is the literal's own text: no `call` there, no
        # `redis.call(` in the value (spares evaluating every string in the file).
        if "call" in node.value or "\\" in node.value:
            self._literal(node)

    def visit_ConcatenatedString(self, node: cst.ConcatenatedString) -> None:
        self._literal(node)

    def _literal(self, node: cst.BaseExpression) -> None:
        """Any string literal that is Redis Lua (a script handed to a helper such as
        `_script_load(...)`), except docstrings and other bare string statements."""
        parent = self.model.ancestors[-1] if self.model.ancestors else None
        if isinstance(parent, (cst.ConcatenatedString, cst.Expr)):
            return
        text = string_value(node)
        if text is not None and is_redis_lua(text):
            self._scripts.setdefault(id(node), (node, text))

    def on_scope_exit(self, scope: Scope) -> None:
        if scope.kind != "module" or not self._scripts:
            return
        # A literal inside a larger script expression (`dedent("...")`, `A + "..."`) is
        # reported as part of it, once.
        inner: Set[int] = set()
        for node, _ in self._scripts.values():
            stack = list(node.children)
            while stack:
                child = stack.pop()
                inner.add(id(child))
                stack.extend(child.children)
        for key, (node, text) in self._scripts.items():
            if key not in inner:
                self._check(node, text)

    def _check(self, node: cst.BaseExpression, text: str) -> None:
        found = undeclared_keys(text)
        if not found:
            return
        first = found[0]
        snippet = first.text if len(first.text) <= 40 else first.text[:37] + "..."
        others = len(found) - 1
        more = f" and {others} more key{'s' if others > 1 else ''} like it" if others else ""
        what = _WHAT[first.kind].format(text=f"`{snippet}`")
        self.report(node, self.message.format(what=what, command=first.command,
                                              line=first.line, more=more))
