"""The semantic model rules query during the one traversal of a file.

It keeps the scope stack (module, class, function, lambda), the names bound to Redis objects in
each scope, local variables that hold keys, and every Redis command call with its context: which
object it runs on, its key, whether it runs atomically, inside a loop, inside `async def`, under a
lock. Rules receive `on_redis_call(call)` as each call is met and `on_scope_exit(scope)` when a
function (or the module) is complete, with its calls in execution order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple

import libcst as cst

from redislint.semantic.facts import ClassFacts, ModuleFacts
from redislint.semantic.clients.infer import SHADOW, Inferer
from redislint.semantic.keys.expressions import Key, is_bare_hole, key_of, source
from redislint.semantic.names import dotted, string_value
from redislint.semantic.redispy import RedisObject

_LOOPS = (cst.For, cst.While)
# Client methods that send the command they are given by name.
RAW_COMMANDS = frozenset({"execute_command", "send_command"})


def raw_command(node: cst.Call) -> Optional[str]:
    """`execute_command("BRPOP", ...)` -> `brpop`; `"CLIENT", "SETNAME"` or `"CLIENT SETNAME"`
    -> `client_setname`; None when the name is not a literal."""
    texts = []
    for arg in node.args[:2]:
        if arg.keyword is not None or arg.star or not isinstance(
                arg.value, (cst.SimpleString, cst.ConcatenatedString)):
            break
        text = string_value(arg.value)
        if not text:
            break
        texts.append(text.strip())
    if not texts:
        return None
    first = texts[0]
    if " " in first:
        return "_".join(first.lower().split())
    if first.upper() in _CONTAINER_COMMANDS and len(texts) > 1:
        return f"{first}_{texts[1]}".lower()
    return first.lower()


# Commands whose second word names the subcommand (`CLIENT SETNAME`, `CONFIG GET`).
_CONTAINER_COMMANDS = frozenset({"CLIENT", "CONFIG", "SCRIPT", "FUNCTION", "ACL", "CLUSTER",
                                 "MEMORY", "SLOWLOG", "LATENCY", "COMMAND", "XGROUP", "XINFO",
                                 "MODULE", "OBJECT"})
_COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)
_FUNCTIONS = (cst.FunctionDef, cst.Lambda)
_BRANCHING = (cst.If, cst.Try, cst.TryStar, cst.Match, cst.FunctionDef, cst.Lambda)


@dataclass
class Scope:
    node: cst.CSTNode
    kind: str  # module, class, function, lambda
    parent: Optional["Scope"]
    is_async: bool = False
    cls: Optional[ClassFacts] = None
    self_name: Optional[str] = None
    bindings: Dict[str, object] = field(default_factory=dict)
    # The function's qualified name in the project (`pkg.mod.Class.method`), when it has one.
    qual: Optional[str] = None
    # Rebinding history for names bound more than once: (block, branching statement, value).
    history: Dict[str, List[tuple]] = field(default_factory=dict)
    ancestors: List[cst.CSTNode] = field(default_factory=list, repr=False)
    keys: Dict[str, Key] = field(default_factory=dict)
    calls: List["RedisCall"] = field(default_factory=list)
    transactions: Set[str] = field(default_factory=set)

    def lookup(self, name: str) -> object:
        """Python's LEGB for our bindings: class bodies are not visible from their methods."""
        scope: Optional[Scope] = self
        first = True
        while scope is not None:
            if scope.kind != "class" or first:
                if name in scope.history:
                    return scope._visible(name)
                if name in scope.bindings:
                    return scope.bindings[name]
            first = False
            scope = scope.parent
        return None

    def bind(self, name: str, value: object) -> None:
        """Bind `name`; a rebinding in one branch must not leak into a sibling branch
        (`if url: c = Redis.from_url(url) else: c.split(",")` keeps `c` a string there)."""
        if name in self.bindings:
            entries = self.history.setdefault(name, [(None, None, self.bindings[name])])
            block = owner = None
            for node in reversed(self.ancestors):
                if block is None and isinstance(node, cst.BaseSuite):
                    block = node
                if isinstance(node, _BRANCHING):
                    owner = node
                    break
            entries.append((block, owner, value))
        self.bindings[name] = value

    def _visible(self, name: str) -> object:
        current = set(map(id, self.ancestors))
        for block, owner, value in reversed(self.history[name]):
            if block is None or id(block) in current or owner is None or id(owner) not in current:
                return value
        return self.bindings[name]

    def key_lookup(self, name: str) -> Optional[Key]:
        scope: Optional[Scope] = self
        while scope is not None:
            if name in scope.keys:
                return scope.keys[name]
            if name in scope.bindings:
                return None
            scope = scope.parent
        return None

    @property
    def function(self) -> Optional[cst.CSTNode]:
        return self.node if self.kind in ("function", "lambda") else None


@dataclass
class RedisCall:
    """A command (or lock/pipeline operation) sent through a Redis object."""

    node: cst.Call
    command: str
    receiver: RedisObject
    receiver_text: str
    scope: Scope
    ancestors: Tuple[cst.CSTNode, ...]
    key: Optional[Key]
    atomic: Optional[bool]
    # Sent by name (`execute_command("BRPOP", k, 0)`): the command's arguments follow the name.
    raw: bool = False

    @property
    def parent(self) -> cst.CSTNode:
        return self.ancestors[-1]

    @property
    def args(self) -> List[cst.Arg]:
        positional = [a for a in self.node.args if a.keyword is None and not a.star]
        return positional[1:] if self.raw else positional

    def arg(self, position: Optional[int] = None, name: Optional[str] = None
            ) -> Optional[cst.BaseExpression]:
        """The argument passed at `position` or as keyword `name`."""
        for arg in self.node.args:
            if name is not None and arg.keyword is not None and arg.keyword.value == name:
                return arg.value
        positional = self.args
        if position is not None and position < len(positional):
            return positional[position].value
        return None

    def has_kwarg(self, *names: str) -> bool:
        return any(a.keyword is not None and a.keyword.value in names for a in self.node.args)

    @property
    def has_star_args(self) -> bool:
        return any(a.star for a in self.node.args)

    @property
    def awaited(self) -> bool:
        return isinstance(self.parent, cst.Await)

    @property
    def statement(self) -> Optional[cst.CSTNode]:
        """The simple statement line (or compound statement header) the call belongs to."""
        for node in reversed(self.ancestors):
            if isinstance(node, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
                return node
        return None

    @property
    def result_unused(self) -> bool:
        """True when the call is a bare expression statement (`r.set(k, v)` on its own)."""
        parent = self.parent
        if isinstance(parent, cst.Await):
            parent = self.ancestors[-2]
        return isinstance(parent, cst.Expr)

    @property
    def loop(self) -> Optional[cst.CSTNode]:
        return innermost_loop(self.ancestors, self.node)


def innermost_loop(ancestors: Sequence[cst.CSTNode], node: cst.CSTNode) -> Optional[cst.CSTNode]:
    """The loop or comprehension that runs `node` once per iteration, if any.

    A `for` loop's iterable and `else` run once; a comprehension's first iterable runs once.
    The search stops at the enclosing function: defining a function in a loop is not calling it.
    """
    chain = list(ancestors) + [node]
    for index in range(len(chain) - 2, -1, -1):
        holder, child = chain[index], chain[index + 1]
        if isinstance(holder, _FUNCTIONS):
            return None
        if isinstance(holder, cst.For):
            if child is holder.body:
                return holder
        elif isinstance(holder, cst.While):
            if child is holder.body or child is holder.test:
                return holder
        elif isinstance(holder, _COMPREHENSIONS):
            outer = holder.for_in
            if child is not outer:
                return holder
            grandchild = chain[index + 2] if index + 2 < len(chain) else None
            if grandchild is not None and grandchild is not outer.iter:
                return holder
    return None


def _chain_root(receiver: cst.BaseExpression,
                infer: Callable[[cst.BaseExpression], Optional[RedisObject]]) -> cst.BaseExpression:
    """The pipeline a chained call is queued on: `pipe` for `pipe.set(k, v).expire(k, 5)`, so
    every command of one chain has the same `receiver_text`."""
    while isinstance(receiver, cst.Call) and isinstance(receiver.func, cst.Attribute):
        inner = infer(receiver.func.value)
        if inner is None or inner.role != "pipeline":
            break
        receiver = receiver.func.value
    return receiver


class SemanticModel:
    """Tracks context during the traversal and answers rules' questions about it."""

    def __init__(self, module: cst.Module, facts: ModuleFacts, inferer: Inferer,
                 path: str = "") -> None:
        self.module = module
        # The file being linted, as given on the command line ("" when unknown).
        self.path = path
        self.facts = facts
        self.inferer = inferer
        self.ancestors: List[cst.CSTNode] = []
        self.scope = Scope(module, "module", None, ancestors=self.ancestors)
        self.module_scope = self.scope
        self.redis_calls: List[RedisCall] = []
        self._inferred: Dict[int, Tuple[cst.CSTNode, Optional[RedisObject]]] = {}
        self._qualified: Dict[int, Tuple[cst.CSTNode, Optional[str]]] = {}
        self.on_call: List[Callable[[RedisCall], None]] = []
        self.on_scope_exit: List[Callable[[Scope], None]] = []
        self._class_stack: List[Optional[ClassFacts]] = []
        # Redis calls whose arguments or chained receiver are still being walked.
        self._open_calls: List[RedisCall] = []

    # -- questions rules ask --------------------------------------------------------------
    def infer(self, expr: cst.BaseExpression) -> Optional[RedisObject]:
        """Memoised per node: many rules ask about the same receiver, and the answer is the
        one that held where the node was met."""
        known = self._inferred.get(id(expr))
        if known is not None and known[0] is expr:  # the node itself: ids of dead nodes recur
            return known[1]
        scope = self.scope
        found = self.inferer.infer(expr, scope.lookup, self._method_class(), self._self_name())
        self._inferred[id(expr)] = (expr, found)
        return found

    def is_redis(self, expr: cst.BaseExpression, *roles: str) -> bool:
        found = self.infer(expr)
        return found is not None and (not roles or found.role in roles)

    def key(self, expr: Optional[cst.BaseExpression]) -> Optional[Key]:
        if expr is None:
            return None
        return key_of(expr, self.scope.key_lookup)

    def qualified_name(self, expr: cst.BaseExpression) -> Optional[str]:
        """`time.sleep` for `sleep` imported from time, else the dotted text itself."""
        known = self._qualified.get(id(expr))
        if known is None or known[0] is not expr:
            known = self._qualified[id(expr)] = (expr, self._qualify(expr))
        return known[1]

    def _qualify(self, expr: cst.BaseExpression) -> Optional[str]:
        name = dotted(expr)
        if name is None:
            return None
        if self.scope.lookup(name.split(".")[0]) is not None:
            return None
        return self.facts.imports.qualify(name) or name

    @property
    def in_async(self) -> bool:
        scope: Optional[Scope] = self.scope
        while scope is not None and scope.kind in ("lambda",):
            scope = scope.parent
        return scope is not None and scope.is_async

    def loop_of(self, node: cst.CSTNode) -> Optional[cst.CSTNode]:
        return innermost_loop(self.ancestors, node)

    def enclosing(self, *types: type) -> Optional[cst.CSTNode]:
        for node in reversed(self.ancestors):
            if isinstance(node, types):
                return node
        return None

    def held_locks(self) -> List[Tuple[cst.With, RedisObject, cst.BaseExpression]]:
        """`with` statements around the current node whose context manager is a Redis lock.

        A lock is held in its `with` body and in the items after its own, not while its own
        item (`r.lock(...)` itself) is evaluated."""
        held = []
        chain = self.ancestors
        for index, node in enumerate(chain):
            if isinstance(node, _FUNCTIONS):
                held = []
            if isinstance(node, cst.With):
                child = chain[index + 1] if index + 1 < len(chain) else None
                for item in node.items:
                    if item is child:
                        break
                    found = self.infer(item.item)
                    if found is not None and found.role == "lock":
                        held.append((node, found, item.item))
        return held

    # -- traversal hooks (registered around the rules' own handlers) ---------------------
    def visit_Module(self, node: cst.Module) -> None:
        pass

    def leave_Module(self, node: cst.Module) -> None:
        self._exit(self.module_scope)

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        facts = self.facts.classes.get(node.name.value) if self.scope.kind == "module" else None
        self._class_stack.append(facts)
        self.scope = Scope(node, "class", self.scope, cls=facts, ancestors=self.ancestors)

    def leave_ClassDef(self, node: cst.ClassDef) -> None:
        self._class_stack.pop()
        self.scope = self.scope.parent  # type: ignore[assignment]

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        enclosing = self.scope
        scope = Scope(node, "function", enclosing, is_async=node.asynchronous is not None,
                      ancestors=self.ancestors)
        qual = self.inferer.function_qual(node)
        scope.qual = qual
        if enclosing.kind == "class":
            scope.cls = enclosing.cls
            params = (*node.params.posonly_params, *node.params.params)
            info = self.inferer.project.functions.get(qual or "")
            if params and (info is None or info.kind != "staticmethod"):
                scope.self_name = params[0].name.value
        elif enclosing.kind in ("function", "lambda"):
            scope.cls, scope.self_name = enclosing.cls, enclosing.self_name
        self.scope = scope
        self._bind_params(node.params, qual)
        if scope.self_name and enclosing.kind == "class":
            scope.bindings[scope.self_name] = self._self_value(scope, qual)

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._exit(self.scope)
        self.scope = self.scope.parent  # type: ignore[assignment]

    def visit_Lambda(self, node: cst.Lambda) -> None:
        enclosing = self.scope
        self.scope = Scope(node, "lambda", enclosing, cls=enclosing.cls, self_name=enclosing.self_name,
                           ancestors=self.ancestors)
        self._bind_params(node.params)

    def leave_Lambda(self, node: cst.Lambda) -> None:
        self._exit(self.scope)
        self.scope = self.scope.parent  # type: ignore[assignment]

    def leave_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._bind(target.target, node.value)

    def leave_AnnAssign(self, node: cst.AnnAssign) -> None:
        if isinstance(node.target, cst.Name):
            found = self.inferer.annotation_values(node.annotation.annotation)
            if found:
                if self.scope.kind in ("function", "lambda"):
                    self.scope.bind(node.target.value, found)
                return
        if node.value is not None:
            self._bind(node.target, node.value)

    def visit_With(self, node: cst.With) -> None:
        for item in node.items:
            if item.asname is not None:
                target = item.asname.name
                if isinstance(target, cst.Name):
                    values = self.inferer.entered(item.item, self.scope.lookup, self.scope.cls)
                    if values and self.scope.kind in ("function", "lambda"):
                        self.scope.bind(target.value, values)
                        self.scope.keys.pop(target.value, None)
                        continue
                self._bind(target, item.item)

    def visit_For(self, node: cst.For) -> None:
        self._bind_iterated(node.target, node.iter)

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self._bind_iterated(node.target, node.iter)

    def _bind_iterated(self, target: cst.BaseExpression, source: cst.BaseExpression) -> None:
        """`for c in self.clients.values()`: each element of a container of clients is one."""
        self._shadow(target)
        if self.scope.kind not in ("function", "lambda"):
            return
        if isinstance(target, cst.Name):
            names = [(target.value, None)]
        elif isinstance(target, (cst.Tuple, cst.List)):
            names = [(e.value.value, i) for i, e in enumerate(target.elements)
                     if isinstance(e.value, cst.Name)]
        else:
            return
        for name, position in names:
            values = self.inferer.iterated(source, self.scope.lookup, self.scope.cls, position)
            if values:
                self.scope.bind(name, values)

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        if node.name is not None:
            self._shadow(node.name.name)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute):
            return
        receiver = self.infer(func.value)
        if receiver is None or receiver.role in ("factory", "node"):
            return
        command = func.attr.value.lower()
        raw = command in RAW_COMMANDS
        if raw:
            # `execute_command("BRPOP", key, 0)`: the command named, its arguments after it.
            named = raw_command(node)
            if named is None:
                return
            command = named
        elif not receiver.sends(command):
            return  # a wrapper's own method, not one it forwards to Redis
        receiver_text = source(_chain_root(func.value, self.infer))
        scope = self._function_scope()
        if command == "multi" and receiver.role == "pipeline":
            scope.transactions.add(receiver_text)
        atomic: Optional[bool] = False
        if receiver.role == "pipeline":
            atomic = True if receiver_text in scope.transactions else receiver.transaction
        positional = [a.value for a in node.args if a.keyword is None and not a.star]
        first = positional[1 if raw else 0] if len(positional) > (1 if raw else 0) else None
        if first is None:
            first = next((a.value for a in node.args
                          if a.keyword is not None and a.keyword.value in ("name", "key")), None)
        call = RedisCall(node, command, receiver, receiver_text, scope, tuple(self.ancestors),
                         self.key(first), atomic, raw)
        self._record(scope, call)
        self.redis_calls.append(call)
        for handler in self.on_call:
            handler(call)

    def leave_Call(self, node: cst.Call) -> None:
        if self._open_calls and self._open_calls[-1].node is node:
            self._open_calls.pop()

    # -- internals ------------------------------------------------------------------------
    def _record(self, scope: Scope, call: RedisCall) -> None:
        """Add `call` to `scope.calls` in execution order: a call met while an enclosing Redis
        call of the same scope is still open (an argument, or the receiver of a chain such as
        `pipe.set(k, v).expire(k, 5)`) runs before it, so it goes in front of it."""
        calls = scope.calls
        position = len(calls)
        for open_call in reversed(self._open_calls):
            if open_call.scope is scope:
                position = next(i for i in range(len(calls) - 1, -1, -1) if calls[i] is open_call)
                break
        calls.insert(position, call)
        self._open_calls.append(call)

    def _function_scope(self) -> Scope:
        scope = self.scope
        while scope.kind == "class" and scope.parent is not None:
            scope = scope.parent
        return scope

    def _method_class(self) -> Optional[ClassFacts]:
        return self.scope.cls

    def _self_name(self) -> Optional[str]:
        return self.scope.self_name

    def _self_value(self, scope: Scope, qual: Optional[str]) -> object:
        """`self` in a method: an instance of its class (a client itself when the class
        subclasses `redis.Redis` or wraps one); `cls` in a classmethod: the class."""
        return self.inferer.self_values(qual, scope.cls) or SHADOW

    def _bind_params(self, params: cst.Parameters, qual: Optional[str] = None) -> None:
        """A parameter is what its annotation says, else what the project's callers pass."""
        every = (*params.posonly_params, *params.params, *params.kwonly_params)
        for param in every:
            annotation = param.annotation.annotation if param.annotation else None
            values = self.inferer.annotation_values(annotation) or \
                self.inferer.parameter_values(qual, param.name.value)
            self.scope.bind(param.name.value, values or SHADOW)
        for star in (params.star_arg, params.star_kwarg):
            if isinstance(star, cst.Param):
                self.scope.bind(star.name.value, SHADOW)

    def values(self, expr: cst.BaseExpression) -> object:
        """Everything the expression may hold (for bindings: an object, a container...)."""
        return self.inferer.values(expr, self.scope.lookup, self._method_class(),
                                   self._self_name())

    def _bind(self, target: cst.BaseExpression, value: cst.BaseExpression) -> None:
        if isinstance(target, cst.Name):
            name = target.value
            values = self.values(value) if self.scope.kind in ("function", "lambda") else SHADOW
            found = self.inferer.object_of(values) if values else None  # type: ignore[arg-type]
            if found is None and self.scope.kind not in ("function", "lambda"):
                found = self.infer(value)
            if self.scope.kind in ("function", "lambda"):
                if not values:
                    values = self.inferer.probable_local(self.scope.qual, name, value)
                # Module and class names come from the facts pre-pass, flow-insensitively.
                self.scope.bind(name, values or SHADOW)
            # A key that is all hole (`x = f(y)`) names nothing to remember.
            key = self.key(value) if found is None and not is_bare_hole(value) else None
            if key is not None and key.template.replace("{}", ""):
                self.scope.keys[name] = key
            else:
                self.scope.keys.pop(name, None)
        else:
            self._shadow(target)

    def _shadow(self, target: cst.CSTNode) -> None:
        if isinstance(target, cst.Name):
            self.scope.bind(target.value, SHADOW)
            self.scope.keys.pop(target.value, None)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._shadow(element.value)
        elif isinstance(target, cst.StarredElement):
            self._shadow(target.value)

    def _exit(self, scope: Scope) -> None:
        for handler in self.on_scope_exit:
            handler(scope)


