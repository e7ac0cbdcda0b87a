"""The project-wide fixpoint: which symbols of the project hold Redis clients.

Every module's summary says which terms feed which symbol and what its calls pass on. Values
only grow: a symbol starts with nothing, and whenever something it reads changes it is evaluated
again, until nothing changes (a worklist over the symbols and call sites that read each symbol).
A call site passes its arguments' values on to the parameters of whatever it calls: a function,
a method reached through an instance, a class (its `__init__`, or its fields), `super()`; a value
handed over that way is `inferred`, no longer `proven`.

The result, `ProjectClients`, answers lint-time questions (`Project.read`, `resolve`) and is what
workers receive; it holds no terms, only values, so it is small and libcst-free.
"""

from __future__ import annotations

from typing import Dict, FrozenSet, Iterable, List, Optional, Set, Tuple

from redislint.semantic.clients.evaluate import Evaluator, Project, cap, is_other, to_object
from redislint.semantic.clients.records import ClassInfo, FunctionInfo
from redislint.semantic.clients.objects import RedisObject
from redislint.semantic.redispy import CLIENT_PACKAGES
from redislint.semantic.clients.records import ClientSummary
from redislint.semantic.clients.terms import (
    NONE, Cls, Func, Known, Method, Obj, Q, Values, param_symbol,
)

_ROUNDS = 60
# Packages that are never project code, even when a project vendors a copy.
_EXTERNAL_ROOTS = frozenset(CLIENT_PACKAGES)
_CONFIGURED = frozenset((RedisObject("client"),))
PROBABLE = RedisObject("client", evidence="probable")
# Named like a pipeline (`pipe`, `pipeline`): probably one, of unknown atomicity.
PROBABLE_PIPELINE = RedisObject("pipeline", transaction=None, evidence="probable")


def probable(symbol: str) -> RedisObject:
    name = symbol.rsplit("#", 1)[-1].rsplit(".", 1)[-1]
    return PROBABLE_PIPELINE if "pipe" in name.lower() else PROBABLE


class ProjectClients(Project):
    """The solved client facts of a project (or of one module, when linted on its own)."""

    def __init__(self, summaries: Iterable[ClientSummary] = (),
                 client_paths: FrozenSet[str] = frozenset()) -> None:
        self.functions: Dict[str, FunctionInfo] = {}
        self.classes: Dict[str, ClassInfo] = {}
        self.reexports: Dict[str, Dict[str, str]] = {}
        self.values: Dict[str, Values] = {}
        self.globals: Set[str] = set()
        self.sends: Dict[str, tuple] = {}
        self.client_paths = client_paths
        self._suffixes: Dict[str, Optional[str]] = {}
        self._resolved: Dict[str, Values] = {}
        self._places: Dict[str, Tuple] = {}
        self._resolving: Set[str] = set()
        self._reading: Optional[Dict[str, None]] = None
        self.flow_targets: Set[str] = set()
        # Grows whenever some class's bases do (class answers memoised per generation).
        self.bases_generation = 0
        # Names outside the known modules that calls hand a client to: maybe project modules
        # not read yet (the runner reads them and solves again).
        self.handed_out: Set[str] = set()
        # Locals (`l:pkg.mod.f#name`) the code sends two Redis-only commands: probably clients
        # when nothing else says what they are (the model decides, where it binds them).
        self.probable_locals: Set[str] = set()
        # The same solution whatever order the modules came in (workers answer in any order).
        summaries = sorted(summaries, key=lambda s: s.module)
        for summary in summaries:
            self.reexports[summary.module] = summary.reexports
            self.functions.update(summary.functions)
            self.classes.update(summary.classes)
            self.globals.update(s[2:] for s in summary.symbols if s.startswith("m:"))
            self.sends.update(summary.sends)
        for module in self.reexports:
            parts = module.split(".")
            for start in range(1, len(parts)):
                suffix = ".".join(parts[start:])
                self._suffixes[suffix] = None if suffix in self._suffixes else module
        self.evaluator = Evaluator(self, client_paths)
        if summaries:
            _Solver(self, summaries).run()
        self._reading = None
        self._resolved = {}
        self.evaluator.final = True

    # -- Project ----------------------------------------------------------------------------
    def read(self, symbol: str) -> Values:
        if self._reading is not None:
            self._reading[symbol] = None
        return self.values.get(symbol, NONE)

    def resolve(self, qual: str) -> Values:
        if qual in self.client_paths:
            return _CONFIGURED
        final = self._reading is None
        if final:
            found = self._resolved.get(qual)
            if found is not None:
                return found
        if qual in self._resolving or len(self._resolving) > 16:
            return NONE  # a name defined through itself (`x = mod.x`), or a very long chain
        self._resolving.add(qual)
        try:
            found = self._resolve(qual, 0)
        finally:
            self._resolving.discard(qual)
        if final:
            self._resolved[qual] = found
        return found

    def _resolve(self, qual: str, depth: int) -> Values:
        place = self._places.get(qual)
        if place is None:
            place = self._places[qual] = self._place(qual, 0)
        kind = place[0]
        if kind == "function":
            info = self.functions[place[1]]
            if info.lazy:
                return self.read("r:" + info.qual)
            return frozenset((Func(place[1]),))
        if kind == "class":
            return frozenset((Cls(place[1]),))
        if kind == "global":
            return self.read("m:" + place[1])
        if kind == "attribute":
            values = self._resolve(place[1], depth + 1) if depth < 8 else NONE
            for part in place[2]:
                values = self.evaluator._each(
                    values, lambda v, part=part: self.evaluator.attribute(v, part, 0))
            return values
        if kind == "external":
            return frozenset((Q(place[1]),))
        return NONE

    def _place(self, qual: str, depth: int) -> Tuple:
        """Where a dotted name lives: a definition, an attribute of one, a re-export followed,
        or outside the project. Static: computed once per name."""
        if qual.split(".", 1)[0] in _EXTERNAL_ROOTS:
            return ("external", qual)
        if qual in self.functions and self.functions[qual].owner is None:
            return ("function", qual)
        if qual in self.classes:
            return ("class", qual)
        if qual in self.globals:
            return ("global", qual)
        parts = qual.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            module = self._module(".".join(parts[:cut]))
            if module is None:
                continue
            head, rest = parts[cut], parts[cut + 1:]
            target = f"{module}.{head}"
            if rest:
                if depth < 8 and (target in self.functions or target in self.classes
                                  or target in self.globals or head in self.reexports[module]):
                    return ("attribute", target, tuple(rest))
                inner = self._module(target)
                if inner is not None and depth < 8:
                    return self._place(".".join([inner, *rest]), depth + 1)
                continue
            if target != qual and (target in self.functions or target in self.classes
                                   or target in self.globals):
                return self._place(target, depth + 1)
            reexported = self.reexports[module].get(head)
            if reexported is not None and reexported != qual and depth < 8:
                return self._place(reexported, depth + 1)
            # Not defined there: a submodule not read (yet), or an attribute made at run time.
            return ("external", target)
        return ("external", qual)

    def _module(self, name: str) -> Optional[str]:
        if name in self.reexports:
            return name
        found = self._suffixes.get(name)
        if found is not None:
            return found
        parts = name.split(".")
        for start in range(1, len(parts)):
            candidate = ".".join(parts[start:])
            if candidate in self.reexports:
                return candidate
        return None

    # -- answers for the rest of the engine -------------------------------------------------
    def module_of(self, qual: str) -> Optional[str]:
        """The module that defines a function or class."""
        parts = qual.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            module = ".".join(parts[:cut])
            if module in self.reexports:
                return module
        return None

    def object_of(self, values: Values) -> Optional[RedisObject]:
        return to_object(values, self.evaluator)

    def exported_names(self) -> Set[str]:
        """Last names of the definitions through which a client can be reached: other files
        that mention one may use a client without mentioning redis."""
        names = set()
        for symbol, values in self.values.items():
            if symbol[0] in "mra" and self.object_of(values) is not None:
                qual = symbol[2:]
                if symbol[0] == "a":  # the class that holds one (an attribute's name is no clue)
                    names.add(qual.rsplit(".", 2)[-2])
                elif "." in qual.split(".")[-1] or qual.count(".") and \
                        qual.rsplit(".", 1)[0] in self.classes:  # a method: its class
                    names.add(qual.rsplit(".", 2)[-2])
                else:
                    names.add(qual.rsplit(".", 1)[-1])
        for qual in self.classes:
            if self.evaluator.client_view(qual) is not None:
                names.add(qual.rsplit(".", 1)[-1])
        return names

    def overlay(self, local) -> "ProjectClients":
        """This solution seen from one module being linted: its own symbols are evaluated again
        from terms that keep their CST nodes (a rule asks which call built a lock or a client),
        everything else is read from the solution."""
        view = object.__new__(_Overlay)
        view.__dict__.update(self.__dict__)
        view._resolved = {}
        view._resolving = set()
        view._reading = None
        view._local = local
        view._memo = {}
        view._active = set()
        view.evaluator = Evaluator(view, self.client_paths)
        view.evaluator.final = True
        return view

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_reading"] = None
        state["_resolved"] = {}
        state["_places"] = {}
        state["_resolving"] = set()
        return state


class _Overlay(ProjectClients):
    _local: "LocalTerms"
    _memo: Dict[str, Values]
    _active: Set[str]

    def read(self, symbol: str) -> Values:
        solved = self.values.get(symbol, NONE)
        # Only Redis objects carry the node that built them: nothing else to re-evaluate.
        if not any(type(v) is RedisObject for v in solved):
            return solved
        found = self._memo.get(symbol)
        if found is not None:
            return found
        if symbol in self._active:
            return solved
        terms = self._local.get(symbol)
        if terms is None:
            return solved
        self._active.add(symbol)
        local: set = set()
        try:
            for term in terms:
                local |= self.evaluator.values(term)
        finally:
            self._active.discard(symbol)
        # Equal values compare equal whatever built them: the local ones (with their nodes)
        # are kept, the solution adds what flows in from elsewhere.
        found = self._memo[symbol] = cap(frozenset(local) | solved)
        return found


class _Solver:
    def __init__(self, project: ProjectClients, summaries: List[ClientSummary]) -> None:
        self.project = project
        self.static: Dict[str, list] = {}
        for summary in summaries:
            for symbol, terms in summary.symbols.items():
                self.static.setdefault(symbol, []).extend(terms)
        self.calls = [call for summary in summaries for call in summary.calls]
        self.usage: Dict[str, Set[str]] = {}
        self.usage_module: Dict[str, str] = {}
        for summary in summaries:
            for symbol, commands in summary.usage.items():
                self.usage.setdefault(symbol, set()).update(commands)
                self.usage_module.setdefault(symbol, summary.module)
        self.flowed: Dict[str, Set] = {}
        # Ordered (dicts, not sets): the worklist runs in the same order in every process.
        self.readers: Dict[str, Dict[object, None]] = {}

    def run(self) -> None:
        # The worklist is popped from its end: bases first (classes are looked up against them,
        # and their answers memoised while they hold), then the other symbols, then the calls.
        bases = [s for s in self.static if s[0] == "b"]
        others = [s for s in self.static if s[0] != "b"]
        self._fixpoint([*range(len(self.calls))][::-1] + others[::-1] + bases[::-1])
        self._fixpoint(self._usage_evidence())

    def _usage_evidence(self) -> List[object]:
        """Last, where nothing else decides: a parameter, attribute or global the code sends
        two Redis-only commands (`hset`, `zadd`, `brpop`...) is probably a client; never one
        known to be something else (a dict, Django's cache, a project object)."""
        project = self.project
        again: List[object] = []
        convention = self._conventions()
        for symbol, commands in sorted(self.usage.items()):
            if len(commands) < 2 and not (symbol[0] == "p" and self._convention(symbol) in convention):
                continue
            if symbol.startswith("l:"):
                project.probable_locals.add(symbol)
                continue
            values = project.values.get(symbol, NONE)
            if project.object_of(values) is not None or is_other(values):
                continue
            if self._grow(symbol, {probable(symbol)}):
                again.extend(self.readers.get(symbol, ()))
        return again

    def _conventions(self) -> Set[Tuple[str, str]]:
        """(module, parameter name) pairs that two functions of the module or more send two
        Redis-only commands through (`def vote(conn, ...)`, `def post(conn, ...)`: the
        module's convention for its client parameter). A parameter of that name in another
        function of the module is then a probable client on one such command (a worker that
        only does `conn.blpop(...)`)."""
        counts: Dict[Tuple[str, str], int] = {}
        for symbol, commands in self.usage.items():
            if symbol[0] == "p" and len(commands) >= 2:
                key = self._convention(symbol)
                counts[key] = counts.get(key, 0) + 1
        return {key for key, count in counts.items() if count >= 2}

    def _convention(self, symbol: str) -> Tuple[str, str]:
        """`p:pkg.mod.f#conn` -> ("pkg.mod", "conn"): the module the function is in."""
        return self.usage_module.get(symbol, ""), symbol.rpartition("#")[2]

    def _fixpoint(self, queue: List[object]) -> None:
        project = self.project
        evaluator = project.evaluator
        queued = set(queue)
        budget = _ROUNDS * max(len(queue), 1)
        while queue and budget:
            budget -= 1
            unit = queue.pop()
            queued.discard(unit)
            project._reading = reading = {}
            changed: List[str] = []
            if isinstance(unit, str):
                found: set = set(self.flowed.get(unit, ()))
                for term in self.static.get(unit, ()):
                    found |= evaluator.values(term)
                if self._grow(unit, found):
                    changed.append(unit)
            else:
                changed.extend(self._call(unit))
            project._reading = None
            for symbol in reading:
                self.readers.setdefault(symbol, {})[unit] = None
            for symbol in changed:
                for reader in self.readers.get(symbol, ()):
                    if reader not in queued:
                        queued.add(reader)
                        queue.append(reader)

    def _grow(self, symbol: str, found: set) -> bool:
        old = self.project.values.get(symbol, NONE)
        new = cap(old | found)
        if new != old:
            self.project.values[symbol] = new
            if symbol[0] == "b":
                self.project.bases_generation += 1
            return True
        return False

    def _call(self, index: int) -> List[str]:
        """Pass what a call site's arguments hold on to the parameters they fill."""
        project = self.project
        evaluator = project.evaluator
        func, args = self.calls[index]
        changed = []
        for target in evaluator.values(func):
            if isinstance(target, Q):
                if any(project.object_of(evaluator.values(term)) is not None for _, term in args):
                    project.handed_out.add(target.name)
                continue
            for symbol, term in self._parameters(target, args):
                handed = frozenset(v.weakened("inferred") if isinstance(v, RedisObject) else v
                                   for v in evaluator.values(term))
                if not handed:
                    continue
                flowed = self.flowed.setdefault(symbol, set())
                if handed <= flowed:
                    continue
                flowed |= handed
                if self._grow(symbol, set(handed)):
                    changed.append(symbol)
                    owner = symbol[2:].split("#")[0]
                    project.flow_targets.add(owner)
        return changed

    def _parameters(self, target, args):
        project = self.project
        evaluator = project.evaluator
        if isinstance(target, Method) and target.name == "transaction" and \
                isinstance(target.owner, RedisObject) and target.owner.role == "client":
            # `r.transaction(fn, *keys)` calls `fn(pipe)` with a pipeline that runs each command
            # at once until `pipe.multi()`: atomicity depends on where, so unknown here.
            for key, term in args:
                if key == 0:
                    for func in evaluator.values(term):
                        info = project.functions.get(func.qual) if isinstance(func, Func) else None
                        if info is not None and info.positional:
                            yield param_symbol(info.qual, info.positional[0]), Known(frozenset((
                                target.owner.derive("pipeline", transaction=None).weakened(
                                    "inferred"),)))
            return
        if isinstance(target, Func):
            info = project.functions.get(target.qual)
            if info is None:
                return
            offset = 1 if target.bound and info.kind in ("method", "classmethod", "property") else 0
            yield from self._fill(info, offset, args)
        elif isinstance(target, Cls):
            init = evaluator._method(target.qual, "__init__")
            if init is not None:
                info = project.functions.get(init)
                if info is not None:
                    yield from self._fill(info, 1, args)
                return
            for base in evaluator.mro(target.qual):
                if isinstance(base, Cls):
                    fields = project.classes[base.qual].fields if base.qual in project.classes else None
                    if fields:
                        for key, term in args:
                            name = fields[key] if isinstance(key, int) and key < len(fields) else key
                            if isinstance(name, str) and name in fields:
                                yield f"a:{base.qual}.{name}", term
                        return

    @staticmethod
    def _fill(info: FunctionInfo, offset: int, args):
        for key, term in args:
            if isinstance(key, int):
                position = key + offset
                if position >= len(info.positional):
                    continue
                name = info.positional[position]
            elif key in info.keywords:
                name = key
            else:
                continue
            yield param_symbol(info.qual, name), term
