"""Optimistic transactions (WATCH ... MULTI/EXEC): what a conflict does, and who handles it.

When a key a pipeline WATCHes changes before EXEC, redis-py's `execute()` raises `WatchError`.
`watch_error_handling(chain, node, qualify)` says what the code around `node` does then:

- `HANDLED`: an enclosing `try` names `WatchError` (`except WatchError:`, `except
  (WatchError, ...)`, `except redis.WatchError:`): the conflict is dealt with on purpose,
  whether by retrying, giving up or reporting it;
- `RETRIED`: a broad handler (`except Exception`, `except RedisError`, a bare `except`)
  inside a loop that does not leave the loop (no `raise`/`return`/`break` at its end): the
  loop runs the transaction again;
- None: a conflict escapes as an exception, or is swallowed without a retry.

`watched_keys(calls, ignored)` are the keys a scope WATCHes, on any object but the pipelines
`ignored` names; `watch_only_pipelines(scope)` are the pipelines a scope makes that WATCH but
never start MULTI, and `immediate_calls(scope, names)` the commands sent on them after the
WATCH, which run at once and unprotected; `set_if_empty(call, watched)` tells whether a SET
queued after MULTI takes a watched key only when a read found it empty (an optimistic lock
take, not a compare-and-swap); `retry_decorated(func, qualify)` tells whether a
function is wrapped by a retry helper (tenacity, backoff, retrying); `guards(flow, chain,
node)` are the tests on a read's result that decide whether a later write runs
(check-then-act), `redirects(flow, chain, node, names)` the tests whose branch rebinds the
key variable a later write uses; `lock_like_context(chain)` / `takes_lock(scope_node)` tell
whether code runs under something that looks like a lock, Redis or not (python-redis-lock,
pottery's Redlock, django-redis `cache.lock()`, a semaphore): such code is serialised.
"""

from __future__ import annotations

import re
from typing import (TYPE_CHECKING, Callable, Dict, Iterable, Iterator, List, Optional, Sequence,
                    Set, Tuple)

import libcst as cst

from redislint.semantic.atomic.pipelines import made_pipelines
from redislint.semantic.flow.results import ResultFlow, scope_nodes
from redislint.semantic.keys.expressions import Key, key_of
from redislint.semantic.names import dotted
from redislint.semantic.keys.values import always_exits, truth_tests
from redislint.walk import iter_children

if TYPE_CHECKING:
    from redislint.semantic.model import RedisCall, Scope

HANDLED = "handled"
RETRIED = "retried"
_BROAD = frozenset({"Exception", "BaseException", "RedisError"})
_LOOPS = (cst.For, cst.While)
_FUNCTIONS = (cst.FunctionDef, cst.Lambda)
_RETRY_WORDS = ("retry", "retrying", "backoff", "tenacity", "stamina")
_LOCK_WORDS = frozenset({"lock", "locked", "locking", "mutex", "redlock", "semaphore", "lck"})
_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")

Qualify = Callable[[cst.BaseExpression], Optional[str]]


def _caught(handler: cst.ExceptHandler, qualify: Qualify) -> Optional[Set[str]]:
    """The last parts of the exception names a handler catches; None for a bare `except:`."""
    if handler.type is None:
        return None
    types = handler.type
    exprs = [el.value for el in types.elements] if isinstance(types, cst.Tuple) else [types]
    names = set()
    for expr in exprs:
        name = qualify(expr) or dotted(expr)
        if name:
            names.add(name.split(".")[-1])
    return names


def _leaves_loop(block: cst.BaseSuite) -> bool:
    body = block.body
    last = body[-1] if body else None
    if isinstance(block, cst.IndentedBlock):
        last = last.body[-1] if isinstance(last, cst.SimpleStatementLine) and last.body else None
    return isinstance(last, (cst.Raise, cst.Return, cst.Break))


def watch_error_handling(chain: Sequence[cst.CSTNode], node: cst.CSTNode,
                         qualify: Qualify) -> Optional[str]:
    """`HANDLED`, `RETRIED` or None for a WatchError raised at `node` (see the module doc).
    `chain` is the node's ancestors; the search stops at the enclosing function."""
    retried = False
    last = len(chain) - 1
    for index in range(last, -1, -1):
        holder = chain[index]
        if isinstance(holder, _FUNCTIONS):
            break
        if not isinstance(holder, (cst.Try, cst.TryStar)):
            continue
        if (chain[index + 1] if index < last else node) is not holder.body:
            continue
        in_loop = any(isinstance(n, _LOOPS) for n in _until_function(chain[:index]))
        for handler in holder.handlers:
            caught = _caught(handler, qualify)
            if caught is not None and "WatchError" in caught:
                return HANDLED
            broad = caught is None or bool(caught & _BROAD)
            if broad and in_loop and not _leaves_loop(handler.body):
                retried = True
    return RETRIED if retried else None


def _until_function(chain: Sequence[cst.CSTNode]) -> Iterable[cst.CSTNode]:
    """The nodes of `chain` below its innermost function."""
    start = 0
    for index, node in enumerate(chain):
        if isinstance(node, _FUNCTIONS):
            start = index + 1
    return chain[start:]


def retry_decorated(func: Optional[cst.CSTNode], qualify: Qualify) -> bool:
    """`@retry(...)`, `@tenacity.retry`, `@backoff.on_exception(...)`, or any decorator that
    names `WatchError` (`@shared_task(autoretry_for=(WatchError,))`): something re-runs it."""
    if not isinstance(func, cst.FunctionDef):
        return False
    for decorator in func.decorators:
        expr = decorator.decorator
        head = expr.func if isinstance(expr, cst.Call) else expr
        name = (qualify(head) or dotted(head) or "").lower()
        if any(word in name for word in _RETRY_WORDS) or _names_watch_error(expr):
            return True
    return False


def _names_watch_error(expr: cst.CSTNode) -> bool:
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Name) and node.value == "WatchError":
            return True
        if isinstance(node, cst.Attribute) and node.attr.value == "WatchError":
            return True
        stack.extend(iter_children(node))
    return False


def watched_keys(calls: Iterable["RedisCall"], ignored: Iterable[str] = ()) -> Set[Optional[Key]]:
    """Keys WATCHed by the calls of a scope (`pipe.watch(a, b)`, on any object but the
    pipelines named in `ignored`) and the keys given to `client.transaction(fn, *keys)`; None
    for a `*keys` we cannot read."""
    found: Set[Optional[Key]] = set()
    ignored = set(ignored)
    for call in calls:
        if call.command not in ("watch", "transaction"):
            continue
        if call.command == "watch" and call.receiver_text in ignored:
            continue
        args = [a for a in call.node.args if a.keyword is None]
        if call.command == "transaction":
            args = args[1:]
        for arg in args:
            found.add(None if arg.star else key_of(arg.value, call.scope.key_lookup))
    return found


_EMPTY_READS = frozenset({"get", "exists"})
_SETS = frozenset({"set", "setex", "psetex"})


def set_if_empty(call: "RedisCall", watched: Set[Optional[Key]],
                 earlier: Iterable["RedisCall"]) -> bool:
    """`call` is the SET of an optimistic take: queued after MULTI (`call.atomic`) on a key the
    scope WATCHes (`watched`, from `watched_keys`), and run only when a read of that key before
    it (`earlier`: the scope's calls of the key that come first) found nothing (`if p.get(k) is
    None:`, `if not p.exists(k):`, `if p.exists(k): return`). A compare-and-swap of a value that
    is there (`if p.get(k) == old:`) is not one."""
    if call.command not in _SETS or call.atomic is not True or call.key is None:
        return False
    if call.key not in watched:
        return False
    for read in earlier:
        if read.command not in _EMPTY_READS or read.key != call.key:
            continue
        flow = ResultFlow(call.scope.node, read.node)
        for test, branch in guards(flow.derives, call.ancestors, call.node):
            if _tests_empty(test, flow, branch):
                return True
    return False


def _tests_empty(test: cst.BaseExpression, flow: ResultFlow, branch: str) -> bool:
    """The `branch` of `test` runs when the value `flow` follows is empty (falsy or None)."""
    for operand, falsy in truth_tests(test):
        if flow.carries(operand) and falsy == branch:
            return True
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
        target = test.comparisons[0]
        sides = (test.left, target.comparator)
        if any(flow.carries(side) for side in sides) and any(
                isinstance(side, cst.Name) and side.value == "None" or
                (isinstance(side, cst.Integer) and side.value == "0") for side in sides):
            empty_when = "body" if isinstance(target.operator, (cst.Is, cst.Equal)) else (
                "orelse" if isinstance(target.operator, (cst.IsNot, cst.NotEqual)) else None)
            return empty_when == branch
    return False


def watch_only_pipelines(scope: "Scope") -> Set[str]:
    """The names of the pipelines the scope makes and keeps (see `made_pipelines`) that call
    `watch()` but never `multi()` in the scope. Every command sent on such a pipeline after its
    WATCH runs at once (redis-py's immediate execution mode) and no EXEC follows: the WATCH
    protects nothing and no `WatchError` can be raised."""
    made = [p for p in made_pipelines(scope) if p.name is not None and not p.escapes]
    if not made:
        return set()
    commands: Dict[str, Set[str]] = {}
    for call in scope.calls:
        if call.receiver.role == "pipeline":
            commands.setdefault(call.receiver_text, set()).add(call.command)
    return {p.name for p in made
            if "watch" in commands.get(p.name, ()) and "multi" not in commands.get(p.name, ())}


def immediate_calls(scope: "Scope", names: Set[str]) -> Set[int]:
    """The ids of the calls on the pipelines `names` (from `watch_only_pipelines`) sent after
    a `watch()` and before the pipeline is reset: commands that run at once, one by one."""
    found: Set[int] = set()
    if not names:
        return found
    watching: Set[str] = set()
    for call in scope.calls:
        name = call.receiver_text
        if name not in names or call.receiver.role != "pipeline":
            continue
        if call.command == "watch":
            watching.add(name)
        elif call.command in ("execute", "reset", "unwatch", "discard"):
            watching.discard(name)
        elif name in watching:
            found.add(id(call.node))
    return found


# -- reads that decide a later write ----------------------------------------------------------
def guards(uses: Callable[[cst.BaseExpression], bool], chain: Sequence[cst.CSTNode],
           node: cst.CSTNode) -> List[Tuple[cst.BaseExpression, str]]:
    """The tests that `uses` accepts (say `ResultFlow(...).derives`, a test on a read's
    result) and that decide whether `node` runs, each with the branch
    `node` is in: ("body" / "orelse") of an enclosing `if`/`while`/ternary, and for an earlier
    `if` of an enclosing block with a branch that always leaves it, the other branch (`if
    r.exists(k): return` -> "orelse"), also when that `if` is nested in an earlier `if` or
    `with` (see `_exiting_tests`). The search stops at the enclosing function."""
    found: List[Tuple[cst.BaseExpression, str]] = []
    path = list(chain) + [node]
    for index in range(len(path) - 2, -1, -1):
        holder, child = path[index], path[index + 1]
        if isinstance(holder, _FUNCTIONS):
            break
        if isinstance(holder, (cst.If, cst.While, cst.IfExp)) and uses(holder.test):
            if child is holder.body:
                found.append((holder.test, "body"))
            elif child is holder.orelse:
                found.append((holder.test, "orelse"))
        if isinstance(holder, (cst.IndentedBlock, cst.Module)):
            for statement in holder.body:
                if statement is child:
                    break
                for test, branch in _exiting_tests(statement):
                    if uses(test):
                        found.append((test, branch))
    return found


def _exiting_tests(statement: cst.CSTNode) -> Iterator[Tuple[cst.BaseExpression, str]]:
    """The `if` tests in `statement` with a branch that always leaves the enclosing block,
    each with the other branch, the one code after `statement` can follow: `if t: return`
    -> (t, "orelse"), also nested in other `if`s and `with`s (`if not force: ... if
    r.exists(k): return`); not inside loops (where `break` leaves only the loop), `try` or
    functions."""
    pending = [statement]
    while pending:
        node = pending.pop()
        if isinstance(node, cst.If):
            orelse = node.orelse
            if always_exits(node.body):
                yield node.test, "orelse"
            elif isinstance(orelse, cst.Else) and always_exits(orelse.body):
                yield node.test, "body"
            blocks = [node.body] + ([orelse.body] if isinstance(orelse, cst.Else) else [])
            if isinstance(orelse, cst.If):
                pending.append(orelse)
        elif isinstance(node, cst.With):
            blocks = [node.body]
        else:
            continue
        for block in blocks:
            if isinstance(block, cst.IndentedBlock):
                pending.extend(block.body)


def redirects(uses: Callable[[cst.BaseExpression], bool], chain: Sequence[cst.CSTNode],
              node: cst.CSTNode, names: Set[str]) -> List[Tuple[cst.BaseExpression, str]]:
    """The tests `uses` accepts of earlier `if` statements (in the blocks enclosing `node`, up
    to its function) with one branch that rebinds one of `names` and another that does not,
    each with the branch that keeps them: after `if found: key = other_key`, a write of `key`
    writes the key that was tested only when `found` was false ("orelse")."""
    found: List[Tuple[cst.BaseExpression, str]] = []
    path = list(chain) + [node]
    for index in range(len(path) - 2, -1, -1):
        holder, child = path[index], path[index + 1]
        if isinstance(holder, _FUNCTIONS):
            break
        if not isinstance(holder, (cst.IndentedBlock, cst.Module)):
            continue
        for statement in holder.body:
            if statement is child:
                break
            if not isinstance(statement, cst.If) or not uses(statement.test):
                continue
            orelse = statement.orelse
            if isinstance(orelse, cst.If):
                continue
            body = _rebinds(statement.body, names)
            other = orelse is not None and _rebinds(orelse.body, names)
            if body != other:
                found.append((statement.test, "orelse" if body else "body"))
    return found


def _rebinds(block: cst.BaseSuite, names: Set[str]) -> bool:
    """A plain assignment in `block` (not in a nested function) binds one of `names`."""
    stack: List[cst.CSTNode] = [block]
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.FunctionDef, cst.Lambda, cst.ClassDef)):
            continue
        stack.extend(iter_children(node))
        if isinstance(node, cst.Assign):
            targets = [t.target for t in node.targets]
        elif isinstance(node, (cst.AnnAssign, cst.AugAssign, cst.NamedExpr)):
            targets = [node.target]
        else:
            continue
        for target in targets:
            stack = [target]
            while stack:
                item = stack.pop()
                if isinstance(item, cst.Name) and item.value in names:
                    return True
                if isinstance(item, (cst.Tuple, cst.List)):
                    stack.extend(e.value for e in item.elements)
    return False


# -- serialised code --------------------------------------------------------------------------
def _lock_like(expr: cst.BaseExpression) -> bool:
    """`redis_lock.Lock(r, "x")`, `self.lock`, `cache.lock("x")`, `Redlock(...)`: the words
    of the callee or name include a lock word."""
    if isinstance(expr, cst.Await):
        expr = expr.expression
    if isinstance(expr, cst.Call):
        expr = expr.func
    name = dotted(expr)
    return name is not None and any(
        word.lower() in _LOCK_WORDS for part in name.split(".") for word in _WORDS.findall(part))


def lock_like_context(chain: Sequence[cst.CSTNode]) -> bool:
    """A `with` / `async with` around the last node of `chain`, in the same function, enters
    something that looks like a lock."""
    for node in reversed(chain):
        if isinstance(node, _FUNCTIONS):
            return False
        if isinstance(node, cst.With) and any(_lock_like(item.item) for item in node.items):
            return True
    return False


def takes_lock(scope_node: cst.CSTNode) -> bool:
    """The scope calls `acquire()` on something (a lock or semaphore of any library)."""
    return any(isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)
               and node.func.attr.value in ("acquire", "acquire_lock")
               for node in scope_nodes(scope_node))
