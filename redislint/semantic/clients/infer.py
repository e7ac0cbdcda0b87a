"""Is this expression a Redis client (or a pipeline, lock, pubsub, script made from one)?

The answer combines imports, the module's own bindings (facts), names bound in the enclosing
scopes, annotations, the project-wide index of clients other modules export, and the names the
user declared as clients in config. Anything else, a dict, Django's cache, a user class, is not
Redis: precision first.
"""

from __future__ import annotations

from typing import Callable, Dict, Optional, Sequence

import libcst as cst

from redislint.semantic import redispy
from redislint.semantic.clients.options import decodes_responses
from redislint.semantic.facts import ClassFacts, FunctionFacts, ModuleFacts
from redislint.semantic.names import dotted, strip_optional
from redislint.semantic.redispy import RedisObject


class _Shadow:
    """A local binding that is known not to be Redis (it hides an outer client of that name)."""

    def __repr__(self) -> str:
        return "SHADOW"


SHADOW = _Shadow()
# A lookup answers a bare name: a RedisObject, SHADOW, or None when the name is not bound there.
Lookup = Callable[[str], object]
_FACTORY = RedisObject("factory")
_IN_PROGRESS = object()
_MISSING = object()
# Pipeline methods that do not return the pipeline itself.
_PIPELINE_TERMINALS = frozenset({"execute", "reset", "multi", "watch", "unwatch", "discard",
                                 "immediate_execute_command", "__enter__", "__aenter__",
                                 "aclose", "close"})


def no_locals(name: str) -> object:
    return None


class Inferer:
    def __init__(self, facts: ModuleFacts, index=None, client_names: Sequence[str] = ()) -> None:
        self.facts = facts
        self.index = index
        self.client_names = frozenset(n for n in client_names if "." not in n)
        self.client_paths = frozenset(n for n in client_names if "." in n)
        self._memo: Dict[tuple, object] = {}

    # -- public -------------------------------------------------------------------------
    def infer(self, expr: cst.BaseExpression, lookup: Lookup = no_locals,
              cls: Optional[ClassFacts] = None, self_name: Optional[str] = None
              ) -> Optional[RedisObject]:
        found = self._infer(expr, lookup, cls, self_name, 0)
        return found if isinstance(found, RedisObject) and found.role != "factory" else None

    def annotation(self, annotation: Optional[cst.BaseExpression]) -> Optional[RedisObject]:
        if annotation is None:
            return None
        options = []
        for option in strip_optional(annotation):
            qual = self.qualify(option)
            if qual is None:
                continue
            known = redispy.CONSTRUCTORS.get(qual) or redispy.ANNOTATION_ONLY.get(qual)
            if known is not None and not qual.endswith("from_url"):
                options.append(known)
            elif qual in self.client_paths:
                options.append(RedisObject("client"))
        return either(*options)

    def subclass_of_client(self, cls: ClassFacts, depth: int = 0) -> Optional[RedisObject]:
        """`class Database(redis.Redis)`: instances, and `self` inside, are clients."""
        for base in cls.bases:
            qual = self.facts.imports.qualify(base)
            made = redispy.CONSTRUCTORS.get(qual) if qual is not None else None
            if made is not None and made.role == "client" and not qual.endswith("from_url"):
                return made
            parent = self.facts.classes.get(base)
            if parent is not None and parent is not cls and depth < 5:
                found = self.subclass_of_client(parent, depth + 1)
                if found is not None:
                    return found
        return None

    def qualify(self, expr: cst.BaseExpression) -> Optional[str]:
        name = dotted(expr)
        if name is None:
            return None
        return self.facts.imports.qualify(name)

    def function_returns(self, func: FunctionFacts, cls: Optional[ClassFacts]) -> Optional[RedisObject]:
        return self._memoised(("fn", id(func.node)), self._function_returns, func, cls)

    def _function_returns(self, func: FunctionFacts, cls: Optional[ClassFacts]) -> Optional[RedisObject]:
        found = self.annotation(func.annotation)
        if found is None:
            lookup = self.function_lookup(func, cls)
            self_name = _first_param(func)
            for value in func.returns:
                found = self.infer(value, lookup, cls, self_name)
                if found is not None:
                    break
        return found

    def function_lookup(self, func: FunctionFacts, cls: Optional[ClassFacts]) -> Lookup:
        """Names inside a function judged without walking it: parameters and simple locals."""

        def lookup(name: str) -> object:
            if name in func.locals:
                for value in func.locals[name]:
                    found = self._infer(value, no_locals, cls, _first_param(func), 1)
                    if found is not None:
                        return found
                return SHADOW
            if name in func.params:
                return self.annotation(func.params[name]) or SHADOW
            return None

        return lookup

    # -- internals ----------------------------------------------------------------------
    def _memoised(self, key: tuple, compute: Callable[..., Optional[RedisObject]], *args
                  ) -> Optional[RedisObject]:
        """`compute(*args)` once per key; None while it runs (a definition that refers back to
        itself, directly or through others)."""
        found = self._memo.get(key, _MISSING)
        if found is _MISSING:
            self._memo[key] = _IN_PROGRESS
            found = self._memo[key] = compute(*args)
        return None if found is _IN_PROGRESS else found  # type: ignore[return-value]

    def _infer(self, expr, lookup, cls, self_name, depth) -> Optional[RedisObject]:
        if depth > 12:
            return None
        if isinstance(expr, cst.Await):
            return self._infer(expr.expression, lookup, cls, self_name, depth + 1)
        if isinstance(expr, cst.Call):
            return self._call(expr, lookup, cls, self_name, depth)
        if isinstance(expr, cst.Name):
            return self._name(expr.value, lookup)
        if isinstance(expr, cst.Attribute):
            return self._attribute(expr, lookup, cls, self_name, depth)
        if isinstance(expr, (cst.BooleanOperation, cst.IfExp)):
            sides = (expr.left, expr.right) if isinstance(expr, cst.BooleanOperation) else (
                expr.body, expr.orelse)
            return either(*(self._infer(side, lookup, cls, self_name, depth + 1)
                            or _named_pipeline(side) for side in sides))
        return None

    def _name(self, name: str, lookup: Lookup) -> Optional[RedisObject]:
        local = lookup(name)
        if local is SHADOW:
            return None
        if local is not None:
            return local  # type: ignore[return-value]
        return self._module_name(name)

    def _module_name(self, name: str) -> Optional[RedisObject]:
        return self._memoised(("name", name), self._find_module_name, name)

    def _find_module_name(self, name: str) -> Optional[RedisObject]:
        facts = self.facts
        found = self.annotation(facts.annotations.get(name))
        for value in facts.assigns.get(name, ()):
            if found is not None:
                break
            found = self._infer(value, no_locals, None, None, 1)
        if found is None and name in facts.imports.names and name not in facts.assigns:
            found = self._external(facts.imports.names[name], call=False)
        if found is None and name in self.client_names and name not in facts.functions:
            found = RedisObject("client")
        return found

    def _constructor_alias(self, values, call: cst.Call) -> Optional[RedisObject]:
        """`client_class = redis.Redis` ... `client_class(...)` (also as a class attribute)."""
        for value in values:
            qual = self.qualify(value)
            made = redispy.CONSTRUCTORS.get(qual) if qual is not None else None
            if made is not None:
                return _with_options(made, call, qual)
        return None

    def _external(self, qual: str, call: bool) -> Optional[RedisObject]:
        if qual in self.client_paths:
            return RedisObject("client")
        if self.index is None:
            return None
        return self.index.lookup(qual, call=call)

    def _attribute(self, expr: cst.Attribute, lookup, cls, self_name, depth) -> Optional[RedisObject]:
        base = expr.value
        attr = expr.attr.value
        if cls is not None and isinstance(base, cst.Name) and base.value in (self_name, "cls"):
            return self._class_attr(cls, attr)
        qual = self.qualify(expr)
        if qual is not None:
            local = lookup(dotted(expr).split(".")[0])  # type: ignore[union-attr]
            if local is None:
                found = self._external(qual, call=False)
                if found is not None:
                    return found
        if attr in self.client_names:
            return RedisObject("client")
        return None

    def _class_attr(self, cls: ClassFacts, attr: str, seen: int = 0) -> Optional[RedisObject]:
        return self._memoised(("attr", id(cls.node), attr), self._find_class_attr, cls, attr, seen)

    def _find_class_attr(self, cls: ClassFacts, attr: str, seen: int) -> Optional[RedisObject]:
        found = None
        for value, annotation, func in cls.attrs.get(attr, ()):
            found = self.annotation(annotation)
            if found is None and value is not None:
                lookup = self.function_lookup(func, cls) if func is not None else no_locals
                self_name = _first_param(func) if func is not None else None
                found = self._infer(value, lookup, cls, self_name, 1)
            if found is not None:
                break
        method = cls.methods.get(attr)
        if found is None and method is not None and method.is_property:
            found = self.function_returns(method, cls)
        if found is None and seen < 5:
            for base in cls.bases:
                parent = self.facts.classes.get(base)
                if parent is not None and parent is not cls:
                    found = self._class_attr(parent, attr, seen + 1)
                    if found is not None:
                        break
        if found is None and attr in self.client_names:
            found = RedisObject("client")
        return found

    def _call(self, call: cst.Call, lookup, cls, self_name, depth) -> Optional[RedisObject]:
        func = call.func
        qual = self.qualify(func)
        if qual is not None and lookup(qual.split(".")[0]) is None:
            made = redispy.CONSTRUCTORS.get(qual)
            if made is not None:
                return _with_options(made, call, qual)
            if qual in redispy.CLIENT_FACTORIES:
                return _FACTORY
            if qual in redispy.LOCK_CLASSES:
                return RedisObject("lock", is_async="asyncio" in qual, origin=call)
        if qual is not None and qual.split(".")[-1] == "cast" and qual.startswith("typing") and call.args:
            return self.annotation(call.args[0].value)
        if isinstance(func, cst.Name):
            name = func.value
            local = lookup(name)
            if local is not None:
                return None
            made = self._constructor_alias(self.facts.assigns.get(name, ()), call)
            if made is not None:
                return made
            subclass = self.facts.classes.get(name)
            if subclass is not None:
                made = self.subclass_of_client(subclass)
                return _with_options(made, call) if made is not None else None
            defined = self.facts.functions.get(name)
            if defined is not None:
                return self.function_returns(defined, None)
            if name in self.facts.imports.names:
                return self._external(self.facts.imports.names[name], call=True)
            if name in self.client_names:
                return RedisObject("client", origin=call)
            return None
        if not isinstance(func, cst.Attribute):
            return None
        method = func.attr.value
        if cls is not None and isinstance(func.value, cst.Name) and func.value.value in (self_name, "cls"):
            defined = cls.methods.get(method)
            if defined is not None:
                return self.function_returns(defined, cls)
            values = [value for value, _, _ in cls.attrs.get(method, ()) if value is not None]
            made = self._constructor_alias(values, call)
            if made is not None:
                return made
        if qual is not None and lookup(qual.split(".")[0]) is None and "." in qual:
            found = self._external(qual, call=True)
            if found is not None:
                return found
        receiver = self._infer(func.value, lookup, cls, self_name, depth + 1)
        if receiver is None:
            return None
        return derived(receiver, method, call)


def _named_pipeline(expr: cst.BaseExpression) -> Optional[RedisObject]:
    """In a choice between a client and something unknown (`pipeline if pipeline is not None
    else self.connection`), an unknown named like a pipeline may be one: atomicity unknown."""
    name = dotted(expr)
    if name is not None and "pipe" in name.rsplit(".", 1)[-1].lower():
        return RedisObject("pipeline", transaction=None)
    return None


def either(*options: Optional[RedisObject]) -> Optional[RedisObject]:
    """The object a value is when it may be any of `options` (`Redis | Pipeline`, `pipe or r`,
    `pipe if pipe is not None else r`): the first one known, except that when some may be a
    pipeline and others not, a pipeline whose `transaction` is unknown, so "is this atomic?"
    gets "cannot tell" rather than a guess from whichever side comes first."""
    known = [option for option in options if option is not None]
    pipelines = [option for option in known if option.role == "pipeline"]
    if pipelines and len(pipelines) < len(known):
        return pipelines[0].derive("pipeline", transaction=None)
    return known[0] if known else None


def derived(receiver: RedisObject, method: str, call: cst.Call) -> Optional[RedisObject]:
    """What calling `method` on a Redis object returns, when that is itself a Redis object."""
    role = receiver.role
    if role == "factory":
        if method in ("master_for", "slave_for"):
            return RedisObject("client", origin=call)
        return None
    if role == "client":
        if method in redispy.PIPELINE_METHODS:
            transaction = _keyword_bool(call, "transaction", position=0)
            if transaction is _UNKNOWN:
                transaction = None
            elif transaction is None:
                transaction = not receiver.cluster
            return receiver.derive("pipeline", transaction=transaction)
        if method in redispy.LOCK_METHODS:
            return receiver.derive("lock", origin=call)
        if method in redispy.PUBSUB_METHODS:
            return receiver.derive("pubsub")
        if method in redispy.SCRIPT_METHODS:
            return receiver.derive("script")
        if method == "from_url":
            return _with_options(receiver, call)
        return None
    if role == "pipeline" and method not in _PIPELINE_TERMINALS:
        return receiver
    return None


_UNKNOWN = object()


def _keyword_bool(call: cst.Call, name: str, position: Optional[int] = None) -> object:
    """True/False for a literal keyword, None when absent, _UNKNOWN when not a literal."""
    for index, arg in enumerate(call.args):
        if (arg.keyword is not None and arg.keyword.value == name) or (
            arg.keyword is None and not arg.star and index == position
        ):
            if isinstance(arg.value, cst.Name) and arg.value.value in ("True", "False"):
                return arg.value.value == "True"
            return _UNKNOWN
    return None


def _with_options(made: RedisObject, call: cst.Call, qualified: Optional[str] = None) -> RedisObject:
    """`made` as built by `call`; `qualified` names a redis-py constructor called directly, whose
    call is then the whole story: no `decode_responses` there means bytes replies (False)."""
    if qualified is not None:
        decode: object = decodes_responses(call, qualified, made.cluster)
    else:
        decode = _keyword_bool(call, "decode_responses")
    return RedisObject(made.role, made.is_async, made.cluster, made.transaction,
                       decode if isinstance(decode, bool) else None, origin=call)


def _first_param(func: Optional[FunctionFacts]) -> Optional[str]:
    if func is None or not func.params:
        return None
    return next(iter(func.params))
