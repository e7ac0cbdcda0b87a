from typing import List, Set

import libcst as cst

from redislint.rule import Invalid, Rule, Valid
from redislint.semantic.keys.constants import bound_value, current_context, dynamic_parts
from redislint.semantic.context.frameworks import in_test_code
from redislint.semantic.keys.expressions import source
from redislint.semantic.model import RedisCall
from redislint.semantic.atomic.scripts import SCRIPT_TEXT_METHODS
_HEAD = 'import redis\nr = redis.Redis()\n'


class LuaScriptInjection(Rule):
    """
    ## What it does
    Flags a Lua script whose text is built at run time from values that are not constants
    (an f-string, `%`, `.format` or `+` over a parameter, a local, an attribute) and passed to
    `eval`, `eval_ro`, `register_script` or `script_load`, directly or through a local variable.

    Building from constants only (`LUA = PRELUDE + BODY`, `TEMPLATE % {"ttl": 60}` with literal
    values) is fine: the text is the same on every call. A script built once at module or class
    level is not flagged either, since it cannot grow the script cache. A script handed in whole
    (`r.eval(script, 0)` with `script` a parameter) is the caller's business, not flagged; so is
    test code, which is not deployed.

    ## Why is this bad?
    - Injection: a value spliced into Lua source is code. A user id like
      `1') redis.call('FLUSHALL') --` runs with full access to the database.
    - Script cache growth: Redis caches every distinct script it is sent (EVAL and SCRIPT LOAD)
      until SCRIPT FLUSH or a restart. A script whose text changes with each id, key or limit
      adds one entry per value: memory grows without bound, and EVALSHA caching never hits.

    ## Example
    ```python
    r.eval(f"return redis.call('INCRBY', KEYS[1], {amount})", 1, key)
    ```

    ## Use instead:
    ```python
    INCR_BY = r.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    INCR_BY(keys=[key], args=[amount])
    ```
    Keys go through `KEYS`, values through `ARGV`: one constant script, loaded once. See
    `redislint patterns rate-limiting`: its scripts take the limit and the window in `ARGV`.

    ## Fix safety
    No automatic fix: moving values into `ARGV` changes the script and every caller.
    """

    code = "RL703"
    name = "lua-script-injection"
    message = ("this Lua script is built at run time from {parts}: a value spliced into Lua "
               "source runs as code, and every distinct text stays in Redis's script cache; "
               "pass keys in KEYS and values in ARGV to one constant script "
               "(see `redislint patterns rate-limiting`)")
    pattern = "rate-limiting"

    VALID = [
        Valid(_HEAD + 'INCR_BY = r.register_script("return redis.call(\'INCRBY\', KEYS[1], ARGV[1])")\n'
              'def add(key, amount):\n    return INCR_BY(keys=[key], args=[amount])\n'),
        Valid(_HEAD + 'PRELUDE = "local now = tonumber(ARGV[1]) "\n'
              'BODY = "return redis.call(\'ZADD\', KEYS[1], now, ARGV[2])"\n'
              'def add(key, now, member):\n    return r.eval(PRELUDE + BODY, 1, key, now, member)\n'),
        Valid(_HEAD + 'TEMPLATE = "return redis.call(\'EXPIRE\', KEYS[1], %(ttl)d)"\n'
              'TTL = 60\nEXPIRE = r.register_script(TEMPLATE % {"ttl": TTL})\n'),
        # built once, when the module is imported
        Valid('import os\nimport redis\nr = redis.Redis()\n'
              'LUA = "return redis.call(\'GET\', \'%s\' .. KEYS[1])" % os.environ["PREFIX"]\n'
              'GET = r.register_script(LUA)\n'),
        Valid(_HEAD + 'def run(script, *keys):\n    return r.eval(script, len(keys), *keys)\n'),
        # not Redis
        Valid('import lupa\nlua = lupa.LuaRuntime()\ndef run(x):\n    return lua.eval(f"1 + {x}")\n'),
    ]
    INVALID = [
        Invalid(_HEAD + 'def add(key, amount):\n'
                '    return r.eval(f"return redis.call(\'INCRBY\', KEYS[1], {amount})", 1, key)\n'),
        Invalid(_HEAD + 'def get(uid):\n'
                '    script = "return redis.call(\'GET\', \'user:%s\')" % uid\n'
                '    return r.eval(script, 0)\n'),
        Invalid(_HEAD + 'def expire(key, ttl):\n'
                '    sha = r.script_load("return redis.call(\'EXPIRE\', KEYS[1], {})".format(ttl))\n'
                '    return r.evalsha(sha, 1, key)\n'),
        Invalid(_HEAD + 'def tag(key, label):\n'
                '    return r.register_script("return redis.call(\'SADD\', KEYS[1], \'" + label + "\')")'
                '(keys=[key])\n'),
    ]

    def __init__(self, model, settings) -> None:
        super().__init__(model, settings)
        self._reported: Set[int] = set()

    def on_redis_call(self, call: RedisCall) -> None:
        if call.command not in SCRIPT_TEXT_METHODS or call.receiver.role not in ("client", "pipeline"):
            return
        if call.scope.kind not in ("function", "lambda"):
            return  # built once, at import
        if in_test_code(self.model, call.ancestors):
            return
        argument = call.arg(0, "script")
        if argument is None:
            return
        context = current_context(self.model)
        if context is None:
            return
        if isinstance(argument, cst.Name):
            found = bound_value(self.model, argument)
            if found is None or not found[1][0]:
                return  # a parameter, or a module/class constant (built once)
            argument, context = found
        parts = dynamic_parts(self.model, argument, context)
        if not parts or id(argument) in self._reported:
            return
        self._reported.add(id(argument))
        names: List[str] = []
        for part in parts:
            text = source(part)
            text = text if len(text) <= 30 else text[:27] + "..."
            if f"`{text}`" not in names:
                names.append(f"`{text}`")
        self.report(argument, self.message.format(parts=", ".join(names[:3])))
