"""Security questions about Redis code: what reads hand back stored bytes, which calls unpickle,
and whether a connection URL or a password argument carries a hardcoded secret.

- `STORED_VALUE_READS`: client methods whose reply is (or contains) bytes some client stored.
- `UNPICKLERS`: qualified names that turn bytes into objects by running pickle opcodes;
  `is_unpickler(name)` also accepts them through a project's compatibility module
  (`from .compat import cPickle` -> `pkg.compat.cPickle.loads`).
- `unpickler_attribute(model, func)`: `self.deserialize(...)` where every value the class
  stores in that attribute is an unpickler, or a parameter of the method storing it whose
  default is one (`def __init__(self, deserialize=cPickle.loads): self.deserialize =
  deserialize`): the configured default unpickles.
- `url_password(text)`: the password of a `redis://user:password@host` URL (also `rediss`,
  `unix`, `valkey`, `valkeys`, `redis+sentinel`...), or None when there is none, it is empty,
  or it is filled in at run time or a template placeholder. `text` may hold `HOLE` where an
  expression is interpolated (`f"redis://:{password}@host"`).
- `is_placeholder(text)`: `${REDIS_PASSWORD}`, `$REDIS_PASSWORD`, `{password}`, `%(pw)s`,
  `<password>`, `***`: text meant to be replaced, not a secret.
- `url_db(text)`: the logical database a URL selects (`/2`, `?db=2`), None when it names none
  or cannot tell.
- `is_demo_path(path)`: a file under `examples/`, `docs/`, `demo/`...: sample code, whose
  credentials are samples too.
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import TYPE_CHECKING, Optional
from urllib.parse import parse_qs, unquote

import libcst as cst

if TYPE_CHECKING:
    from redislint.semantic.model import SemanticModel

# Stands for a value interpolated at run time in the text of a URL.
HOLE = "\x00"

STORED_VALUE_READS = frozenset({
    "get", "getex", "getdel", "getset", "getrange", "mget", "hget", "hmget", "hgetall", "hvals",
    "hrandfield", "lpop", "rpop", "blpop", "brpop", "lmpop", "blmpop", "lrange", "lindex",
    "rpoplpush", "brpoplpush", "lmove", "blmove", "smembers", "spop", "srandmember", "sunion",
    "sinter", "sdiff", "zrange", "zrevrange", "zrangebyscore", "zrevrangebyscore",
    "zrangebylex", "zpopmin", "zpopmax", "bzpopmin", "bzpopmax", "xrange", "xrevrange", "xread",
    "xreadgroup", "xautoclaim", "xclaim", "dump", "hscan", "sscan", "zscan",
})
UNPICKLERS = frozenset({
    f"{module}.{name}" for module in ("pickle", "_pickle", "cPickle")
    for name in ("loads", "load", "Unpickler")
})



def is_unpickler(name: Optional[str]) -> bool:
    if not name:
        return False
    return name in UNPICKLERS or ".".join(name.split(".")[-2:]) in UNPICKLERS


def unpickler_attribute(model: "SemanticModel", func: cst.BaseExpression) -> bool:
    scope = model.scope
    cls, self_name = scope.cls, scope.self_name
    if cls is None or not self_name or not isinstance(func, cst.Attribute) or \
            not isinstance(func.value, cst.Name) or func.value.value != self_name:
        return False
    stored = cls.attrs.get(func.attr.value)
    if not stored or func.attr.value in cls.methods:
        return False
    for value, _, method in stored:
        if value is None:
            return False
        if is_unpickler(model.qualified_name(value)):
            continue
        if not isinstance(value, cst.Name) or method is None or \
                not isinstance(method.node, cst.FunctionDef):
            return False
        params = method.node.params
        param = next((p for p in (*params.params, *params.kwonly_params)
                      if p.name.value == value.value), None)
        if param is None or param.default is None or \
                not is_unpickler(model.qualified_name(param.default)):
            return False
    return True


_URL = re.compile(r"^\s*(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://(?P<userinfo>[^@/?#]*)@")
_REDIS_SCHEMES = re.compile(r"(^|\+)(redis|rediss|valkey|valkeys|unix|sentinel)(\+|$)", re.I)
_PLACEHOLDER = re.compile(
    r"""^(?:
        \$\{[^}]*\}      # ${REDIS_PASSWORD}
      | \$\w+            # $REDIS_PASSWORD
      | \$\([^)]*\)      # $(cat secret)
      | \{\{.*\}\}       # {{ password }}
      | \{[\w.\-\[\]]*\} # {password}
      | %\(\w+\)[sr]     # %(password)s
      | %[sr]            # %s
      | <[^<>]+>         # <password>
      | \*+              # ****
      | \[[^\]]*\]       # [password] (documentation syntax)
    )$""", re.X)


def is_placeholder(text: str) -> bool:
    return bool(_PLACEHOLDER.match(text.strip()))


def url_password(text: str) -> Optional[str]:
    match = _URL.match(text)
    if match is None or not _REDIS_SCHEMES.search(match.group("scheme")):
        return None
    userinfo = match.group("userinfo")
    if ":" not in userinfo:
        return None
    password = unquote(userinfo.split(":", 1)[1])
    if not password or HOLE in password or is_placeholder(password):
        return None
    return password


def url_db(text: str) -> Optional[int]:
    """The database number a redis URL selects, from its path or its `db` query."""
    match = re.match(r"^\s*[A-Za-z][A-Za-z0-9+.\-]*://(?P<rest>.*)$", text, re.S)
    if match is None:
        return None
    rest = match.group("rest")
    rest, _, query = rest.partition("?")
    if query:
        values = parse_qs(query.split("#", 1)[0]).get("db")
        if values and values[0].isdigit():
            return int(values[0])
        if values:
            return None
    if text.lstrip().lower().startswith("unix"):
        return None
    path = rest.split("/", 1)[1] if "/" in rest else ""
    path = path.split("#", 1)[0].strip("/")
    return int(path) if path.isdigit() else None


_DEMO_DIRS = frozenset({"examples", "example", "docs", "doc", "demo", "demos", "samples", "sample",
                        "tutorial", "tutorials"})


def is_demo_path(path: str) -> bool:
    return any(part.lower() in _DEMO_DIRS for part in PurePath(path.replace("\\", "/")).parts[:-1])
