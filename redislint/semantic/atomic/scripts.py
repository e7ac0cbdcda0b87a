"""Lua scripts in Python code: the calls that send a script's text, and the texts they send.

- `script_argument(model, call)`: for `x.eval(script, ...)`, `x.eval_ro`, `x.register_script`,
  `x.script_load`: the script argument and whether the receiver is a known Redis client or
  pipeline (`known=False`: an unknown object, which a rule may still trust when the text itself
  is Redis Lua, see `is_redis_lua`). None for any other call, or a receiver known to be
  something else.
- `script_texts(model, expr)`: (node, text) for each value the script argument may have (a
  name bound in several branches gives several), text None when it is not a constant.
- `is_redis_lua(text)`: the text calls `redis.call` / `redis.pcall` (Valkey: `server.call`)
  and is not Python source that merely embeds a script (an import, a `def`, a `class` line).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, List, Optional, Tuple

import libcst as cst

from redislint.semantic.keys.constants import constant_text, possible_values

if TYPE_CHECKING:
    from redislint.semantic.model import SemanticModel

SCRIPT_TEXT_METHODS = frozenset({"eval", "eval_ro", "register_script", "script_load"})
_REDIS_LUA = re.compile(r"\b(?:redis|server)\s*\.\s*p?call\s*\(")
_PYTHON = re.compile(r"(?m)^\s*(?:import\s+\w|from\s+[\w.]+\s+import\b|def\s+\w+\s*\(|"
                     r"class\s+\w+\s*[:(])")


@dataclass(frozen=True)
class ScriptArgument:
    method: str
    expr: cst.BaseExpression
    known: bool  # the receiver is a Redis client or pipeline


def is_redis_lua(text: str) -> bool:
    return bool(_REDIS_LUA.search(text)) and not _PYTHON.search(text)


def script_argument(model: "SemanticModel", call: cst.Call) -> Optional[ScriptArgument]:
    func = call.func
    if not isinstance(func, cst.Attribute) or func.attr.value not in SCRIPT_TEXT_METHODS:
        return None
    receiver = model.infer(func.value)
    if receiver is not None and receiver.role not in ("client", "pipeline"):
        return None
    expr = next((a.value for a in call.args if a.keyword is not None
                 and a.keyword.value == "script"), None)
    if expr is None:
        expr = next((a.value for a in call.args if a.keyword is None and not a.star), None)
    if expr is None:
        return None
    return ScriptArgument(func.attr.value, expr, receiver is not None)


def script_texts(model: "SemanticModel", expr: cst.BaseExpression
                 ) -> List[Tuple[cst.BaseExpression, Optional[str]]]:
    out = []
    for node, context in possible_values(model, expr):
        text = constant_text(model, node, context) if context is not None else None
        out.append((node, text))
    return out
