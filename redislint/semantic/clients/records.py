"""The records a module's client summary is made of: what it defines (functions, classes) and
the terms that feed its symbols. Plain data, free of libcst, so cached summaries and the solved
project load without the parser."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Optional, Tuple

from redislint.semantic.clients.terms import Term

CallSite = Tuple[Term, Tuple[Tuple[object, Term], ...]]
# Bumped whenever the records change shape: cached summaries of another shape are not read.
FORMAT = "clients-5"


@dataclass(frozen=True)
class FunctionInfo:
    qual: str
    # Positional parameter names in order (including `self`/`cls` of a method).
    positional: Tuple[str, ...] = ()
    # Sorted tuples, not sets, here and below: a summary pickles to the same bytes in every
    # process, so its digest names it.
    keywords: Tuple[str, ...] = ()
    star: Optional[str] = None
    # function, method, classmethod, staticmethod, property
    kind: str = "function"
    contextmanager: bool = False
    # Decorated with a lazy proxy (`@LazyObject`): the name stands for what the function returns.
    lazy: bool = False
    owner: Optional[str] = None
    # Every `return` gives the value of a call made right there (directly, or through a local
    # bound only to calls), and no caching decorator: each call of it builds its result anew
    # (when that result is a client, the function is a fresh factory).
    fresh: bool = False


@dataclass(frozen=True)
class ClassInfo:
    qual: str
    methods: Dict[str, str]
    attrs: Tuple[str, ...]
    # method name -> the `self` attribute whose same-named command it forwards to.
    forwarders: Dict[str, str]
    # Field names of a dataclass-like class (keyword and positional construction), else None.
    fields: Optional[Tuple[str, ...]] = None
    # `__getattr__` hands out this `self` attribute's attributes: a full proxy of it.
    proxies: Optional[str] = None


@dataclass
class ClientSummary:
    module: str
    # symbol -> the terms that give it values (see `terms.py` for the symbol names).
    symbols: Dict[str, Tuple[Term, ...]] = field(default_factory=dict)
    functions: Dict[str, FunctionInfo] = field(default_factory=dict)
    classes: Dict[str, ClassInfo] = field(default_factory=dict)
    # name -> the qualified name a module-level `from x import name` binds.
    reexports: Dict[str, str] = field(default_factory=dict)
    calls: Tuple[CallSite, ...] = ()
    # symbol -> the Redis-only commands the code sends through it: usage evidence for a
    # receiver nothing else explains (`l:pkg.mod.f#name` names a local).
    usage: Dict[str, Tuple[str, ...]] = field(default_factory=dict)
    # function -> (receiver, command) of the commands it sends directly (a few at most): does
    # calling it wait for Redis? (`RedisDB.get` doing `self.REDIS.get(k)`).
    sends: Dict[str, Tuple[Tuple[Term, str], ...]] = field(default_factory=dict)


