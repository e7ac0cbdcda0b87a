"""What one module tells the project about clients: its definitions, and the terms that feed
each symbol (see `terms.py`), including what its calls pass to other code.

A summary holds no CST node and no position, so it is cached with the file's content and stays
the same when code moves without changing what flows where.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Set, Tuple

import libcst as cst

from redislint.semantic.clients.records import ClassInfo, ClientSummary, FunctionInfo
from redislint.semantic.clients.terms import (
    param_symbol,
    NOTHING, Call, Cls, Either, Name, Obj, Pack, Term, Tuple_, either, known, may_carry,
)
from redislint.semantic.clients.translate import (
    Translator, function_env, stored_term,
)
from redislint.semantic.facts import ClassFacts, FunctionFacts, ModuleFacts
from redislint.semantic.names import dotted
from redislint.semantic.redispy import REDIS_ONLY

# Commands worth recording as "this function sends": the common ones and the blocking ones.
SENT_COMMANDS = REDIS_ONLY | frozenset({
    "get", "set", "delete", "exists", "incr", "decr", "keys", "scan", "publish", "eval",
    "execute", "execute_command", "ping", "info", "acquire", "release", "get_message",
    "listen", "subscribe", "type", "rename", "watch"})
from redislint.walk import _CHILDREN, _children_function, _no_children, children_of

_CONTEXT_MANAGERS = ("contextmanager", "asynccontextmanager")
_PROPERTIES = ("property", "cached_property", "cached_property_with_ttl", "reify", "lazy_property")
_DATACLASSES = ("dataclass", "dataclasses.dataclass", "attr.s", "attr.attrs", "attrs.define",
                "attr.define", "attrs.frozen", "attr.frozen", "define", "frozen")
_FIELD_BASES = ("BaseModel", "NamedTuple", "BaseSettings", "Struct")


def summarize_clients(module: cst.Module, facts: ModuleFacts, client_names=frozenset(),
                      keep_origin: bool = False) -> ClientSummary:
    """The module's client summary. `keep_origin` (lint time, never cached) keeps the CST nodes
    that built each value and skips the calls: what rules ask of this module's own symbols."""
    return _Summarizer(facts, Translator(facts, frozenset(client_names)), keep_origin).run(module)


def function_info(func: FunctionFacts, qual: str, owner: Optional[str]) -> FunctionInfo:
    node = func.node
    params = node.params  # type: ignore[attr-defined]
    positional = tuple(p.name.value for p in (*params.posonly_params, *params.params))
    keywords = tuple(sorted({p.name.value for p in (*params.params, *params.kwonly_params)}))
    star = params.star_arg.name.value if isinstance(params.star_arg, cst.Param) else None
    names = [_decorator_name(d.decorator) for d in node.decorators]  # type: ignore[attr-defined]
    last = [n.rsplit(".", 1)[-1] for n in names]
    kind = "function" if owner is None else "method"
    if owner is not None:
        if "staticmethod" in last:
            kind = "staticmethod"
        elif "classmethod" in last:
            kind = "classmethod"
        elif any(n in _PROPERTIES for n in last):
            kind = "property"
    lazy = any("lazy" in n.lower() and n[:1].isupper() for n in last) or \
        any(n in ("LocalProxy", "SimpleLazyObject") for n in last)
    return FunctionInfo(qual, positional, keywords, star, kind,
                        any(n in _CONTEXT_MANAGERS for n in last), lazy, owner,
                        _builds_anew(func, last))


_CACHING = ("lru_cache", "cache", "cached_property", "memoize", "memoized", "cached",
            "singleton", "once")


def _builds_anew(func: FunctionFacts, decorators: List[str]) -> bool:
    """Every return hands back a call made there (`return redis.Redis(...)`, or a local bound
    only to calls), and nothing caches the function."""
    if not func.returns or any(n in _CACHING for n in decorators):
        return False
    for value in func.returns:
        if isinstance(value, cst.Name):
            bound = func.locals.get(value.value)
            if not bound or not all(isinstance(v, cst.Call) for v in bound) or \
                    value.value in func.params:
                return False
        elif not isinstance(value, cst.Call):
            return False
    return True


def _decorator_name(expr: cst.BaseExpression) -> str:
    if isinstance(expr, cst.Call):
        expr = expr.func
    return dotted(expr) or ""


class _Summarizer:
    def __init__(self, facts: ModuleFacts, translator: Translator, keep_origin: bool = False
                 ) -> None:
        self.facts = facts
        self.t = translator
        self.keep = keep_origin
        self.out = ClientSummary(translator.module)
        # An ordered set: the order of the code, the same in every process.
        self.calls: Dict[CallSite, None] = {}
        self._envs: Dict[int, object] = {}
        self._methods: Optional[Dict[int, str]] = None
        # Terms of the calls met in the walk (a call inside another is translated once).
        self._call_terms: Dict[int, Term] = {}
        self._sends: Dict[str, List[tuple]] = {}

    def add(self, symbol: str, *terms: Term) -> None:
        # Terms translated without origins hold no CST node: nothing to detach.
        kept = [t for t in terms if may_carry(t)]
        if kept:
            self.out.symbols[symbol] = self.out.symbols.get(symbol, ()) + tuple(kept)

    def run(self, module: cst.Module) -> ClientSummary:
        facts, t = self.facts, self.t
        self.out.reexports = dict(facts.from_imports)
        for name in sorted(facts.assigns.keys() | facts.annotations.keys() | facts.items.keys()
                           | facts.targets.keys()):
            self.add("m:" + t.qual(name), *self.global_terms(name))
        for name, func in facts.functions.items():
            self.function(func, t.qual(name), None, None)
        for name, cls in facts.classes.items():
            self.klass(cls, t.qual(name))
        if not self.keep:
            self.walk_calls(module)
            self.out.calls = tuple(self.calls)
        return self.out

    # -- definitions --------------------------------------------------------------------------
    def global_terms(self, name: str) -> List[Term]:
        """What a module global is given: its import, assignments, annotation, stores, loops."""
        facts, t = self.facts, self.t
        terms: List[Term] = []
        imported = facts.imports.names.get(name)
        if imported is not None:
            terms.append(Name(imported))
        terms.extend(t.term(v, keep_origin=self.keep) for v in facts.assigns.get(name, ()))
        terms.append(t.type_term(facts.annotations.get(name)))
        terms.extend(stored_term(t, facts.items.get(name, ()), _no_env, None, self.keep))
        for how, source, position in facts.targets.get(name, ()):
            terms.append(_target(how, t.term(source, keep_origin=self.keep), position))
        return terms

    def function_terms(self, func: FunctionFacts, info: FunctionInfo) -> Dict[str, List[Term]]:
        """What a function returns (`r:`) and yields (`y:`), and its parameters' defaults."""
        qual, owner = info.qual, info.owner
        env = self.env(func, info)
        out: Dict[str, List[Term]] = {
            "r:" + qual: [*(self.t.term(v, env, owner, self.keep) for v in func.returns),
                          self.t.type_term(func.annotation)],
            "y:" + qual: [self.t.term(v, env, owner, self.keep) for v in func.yields],
        }
        params = func.node.params  # type: ignore[attr-defined]
        for param in (*params.posonly_params, *params.params, *params.kwonly_params):
            if param.default is not None:
                out[param_symbol(qual, param.name.value)] = [
                    self.t.term(param.default, _no_env, owner, self.keep)]
        return out

    def attribute_terms(self, cls: ClassFacts, qual: str, attr: str) -> List[Term]:
        """What an attribute is given on the class or on `self` in any of its methods."""
        terms: List[Term] = []
        for value, annotation, func in cls.attrs.get(attr, ()):
            env = self._method_env(func, qual)
            if annotation is not None:
                terms.append(self.t.type_term(annotation, env))
            if value is not None:
                terms.append(self.t.term(value, env, qual, self.keep))
        by_kind: Dict[str, List[Term]] = {}
        for value, func, kind in cls.items.get(attr, ()):
            by_kind.setdefault(kind, []).append(
                self.t.term(value, self._method_env(func, qual), qual, self.keep))
        terms.extend(Pack(either(*items), kind) for kind, items in sorted(by_kind.items()))
        return terms

    def _method_env(self, func: Optional[FunctionFacts], owner: str):
        if func is None:
            return _no_env
        if self._methods is None:
            self._methods = {id(f.node): name for c in self.facts.classes.values()
                             for name, f in c.methods.items()}
        name = self._methods.get(id(func.node))
        if name is None:
            return _no_env
        return self.env(func, function_info(func, f"{owner}.{name}", owner))

    def function(self, func: FunctionFacts, qual: str, owner: Optional[str],
                 cls: Optional[ClassFacts]) -> FunctionInfo:
        info = function_info(func, qual, owner)
        self.out.functions[qual] = info
        for symbol, terms in self.function_terms(func, info).items():
            self.add(symbol, *terms)
        return info

    def env(self, func: FunctionFacts, info: FunctionInfo):
        known = self._envs.get(id(func.node))
        if known is None:
            known = self._envs[id(func.node)] = self._env(func, info)
        return known

    def _env(self, func: FunctionFacts, info: FunctionInfo):
        first = info.positional[0] if info.positional and info.kind in (
            "method", "classmethod", "property") else None
        first_value = None
        if first is not None and info.owner is not None:
            first_value = known(Cls(info.owner) if info.kind == "classmethod" else Obj(info.owner))
        return function_env(self.t, info.qual, func, info.owner, first, first_value, self.keep)

    def klass(self, cls: ClassFacts, qual: str) -> None:
        node = cls.node
        self.add("b:" + qual, *(self.t.term(b.value, keep_origin=self.keep) for b in node.bases))
        methods: Dict[str, str] = {}
        forwarders: Dict[str, str] = {}
        proxies = None
        for name, func in cls.methods.items():
            info = self.function(func, f"{qual}.{name}", qual, cls)
            methods[name] = info.qual
            forwarded = _forwarded_attribute(func, name, info)
            if forwarded is not None:
                forwarders[name] = forwarded
            if name == "__getattr__":
                proxies = _proxied_attribute(func, info)
        attrs = set(cls.attrs) | set(cls.items)
        for attr in sorted(attrs):
            self.add(f"a:{qual}.{attr}", *self.attribute_terms(cls, qual, attr))
        self.out.classes[qual] = ClassInfo(qual, methods, tuple(sorted(attrs)), forwarders,
                                           _fields(cls), proxies)

    # -- calls --------------------------------------------------------------------------------
    def walk_calls(self, module: cst.Module) -> None:
        """Every call whose arguments may carry a client, with the terms of callee and
        arguments as seen where the call is (a function's parameters, `self`...); and which
        Redis-only commands each parameter, local, attribute or global is sent."""
        facts = self.facts
        by_node: Dict[int, tuple] = {}
        for name, func in facts.functions.items():
            info = self.out.functions[self.t.qual(name)]
            by_node[id(func.node)] = (self.env(func, info), None, (info.qual, func, None))
        for cname, cls in facts.classes.items():
            owner = self.t.qual(cname)
            by_node[id(cls.node)] = (_no_env, owner, None)
            for mname, func in cls.methods.items():
                info = self.out.functions[f"{owner}.{mname}"]
                first = info.positional[0] if info.positional and info.kind != "staticmethod" \
                    else None
                by_node[id(func.node)] = (self.env(func, info), owner, (info.qual, func, first))
        usage: Dict[str, Set[str]] = {}
        # One stack of nodes; the scope (env, owner, where) changes only at a def, a class or
        # a lambda, which push a marker that restores the enclosing one when they are done.
        env, owner, where = _no_env, None, None
        saved: List[tuple] = []
        stack: List[object] = [module]
        pop, push, extend = stack.pop, stack.append, stack.extend
        children = _CHILDREN
        while stack:
            node = pop()
            if node is _RESTORE:
                env, owner, where = saved.pop()
                continue
            kind = type(node)
            if kind is cst.FunctionDef or kind is cst.ClassDef or kind is cst.Lambda:
                saved.append((env, owner, where))
                push(_RESTORE)
                known_env = by_node.get(id(node))
                if known_env is not None:
                    env, owner, where = known_env
                elif kind is cst.Lambda:
                    env = _nested_env(node, env)
                elif kind is cst.FunctionDef:
                    env, where = _nested_env(node, env), _NESTED
            elif kind is cst.Call:
                if node.args:  # type: ignore[attr-defined]
                    self.call(node, env, owner)  # type: ignore[arg-type]
                self.used(node, owner, where, usage)  # type: ignore[arg-type]
                self.sent(node, env, owner, where)  # type: ignore[arg-type]
            function = children.get(kind)
            if function is None:
                function = _children_function(kind)
            if function is not _no_children:
                extend(function(node))
        self.out.sends = {qual: tuple(pairs) for qual, pairs in self._sends.items()}
        self.out.usage = {symbol: tuple(sorted(commands)) for symbol, commands in sorted(usage.items())}

    def sent(self, node: cst.Call, env, owner: Optional[str], where) -> None:
        """A command the function sends itself (its receiver as a term): may calling the
        function wait for Redis?"""
        func = node.func
        if where is None or where is _NESTED or not isinstance(func, cst.Attribute) or \
                func.attr.value not in SENT_COMMANDS:
            return
        pairs = self._sends.setdefault(where[0], [])
        if len(pairs) >= 4:
            return
        receiver = self.t.term(func.value, env, owner, False, self._call_terms)
        if may_carry(receiver) and (receiver, func.attr.value) not in pairs:
            pairs.append((receiver, func.attr.value))

    def used(self, node: cst.Call, owner: Optional[str], where, usage) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value not in REDIS_ONLY or \
                where is _NESTED:
            return
        holder = func.value
        symbol = None
        if isinstance(holder, cst.Name):
            name = holder.value
            if where is not None and name in where[1].params and name != where[2]:
                symbol = param_symbol(where[0], name)
            elif where is not None and (name in where[1].locals or name in where[1].targets):
                symbol = f"l:{where[0]}#{name}"
            elif where is None or name not in where[1].params:
                found = self.t.global_name(name)
                if isinstance(found, Name):
                    symbol = "m:" + found.qual
        elif isinstance(holder, cst.Attribute) and isinstance(holder.value, cst.Name) and \
                owner is not None and where is not None and holder.value.value == where[2]:
            symbol = f"a:{owner}.{holder.attr.value}"
        if symbol is not None:
            usage.setdefault(symbol, set()).add(func.attr.value)

    def call(self, node: cst.Call, env, owner: Optional[str]) -> None:
        func = node.func
        if isinstance(func, cst.Name) and func.value in ("print", "len", "isinstance", "str",
                                                         "repr", "int", "getattr", "setattr"):
            return
        made = self.t.term(node, env, owner, False, self._call_terms)
        for option in (made.options if type(made) is Either else (made,)):  # type: ignore[union-attr]
            if type(option) is Call and option.args:  # type: ignore[union-attr]
                self.calls[(option.func, option.args)] = None  # type: ignore[union-attr]


class LocalTerms:
    """This module's own symbols translated again with their CST nodes kept, one symbol at a
    time and only when asked: a rule asks which call built a lock or a client."""

    def __init__(self, facts: ModuleFacts, client_names=frozenset()) -> None:
        self._s = _Summarizer(facts, Translator(facts, frozenset(client_names)), keep_origin=True)
        translator = self._s.t
        self._functions: Dict[str, Tuple[FunctionFacts, Optional[str]]] = {}
        self._classes: Dict[str, ClassFacts] = {}
        for name, func in facts.functions.items():
            self._functions[translator.qual(name)] = (func, None)
        for cname, cls in facts.classes.items():
            owner = translator.qual(cname)
            self._classes[owner] = cls
            for mname, func in cls.methods.items():
                self._functions[f"{owner}.{mname}"] = (func, owner)
        self._globals = {translator.qual(n): n for n in (
            facts.assigns.keys() | facts.annotations.keys() | facts.items.keys()
            | facts.targets.keys())}
        self._memo: Dict[str, Optional[Tuple[Term, ...]]] = {}

    def get(self, symbol: str) -> Optional[Tuple[Term, ...]]:
        if symbol in self._memo:
            return self._memo[symbol]
        found = self._memo[symbol] = self._terms(symbol)
        return found

    def _terms(self, symbol: str) -> Optional[Tuple[Term, ...]]:
        kind, qual = symbol[0], symbol[2:]
        terms: Optional[List[Term]] = None
        if kind == "m" and qual in self._globals:
            terms = self._s.global_terms(self._globals[qual])
        elif kind in "ryp":
            function = qual.split("#", 1)[0]
            known = self._functions.get(function)
            if known is not None:
                func, owner = known
                terms = self._s.function_terms(func, function_info(func, function, owner)).get(
                    symbol)
        elif kind == "a":
            owner, _, attr = qual.rpartition(".")
            cls = self._classes.get(owner)
            if cls is not None and (attr in cls.attrs or attr in cls.items):
                terms = self._s.attribute_terms(cls, owner, attr)
        if terms is None:
            return None
        return tuple(t for t in terms if may_carry(t))


def _no_env(name: str):
    return None


_NESTED = ("nested",)
_RESTORE = object()


def _nested_env(node, outer):
    params = node.params
    names = {p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)}
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            names.add(star.name.value)

    def env(name: str):
        return NOTHING if name in names else outer(name)

    return env


def _target(how: str, base: Term, position: Optional[int]) -> Term:
    from redislint.semantic.clients.terms import Enter, Index, Iter

    if how == "enter":
        return Enter(base)
    return Iter(base) if position is None else Index(Iter(base), position)


def _body(func: FunctionFacts) -> List[cst.BaseSmallStatement]:
    """The statements of a function that is one statement long (after a docstring)."""
    body = func.node.body  # type: ignore[attr-defined]
    statements = list(body.body) if isinstance(body, cst.IndentedBlock) else [body]
    if statements and isinstance(statements[0], cst.SimpleStatementLine) and \
            isinstance(statements[0].body[0], cst.Expr) and \
            isinstance(statements[0].body[0].value, (cst.SimpleString, cst.ConcatenatedString)):
        statements = statements[1:]
    if len(statements) != 1:
        return []
    only = statements[0]
    if isinstance(only, cst.SimpleStatementLine) and len(only.body) == 1:
        return [only.body[0]]
    if isinstance(only, cst.BaseSmallStatement):
        return [only]
    return []


def _names_in(expr: cst.CSTNode) -> Set[str]:
    found = set()
    pending = [expr]
    while pending:
        node = pending.pop()
        if isinstance(node, cst.Name):
            found.add(node.value)
        pending.extend(children_of(node))
    return found


def _forwarded_attribute(func: FunctionFacts, name: str, info: FunctionInfo) -> Optional[str]:
    """`def incr(self, k, n=1): return self._r.incr(self._p + k, n)`: the attribute (`_r`) a
    method forwards the same-named command to, passing its own arguments on (a method that adds
    an argument of its own, such as `ex=self.ttl`, changes the command: not a forwarder)."""
    if info.kind != "method" or name.startswith("__") or not info.positional:
        return None
    statements = _body(func)
    if not statements:
        return None
    statement = statements[0]
    value = statement.value if isinstance(statement, (cst.Return, cst.Expr)) else None
    if isinstance(value, cst.Await):
        value = value.expression
    if not isinstance(value, cst.Call) or not isinstance(value.func, cst.Attribute):
        return None
    method = value.func
    holder = method.value
    if method.attr.value != name or not isinstance(holder, cst.Attribute) or \
            not isinstance(holder.value, cst.Name) or holder.value.value != info.positional[0]:
        return None
    own = set(info.positional[1:]) | set(info.keywords) | {info.star} - {None}
    params = func.node.params  # type: ignore[attr-defined]
    if isinstance(params.star_kwarg, cst.Param):
        own.add(params.star_kwarg.name.value)
    own.discard(info.positional[0])
    for arg in value.args:
        if not (_names_in(arg.value) & own):
            return None
    return holder.attr.value


def _proxied_attribute(func: FunctionFacts, info: FunctionInfo) -> Optional[str]:
    """`def __getattr__(self, name): return getattr(self._redis, name)`."""
    statements = _body(func)
    if not statements or not isinstance(statements[0], cst.Return) or len(info.positional) != 2:
        return None
    value = statements[0].value
    if not isinstance(value, cst.Call) or dotted(value.func) != "getattr" or len(value.args) < 2:
        return None
    holder, attr = value.args[0].value, value.args[1].value
    if isinstance(holder, cst.Attribute) and isinstance(holder.value, cst.Name) and \
            holder.value.value == info.positional[0] and isinstance(attr, cst.Name) and \
            attr.value == info.positional[1]:
        return holder.attr.value
    return None


def _fields(cls: ClassFacts) -> Optional[Tuple[str, ...]]:
    """The fields of a dataclass-like class, in order (they are its constructor's parameters)."""
    node = cls.node
    decorated = any(_decorator_name(d.decorator) in _DATACLASSES for d in node.decorators)
    based = any((dotted(b.value) or "").rsplit(".", 1)[-1] in _FIELD_BASES for b in node.bases)
    if not (decorated or based) or "__init__" in cls.methods:
        return None
    return tuple(name for name, entries in cls.attrs.items()
                 if any(func is None and annotation is not None for _, annotation, func in entries))
