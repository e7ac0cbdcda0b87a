from typing import Iterator, List, Optional, Set

import libcst as cst

from redislint.rule import Invalid, Rule, Valid
from redislint.semantic.keys.constants import Context, Hole, definition, template_pieces
from redislint.semantic.clients.builds import constructed
from redislint.semantic.context.frameworks import in_test_code
from redislint.semantic.names import callee_name, string_value
from redislint.semantic.context.security import HOLE, is_demo_path, is_placeholder, url_password

# Calls that read configuration and return their default when the setting is absent.
_LOOKUPS = frozenset({"os.getenv", "os.environ.get", "environ.get", "getenv", "os.environ.setdefault"})
# Plain client classes whose fourth positional parameter is the password (host, port, db, password).
_POSITIONAL_PASSWORD = frozenset({"redis.Redis", "redis.StrictRedis", "redis.client.Redis",
                                  "redis.client.StrictRedis", "redis.asyncio.Redis",
                                  "redis.asyncio.StrictRedis", "redis.asyncio.client.Redis",
                                  "valkey.Valkey", "valkey.Redis", "valkey.StrictRedis"})


class HardcodedRedisPassword(Rule):
    """
    ## What it does
    Flags a Redis password written in the code: `password="..."` passed to a client, a
    connection pool, a Sentinel (or its `sentinel_kwargs`) or `master_for`; a positional
    password (`Redis("h", 6379, 0, "secret")`); a `redis://user:secret@host` /
    `rediss://:secret@host` URL given to `from_url` (or `ConnectionPool.from_url`), directly,
    through a constant or local variable, or as the default of `os.getenv(...)`/`or`.

    Silent on values read at run time (`os.environ["REDIS_PASSWORD"]`, a settings attribute,
    an f-string hole such as `f"redis://:{password}@{host}"`), on empty passwords, and on
    template placeholders (`${REDIS_PASSWORD}`, `$REDIS_PASSWORD`, `{password}`,
    `%(password)s`, `<password>`, `****`). Words like `"password"` or `"changeme"` are still
    hardcoded passwords: that is what ends up deployed. Test code (files under `tests/`,
    `test_*.py`, `conftest.py`, test functions and fixtures) and sample code (under
    `examples/`, `docs/`, `demo/`) are not checked: they talk to throwaway servers whose
    well-known passwords protect nothing. The message never repeats
    the secret.

    ## Why is this bad?
    A password in the source is in every clone, fork, CI log, wheel and container image of the
    project, forever (rotating it means a release). Whoever reads the code can connect to the
    database, and with Redis that often means running Lua, reading every session and, through
    pickled values, running code in the application.

    ## Example
    ```python
    r = redis.Redis.from_url("rediss://:s3cr3t-pa55@cache.internal:6380/0")
    ```

    ## Use instead:
    ```python
    r = redis.Redis.from_url(os.environ["REDIS_URL"])
    ```
    or `password=os.environ["REDIS_PASSWORD"]`, or a secret manager / `credential_provider`.
    See `redislint patterns caching`: the patterns take a client built by the caller, never a
    URL.

    ## Fix safety
    No automatic fix: where the secret should come from is a deployment decision.
    """

    code = "RL702"
    name = "hardcoded-redis-password"
    message = ("a Redis password is written in the source, where every clone, log and image "
               "keeps it: read it from the environment or a secret store instead "
               "(see `redislint patterns caching`)")
    pattern = "caching"

    VALID = [
        Valid('import os\nimport redis\nr = redis.Redis.from_url(os.environ["REDIS_URL"])\n'),
        Valid('import os\nimport redis\nr = redis.Redis(host="cache", password=os.getenv("REDIS_PASSWORD"))\n'),
        Valid('import redis\nr = redis.Redis.from_url("redis://localhost:6379/0")\n'),
        Valid('import redis\ndef connect(host, password):\n'
              '    return redis.Redis.from_url(f"rediss://:{password}@{host}:6380/0")\n'),
        Valid('import redis\nr = redis.Redis.from_url("redis://:${REDIS_PASSWORD}@cache:6379")\n'
              'pool = redis.ConnectionPool(host="cache", password="")\n'),
        Valid('import redis\ndef test_auth():\n    r = redis.Redis(password="foobared")\n'
              '    assert r.ping()\n'),
        # not a Redis constructor
        Valid('import smtplib\ns = smtplib.SMTP("mail")\ns.login("me", password="hunter2")\n'),
    ]
    INVALID = [
        Invalid('import redis\nr = redis.Redis.from_url("rediss://:s3cr3t-pa55@cache.internal:6380/0")\n'),
        Invalid('import redis\nr = redis.Redis(host="cache", port=6379, password="changeme")\n'),
        Invalid('import os\nimport redis\nREDIS_URL = "redis://app:hunter2@cache:6379/0"\n'
                'def client():\n    return redis.from_url(os.getenv("REDIS_URL", REDIS_URL))\n'),
        Invalid('from redis.sentinel import Sentinel\n'
                'sentinel = Sentinel([("s1", 26379)], sentinel_kwargs={"password": "sentinel-pw"})\n'
                'master = sentinel.master_for("mymaster", password="master-pw")\n', count=2),
        Invalid('from redis.asyncio import Redis\ndef make(host):\n'
                '    return Redis.from_url(f"redis://:letmein@{host}:6379")\n'),
        Invalid('import redis\npool = redis.ConnectionPool(host="cache", password="pool-pw")\n'
                'r = redis.Redis("cache", 6379, 0, "positional-pw")\n', count=2),
    ]

    def __init__(self, model, settings) -> None:
        super().__init__(model, settings)
        self._reported: Set[int] = set()

    def visit_Call(self, node: cst.Call) -> None:
        if constructed(self.model, node) is None or in_test_code(self.model) or \
                is_demo_path(self.model.path):
            return
        for value in self._secrets(node):
            if id(value) not in self._reported:
                self._reported.add(id(value))
                self.report(value)

    def _secrets(self, node: cst.Call) -> Iterator[cst.BaseExpression]:
        qual = self.model.qualified_name(node.func)
        positional = [a.value for a in node.args if a.keyword is None and not a.star]
        for arg in node.args:
            if arg.keyword is None:
                continue
            name = arg.keyword.value
            if name == "password":
                yield from self._literal_password(arg.value)
            elif name == "sentinel_kwargs" and isinstance(arg.value, cst.Dict):
                for element in arg.value.elements:
                    if isinstance(element, cst.DictElement) and \
                            string_value(element.key) == "password":
                        yield from self._literal_password(element.value)
            elif name == "url":
                yield from self._url_secrets(arg.value)
        if callee_name(node) == "from_url" and positional:
            yield from self._url_secrets(positional[0])
        elif qual in _POSITIONAL_PASSWORD and len(positional) >= 4:
            yield from self._literal_password(positional[3])

    def _literal_password(self, expr: cst.BaseExpression) -> Iterator[cst.BaseExpression]:
        node, context = definition(self.model, expr)
        text = _text(self.model, node, context)
        if text and HOLE not in text and not is_placeholder(text):
            yield node

    def _url_secrets(self, expr: cst.BaseExpression) -> Iterator[cst.BaseExpression]:
        for candidate in self._candidates(expr):
            node, context = definition(self.model, candidate)
            text = _text(self.model, node, context)
            if text is not None and url_password(text) is not None:
                yield node

    def _candidates(self, expr: cst.BaseExpression, depth: int = 0) -> List[cst.BaseExpression]:
        """The expressions a URL argument may evaluate to: itself, both sides of `or` and of a
        conditional, the default of an environment lookup."""
        if depth > 4:
            return []
        if isinstance(expr, cst.BooleanOperation):
            return self._candidates(expr.left, depth + 1) + self._candidates(expr.right, depth + 1)
        if isinstance(expr, cst.IfExp):
            return self._candidates(expr.body, depth + 1) + self._candidates(expr.orelse, depth + 1)
        if isinstance(expr, cst.Call):
            name = self.model.qualified_name(expr.func) or ""
            if name in _LOOKUPS or name.endswith(("environ.get", ".getenv")):
                default = next((a.value for a in expr.args if a.keyword is not None
                                and a.keyword.value == "default"), None)
                positional = [a.value for a in expr.args if a.keyword is None]
                if default is None and len(positional) > 1:
                    default = positional[1]
                return self._candidates(default, depth + 1) if default is not None else []
        return [expr]


def _text(model, expr: cst.BaseExpression, context: Optional[Context]) -> Optional[str]:
    """The text of a string expression with `HOLE` for each value computed at run time."""
    pieces = template_pieces(model, expr, context)
    if pieces is None:
        return None
    return "".join(HOLE if isinstance(p, Hole) else p for p in pieces)
