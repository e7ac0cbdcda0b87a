"""Code to terms: what an expression says about the value it holds, in words the project-wide
solver understands (`terms.py`).

Names are resolved here as far as one module can: a local binding (through `Env`), a definition
of this module (`Name("pkg.mod.x")`), an import (`Name("redis.Redis")`), a name the configuration
declares a client. What only the project can answer (what callers pass for a parameter, what an
attribute is given elsewhere) stays a `Ref` or a `Name` for the solver.
"""

from __future__ import annotations

from typing import Callable, Dict, FrozenSet, Optional

import libcst as cst

from redislint.semantic.clients.objects import RedisObject
from redislint.semantic.clients.options import decodes_responses
from redislint.semantic.clients.terms import (
    IS_OTHER, NOTHING, Attr, Call, Either, Enter, Fallback, Index, Instance, Item, Iter, Known,
    Name, Opts, Pack, PLAIN, Ref, Super, Term, Thunk, Tuple_, either, known, may_carry,
    param_symbol,
)
from redislint.semantic.facts import ModuleFacts
from redislint.semantic.names import dotted, string_value, strip_optional

# A local name's term, `NOTHING` when bound to something unknown here, None when not local.
Env = Callable[[str], Optional[Term]]
BUILTINS = frozenset({"dict", "list", "set", "tuple", "str", "int", "bytes", "frozenset",
                      "object", "float", "bool", "bytearray", "open", "__import__", "getattr"})
# Last names of calls whose decode_responses is read the way a redis-py constructor reads it.
_CONSTRUCTOR_NAMES = frozenset({"Redis", "StrictRedis", "RedisCluster", "from_url", "Valkey",
                                "StrictValkey", "ValkeyCluster", "master_for", "slave_for"})
_LITERALS = (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString, cst.Integer,
             cst.Float, cst.Imaginary)
_WITH_DEFAULT = frozenset({"get", "pop", "setdefault"})
_CLIENT = known(RedisObject("client"))
# A constructor called without arguments: no `decode_responses`, so replies are bytes.
_BARE_CONSTRUCTOR = Opts(decode_direct=False, decode_cluster=False)


def no_locals(name: str) -> Optional[Term]:
    return None


class Translator:
    """Translates the expressions of one module."""

    def __init__(self, facts: ModuleFacts, client_names: FrozenSet[str] = frozenset()) -> None:
        self.facts = facts
        # A module without a name (a test snippet, code on standard input) still needs one, so
        # its definitions never pass for the packages it imports.
        self.module = facts.imports.module or "__main__"
        self.client_names = client_names
        self._globals = (facts.functions.keys() | facts.classes.keys() | facts.assigns.keys()
                         | facts.annotations.keys() | facts.items.keys() | facts.targets.keys())

    def qual(self, name: str) -> str:
        return f"{self.module}.{name}"

    # -- names ------------------------------------------------------------------------------
    def global_name(self, name: str) -> Term:
        """A bare name as the module sees it (after local scopes had their say)."""
        if name in self.client_names:
            return _CLIENT
        if name in self._globals:
            return Name(self.qual(name))
        imported = self.facts.imports.names.get(name)
        if imported is not None:
            return Name(imported)
        if name in BUILTINS:
            return Name("builtins." + name)
        return NOTHING

    # -- expressions ------------------------------------------------------------------------
    def term(self, expr: cst.BaseExpression, env: Env = no_locals, owner: Optional[str] = None,
             keep_origin: bool = True, memo: Optional[Dict[int, Term]] = None) -> Term:
        """`memo` (id of a call node -> its term) spares translating a call again when it is
        met again inside an outer one; only for one scope (the env decides the answer)."""
        return _Walk(self, env, owner, keep_origin, memo).term(expr, 0)

    def type_term(self, annotation: Optional[cst.BaseExpression], env: Env = no_locals
                  ) -> Term:
        """An annotation: an instance of the type(s) it admits (`Optional[Redis]`, `"Redis"`,
        `Redis | RedisCluster`, an alias of those)."""
        if annotation is None:
            return NOTHING
        walk = _Walk(self, env, None, False)
        options = [walk.term(option, 0) for option in strip_optional(annotation)]
        kinds = either(*options)
        return NOTHING if kinds == NOTHING else Instance(kinds)


class _Walk:
    __slots__ = ("t", "env", "owner", "keep_origin", "memo")

    def __init__(self, translator: Translator, env: Env, owner: Optional[str],
                 keep_origin: bool, memo: Optional[Dict[int, Term]] = None) -> None:
        self.t = translator
        self.env = env
        self.owner = owner
        self.keep_origin = keep_origin
        self.memo = memo

    def term(self, expr: cst.BaseExpression, depth: int) -> Term:
        if depth > 16:
            return NOTHING
        depth += 1
        kind = type(expr)
        if kind is cst.Name:
            local = self.env(expr.value)  # type: ignore[attr-defined]
            return local if local is not None else self.t.global_name(expr.value)  # type: ignore[attr-defined]
        if kind is cst.Attribute:
            if expr.attr.value in self.t.client_names:  # type: ignore[attr-defined]
                return _CLIENT
            base = self.term(expr.value, depth)  # type: ignore[attr-defined]
            return NOTHING if base == NOTHING else Attr(base, expr.attr.value)  # type: ignore[attr-defined]
        if kind is cst.Call:
            memo = self.memo
            if memo is None:
                return self.call(expr, depth)  # type: ignore[arg-type]
            found = memo.get(id(expr))
            if found is None:
                found = memo[id(expr)] = self.call(expr, depth)  # type: ignore[arg-type]
            return found
        if kind is cst.Await:
            return self.term(expr.expression, depth)  # type: ignore[attr-defined]
        if kind is cst.BooleanOperation:
            return either(self._side(expr.left, depth), self._side(expr.right, depth))  # type: ignore[attr-defined]
        if kind is cst.IfExp:
            return either(self._side(expr.body, depth), self._side(expr.orelse, depth))  # type: ignore[attr-defined]
        if kind is cst.Subscript:
            return self.subscript(expr, depth)  # type: ignore[arg-type]
        if kind is cst.BinaryOperation and isinstance(expr.operator, cst.BitOr):  # type: ignore[attr-defined]
            return either(self.term(expr.left, depth), self.term(expr.right, depth))  # type: ignore[attr-defined]
        if kind in (cst.List, cst.Set, cst.Tuple):
            elements = [self.term(e.value, depth) for e in expr.elements  # type: ignore[attr-defined]
                        if not isinstance(e, cst.StarredElement)]
            if kind is cst.Tuple and len(elements) <= 8:
                if not any(may_carry(e) for e in elements):
                    return IS_OTHER
                return Tuple_(tuple(elements))
            items = either(*elements)
            return Pack(items, "list") if may_carry(items) else IS_OTHER
        if kind is cst.Dict:
            values = [self.term(e.value, depth) for e in expr.elements  # type: ignore[attr-defined]
                      if isinstance(e, cst.DictElement)]
            items = either(*values)
            return Pack(items, "dict") if may_carry(items) else IS_OTHER
        if kind in (cst.ListComp, cst.SetComp, cst.GeneratorExp):
            items = self.term(expr.elt, depth)  # type: ignore[attr-defined]
            return Pack(items, "list") if may_carry(items) else NOTHING
        if kind is cst.DictComp:
            items = self.term(expr.value, depth)  # type: ignore[attr-defined]
            return Pack(items, "dict") if may_carry(items) else NOTHING
        if kind is cst.Lambda:
            params = {p.name.value for p in (*expr.params.posonly_params, *expr.params.params,  # type: ignore[attr-defined]
                                             *expr.params.kwonly_params)}
            outer = self.env

            def env(name: str) -> Optional[Term]:
                return NOTHING if name in params else outer(name)

            body = _Walk(self.t, env, self.owner, self.keep_origin).term(expr.body, depth)  # type: ignore[attr-defined]
            return known(Thunk(body)) if may_carry(body) else NOTHING
        if kind is cst.NamedExpr:
            return self.term(expr.value, depth)  # type: ignore[attr-defined]
        if kind in _LITERALS:
            return IS_OTHER
        return NOTHING

    def _side(self, expr: cst.BaseExpression, depth: int) -> Term:
        """One side of `a or b` / `a if c else b`. An unknown named like a pipeline may be one
        (`pipeline if pipeline is not None else self.connection`): atomicity unknown."""
        found = self.term(expr, depth)
        name = dotted(expr)
        if name is not None and "pipe" in name.rsplit(".", 1)[-1].lower():
            return Fallback(found, known(RedisObject("pipeline", transaction=None)))
        return found

    def subscript(self, expr: cst.Subscript, depth: int) -> Term:
        head = dotted(expr.value) or ""
        if head.rsplit(".", 1)[-1] in ("Optional", "Union", "Annotated", "Final", "ClassVar"):
            return either(*(self.term(option, depth) for option in strip_optional(expr)))
        base = self.term(expr.value, depth)
        if base == NOTHING:
            return NOTHING
        if len(expr.slice) == 1 and isinstance(expr.slice[0].slice, cst.Index):
            index = expr.slice[0].slice.value
            if isinstance(index, cst.Integer):
                return Index(base, int(index.evaluated_value))
            if isinstance(index, cst.UnaryOperation) and isinstance(index.expression, cst.Integer):
                return Index(base, -int(index.expression.evaluated_value))
        return Item(base)

    def call(self, node: cst.Call, depth: int) -> Term:
        func = node.func
        if isinstance(func, cst.Name) and func.value == "super" and not node.args:
            if self.owner is not None and self.env("super") is None:
                return known(Super(self.owner))
            return NOTHING
        callee = self.term(func, depth)
        default = self._default(node, func, depth)
        if callee == NOTHING:
            return default if default is not None else NOTHING
        args = []
        positional = True
        # At lint time (origins kept) nothing follows arguments into parameters: only the first
        # one matters (`cast(T, x)`, `SimpleLazyObject(f)`, `import_module(...)`).
        arguments = node.args[:1] if self.keep_origin else node.args
        for index, arg in enumerate(arguments):
            if arg.star:
                positional = False
                continue
            key = arg.keyword.value if arg.keyword is not None else (index if positional else None)
            if key is None:
                continue
            value = self.term(arg.value, depth)
            if may_carry(value):
                args.append((key, value))
        made = Call(callee, tuple(args), self._opts(node, func),
                    origin=node if self.keep_origin else None)
        return made if default is None else either(made, default)

    def _default(self, node: cst.Call, func: cst.BaseExpression, depth: int) -> Optional[Term]:
        """`kwargs.pop("client_class", redis.StrictRedis)`, `getattr(cfg, "client", default)`:
        the default may be what the call gives."""
        positional = [a.value for a in node.args if a.keyword is None and not a.star]
        if isinstance(func, cst.Attribute) and func.attr.value in _WITH_DEFAULT and len(positional) == 2:
            default = positional[1]
        elif isinstance(func, cst.Name) and func.value == "getattr" and len(positional) == 3:
            default = positional[2]
        else:
            return None
        found = self.term(default, depth)
        return found if may_carry(found) else None

    @staticmethod
    def _opts(node: cst.Call, func: cst.BaseExpression) -> Opts:
        name = func.attr.value if isinstance(func, cst.Attribute) else (
            func.value if isinstance(func, cst.Name) else "")
        constructor = name in _CONSTRUCTOR_NAMES or name[:1].isupper()
        if not node.args:
            return _BARE_CONSTRUCTOR if constructor else PLAIN
        positional = [a.value for a in node.args if a.keyword is None and not a.star]
        keywords = {a.keyword.value: a.value for a in node.args if a.keyword is not None}
        transaction: object = None
        if "transaction" in keywords:
            transaction = _literal_bool(keywords["transaction"])
        elif positional:
            transaction = _literal_bool(positional[0])
        decode = _literal_bool(keywords["decode_responses"]) if "decode_responses" in keywords \
            else None
        text = string_value(positional[0]) if positional and isinstance(
            positional[0], (cst.SimpleString, cst.ConcatenatedString)) else None
        direct = cluster = None
        if constructor:
            direct = decodes_responses(node, None, False)
            cluster = decodes_responses(node, None, True)
        return Opts(transaction, direct, cluster, decode if isinstance(decode, bool) else None,
                    text)


def _literal_bool(value: cst.BaseExpression) -> object:
    if isinstance(value, cst.Name) and value.value in ("True", "False"):
        return value.value == "True"
    return "?"


def function_env(translator: Translator, function: str, facts, owner: Optional[str],
                 first: Optional[str], first_value: Optional[Term], keep_origin: bool = False
                 ) -> Env:
    """Names inside a function judged without walking it, for its summary: parameters (what
    callers pass, or the annotation), `self`, and simple locals (every value they are given)."""
    # A local's term is the same wherever it is read: made once (locals built from locals
    # would otherwise be translated again at every read, exponentially).
    memo: Dict[str, Term] = {}

    def env(name: str) -> Optional[Term]:
        if name == first and first_value is not None:
            return first_value
        if name in facts.params:
            ref = Ref(param_symbol(function, name))
            annotation = facts.params[name]
            if annotation is not None:
                return Fallback(translator.type_term(annotation), ref)
            return ref
        if name in facts.globals:
            return None
        if name in facts.locals or name in facts.targets or name in facts.items:
            found = memo.get(name)
            if found is not None:
                return found
            memo[name] = NOTHING  # read while being made: a local defined through itself
            options = [translator.term(v, env, owner, keep_origin)
                       for v in facts.locals.get(name, ())]
            for how, source, position in facts.targets.get(name, ()):
                base = translator.term(source, env, owner, keep_origin)
                if how == "enter":
                    options.append(Enter(base))
                elif position is None:
                    options.append(Iter(base))
                else:
                    options.append(Index(Iter(base), position))
            options.extend(stored_term(translator, facts.items.get(name, ()), env, owner,
                                       keep_origin))
            found = memo[name] = either(*options)
            return found
        return None

    return env


def stored_term(translator: Translator, stored, env: Env, owner: Optional[str],
                keep_origin: bool = False):
    """The containers `x[k] = v` / `x.append(v)` make of `x`, one term per kind."""
    by_kind: Dict[str, list] = {}
    for entry in stored:
        value, kind = entry[0], entry[-1]
        by_kind.setdefault(kind, []).append(translator.term(value, env, owner, keep_origin))
    return [Pack(either(*terms), kind) for kind, terms in sorted(by_kind.items())]
