import libcst as cst

from redislint.rule import Invalid, Rule, Valid
from redislint.semantic.context.frameworks import in_test_code
from redislint.semantic.atomic.scripts import is_redis_lua, script_argument, script_texts

_HEAD = 'import redis\nr = redis.Redis()\n'
_LUA = 'LUA = "return redis.call(\'INCR\', KEYS[1])"\n'


class EvalNotCached(Rule):
    """
    ## What it does
    Flags `eval()` / `eval_ro()` of a constant script (a literal, a module or class constant,
    or a local bound to one of several literals) inside a function, on a client or a pipeline,
    sync or `redis.asyncio` (or on an object the rule cannot identify, when the script text
    calls `redis.call`).

    Silent on an `eval` at module level (it runs once), in test code, on `evalsha`, on scripts
    built at run time (RL703), and on a script text handed in by the caller.

    ## Why is this bad?
    EVAL sends the whole script text with every call, and the server hashes it again each time
    before finding it in its script cache: bandwidth and CPU spent per call for nothing.
    `register_script` sends only the SHA1 (EVALSHA) and loads the script again by itself if the
    server lost it (restart, failover, SCRIPT FLUSH); in a pipeline it loads it once per batch.

    ## Example
    ```python
    def hit(key):
        return r.eval(LUA, 1, key)
    ```

    ## Use instead:
    ```python
    HIT = r.register_script(LUA)  # once, at import or in __init__

    def hit(key):
        return HIT(keys=[key])
    ```
    See `redislint patterns rate-limiting`: every pattern registers its scripts once.

    ## Fix safety
    No automatic fix: the `Script` object must live at module or instance level, and its call
    takes `keys=`/`args=` lists instead of `numkeys` and a flat argument list.
    """

    code = "RL704"
    name = "eval-not-cached"
    message = ("`{command}()` sends this constant script on every call: register it once with "
               "`register_script` and call the `Script` object, which sends only its SHA1 "
               "(see `redislint patterns rate-limiting`)")
    pattern = "rate-limiting"

    VALID = [
        Valid(_HEAD + _LUA + 'HIT = r.register_script(LUA)\ndef hit(key):\n'
              '    return HIT(keys=[key])\n'),
        Valid(_HEAD + _LUA + 'r.eval(LUA, 1, "boot")\n'),
        Valid(_HEAD + 'def run(script, key):\n    return r.eval(script, 1, key)\n'),
        Valid(_HEAD + _LUA + 'SHA = r.script_load(LUA)\ndef hit(key):\n'
              '    return r.evalsha(SHA, 1, key)\n'),
        Valid('class Lua:\n    def eval(self, code, n): ...\nL = Lua()\n'
              'def f():\n    return L.eval("return 1", 0)\n'),
        # built from a parameter: RL703's business
        Valid(_HEAD + 'def add(key, n):\n'
              '    return r.eval(f"return redis.call(\'INCRBY\', KEYS[1], {n})", 1, key)\n'),
    ]
    INVALID = [
        Invalid(_HEAD + _LUA + 'def hit(key):\n    return r.eval(LUA, 1, key)\n'),
        Invalid(_HEAD + 'def release(key, token):\n'
                '    return r.eval("if redis.call(\'GET\', KEYS[1]) == ARGV[1] then '
                'return redis.call(\'DEL\', KEYS[1]) end return 0", 1, key, token)\n'),
        Invalid('from redis.asyncio import Redis\nclass Limiter:\n'
                '    SCRIPT = "return redis.call(\'INCR\', KEYS[1])"\n'
                '    def __init__(self, r: Redis):\n        self.r = r\n'
                '    async def hit(self, key):\n        return await self.r.eval(self.SCRIPT, 1, key)\n'),
        Invalid(_HEAD + _LUA + 'def hits(keys):\n    pipe = r.pipeline()\n'
                '    for key in keys:\n        pipe.eval(LUA, 1, key)\n    return pipe.execute()\n'),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        found = script_argument(self.model, node)
        if found is None or found.method not in ("eval", "eval_ro"):
            return
        scope = self.model.scope
        if scope.kind not in ("function", "lambda") or in_test_code(self.model):
            return  # runs once, at import; or a test, where speed is not the point
        texts = [text for _, text in script_texts(self.model, found.expr)]
        if not texts or any(text is None for text in texts):
            return
        if found.known or all(is_redis_lua(text) for text in texts):  # type: ignore[arg-type]
            self.report(node, self.message.format(command=found.method))
