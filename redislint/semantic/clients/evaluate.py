"""What a term may hold at run time: the one place that says what calling, attribute access,
iteration and `with` do to a value.

Both the project-wide fixpoint (`solve.py`, while the solution grows) and the lint-time questions
(`infer.py`, against the finished solution) evaluate terms here, so the two can never disagree.
The project is reached through `Project`: the values of symbols and what the project defines.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Dict, FrozenSet, Iterable, List, Optional, Tuple

from redislint.semantic import redispy
from redislint.semantic.clients.objects import EVIDENCE, RedisObject
from redislint.semantic.clients.records import ClassInfo, FunctionInfo
from redislint.semantic.clients.terms import (
    NONE, OTHER, Attr, Box, Call, Cls, Either, Enter, Fallback, Func, Index, Instance, Item,
    Iter, Known, Manager, Method, Name, Obj, Pack, Q, Ref, Super, Term, Thunk, Tup, Tuple_,
    Value, Values,
)

# A value set past this size says little; keep what matters (Redis objects) and drop the rest.
_CAP = 12
_DEPTH = 24
# Calls whose result behaves as their first argument called: lazy proxies of a factory.
PROXIES = frozenset({
    "django.utils.functional.SimpleLazyObject", "werkzeug.local.LocalProxy", "werkzeug.LocalProxy",
    "lazy_object_proxy.Proxy", "lazy_object_proxy.proxy.Proxy", "functools.partial",
})
IMPORTERS = frozenset({"importlib.import_module", "builtins.__import__"})
# Names whose values are known not to be Redis: asking for usage evidence there would be wrong.
OTHER_ROOTS = ("django.core.cache", "django.core.cache.cache", "flask_caching", "memcache",
               "pymemcache", "pylibmc", "aiomcache", "bmemcached", "prometheus_client",
               "cachetools", "diskcache", "collections", "configparser", "sqlite3", "queue",
               "multiprocessing", "asyncio.Queue", "werkzeug.contrib.cache", "cachelib",
               "aiocache", "dogpile")
OTHER_BUILTINS = frozenset({"builtins.dict", "builtins.list", "builtins.set", "builtins.tuple",
                            "builtins.str", "builtins.int", "builtins.bytes", "builtins.frozenset",
                            "builtins.object", "builtins.float", "builtins.bool",
                            "builtins.bytearray", "builtins.open"})
_CLUSTER_HANDOUTS = {"get_redis_connection": "client", "get_node": "node",
                     "get_node_from_key": "node", "get_default_node": "node",
                     "get_random_node": "node"}
_CLUSTER_NODE_LISTS = frozenset({"get_nodes", "get_primaries", "get_replicas"})
_BOX_ITEMS = frozenset({"get", "pop", "setdefault", "__getitem__"})


class Project:
    """What evaluation needs from the project: values of symbols and its definitions."""

    functions: Dict[str, FunctionInfo]
    classes: Dict[str, ClassInfo]

    def read(self, symbol: str) -> Values:
        raise NotImplementedError

    def resolve(self, qual: str) -> Values:
        raise NotImplementedError


def cap(values: Iterable[Value]) -> Values:
    found = frozenset(values)
    if len(found) <= _CAP:
        return found
    return frozenset(v for v in found if isinstance(v, RedisObject) or v is OTHER)


class Evaluator:
    """Evaluates terms against one `Project`."""

    def __init__(self, project: Project, client_paths: FrozenSet[str] = frozenset()) -> None:
        self.project = project
        self.client_paths = client_paths
        # Set once the values no longer change (after solving): class answers are memoised.
        self.final = False
        self._views: Dict[str, Optional[RedisObject]] = {}
        self._viewing: set = set()
        self._mros: Dict[str, tuple] = {}
        self._subclasses: Optional[tuple] = None

    # -- terms ------------------------------------------------------------------------------
    def values(self, term: Term, depth: int = 0) -> Values:
        if depth > _DEPTH:
            return NONE
        kind = type(term)
        if kind is Known:
            return term.values  # type: ignore[union-attr]
        if kind is Ref:
            return self.project.read(term.symbol)  # type: ignore[union-attr]
        if kind is Name:
            return self.project.resolve(term.qual)  # type: ignore[union-attr]
        depth += 1
        if kind is Attr:
            return self._each(self.values(term.base, depth),  # type: ignore[union-attr]
                              lambda v: self.attribute(v, term.name, depth))  # type: ignore[union-attr]
        if kind is Call:
            return self._each(self.values(term.func, depth),  # type: ignore[union-attr]
                              lambda v: self.call(v, term, depth))  # type: ignore[arg-type]
        if kind is Either:
            out: set = set()
            for option in term.options:  # type: ignore[union-attr]
                out |= self.values(option, depth)
            return cap(out)
        if kind is Fallback:
            return self.values(term.primary, depth) or self.values(term.fallback, depth)  # type: ignore[union-attr]
        if kind is Instance:
            return self._each(self.values(term.kind, depth), self.instance_of)  # type: ignore[union-attr]
        if kind is Iter:
            return self._each(self.values(term.base, depth), _iterate)  # type: ignore[union-attr]
        if kind is Item:
            return self._each(self.values(term.base, depth), _item)  # type: ignore[union-attr]
        if kind is Index:
            position = term.position  # type: ignore[union-attr]
            return self._each(self.values(term.base, depth), lambda v: _index(v, position))  # type: ignore[union-attr]
        if kind is Enter:
            return self._each(self.values(term.base, depth), self.enter)  # type: ignore[union-attr]
        if kind is Pack:
            items = self.values(term.items, depth)  # type: ignore[union-attr]
            return frozenset((box(items, term.kind),)) if items else NONE  # type: ignore[union-attr]
        if kind is Tuple_:
            parts = tuple(self.values(t, depth) for t in term.items)  # type: ignore[union-attr]
            return frozenset((tup(parts),)) if any(parts) else NONE
        return NONE

    @staticmethod
    def _each(values: Values, step) -> Values:
        if not values:
            return NONE
        if len(values) == 1:
            for value in values:
                return step(value)
        out: set = set()
        for value in values:
            out |= step(value)
        return cap(out)

    # -- what operations do to values -------------------------------------------------------
    def attribute(self, value: Value, name: str, depth: int) -> Values:
        kind = type(value)
        if kind is Q:
            return self.project.resolve(f"{value.name}.{name}")  # type: ignore[union-attr]
        if kind is Obj:
            return self.member(value.qual, name, instance=True)  # type: ignore[union-attr]
        if kind is Cls:
            return self.member(value.qual, name, instance=False)  # type: ignore[union-attr]
        if kind is Super:
            return self.member(value.qual, name, instance=True, skip_self=True)  # type: ignore[union-attr]
        if kind is RedisObject:
            if value.role == "node" and name == "redis_connection":  # type: ignore[union-attr]
                return frozenset((value.derive("client", cluster=False),))  # type: ignore[union-attr]
            return frozenset((Method(value, name),))
        if kind is Box:
            return frozenset((Method(value, name),))
        if value is OTHER:
            return frozenset((OTHER,))
        return NONE

    def call(self, value: Value, call: Call, depth: int) -> Values:
        kind = type(value)
        if kind is Q:
            return self._call_external(value.name, call, depth)  # type: ignore[union-attr]
        if kind is Func:
            info = self.project.functions.get(value.qual)  # type: ignore[union-attr]
            if info is not None and info.contextmanager:
                return frozenset((Manager(value.qual),))  # type: ignore[union-attr]
            return self.project.read("r:" + value.qual)  # type: ignore[union-attr]
        if kind is Cls:
            made = self.client_class(value.qual)  # type: ignore[union-attr]
            if made is not None:
                return frozenset((_built(made, call, None),))
            return frozenset((Obj(value.qual),))  # type: ignore[union-attr]
        if kind is Method:
            return self._call_method(value.owner, value.name, call)  # type: ignore[union-attr]
        if kind is Thunk:
            return self.values(value.body, depth)  # type: ignore[union-attr]
        if value is OTHER:
            return frozenset((OTHER,))
        return NONE

    def _call_external(self, qual: str, call: Call, depth: int) -> Values:
        made = redispy.CONSTRUCTORS.get(qual)
        if made is not None:
            return frozenset((_built(made, call, qual),))
        if qual in redispy.CLIENT_FACTORIES:
            return frozenset((RedisObject("factory", is_async=".asyncio" in qual),))
        if qual in redispy.LOCK_CLASSES:
            return frozenset((RedisObject("lock", is_async="asyncio" in qual, origin=call.origin),))
        if qual in self.client_paths:
            return frozenset((RedisObject("client", origin=call.origin),))
        if qual.rsplit(".", 1)[-1] == "cast" and qual.startswith("typing"):
            first = _argument(call, 0)
            return self._each(self.values(first, depth), self.instance_of) if first else NONE
        if qual in PROXIES:
            first = _argument(call, 0)
            if first is None:
                return NONE
            return self._each(self.values(first, depth), lambda v: self.call(v, Call(Known(NONE)), depth))
        if qual in IMPORTERS and call.opts.text:
            return self.project.resolve(call.opts.text)
        if qual in OTHER_BUILTINS or qual.startswith(OTHER_ROOTS):
            return frozenset((OTHER,))
        return NONE

    def _call_method(self, owner: Value, name: str, call: Call) -> Values:
        if isinstance(owner, RedisObject):
            if not owner.sends(name) and name not in ("pipeline", "lock", "pubsub"):
                return NONE
            made = derived(owner, name, call)
            return frozenset((made,)) if made is not None else NONE
        if isinstance(owner, Box):
            if name in ("values", "copy"):
                return frozenset((box(owner.items, "list"),))
            if name == "items":
                return frozenset((box(frozenset((tup((NONE, owner.items)),)), "list"),))
            if name in _BOX_ITEMS:
                return owner.items
        return NONE

    def instance_of(self, value: Value) -> Values:
        """An instance of the type `value` names (an annotation, `cast(T, x)`)."""
        if isinstance(value, Q):
            qual = value.name
            made = redispy.CONSTRUCTORS.get(qual) or redispy.ANNOTATION_ONLY.get(qual)
            if made is not None and not qual.endswith(("from_url", "from_pool")):
                return frozenset((made,))
            if qual in self.client_paths:
                return frozenset((RedisObject("client"),))
            if qual in OTHER_BUILTINS or qual.startswith(OTHER_ROOTS):
                return frozenset((OTHER,))
            return NONE
        if isinstance(value, Cls):
            made = self.client_class(value.qual)
            return frozenset((made if made is not None else Obj(value.qual),))
        return NONE

    def enter(self, value: Value) -> Values:
        if isinstance(value, RedisObject):
            return frozenset((value,))
        if isinstance(value, Manager):
            return self.project.read("y:" + value.qual)
        if isinstance(value, Obj):
            method = self._method(value.qual, "__enter__") or self._method(value.qual, "__aenter__")
            if method is None:
                return frozenset((value,))
            return self.project.read("r:" + method)
        return NONE

    # -- classes ----------------------------------------------------------------------------
    def mro(self, qual: str) -> List[Value]:
        """The class and its bases, depth first (project classes as `Cls`, others as `Q`).
        Memoised while the bases do not change (`Project.bases_seen` counts their growth); the
        bases are read again anyway, so the solver knows who depends on them."""
        generation = getattr(self.project, "bases_generation", 0)
        known = self._mros.get(qual)
        if known is not None and known[0] == generation:
            read = self.project.read
            for base in known[1]:
                if isinstance(base, Cls):
                    read("b:" + base.qual)
            return known[1]
        order = self._mro(qual)
        self._mros[qual] = (generation, order)
        return order

    def _mro(self, qual: str) -> List[Value]:
        order: List[Value] = []
        seen = set()
        pending: List[Value] = [Cls(qual)]
        while pending and len(order) < 32:
            current = pending.pop(0)
            if current in seen:
                continue
            seen.add(current)
            order.append(current)
            if isinstance(current, Cls):
                bases = sorted(self.project.read("b:" + current.qual), key=_order)
                pending[0:0] = [b for b in bases if isinstance(b, (Cls, Q))]
        return order

    def client_class(self, qual: str) -> Optional[RedisObject]:
        """`class Database(redis.Redis)` (through any alias or module): instances are clients."""
        for base in self.mro(qual):
            if isinstance(base, Q):
                made = redispy.CONSTRUCTORS.get(base.name)
                if made is not None and made.role == "client" and \
                        not base.name.endswith(("from_url", "from_pool")):
                    return made
        return None

    def _method(self, qual: str, name: str) -> Optional[str]:
        for base in self.mro(qual):
            if isinstance(base, Cls):
                info = self.project.classes.get(base.qual)
                if info is not None and name in info.methods:
                    return info.methods[name]
        return None

    def member(self, qual: str, name: str, instance: bool, skip_self: bool = False) -> Values:
        """`obj.name` / `Class.name`: the first method of that name in the MRO, else every
        value the attribute is given anywhere in it (instance attributes share one dict)."""
        found: set = set()
        for base in self.mro(qual)[1 if skip_self else 0:]:
            if not isinstance(base, Cls):
                continue
            info = self.project.classes.get(base.qual)
            if info is None:
                continue
            method = info.methods.get(name)
            if method is not None and not found:
                value = self._method_value(method, instance)
                if instance and not skip_self:
                    # `self.get_connection()` in a base class runs the override of the subclass
                    # the instance really is: every override in the project may be the one.
                    overrides = [self._method_value(o, True) for o in self.overrides(qual, name)]
                    if overrides:
                        value = cap(value.union(*overrides))
                return value
            if name in info.attrs:
                found |= self.project.read(f"a:{base.qual}.{name}")
        if not found and instance:
            made = self.client_class(qual)
            if made is not None:
                return frozenset((Method(made, name),))
        return cap(found)

    def overrides(self, qual: str, name: str) -> List[str]:
        """Methods called `name` that subclasses of `qual` (in the project) define."""
        generation = getattr(self.project, "bases_generation", 0)
        if self._subclasses is None or self._subclasses[0] != generation:
            subclasses: Dict[str, List[str]] = {}
            for klass in sorted(self.project.classes):
                for base in self._mro(klass)[1:]:
                    if isinstance(base, Cls):
                        subclasses.setdefault(base.qual, []).append(klass)
            self._subclasses = (generation, subclasses)
        found = []
        for klass in self._subclasses[1].get(qual, ()):
            info = self.project.classes.get(klass)
            if info is not None and name in info.methods:
                found.append(info.methods[name])
        return found

    def _method_value(self, qual: str, instance: bool) -> Values:
        info = self.project.functions.get(qual)
        kind = info.kind if info is not None else "method"
        if kind == "property":
            return self.project.read("r:" + qual) if instance else NONE
        if kind == "staticmethod":
            return frozenset((Func(qual),))
        if kind == "classmethod":
            return frozenset((Func(qual, bound=True),))
        return frozenset((Func(qual, bound=instance),))

    def wrapped(self, qual: str) -> Optional[RedisObject]:
        """A project wrapper of a client it holds, as a client for the commands it forwards
        (`def incr(self, k): return self._r.incr(self._p + k)`); a `__getattr__` that hands
        out the held client's attributes forwards every command. None when it forwards none."""
        commands: set = set()
        held_objects: List[RedisObject] = []
        for base in self.mro(qual):
            if not isinstance(base, Cls):
                continue
            info = self.project.classes.get(base.qual)
            if info is None:
                continue
            if info.proxies is not None:
                held = to_object(self.member(qual, info.proxies, True), self)
                if held is not None and held.role == "client":
                    return held.weakened("inferred")
            for method, attr in info.forwarders.items():
                if method in commands:
                    continue
                held = to_object(self.member(qual, attr, True), self)
                if held is not None and held.role in ("client", "pipeline") and held.sends(method):
                    commands.add(method)
                    held_objects.append(held)
        if not commands:
            return None
        held = sorted(held_objects, key=_strength)[0]
        return RedisObject(held.role, held.is_async, held.cluster, held.transaction,
                           held.decode_responses, evidence="inferred",
                           forwards=frozenset(commands))

    def client_view(self, qual: str) -> Optional[RedisObject]:
        """What an instance of a project class is as a Redis object, if anything."""
        if qual in self._views:
            return self._views[qual]
        if qual in self._viewing:
            return None  # a class that holds an instance of itself
        self._viewing.add(qual)
        try:
            made = self.client_class(qual) or self.wrapped(qual)
        finally:
            self._viewing.discard(qual)
        if self.final:
            self._views[qual] = made
        return made


def _flat(values: Values, depth: int) -> Values:
    """Containers inside containers one level deep at most (recursive code would otherwise
    nest them without end); a container of nothing but non-Redis values is just one of those."""
    out = set()
    for value in values:
        if isinstance(value, (Box, Tup)):
            if depth >= 1:
                out.add(OTHER)
                continue
            value = box(value.items, value.kind, depth + 1) if isinstance(value, Box) else \
                tup(value.items, depth + 1)
        out.add(value)
    return cap(out)


def box(items: Values, kind: str, depth: int = 0) -> Value:
    items = _flat(items, depth)
    if all(v is OTHER for v in items):
        return OTHER
    return Box(items, kind)


def tup(parts: Tuple[Values, ...], depth: int = 0) -> Value:
    parts = tuple(_flat(part, depth) for part in parts)
    if all(all(v is OTHER for v in part) for part in parts):
        return OTHER
    return Tup(parts)


def _order(value: Value) -> str:
    return repr(value)


def _argument(call: Call, position: int) -> Optional[Term]:
    for key, term in call.args:
        if key == position:
            return term
    return None


def _iterate(value: Value) -> Values:
    if isinstance(value, Box):
        return value.items if value.kind == "list" else NONE
    if isinstance(value, Tup):
        return cap(v for part in value.items for v in part)
    return NONE


def _item(value: Value) -> Values:
    if isinstance(value, Box):
        return value.items
    if isinstance(value, Tup):
        return cap(v for part in value.items for v in part)
    return NONE


def _index(value: Value, position: int) -> Values:
    if isinstance(value, Tup):
        return value.items[position] if -len(value.items) <= position < len(value.items) else NONE
    if isinstance(value, Box) and value.kind == "list":
        return value.items
    return NONE


def _built(made: RedisObject, call: Call, qualified: Optional[str]) -> RedisObject:
    """`made` as built by `call`; `qualified` names a redis-py constructor called directly,
    whose call is then the whole story: no `decode_responses` there means bytes replies."""
    opts = call.opts
    if qualified is not None:
        decode = opts.decode_cluster if made.cluster else opts.decode_direct
    else:
        decode = opts.decode_keyword
    return RedisObject(made.role, made.is_async, made.cluster, made.transaction, decode,
                       origin=call.origin, evidence=made.evidence)


_PIPELINE_TERMINALS = frozenset({"execute", "reset", "multi", "watch", "unwatch", "discard",
                                 "immediate_execute_command", "__enter__", "__aenter__",
                                 "aclose", "close"})


def derived(receiver: RedisObject, method: str, call: Call) -> Optional[RedisObject]:
    """What calling `method` on a Redis object returns, when that is itself a Redis object."""
    role = receiver.role
    if role == "factory":
        if method in ("master_for", "slave_for"):
            return RedisObject("client", is_async=receiver.is_async, origin=call.origin,
                               evidence=receiver.evidence)
        return None
    if role == "client":
        if method in redispy.PIPELINE_METHODS:
            transaction = call.opts.transaction
            if transaction == "?":
                transaction = None
            elif transaction is None:
                transaction = not receiver.cluster
            return receiver.derive("pipeline", transaction=transaction)
        if method in redispy.LOCK_METHODS:
            return receiver.derive("lock", origin=call.origin)
        if method in redispy.PUBSUB_METHODS:
            return receiver.derive("pubsub")
        if method in redispy.SCRIPT_METHODS:
            return receiver.derive("script")
        if method in ("from_url", "from_pool"):
            return _built(receiver.derive("client"), call, None)
        if receiver.cluster and method in _CLUSTER_HANDOUTS:
            return receiver.derive(_CLUSTER_HANDOUTS[method], cluster=False)
        return None
    if role == "pipeline" and method not in _PIPELINE_TERMINALS:
        return receiver
    return None


def _strength(obj: RedisObject) -> tuple:
    return (EVIDENCE.index(obj.evidence), obj.role, obj.is_async, obj.cluster,
            repr(obj.transaction), repr(obj.decode_responses), sorted(obj.forwards or ()))


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


def to_object(values: Values, evaluator: Evaluator) -> Optional[RedisObject]:
    """The Redis object a value set stands for (the strongest evidence first), if any."""
    found: List[RedisObject] = []
    for value in values:
        if isinstance(value, RedisObject):
            if value.role != "factory":
                found.append(value)
        elif isinstance(value, Obj):
            view = evaluator.client_view(value.qual)
            if view is not None:
                found.append(view)
    if not found:
        return None
    if len(found) > 1:
        found.sort(key=_strength)
        pipelines = [o for o in found if o.role == "pipeline"]
        if pipelines and (len(pipelines) < len(found) or
                          len({o.transaction for o in pipelines}) > 1):
            return pipelines[0].derive("pipeline", transaction=None)
        # Several ways to the same kind of object: keep the strongest, with the origin if any.
        best = found[0]
        origin = next((o.origin for o in found if o.origin is not None), None)
        return replace(best, origin=origin) if origin is not None and best.origin is None else best
    return found[0]


def is_other(values: Values) -> bool:
    """Known to be something that is not Redis (so usage evidence must not be asked)."""
    return any(v is OTHER or isinstance(v, (Obj, Cls, Func, Box, Tup, Manager, Thunk))
               for v in values)
