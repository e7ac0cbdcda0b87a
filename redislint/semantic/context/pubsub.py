"""Pub/sub used as a job queue: SUBSCRIBE loops that process work, and the channels they serve.

`work_channels(module, facts)` scans a module syntactically (the same answer in the project
index's first phase, where clients imported from other modules are not known yet, and in the
lint phase) for:

1. PubSub objects: names and attributes bound from `<x>.pubsub(...)` (`p = r.pubsub()`,
   `self.ps = self.r.pubsub()`, `async with r.pubsub() as p`). The method name is specific to
   Redis clients (redis-py, valkey, aioredis).
2. Their subscriptions: `p.subscribe(ch, ...)` / `psubscribe` / `ssubscribe`, channels given
   positionally (also in a list), or as handler keywords (`p.subscribe(jobs=handle)`,
   `p.subscribe(**{CHANNEL: handle})`), which count as processing by themselves.
3. Their consuming loops: `for m in p.listen()` (or `async for`), or `p.get_message()` inside a
   loop, whose message is passed to a call that processes it (not only printed or logged;
   `redislint.semantic.flow.results.ResultFlow.passed_to_call`).

A subscription is *work* when its PubSub object (the same local, or the same `self.<attr>` of
a class) has a processing loop or a handler, and its channel name reads as work:

- it has a word of `WORK_WORDS` (job, task, work, worker, queue, todo...), camelCase and snake_case
  split, also in the name of the constant or attribute that holds the channel
  (`settings.JOBS_CHANNEL`), and
- no word of `NOTICE_WORDS` (status, progress, event, update, notification, result,
  invalidate, cache, heartbeat, control, cancel, ...): pub/sub carrying news *about* jobs
  (progress bars, completion notices, cache invalidation, worker control) is what pub/sub is
  for, since a listener that misses one can re-read the state.

Channels are recorded as key globs (`jobs:*` for `f"jobs:{queue}"`); a channel held in a
name the module cannot resolve (`settings.JOBS_CHANNEL`) is recorded as `=<source text>` and
only matches a publish spelt the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Set, Tuple

import libcst as cst

from redislint.semantic.flow.bindings import Parents
from redislint.semantic.facts import ModuleFacts
from redislint.semantic.flow.results import ResultFlow
from redislint.semantic.keys.expressions import Key, key_of, source
from redislint.semantic.keys.keyspace import named_pattern, overlap
from redislint.walk import children_of

# The family under which module summaries carry the channels (`ModuleSummary.key_uses`).
FAMILY = "work-channel"
WORK_WORDS = frozenset({"job", "jobs", "task", "tasks", "work", "worker", "workers", "queue",
                        "queues", "todo", "todos", "jobqueue", "taskqueue", "workqueue"})
NOTICE_WORDS = frozenset({
    "status", "statuses", "progress", "event", "events", "update", "updates", "updated",
    "notification", "notifications", "notify", "notice", "notices", "done", "finished",
    "complete", "completed", "completion", "result", "results", "meta", "log", "logs",
    "heartbeat", "heartbeats", "invalidate", "invalidation", "invalidations", "cache",
    "caches", "change", "changes", "changed", "signal", "signals", "cancel", "cancelled",
    "canceled", "cancellation", "control", "broadcast", "ping", "alert", "alerts", "reply",
    "replies", "response", "responses", "state", "stats", "metrics", "presence", "chat",
    "pubsub", "stop", "kill", "reload", "config", "monitor", "info", "ready", "started",
    "failed", "failure", "error", "errors", "output", "stdout", "stream",
})
SUBSCRIBES = frozenset({"subscribe", "psubscribe", "ssubscribe"})
PUBLISHES = frozenset({"publish", "spublish"})
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_MENTIONS = re.compile(rb"\.\s*(?:p|s)?subscribe\s*\(")
# Keywords of subscribe() that are options, not channels.
_OPTIONS = frozenset({"ignore_subscribe_messages"})


def words(text: str) -> Set[str]:
    return {w.lower() for w in _WORD.findall(text)}


def is_work(key: Key) -> bool:
    """The channel name reads as work handed out, not news about it."""
    found = words(key.template.replace("{}", " "))
    for part in key.parts:
        found |= words(part)
    return bool(found & WORK_WORDS) and not found & NOTICE_WORDS


def channel_pattern(key: Optional[Key]) -> Optional[str]:
    """How a channel is recorded and matched: its glob, or `=<text>` for a channel held in a
    single name or attribute (`=settings.JOBS`)."""
    if key is None:
        return None
    named = named_pattern(key)
    if named is not None:
        return named
    if key.template == "{}" and re.fullmatch(r"[A-Za-z_][\w.]*", key.parts[0]):
        return "=" + key.parts[0]
    return None


def same_channel(published: str, subscribed: str) -> bool:
    if published.startswith("=") or subscribed.startswith("="):
        return published == subscribed
    return overlap(published, subscribed)


@dataclass
class _Scan:
    holders: Set[tuple] = field(default_factory=set)
    subscriptions: List[Tuple[tuple, Key, bool]] = field(default_factory=list)
    processing: Set[tuple] = field(default_factory=set)


def _context(parents: Parents) -> Tuple[cst.CSTNode, Optional[cst.CSTNode]]:
    """The function (or module) and the class a node is in."""
    function: cst.CSTNode = parents[0] if parents else cst.Module(body=[])
    cls = None
    for node in parents:
        if isinstance(node, (cst.FunctionDef, cst.Lambda)):
            function = node
        elif isinstance(node, cst.ClassDef):
            cls = node
    return function, cls


def _holder(expr: cst.BaseExpression, parents: Parents) -> tuple:
    """Where a PubSub object lives: `self.ps` per class, a plain name per function."""
    text = source(expr)
    function, cls = _context(parents)
    if cls is not None and re.match(r"(self|cls)\.", text):
        return ("class", id(cls), text)
    return ("function", id(function), text)


def _constant_lookup(facts: ModuleFacts):
    def lookup(name: str) -> Optional[Key]:
        values = facts.assigns.get(name)
        if not values or len(values) != 1:
            return None
        found = key_of(values[0])
        return found if found is not None and named_pattern(found) is not None else None

    return lookup


def _channels(call: cst.Call, lookup) -> Iterator[Tuple[Key, bool]]:
    """(channel, handled by a callback) for each channel a subscribe() call names."""
    for arg in call.args:
        if arg.star == "**" and isinstance(arg.value, cst.Dict):
            for element in arg.value.elements:
                if isinstance(element, cst.DictElement):
                    key = key_of(element.key, lookup)
                    if key is not None:
                        yield key, True
        elif arg.star:
            continue
        elif arg.keyword is not None:
            if arg.keyword.value not in _OPTIONS:
                yield Key(arg.keyword.value), True
        else:
            values = [e.value for e in arg.value.elements] if isinstance(
                arg.value, (cst.List, cst.Tuple)) else [arg.value]
            for value in values:
                key = key_of(value, lookup)
                if key is not None:
                    yield key, False


def _loop_around(parents: Parents) -> bool:
    for node in reversed(parents):
        if isinstance(node, (cst.FunctionDef, cst.Lambda, cst.ClassDef)):
            return False
        if isinstance(node, (cst.For, cst.While)):
            return True
    return False


def _method_calls(module: cst.Module) -> List[Tuple[cst.Call, Parents]]:
    """Every `x.method(...)` call with its ancestors, in source order (ancestors are copied for
    these calls only, not for every node)."""
    found: List[Tuple[cst.Call, Parents]] = []
    ancestors: List[cst.CSTNode] = []
    stack: List[object] = [module]
    while stack:
        node = stack.pop()
        if node is _UP:
            ancestors.pop()
            continue
        if type(node) is cst.Call and type(node.func) is cst.Attribute:  # type: ignore[attr-defined]
            found.append((node, tuple(ancestors)))  # type: ignore[arg-type]
        ancestors.append(node)  # type: ignore[arg-type]
        stack.append(_UP)
        children = children_of(node)  # type: ignore[arg-type]
        children.reverse()
        stack.extend(children)
    return found


_UP = object()


def work_subscriptions(module: cst.Module, facts: ModuleFacts) -> List[Tuple[cst.Call, Key]]:
    """Subscribe calls of this module that receive work, with the channel concerned."""
    scan = _Scan()
    lookup = _constant_lookup(facts)
    nodes = _method_calls(module)
    for node, parents in nodes:
        if node.func.attr.value != "pubsub":
            continue
        parent = parents[-1] if parents else None
        if isinstance(parent, cst.Await):
            parent = parents[-2] if len(parents) > 1 else None
        if isinstance(parent, cst.Assign):
            for target in parent.targets:
                scan.holders.add(_holder(target.target, parents))
        elif isinstance(parent, cst.AnnAssign):
            scan.holders.add(_holder(parent.target, parents))
        elif isinstance(parent, cst.WithItem) and parent.asname is not None:
            scan.holders.add(_holder(parent.asname.name, parents))
    if not scan.holders:
        return []
    subscribe_calls: List[Tuple[cst.Call, tuple, Key, bool]] = []
    for node, parents in nodes:
        method = node.func.attr.value
        holder = _holder(node.func.value, parents)
        if holder not in scan.holders:
            continue
        parent = parents[-1] if parents else None
        if method in SUBSCRIBES:
            for key, handled in _channels(node, lookup):
                subscribe_calls.append((node, holder, key, handled))
        elif (method == "listen" and isinstance(parent, cst.For) and parent.iter is node) or (
                method == "get_message" and _loop_around(parents)):
            function, _ = _context(parents)
            if ResultFlow(function, node).passed_to_call():
                scan.processing.add(holder)
    return [(call, key) for call, holder, key, handled in subscribe_calls
            if (handled or holder in scan.processing) and is_work(key)]


def work_channels(module: cst.Module, facts: ModuleFacts, data: Optional[bytes] = None
                  ) -> Dict[str, List[str]]:
    """`{FAMILY: [channel patterns]}` for the module summary (empty when there are none)."""
    if data is not None and _MENTIONS.search(data) is None:
        return {}
    patterns = {channel_pattern(key) for _, key in work_subscriptions(module, facts)}
    patterns.discard(None)
    return {FAMILY: sorted(patterns)} if patterns else {}  # type: ignore[type-var]
