"""The small language the client inference speaks: terms (what an expression says) and values
(what it may hold at run time).

Code is translated once into terms (`translate.py`); a term names what it depends on (a
parameter, an attribute, a function's returns) instead of answering at once, so a module's terms
can be stored, cached and solved together with every other module's (`solve.py`). Evaluating a
term (`evaluate.py`) gives the set of values it may hold. Nothing here imports libcst: the
project-wide solution is computed and cached without the parser.

Symbols (what `Ref` names) are plain strings, one namespace for the whole project:
`m:pkg.mod.name` a module global, `p:pkg.mod.f#x` a parameter, `r:pkg.mod.f` what a function
returns, `y:pkg.mod.f` what it yields, `a:pkg.mod.C.x` an attribute of a class (set on the class
or on `self`), `b:pkg.mod.C` a class's bases.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, FrozenSet, Optional, Tuple, Union

from redislint.semantic.clients.objects import RedisObject

if TYPE_CHECKING:
    import libcst as cst


# -- values ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Q:
    """A dotted name outside the project: a module (`redis`), a class (`redis.Redis`), a
    function (`importlib.import_module`)."""

    name: str


@dataclass(frozen=True)
class Func:
    """A function or method of the project; `bound` when reached through an instance or a
    class, so that a call fills its parameters from the second one on."""

    qual: str
    bound: bool = False


@dataclass(frozen=True)
class Cls:
    """A class of the project (the class object itself)."""

    qual: str


@dataclass(frozen=True)
class Obj:
    """An instance of a class of the project."""

    qual: str


@dataclass(frozen=True)
class Super:
    """`super()` inside a method of `qual`."""

    qual: str


@dataclass(frozen=True)
class Box:
    """A container whose elements are `items`: a `list` (iterating gives the elements) or a
    `dict` (iterating gives keys; `.values()`, `d[k]`, `d.get(k)` give the elements)."""

    items: FrozenSet["Value"]
    kind: str = "list"


@dataclass(frozen=True)
class Tup:
    """A tuple of known length: what each position may hold."""

    items: Tuple[FrozenSet["Value"], ...]


@dataclass(frozen=True)
class Method:
    """A method looked up on a Redis object or a container, not yet called."""

    owner: "Value"
    name: str


@dataclass(frozen=True)
class Thunk:
    """A lambda: calling it gives its body's values."""

    body: "Term"


@dataclass(frozen=True)
class Manager:
    """What a `@contextmanager` function returns: entering it gives what it yields."""

    qual: str


class _Other:
    """A value known not to be Redis: a literal, a dict, Django's cache, a memcache client."""

    def __repr__(self) -> str:
        return "OTHER"

    def __reduce__(self):
        return "OTHER"


OTHER = _Other()
Value = Union[RedisObject, Q, Func, Cls, Obj, Super, Box, Tup, Method, Thunk, Manager, _Other]
Values = FrozenSet[Value]
NONE: Values = frozenset()


# -- terms ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Known:
    values: Values


@dataclass(frozen=True)
class Ref:
    """The values of a project symbol (see the module docstring)."""

    symbol: str


@dataclass(frozen=True)
class Name:
    """A dotted name resolved across the project: a definition of it, a re-export, or `Q`."""

    qual: str


@dataclass(frozen=True)
class Attr:
    base: "Term"
    name: str


@dataclass(frozen=True)
class Opts:
    """What evaluation needs to know of a call's arguments, read once from the code."""

    # `transaction=` of a `pipeline(...)` call (or its first positional): True/False as written,
    # None when absent, "?" when not a literal.
    transaction: object = None
    # `decode_responses`: as a redis-py constructor reads it, as a cluster constructor reads it,
    # and as a plain literal keyword (None: cannot tell).
    decode_direct: Optional[bool] = None
    decode_cluster: Optional[bool] = None
    decode_keyword: Optional[bool] = None
    # The first positional argument when it is a string literal (`import_module("redis")`).
    text: Optional[str] = None


PLAIN = Opts()


@dataclass(frozen=True)
class Call:
    func: "Term"
    # (position or keyword, term) of the arguments that may carry a value worth following.
    args: Tuple[Tuple[Union[int, str], "Term"], ...] = ()
    opts: Opts = PLAIN
    origin: Optional["cst.Call"] = field(default=None, compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class Either:
    options: Tuple["Term", ...]


@dataclass(frozen=True)
class Fallback:
    """`primary`, or `fallback` when nothing is known of `primary`."""

    primary: "Term"
    fallback: "Term"


@dataclass(frozen=True)
class Instance:
    """An instance of the type(s) `kind` denotes: an annotation."""

    kind: "Term"


@dataclass(frozen=True)
class Iter:
    """An element of iterating `base` (`for x in base`)."""

    base: "Term"


@dataclass(frozen=True)
class Item:
    """`base[k]`: an element of a container."""

    base: "Term"


@dataclass(frozen=True)
class Index:
    """Position `position` of a tuple (`a, b = base`)."""

    base: "Term"
    position: int


@dataclass(frozen=True)
class Enter:
    """What `with base as x` binds to `x`."""

    base: "Term"


@dataclass(frozen=True)
class Pack:
    """A container literal or comprehension whose elements are `items` (`Box` when evaluated)."""

    items: "Term"
    kind: str = "list"


@dataclass(frozen=True)
class Tuple_:
    """A tuple literal (`Tup` when evaluated)."""

    items: Tuple["Term", ...]


Term = Union[Known, Ref, Name, Attr, Call, Either, Fallback, Instance, Iter, Item, Index, Enter,
             Pack, Tuple_]
NOTHING = Known(NONE)
IS_OTHER = Known(frozenset({OTHER}))


def param_symbol(function: str, name: str) -> str:
    return f"p:{function}#{name}"


def either(*terms: Term) -> Term:
    """One term for several possible ones, without the ones that say nothing."""
    kept = tuple(dict.fromkeys(t for t in terms if t != NOTHING))
    if not kept:
        return NOTHING
    return kept[0] if len(kept) == 1 else Either(kept)


def known(value: Value) -> Known:
    return Known(frozenset((value,)))


def detach(term: Term) -> Term:
    """The term without CST nodes (call origins, Redis objects' origins): what a cached summary
    may hold."""
    if isinstance(term, Known):
        if any((isinstance(v, RedisObject) and v.origin is not None) or isinstance(v, Thunk)
               for v in term.values):
            return Known(frozenset(_detach_value(v) for v in term.values))
        return term
    if isinstance(term, Call):
        return Call(detach(term.func), tuple((k, detach(t)) for k, t in term.args), term.opts)
    if isinstance(term, Attr):
        return Attr(detach(term.base), term.name)
    if isinstance(term, Either):
        return Either(tuple(detach(t) for t in term.options))
    if isinstance(term, Fallback):
        return Fallback(detach(term.primary), detach(term.fallback))
    if isinstance(term, (Instance,)):
        return Instance(detach(term.kind))
    if isinstance(term, Iter):
        return Iter(detach(term.base))
    if isinstance(term, Item):
        return Item(detach(term.base))
    if isinstance(term, Index):
        return Index(detach(term.base), term.position)
    if isinstance(term, Enter):
        return Enter(detach(term.base))
    if isinstance(term, Pack):
        return Pack(detach(term.items), term.kind)
    if isinstance(term, Tuple_):
        return Tuple_(tuple(detach(t) for t in term.items))
    return term


def _detach_value(value: Value) -> Value:
    if isinstance(value, RedisObject):
        return value.detached()
    if isinstance(value, Thunk):
        return Thunk(detach(value.body))
    return value


def may_carry(term: Term) -> bool:
    """Whether a term can hold anything worth following (not a literal, not nothing)."""
    return term != NOTHING and term != IS_OTHER
