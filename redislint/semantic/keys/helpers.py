"""Key helpers: the one-line functions, methods and properties a project builds its keys with.

`def lock_key(job): return f"job:{job}:lock"` makes `r.delete(lock_key(job_id))` the key
`job:{}:lock`, exactly like `r.delete(f"job:{job_id}:lock")`, for every rule. Recognised:

- a module function, method, `@staticmethod` or `@classmethod` whose body (after a docstring)
  is one `return <key>` with literal text (`return f"job:{job}:lock"`, `return "lock:" + name`,
  `return PREFIX + name` with `PREFIX` a module constant, `return f"...".encode()`), and whose
  parameters are plain ones (no `*args`, `**kwargs` or keyword-only parameters): called as
  `lock_key(j)`, `self.lock_key(j)` / `cls.lock_key(j)` in its class (and subclasses in the
  module), `Jobs.lock_key(j)` for a static or class method;
- a `@property` (or `cached_property`) returning such a key, read as `self.lock_key`;
- a class attribute bound once, in the class body, to a key with literal text
  (`scheduler_lock_key = "rq:scheduler_lock"`), or an instance attribute bound once to a
  literal key, read as `self.X` / `cls.X`;
- a module function of another module of the project, imported by name or through its module
  (`from .keys import lock_key`, `keys.lock_key(j)`): the project scan exports each module's
  function helpers as the `key-helper` family of its summary (`export`).

A call whose arguments cannot be matched to the parameters (`*args`, a missing argument) is a
plain hole, as before. Helpers are entries of the scopes' key tables, under names no variable
can have (`lock_key()`, `self.lock_key()`, `Jobs.lock_key()`, `self.LOCK`):
`redislint.semantic.keys.expressions` resolves them where it meets a call or attribute.
`ScopeSeeder` puts them in the model's module and class scopes before the rules see a node.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING, Dict, FrozenSet, Iterable, List, Optional, Tuple, Union

import libcst as cst

from redislint.semantic.facts import ClassFacts, FunctionFacts, ModuleFacts
from redislint.semantic.keys.expressions import Key, KeyHelper, NameLookup, key_of
from redislint.semantic.names import dotted, string_value

if TYPE_CHECKING:
    from redislint.semantic.model import SemanticModel

# The family under which module summaries carry their function helpers (`ModuleSummary.key_uses`).
FAMILY = "key-helper"
Entry = Union[Key, KeyHelper]
_KEEPING = frozenset({"staticmethod", "classmethod", "property", "cached_property", "cache",
                      "lru_cache"})
_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def _named(key: Optional[Key]) -> bool:
    """The key's literal text names something (a letter or digit), not only separators."""
    return key is not None and any(ch in _WORD for ch in key.template.replace("{}", ""))


def _decorators(node: cst.FunctionDef) -> Optional[FrozenSet[str]]:
    """The last names of the decorators; None when one may change what the function returns."""
    names = set()
    for decorator in node.decorators:
        expr = decorator.decorator
        name = dotted(expr.func if isinstance(expr, cst.Call) else expr)
        last = name.rsplit(".", 1)[-1] if name else None
        if last not in _KEEPING:
            return None
        names.add(last)
    return frozenset(names)


def _returned(node: cst.FunctionDef) -> Optional[cst.BaseExpression]:
    """The expression of a body that is only `return <expr>` (a docstring may come first)."""
    body = node.body
    if isinstance(body, cst.SimpleStatementSuite):
        statements: List[cst.BaseSmallStatement] = list(body.body)
    else:
        lines = list(body.body)
        if lines and _is_docstring(lines[0]) and len(lines) > 1:
            lines = lines[1:]
        if len(lines) != 1 or not isinstance(lines[0], cst.SimpleStatementLine):
            return None
        statements = list(lines[0].body)
    if len(statements) != 1 or not isinstance(statements[0], cst.Return):
        return None
    return statements[0].value


def _is_docstring(statement: cst.BaseStatement) -> bool:
    return (isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1
            and isinstance(statement.body[0], cst.Expr)
            and string_value(statement.body[0].value) is not None)


_STRING_METHODS = frozenset({"format", "encode"})


def _string_like(expr: cst.BaseExpression) -> bool:
    """Could be a key with literal text: a string, an f-string, `+` / `%` with one, a
    `.format()` / `.encode()`, a name or attribute (a constant). Not any other call, whose
    text would only be a hole (and costs code generation to spell)."""
    expr_type = type(expr)
    if expr_type in (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString, cst.Name,
                     cst.Attribute, cst.BinaryOperation):
        return True
    if expr_type is cst.Call:
        func = expr.func  # type: ignore[attr-defined]
        return type(func) is cst.Attribute and func.attr.value in _STRING_METHODS
    return False


def _params(node: cst.FunctionDef) -> Optional[Tuple[str, ...]]:
    params = node.params
    if params.kwonly_params or isinstance(params.star_arg, cst.Param) or params.star_kwarg:
        return None
    return tuple(p.name.value for p in (*params.posonly_params, *params.params))


def _module_lookup(facts: ModuleFacts, hidden: Iterable[str] = (),
                   extra: Optional[Dict[str, Entry]] = None) -> NameLookup:
    """Names in a helper's body: a module constant bound once to a key with literal text
    (parameters hide it), or an entry of `extra` (the class's constants)."""
    hidden = frozenset(hidden)

    def lookup(name: str) -> Optional[Entry]:
        if extra is not None and name in extra:
            return extra[name]
        if name in hidden or "(" in name or "." in name:
            return None
        values = facts.assigns.get(name)
        if not values or len(values) != 1:
            return None
        found = key_of(values[0])
        return found if _named(found) else None

    return lookup


def _helper(facts: ModuleFacts, func: FunctionFacts, method: bool,
            extra: Optional[Dict[str, Entry]] = None) -> Optional[Tuple[str, Entry]]:
    """("call", KeyHelper) for a function helper, ("property", Key) for a property; the kind
    says how it is used. None when `func` is not a one-line key helper."""
    node = func.node
    if not isinstance(node, cst.FunctionDef) or node.asynchronous is not None:
        return None
    value = _returned(node)
    if value is None or not _string_like(value):
        return None
    decorators = _decorators(node)
    params = _params(node)
    if decorators is None or params is None:
        return None
    if method and "staticmethod" not in decorators:
        if not params:
            return None
        params = params[1:]
    key = key_of(value, _module_lookup(facts, (*params, *func.locals), extra))
    if not _named(key):
        return None
    if decorators & {"property", "cached_property"}:
        return ("property", key) if method and not params else None  # type: ignore[return-value]
    return ("call", KeyHelper(params, key))  # type: ignore[arg-type]


class ModuleHelpers:
    """The helpers a module defines: module-scope entries and, per class, its own."""

    def __init__(self, facts: ModuleFacts) -> None:
        self.facts = facts
        self.module: Dict[str, Entry] = {}
        self.functions: Dict[str, KeyHelper] = {}
        self._classes: Dict[int, Dict[str, Entry]] = {}
        for name, func in facts.functions.items():
            found = _helper(facts, func, method=False)
            if found is not None and found[0] == "call":
                self.functions[name] = found[1]  # type: ignore[assignment]
                self.module[name + "()"] = found[1]
        for class_name, cls in facts.classes.items():
            for method_name, func in cls.methods.items():
                decorators = _decorators(func.node) if isinstance(func.node, cst.FunctionDef) else None
                if decorators and decorators & {"staticmethod", "classmethod"}:
                    found = _helper(facts, func, method=True, extra=self.of_class(cls))
                    if found is not None and found[0] == "call":
                        self.module[f"{class_name}.{method_name}()"] = found[1]

    def of_class(self, cls: ClassFacts, depth: int = 0) -> Dict[str, Entry]:
        """`self.m()` / `cls.m()` for helper methods, `self.X` / `cls.X` for properties and
        constants: the class's own, then those of its bases in the module it does not
        redefine."""
        known = self._classes.get(id(cls.node))
        if known is not None:
            return known
        entries: Dict[str, Entry] = {}
        self._classes[id(cls.node)] = entries  # a class that is its own base stops here
        constants: Dict[str, Entry] = {}
        for attr, bindings in cls.attrs.items():
            if len(bindings) != 1 or attr in cls.methods:
                continue
            value, _, func = bindings[0]
            if value is None or not _string_like(value):
                continue
            found = key_of(value, _module_lookup(facts=self.facts))
            if func is not None and (found is None or not found.is_literal):
                continue  # set in a method from its parameters or locals
            if _named(found):
                for owner in ("self", "cls"):
                    constants[f"{owner}.{attr}"] = found  # type: ignore[assignment]
        entries.update(constants)
        for name, func in cls.methods.items():
            found = _helper(self.facts, func, method=True, extra=constants)
            if found is None:
                continue
            kind, entry = found
            if kind == "property":
                entries[f"self.{name}"] = entry
            else:
                entries[f"self.{name}()"] = entries[f"cls.{name}()"] = entry
        own = set(cls.attrs) | set(cls.methods)
        if depth < 5:
            for base in cls.bases:
                parent = self.facts.classes.get(base)
                if parent is None or parent is cls:
                    continue
                for name, entry in self.of_class(parent, depth + 1).items():
                    attr = name.split(".", 1)[1].rstrip("()")
                    if attr not in own and name not in entries:
                        entries[name] = entry
        return entries


def module_helpers(facts: ModuleFacts) -> ModuleHelpers:
    return ModuleHelpers(facts)


# -- across modules ---------------------------------------------------------------------------
def export(helpers: ModuleHelpers) -> List[str]:
    """The module's function helpers as `key-helper` family entries (JSON text)."""
    module = helpers.facts.imports.module
    if not module:
        return []
    return sorted(json.dumps([f"{module}.{name}", list(helper.params), helper.key.template,
                              list(helper.key.parts)])
                  for name, helper in helpers.functions.items())


@lru_cache(maxsize=8)
def _decoded(entries: FrozenSet[str]) -> Tuple[Dict[str, List[Tuple[str, KeyHelper]]],
                                              Dict[str, List[Tuple[str, str, KeyHelper]]]]:
    """The project's helpers, decoded once per index: by function name ((qualified name,
    helper)), and by the last part of their module's name ((module, function, helper))."""
    by_name: Dict[str, List[Tuple[str, KeyHelper]]] = {}
    by_module: Dict[str, List[Tuple[str, str, KeyHelper]]] = {}
    for text in entries:
        try:
            qualname, params, template, parts = json.loads(text)
        except (ValueError, TypeError):
            continue
        helper = KeyHelper(tuple(params), Key(template, tuple(parts)))
        module, _, name = qualname.rpartition(".")
        by_name.setdefault(name, []).append((qualname, helper))
        by_module.setdefault(module.rsplit(".", 1)[-1], []).append((module, name, helper))
    return by_name, by_module


def _same_name(a: str, b: str) -> bool:
    """Two qualified names of one object, seen from trees linted at different package depths."""
    return a == b or a.endswith("." + b) or b.endswith("." + a)


def imported(facts: ModuleFacts, index) -> Dict[str, Entry]:
    """Module-scope entries for the helpers the module imports from the project: `name()` for
    `from .keys import name`, `alias.name()` for `import app.keys as alias`."""
    if index is None or not facts.imports.names:
        return {}
    by_name, by_module = _decoded(index.key_uses(FAMILY))
    if not by_name:
        return {}
    out: Dict[str, Entry] = {}
    for local, qualname in facts.imports.names.items():
        for known, helper in by_name.get(qualname.rsplit(".", 1)[-1], ()):
            if _same_name(known, qualname):
                out[local + "()"] = helper
                break
        for module, name, helper in by_module.get(qualname.rsplit(".", 1)[-1], ()):
            if _same_name(module, qualname):
                out.setdefault(f"{local}.{name}()", helper)
    return out


# -- the model's scopes -----------------------------------------------------------------------
class ScopeSeeder:
    """Puts the helpers in the model's key tables: the module's (and imported ones) in the
    module scope now, each class's in its scope as the traversal enters it. Registered to run
    right after the model, before the rules (`redislint.linter.run_rules`)."""

    def __init__(self, model: "SemanticModel", index=None) -> None:
        self.model = model
        self.helpers = ModuleHelpers(model.facts)
        keys = model.module_scope.keys
        keys.update(imported(model.facts, index))
        keys.update(self.helpers.module)  # type: ignore[arg-type]

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        scope = self.model.scope
        if scope.node is node and scope.cls is not None:
            scope.keys.update(self.helpers.of_class(scope.cls))  # type: ignore[arg-type]
