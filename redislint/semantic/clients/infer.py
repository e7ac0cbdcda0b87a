"""Is this expression a Redis client (or a pipeline, lock, pubsub, script made from one)?

The question every rule asks, answered at lint time from three sources: the names bound in the
scopes around the expression (the model's bindings), this module's definitions, and the
project-wide solution (`solve.py`): what callers pass for parameters, what attributes are given
in any module, what functions return, which classes wrap a client. The expression is translated
into a term (`translate.py`) and evaluated (`evaluate.py`) exactly as the solver does, so the
editor, a single file and a whole-project run all get the same answer.
"""

from __future__ import annotations

from typing import Callable, Dict, Optional, Sequence

import libcst as cst

from redislint.semantic.clients.evaluate import Evaluator, to_object
from redislint.semantic.clients.objects import RedisObject
from redislint.semantic.clients.solve import ProjectClients
from redislint.semantic.clients.summary import LocalTerms, summarize_clients
from redislint.semantic import redispy
from redislint.semantic.clients.terms import (
    param_symbol,
    NONE, Call, Cls, Enter, Index, Iter, Known, Obj, Term, Values, known,
)
from redislint.semantic.clients.translate import (
    Translator, function_env, Env,
)
from redislint.semantic.facts import ClassFacts, FunctionFacts, ModuleFacts
from redislint.semantic.names import dotted

# A binding known to hold nothing Redis (it hides an outer name of the same spelling).
SHADOW: Values = NONE
_PROBABLE: Values = frozenset((RedisObject("client", evidence="probable"),))
_PROBABLE_PIPELINE: Values = frozenset((RedisObject("pipeline", transaction=None,
                                                    evidence="probable"),))
# A lookup answers a bare name: the values it is bound to (SHADOW: bound, nothing known), or
# None when the name is not bound there.
Lookup = Callable[[str], Optional[Values]]


def no_locals(name: str) -> Optional[Values]:
    return None


class Inferer:
    """Client questions about one module, against the project's solved client facts."""

    def __init__(self, facts: ModuleFacts, index=None, client_names: Sequence[str] = (),
                 module: Optional[cst.Module] = None) -> None:
        self.facts = facts
        self.index = index
        self.client_names = frozenset(n for n in client_names if "." not in n)
        self.client_paths = frozenset(n for n in client_names if "." in n)
        self.translator = Translator(facts, self.client_names)
        project = getattr(index, "clients", None)
        module_name = self.translator.module
        if project is None or (module is not None and module_name not in project.reexports):
            # Linted on its own (a test, a file the index does not cover): this module is its
            # own project.
            summaries = [summarize_clients(module, facts, self.client_names)] if module else []
            project = ProjectClients(summaries, self.client_paths)
        if module is not None:
            project = project.overlay(LocalTerms(facts, self.client_names))
        self.project: ProjectClients = project
        self.evaluator: Evaluator = project.evaluator
        self._quals: Dict[int, str] = {}
        self._sent: Dict[str, list] = {}
        for name, func in facts.functions.items():
            self._quals[id(func.node)] = self.translator.qual(name)
        for cname, cls in facts.classes.items():
            self._quals[id(cls.node)] = self.translator.qual(cname)
            for mname, func in cls.methods.items():
                self._quals[id(func.node)] = self.translator.qual(f"{cname}.{mname}")

    # -- the questions --------------------------------------------------------------------
    def values(self, expr: cst.BaseExpression, lookup: Lookup = no_locals,
               cls: Optional[ClassFacts] = None, self_name: Optional[str] = None) -> Values:
        return self.evaluator.values(self.term(expr, lookup, cls))

    def infer(self, expr: cst.BaseExpression, lookup: Lookup = no_locals,
              cls: Optional[ClassFacts] = None, self_name: Optional[str] = None
              ) -> Optional[RedisObject]:
        return self.object_of(self.values(expr, lookup, cls, self_name))

    def object_of(self, values: Values) -> Optional[RedisObject]:
        return to_object(values, self.evaluator) if values else None

    def term(self, expr: cst.BaseExpression, lookup: Lookup = no_locals,
             cls: Optional[ClassFacts] = None) -> Term:
        owner = self.class_qual(cls)
        return self.translator.term(expr, _env(lookup), owner)

    def entered(self, expr: cst.BaseExpression, lookup: Lookup, cls: Optional[ClassFacts]
                ) -> Values:
        """What `with expr as x` binds to `x`."""
        return self.evaluator.values(Enter(self.term(expr, lookup, cls)))

    def iterated(self, expr: cst.BaseExpression, lookup: Lookup, cls: Optional[ClassFacts],
                 position: Optional[int] = None) -> Values:
        """What `for x in expr` binds to `x` (or to element `position` of a tuple target)."""
        element: Term = Iter(self.term(expr, lookup, cls))
        return self.evaluator.values(element if position is None else Index(element, position))

    def annotation_values(self, annotation: Optional[cst.BaseExpression]) -> Values:
        if annotation is None:
            return NONE
        return self.evaluator.values(self.translator.type_term(annotation))

    def annotation(self, annotation: Optional[cst.BaseExpression]) -> Optional[RedisObject]:
        return self.object_of(self.annotation_values(annotation))

    def sent_by(self, function: str):
        """(Redis object, command) for each command a project function sends directly."""
        found = self._sent.get(function)
        if found is None:
            found = self._sent[function] = []
            for term, command in self.project.sends.get(function, ()):
                receiver = self.object_of(self.evaluator.values(term))
                if receiver is not None:
                    found.append((receiver, command))
        return found

    # -- definitions of this module -------------------------------------------------------
    def class_qual(self, cls: Optional[ClassFacts]) -> Optional[str]:
        return self._quals.get(id(cls.node)) if cls is not None else None

    def function_qual(self, node: cst.CSTNode) -> Optional[str]:
        return self._quals.get(id(node))

    def parameter_values(self, function: Optional[str], name: str) -> Values:
        """What the project's callers pass for a parameter (empty when nothing is known)."""
        if function is None:
            return NONE
        return self.project.read(param_symbol(function, name))

    def probable_local(self, function: Optional[str], name: str,
                       value: Optional[cst.BaseExpression] = None) -> Values:
        """A local the function sends two Redis-only commands, bound to something unknown:
        probably a client, or the pipeline it made (`pipe = conn.pipeline()`)."""
        if function is None or f"l:{function}#{name}" not in self.project.probable_locals:
            return NONE
        if isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) and \
                value.func.attr.value in redispy.PIPELINE_METHODS:
            term = self.translator.term(value)
            transaction = term.opts.transaction if isinstance(term, Call) else None
            return frozenset((RedisObject(
                "pipeline", evidence="probable",
                transaction=None if transaction == "?" else transaction is not False),))
        return _PROBABLE_PIPELINE if "pipe" in name.lower() else _PROBABLE

    def self_values(self, function: Optional[str], cls: Optional[ClassFacts]) -> Values:
        """`self` (or `cls`) in a method: an instance (or the class) of the project class."""
        owner = self.class_qual(cls)
        if owner is None:
            return NONE
        info = self.project.functions.get(function or "")
        if info is not None and info.kind == "classmethod":
            return frozenset((Cls(owner),))
        return frozenset((Obj(owner),))

    def subclass_of_client(self, cls: ClassFacts, depth: int = 0) -> Optional[RedisObject]:
        """`class Database(redis.Redis)`: instances, and `self` inside, are clients."""
        owner = self.class_qual(cls)
        return self.evaluator.client_class(owner) if owner is not None else None

    def qualify(self, expr: cst.BaseExpression) -> Optional[str]:
        name = dotted(expr)
        if name is None:
            return None
        return self.facts.imports.qualify(name)

    def function_returns(self, func: FunctionFacts, cls: Optional[ClassFacts]
                         ) -> Optional[RedisObject]:
        qual = self._quals.get(id(func.node))
        if qual is None:
            return None
        return self.object_of(self.project.read("r:" + qual))

    def function_lookup(self, func: FunctionFacts, cls: Optional[ClassFacts]) -> Lookup:
        """Names inside a function judged without walking it: parameters and simple locals."""
        qual = self._quals.get(id(func.node))
        owner = self.class_qual(cls)
        first = next(iter(func.params), None) if cls is not None else None
        first_value: Optional[Term] = None
        if first is not None and owner is not None:
            first_value = known(Obj(owner))
        env = function_env(self.translator, qual or "", func, owner, first, first_value)

        def lookup(name: str) -> Optional[Values]:
            term = env(name)
            return None if term is None else self.evaluator.values(term)

        return lookup


def _env(lookup: Lookup) -> Env:
    def env(name: str) -> Optional[Term]:
        found = lookup(name)
        return None if found is None else Known(found)

    return env
