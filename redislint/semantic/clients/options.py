"""What a client's constructor call says about one of its options (`socket_timeout`,
`decode_responses`...): passed, certainly absent, or impossible to tell.

redis-py takes client options as keywords, in a `from_url` query string
(`redis://h/0?socket_timeout=5`; unknown query names are passed on as strings), or from a
`connection_pool=` (the pool's options win, the client's are ignored). So an option is:

- `GIVEN`: a keyword (the expression is returned), or a literal URL query naming it;
- `UNKNOWN`: `**kwargs`, a `connection_pool=`, more positional arguments than
  host/port/db/password (their order changed between redis-py versions), or a call that is not
  a redis-py constructor taking options itself (`django_redis.get_redis_connection`, a subclass
  whose own `__init__` may pass anything);
- `ABSENT`: otherwise. A `from_url` URL that is not a literal (`os.environ["REDIS_URL"]`) counts
  as carrying no options: deployments rarely put client options in the URL.
"""

from __future__ import annotations

from typing import Optional, Tuple

import libcst as cst

from redislint.semantic.names import callee_name, string_value

GIVEN = "given"
ABSENT = "absent"
UNKNOWN = "unknown"

# Positional parameters every redis-py version puts first (`Redis(host, port, db, password)`),
# and `RedisCluster(host, port)`, `from_url(url)`.
_STABLE_POSITIONALS = {"client": 4, "cluster": 2, "from_url": 1}
# Qualified constructors whose call does not carry the client's options.
_INDIRECT_PREFIXES = ("django_redis.",)


def _url_text(expr: Optional[cst.BaseExpression]) -> Optional[str]:
    """The literal text of a URL expression: a string, or the literal parts of an f-string."""
    if expr is None:
        return None
    text = string_value(expr)
    if text is not None:
        return text
    if isinstance(expr, cst.FormattedString):
        return "".join(p.value for p in expr.parts if isinstance(p, cst.FormattedStringText))
    return None


def option(call: cst.Call, name: str, qualified: Optional[str] = None, cluster: bool = False
           ) -> Tuple[str, Optional[cst.BaseExpression]]:
    """(GIVEN / ABSENT / UNKNOWN, the keyword's expression when passed as a keyword) for the
    constructor `call` (qualified name `qualified` when known) and its option `name`."""
    if qualified is not None and qualified.startswith(_INDIRECT_PREFIXES):
        return UNKNOWN, None
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return GIVEN, arg.value
    if any(arg.star for arg in call.args):
        return UNKNOWN, None
    if any(arg.keyword is not None and arg.keyword.value == "connection_pool" for arg in call.args):
        return UNKNOWN, None
    positional = [arg for arg in call.args if arg.keyword is None]
    from_url = callee_name(call) == "from_url"
    kind = "from_url" if from_url else ("cluster" if cluster else "client")
    if len(positional) > _STABLE_POSITIONALS[kind]:
        return UNKNOWN, None
    if from_url:
        url = positional[0].value if positional else next(
            (a.value for a in call.args if a.keyword is not None and a.keyword.value == "url"), None)
        text = _url_text(url)
        if text is not None and "?" in text and f"{name}=" in text.split("?", 1)[1]:
            return GIVEN, None
    return ABSENT, None


def decodes_responses(call: cst.Call, qualified: Optional[str] = None, cluster: bool = False
                      ) -> Optional[bool]:
    """Whether the client `call` builds returns `str` (True) or `bytes` (False); None when
    the call cannot tell (a non-literal `decode_responses=`, `**kwargs`, a pool...)."""
    state, value = option(call, "decode_responses", qualified, cluster)
    if state == ABSENT:
        return False
    if isinstance(value, cst.Name) and value.value in ("True", "False"):
        return value.value == "True"
    return None
