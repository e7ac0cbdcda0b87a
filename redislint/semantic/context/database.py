"""Database writes and the entities they touch, for rules about keeping a Redis cache in sync.

Two questions, answered syntactically and conservatively (None / no entity when unsure):

- `db_write(call, context)`: is this (non-Redis) call a write to a database, and of which entity?
  Raw SQL (`cur.execute("UPDATE users SET ...")`, `executemany`, asyncpg `fetchrow` of an
  `UPDATE ... RETURNING`, SQLAlchemy `text(...)`, `update(User)` / `users.update()` statements),
  Django (`obj.save()`, `obj.delete()`, `User.objects.filter(...).update(...)` / `.delete()` /
  `.create(...)`), SQLAlchemy ORM (`session.add(obj)`, `session.merge(obj)`,
  `session.delete(obj)`, `session.query(User)...update(...)`, `User.query...delete()`).
- `key_entities(template)` / `entity(name)`: the entity names a Redis key template or a table /
  model / variable name refers to, normalised so they can be compared.

Entity matching (documented in RL401): names are lower-cased, stripped of everything but letters
and digits (`user_profile`, `UserProfile`, `user-profile` all become `userprofile`), a schema or
module prefix is dropped (`public.users` -> `users`) and the result is made singular with simple
English rules (`users` -> `user`, `categories` -> `category`, `addresses` -> `address`,
`people` -> `person`). A key template names the literal segments between `:`, `/`, `|`, `#`,
`.` and the holes that an id, a collection word, one more segment and an id, or the end of the
key follow: `app:user:{}:orders` names `app`, `user` and `order`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Callable, Dict, FrozenSet, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

import libcst as cst

from redislint.semantic.facts import ClassFacts, FunctionFacts, ModuleFacts
from redislint.semantic.keys.expressions import Key, key_of
from redislint.semantic.names import dotted, string_value, strip_optional

# Redis commands that read or write a cached value: a key they touch is "cached" by the module.
# (`set(..., nx=True)` / `setnx` are locks and once-only markers, not caches.)
CACHE_COMMANDS = frozenset({"get", "getex", "mget", "set", "setex", "psetex", "getset",
                            "mset", "hget", "hgetall", "hmget", "hset", "hmset"})
# Redis commands that drop or replace a cached value: invalidation or refresh of their key.
INVALIDATE_COMMANDS = frozenset({"delete", "unlink", "getdel", "hdel", "set", "setex", "psetex",
                                 "getset", "mset", "hset", "hmset", "hsetnx"})
# Helper names that announce a cache invalidation (`invalidate_user(uid)`, `cache.evict(...)`).
INVALIDATOR_NAME = re.compile(r"(^|_)(invalidat|evict|purge|bust|uncache)|(clear|flush|drop|expire|"
                              r"refresh|delete|del|reset)_?cache|cache_?(clear|delete|del|reset)",
                              re.IGNORECASE)
# Methods that run a SQL statement given as their first argument.
EXECUTE_METHODS = frozenset({"execute", "executemany", "exec_driver_sql", "fetch", "fetchrow",
                             "fetchval", "fetch_one", "fetch_all", "execute_many"})
# Django manager / queryset methods that write, and what they do.
_MANAGER_WRITES = {"update": "update", "delete": "delete", "create": "insert",
                   "bulk_create": "insert", "get_or_create": "insert",
                   "update_or_create": "update", "bulk_update": "update"}
_MANAGER_WRITES.update({"a" + method: kind for method, kind in _MANAGER_WRITES.items()})
# Calls that wrap a SQL string without changing it.
_SQL_WRAPPERS = frozenset({"text", "SQL", "literal_column"})
# Attribute names that hold a model's query interface (`User.objects`, `User.query`).
_MANAGERS = frozenset({"objects", "query", "_default_manager", "all_objects"})
_SIGNALS = frozenset({"post_save", "post_delete", "pre_save", "pre_delete", "m2m_changed"})
# Form-like wrappers whose `save()` writes their model (`UserForm(...).save()`).
_WRAPPER_SUFFIXES = ("ModelForm", "Form", "Serializer", "Schema")

_COMMENT = r"(?:\s|--[^\n]*\n|/\*.*?\*/)*"
_SQL_WRITE = re.compile(_COMMENT + r"\(?\s*(insert|update|delete|replace|merge|upsert)\b",
                        re.IGNORECASE | re.DOTALL)
_IDENT = r"[`\"\[]?[A-Za-z_][\w$]*[`\"\]]?"
_SQL_TABLE = re.compile(
    r"\b(?:update|into|from)\s+(?:only\s+|low_priority\s+|ignore\s+)*"
    r"((?:" + _IDENT + r"\.)*" + _IDENT + r")",
    re.IGNORECASE,
)
_SQL_UPSERT = re.compile(r"\bon\s+conflict\b.*\bdo\s+update\b|\bon\s+duplicate\s+key\s+update\b"
                         r"|^\s*replace\b|\binsert\s+or\s+replace\b|^\s*merge\b|^\s*upsert\b",
                         re.IGNORECASE | re.DOTALL)
_KEY_SEPARATORS = re.compile(r"\{\}|[:/|#.\s]+")
_KEY_TOKENS = re.compile(r"\{\}|[^:/|#.\s{}]+")
_COLLECTION_WORDS = frozenset({
    "all", "list", "count", "counts", "total", "ids", "index", "page", "pages", "recent",
    "latest", "top", "popular", "active", "featured", "catalog", "catalogue", "summary", "stats",
    "search", "feed", "by",
})
_IRREGULAR = {"people": "person", "children": "child", "men": "man", "women": "woman"}


@dataclass(frozen=True)
class DbWrite:
    """A statement that changes rows of `entities` (raw names: table, model class, variable).

    `kind` is insert, update, delete, or write (an ORM save/add that may be either).
    `needs_commit`: only a write if the function also commits (`session.add(obj)`).
    `instance`: a write of one ORM object (`save()`, `delete()`, `session.add`), which model
    signals / ORM events (`post_save`, `after_update`) see; raw SQL and bulk updates do not.
    """

    node: cst.Call
    kind: str
    entities: Tuple[str, ...]
    needs_commit: bool = False
    instance: bool = False

    @property
    def label(self) -> str:
        return self.entities[0]


@dataclass
class WriteContext:
    """What `db_write` may need from the place the call is in."""

    key_lookup: Optional[Callable[[str], Optional[Key]]] = None
    function: Optional[FunctionFacts] = None
    self_name: Optional[str] = None
    class_name: Optional[str] = None


# -- entity names ---------------------------------------------------------------------------
def entity(name: str) -> str:
    """The comparable form of a table, model, variable or key segment name ('' if none)."""
    name = name.strip("`\"[]' ").split(".")[-1]
    text = re.sub(r"[^a-z0-9]", "", name.lower())
    if text.isdigit():
        return ""
    for suffix in ("table", "tbl"):
        if text.endswith(suffix) and len(text) > len(suffix) + 1:
            text = text[: -len(suffix)]
    return singular(text)


def singular(word: str) -> str:
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) > 3 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith(("sses", "xes", "ches", "shes", "zes")):
        return word[:-2]
    if len(word) > 2 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def key_entities(template: str) -> FrozenSet[str]:
    """The entities a key template names. A literal segment names one when an id follows it
    (`user:{}`, `user_{}`), when it ends the key (`cache:users`, `user:{}:orders`), when a
    collection or lookup word follows it (`users:all`, `users:count`, `user:by_email:{}`), or
    when one part of the entity and then an id follow it (`product:price:{}` names `product`
    and `price`: `entity:part:{id}`). `users:last_active_at` names `lastactiveat`, not `user`:
    a per-field buffer, not a cache of users."""
    tokens = [t for t in _KEY_TOKENS.findall(template) if t.strip(":/|#. \t")]
    found = set()
    for index, token in enumerate(tokens):
        if token == "{}":
            continue
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        after = tokens[index + 2] if index + 2 < len(tokens) else None
        if following is None or following == "{}" or _collection_word(following) or \
                after == "{}":
            name = entity(token)
            if name:
                found.add(name)
    return frozenset(found)


def _collection_word(segment: str) -> bool:
    text = segment.lower().strip("_-")
    return text in _COLLECTION_WORDS or text.startswith(("by_", "by-", "for_"))


def has_literal_text(template: str) -> bool:
    return bool(_KEY_SEPARATORS.sub("", template))


# -- key templates through helpers -----------------------------------------------------------
def key_template(expr: Optional[cst.BaseExpression], facts: ModuleFacts,
                 lookup: Optional[Callable[[str], Optional[Key]]] = None,
                 cls: Optional[ClassFacts] = None, self_name: Optional[str] = None) -> Optional[str]:
    """The key template of `expr`, also when it is built by a simple helper in the module:
    `user_key(uid)` / `self._key(uid)` returning an f-string, or `USER_KEY.format(uid)` /
    `USER_KEY % uid` with `USER_KEY = "user:{}"` a module constant. None when not a key."""
    if expr is None:
        return None
    found = key_of(expr, lookup)
    if found is not None and has_literal_text(found.template):
        return found.template
    if isinstance(expr, cst.Await):
        expr = expr.expression
    constant = _formatted_constant(expr, facts)
    if constant is not None:
        return constant
    helper = _helper(expr, facts, cls, self_name)
    if helper is not None:
        for value in helper.returns:
            inner = key_of(value, _function_keys(helper))
            if inner is not None and has_literal_text(inner.template):
                return inner.template
    return found.template if found is not None else None


def _formatted_constant(expr: cst.BaseExpression, facts: ModuleFacts) -> Optional[str]:
    fmt: Optional[cst.BaseExpression] = None
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) \
            and expr.func.attr.value == "format":
        fmt = expr.func.value
    elif isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Modulo):
        fmt = expr.left
    if not isinstance(fmt, cst.Name):
        return None
    values = facts.assigns.get(fmt.value, ())
    text = string_value(values[0]) if len(values) == 1 else None
    if text is None:
        return None
    text = re.sub(r"\{[^{}]*\}", "{}", text)
    return re.sub(r"%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[sdirfx]", "{}", text)


def _helper(expr: cst.BaseExpression, facts: ModuleFacts, cls: Optional[ClassFacts],
            self_name: Optional[str]) -> Optional[FunctionFacts]:
    if not isinstance(expr, cst.Call):
        return None
    func = expr.func
    if isinstance(func, cst.Name):
        return facts.functions.get(func.value)
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
        owner = func.value.value
        if cls is not None and owner in (self_name, "cls", "self"):
            return cls.methods.get(func.attr.value)
        if owner in facts.classes:
            return facts.classes[owner].methods.get(func.attr.value)
    return None


def _function_keys(func: FunctionFacts) -> Callable[[str], Optional[Key]]:
    def lookup(name: str) -> Optional[Key]:
        values = func.locals.get(name, ())
        if len(values) == 1:
            return key_of(values[0])
        return None

    return lookup


# -- database writes -------------------------------------------------------------------------
def db_write(call: cst.Call, context: WriteContext) -> Optional[DbWrite]:
    """The database write `call` makes, if it is one (the caller checks it is not Redis)."""
    func = call.func
    if not isinstance(func, cst.Attribute):
        return None
    method = func.attr.value
    receiver = func.value
    positional = [a.value for a in call.args if a.keyword is None and not a.star]
    if method in EXECUTE_METHODS:
        statement = positional[0] if positional else _keyword(call, "sql", "statement", "query",
                                                               "operation")
        return _statement_write(call, statement, context) if statement is not None else None
    if method in _MANAGER_WRITES and not (method.endswith("delete") and positional):
        managed = _managed_model(receiver, context)
        if managed is not None:
            return DbWrite(call, _MANAGER_WRITES[method], (managed,))
    found: Optional[DbWrite] = None
    if method in ("save", "asave") and not positional and not _is_session(receiver):
        found = _object_write(call, receiver, "write", context)
    elif method in ("delete", "adelete") and not positional and not isinstance(receiver, cst.Call):
        found = _object_write(call, receiver, "delete", context)
    elif method in ("add", "merge", "delete") and len(positional) == 1 and _is_session(receiver):
        kind = "delete" if method == "delete" else "write"
        found = _object_write(call, positional[0], kind, context)
        if found is not None and method != "delete":
            found = replace(found, needs_commit=True)
    return replace(found, instance=True) if found is not None else None


def is_signal_handler(node: cst.FunctionDef) -> bool:
    """Runs on every ORM save/delete of a model: `@receiver(post_save, sender=User)`,
    `@event.listens_for(User, "after_update")`."""
    for decorator in node.decorators:
        expr = decorator.decorator
        if not isinstance(expr, cst.Call):
            continue
        name = (dotted(expr.func) or "").split(".")[-1]
        if name == "listens_for":
            return True
        if name == "receiver" and any(
                (dotted(a.value) or "").split(".")[-1] in _SIGNALS for a in expr.args):
            return True
    return False


def is_invalidator(call: cst.Call) -> bool:
    """A call whose name announces a cache invalidation: `invalidate_user(uid)`, `evict(key)`."""
    name = (dotted(call.func) or "").split(".")[-1]
    return bool(name) and INVALIDATOR_NAME.search(name) is not None


def is_commit(call: cst.Call) -> bool:
    """`session.commit()` / `conn.commit()` / `session.flush()`: pending ORM writes go out."""
    func = call.func
    return isinstance(func, cst.Attribute) and func.attr.value in ("commit", "flush") \
        and not call.args


def _keyword(call: cst.Call, *names: str) -> Optional[cst.BaseExpression]:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value in names:
            return arg.value
    return None


def _is_session(expr: cst.BaseExpression) -> bool:
    name = dotted(expr)
    if name is None and isinstance(expr, cst.Call):
        name = dotted(expr.func)  # `Session()` / `db.session()` used inline
    return name is not None and "session" in name.split(".")[-1].lower()


def _statement_write(call: cst.Call, statement: cst.BaseExpression,
                     context: WriteContext) -> Optional[DbWrite]:
    while isinstance(statement, cst.Call) and len(statement.args) == 1 \
            and (dotted(statement.func) or "").split(".")[-1] in _SQL_WRAPPERS:
        statement = statement.args[0].value
    core = _core_statement(call, statement)
    if core is not None:
        return core
    found = key_of(statement, context.key_lookup)
    if found is None:
        return None
    sql = found.template
    verb = _SQL_WRITE.match(sql)
    if verb is None:
        return None
    table = _SQL_TABLE.search(sql)
    if table is None or "{}" in table.group(1):
        return None
    kind = verb.group(1).lower()
    if kind not in ("update", "delete"):
        kind = "update" if _SQL_UPSERT.search(sql) else "insert"
    return DbWrite(call, kind, (table.group(1).strip("`\"[]"),))


def _core_statement(call: cst.Call, statement: cst.BaseExpression) -> Optional[DbWrite]:
    """SQLAlchemy Core: `update(User).where(...)`, `users.delete().where(...)`."""
    node = statement
    while isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) \
            and isinstance(node.func.value, cst.Call):
        node = node.func.value
    if not isinstance(node, cst.Call):
        return None
    name = (dotted(node.func) or "").split(".")
    verb = name[-1]
    if verb not in ("update", "insert", "delete"):
        return None
    kind = verb
    if len(name) == 1 or name[0] in ("sa", "sqlalchemy", "sql"):
        target = node.args[0].value if node.args else None
    elif not node.args and isinstance(node.func, cst.Attribute):
        target = node.func.value  # `users.update()` on a Table
    else:
        return None
    label = dotted(target) if target is not None else None
    if label is None:
        return None
    return DbWrite(call, kind, (label.split(".")[-1],))


def _managed_model(receiver: cst.BaseExpression, context: WriteContext,
                   depth: int = 0) -> Optional[str]:
    """`User` for `User.objects.filter(...)`, `session.query(User).filter(...)`,
    `User.query.filter_by(...)`, or a local bound to one of those."""
    node = receiver
    while True:
        if isinstance(node, cst.Call):
            func = node.func
            if isinstance(func, cst.Attribute) and func.attr.value == "query" and node.args:
                model = _model_name(node.args[0].value)
                if model is not None and (model[:1].isupper() or _is_session(func.value)):
                    return model
            if not isinstance(func, cst.Attribute):
                return None
            node = func.value
        elif isinstance(node, cst.Attribute):
            if node.attr.value in _MANAGERS:
                return _model_name(node.value)
            node = node.value
        elif isinstance(node, cst.Name) and depth == 0 and context.function is not None:
            for value in context.function.locals.get(node.value, ()):
                found = _managed_model(value, context, depth + 1)
                if found is not None:
                    return found
            return None
        else:
            return None


def _model_name(expr: cst.BaseExpression) -> Optional[str]:
    name = dotted(expr)
    if name is None:
        return None
    last = name.split(".")[-1]
    return None if last in ("self", "cls", "model") else last


def _object_write(call: cst.Call, obj: cst.BaseExpression, kind: str,
                  context: WriteContext) -> Optional[DbWrite]:
    """A write of one object: its variable / attribute name, and the model it was made from."""
    if isinstance(obj, cst.Call):
        made = _constructed(obj)
        if made is None:
            return None
        return DbWrite(call, "insert" if kind == "write" and made[1] else kind, (made[0],))
    if isinstance(obj, cst.Name) and obj.value == context.self_name:
        return DbWrite(call, kind, (context.class_name,)) if context.class_name else None
    names: List[str] = []
    if isinstance(obj, cst.Attribute):
        names.append(obj.attr.value)
    elif isinstance(obj, cst.Name):
        names.append(obj.value)
        inserted = _origins(obj.value, context, names)
        if inserted and kind == "write":
            kind = "insert"
    else:
        return None
    return DbWrite(call, kind, tuple(names))


def _origins(name: str, context: WriteContext, names: List[str]) -> bool:
    """Adds the models `name` was loaded or built from; True when every binding built a new one."""
    func = context.function
    if func is None:
        return False
    annotation = func.params.get(name)
    if annotation is not None and dotted(annotation):
        names.append(dotted(annotation).split(".")[-1])  # type: ignore[union-attr]
    values = func.locals.get(name, ())
    built = bool(values)
    for value in values:
        if isinstance(value, cst.Await):
            value = value.expression
        made = _constructed(value) if isinstance(value, cst.Call) else None
        if made is not None:
            names.append(made[0])
            built = built and made[1]
            continue
        built = False
        model = _loaded_model(value, context)
        if model is not None:
            names.append(model)
    return built


def _constructed(call: cst.Call) -> Optional[Tuple[str, bool]]:
    """`User(...)` -> ("User", True); `UserForm(...)` -> ("User", False): a model or a form."""
    name = dotted(call.func)
    if name is None:
        return None
    last = name.split(".")[-1]
    if not last[:1].isupper():
        return None
    for suffix in _WRAPPER_SUFFIXES:
        if last.endswith(suffix) and len(last) > len(suffix):
            return last[: -len(suffix)], False
    return last, True


def _loaded_model(value: cst.BaseExpression, context: WriteContext) -> Optional[str]:
    """`User` for `User.objects.get(...)`, `session.get(User, id)`, `get_object_or_404(User, ...)`."""
    managed = _managed_model(value, context, depth=1)
    if managed is not None:
        return managed
    if isinstance(value, cst.Call) and value.args:
        name = (dotted(value.func) or "").split(".")[-1]
        if name in ("get_object_or_404", "get") and (name != "get" or _is_session(
                value.func.value if isinstance(value.func, cst.Attribute) else value.func)):
            return _model_name(value.args[0].value)
    return None


# -- records a rule keeps per function ------------------------------------------------------
@dataclass
class FunctionWrites:
    """The database writes, cache invalidations and same-module calls of one function."""

    node: cst.CSTNode
    name: str
    writes: List[DbWrite] = field(default_factory=list)
    invalidated: set = field(default_factory=set)
    invalidates_unknown: bool = False
    commits: bool = False
    calls: set = field(default_factory=set)
    signal: bool = False  # a model signal / ORM event handler
    # Names of the other calls it makes (the last part: `forget_user` for
    # `self.cache.forget_user(uid)`), database writes and commits left out: matched against the
    # functions other modules of the project invalidate an entity with.
    foreign: set = field(default_factory=set)


def reachable(start: str, edges: Dict[str, Sequence[str]], limit: int = 50) -> Iterator[str]:
    """Names reachable from `start` through `edges` (start included), breadth first."""
    seen = {start}
    queue = [start]
    while queue and len(seen) <= limit:
        current = queue.pop(0)
        yield current
        for nxt in edges.get(current, ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)


# -- the project scan: which entities other modules cache and invalidate --------------------
# Family names in module summaries (`ModuleSummary.key_uses`, see `redislint.semantic.keys.keyspace`):
# "cache:<entity>" -> "<key template>\t<receiver>\t<module>", one per read or write of a cache key
# of that entity; "invalidates:<entity>" / "invalidates:*" -> "<function name>\t<receiver>" for
# a function that deletes or refreshes a key of that entity (of a key it cannot read: `*`);
# "signals:<entity>" / "signals:*" -> the same, for a model signal / ORM event handler.
CACHED = "cache:"
INVALIDATES = "invalidates:"
SIGNALS = "signals:"
ANY_ENTITY = "*"
# The receiver of a scanned call, told without the client inference (this scan runs before the
# project index exists): "redis" when the syntax says so (`redis.Redis(...)`, an annotation, a
# `get_redis_connection()`), "name:<qualified name>" / "call:<qualified name>" for a module
# global, an imported name or a call of a factory; no entry when nothing is known. The module
# that reads the entries checks the last two against the clients and factories the modules
# declare in "redis:clients" / "redis:factories" (module globals bound to a client, functions
# returning one, by the same syntactic evidence): only key uses, so this does not depend on how
# the client inference answers.
REDIS_CLIENTS = "redis:clients"
REDIS_FACTORIES = "redis:factories"
REDIS_RECEIVER = "redis"
_REDIS_PACKAGES = frozenset({"redis", "valkey", "aioredis", "django_redis", "walrus",
                             "coredis"})
_SEPARATED = re.compile(r"[:/|#]|\{\}")
_NOT_A_KEY = re.compile(r"://|\s")
_DELETES = frozenset({"delete", "unlink", "getdel", "hdel"})


def project_cache_uses(module: cst.Module, facts: ModuleFacts) -> Dict[str, List[str]]:
    """Family -> sorted entries (see above) for the caches and invalidations of one module."""
    scan = _CacheScan(facts)
    scan.walk(module)
    scan.declare_clients()
    return {family: sorted(entries) for family, entries in scan.found.items()}


def _cache_like(template: str) -> bool:
    """A template that looks like a Redis key (`user:{}`, `cache/users`, `user.{}`), not a URL,
    a message or a dotted setting name (`ckan.auth.public`) read from a mapping."""
    return has_literal_text(template) and _SEPARATED.search(template) is not None and \
        _NOT_A_KEY.search(template) is None


class ProjectClients:
    """The clients and client factories the project's modules declare (`redis:clients`,
    `redis:factories`), matched by qualified name or by a dotted suffix of one (a tree linted
    from inside a package spells its imports shorter than its module names)."""

    def __init__(self, clients: Iterable[str], factories: Iterable[str]) -> None:
        self._names = {False: _with_suffixes(clients), True: _with_suffixes(factories)}

    def known(self, receiver: str) -> bool:
        """Whether a scanned receiver is a Redis client."""
        if receiver == REDIS_RECEIVER:
            return True
        kind, _, name = receiver.partition(":")
        if kind not in ("name", "call") or not name:
            return False
        names = self._names[kind == "call"]
        parts = name.split(".")
        return any(".".join(parts[start:]) in names for start in range(len(parts) - 1))


def _with_suffixes(names: Iterable[str]) -> Set[str]:
    out = set()
    for name in names:
        parts = name.split(".")
        out.update(".".join(parts[start:]) for start in range(len(parts) - 1))
    return out


class _Function:
    __slots__ = ("name", "facts", "cls", "self_name", "signal", "entities", "refreshed",
                 "read", "unknown")

    def __init__(self, node: cst.FunctionDef, facts: Optional[FunctionFacts],
                 cls: Optional[ClassFacts], self_name: Optional[str]) -> None:
        self.name = node.name.value
        self.facts = facts
        self.cls = cls
        self.self_name = self_name
        self.signal = is_signal_handler(node)
        self.entities: Dict[str, str] = {}  # entity -> receiver, of a delete
        self.refreshed: Dict[str, str] = {}  # entity -> receiver, of a write
        self.read: set = set()  # entities whose cache it reads (a fill, not a refresh)
        self.unknown: Optional[str] = None  # receiver of a delete of a key it cannot read


class _CacheScan:
    def __init__(self, facts: ModuleFacts) -> None:
        self.facts = facts
        self.module = facts.imports.module
        self.found: Dict[str, set] = {}
        self._methods = {id(f.node): (f, cls) for cls in facts.classes.values()
                         for f in cls.methods.values()}
        self._functions = {id(f.node): f for f in facts.functions.values()}

    def walk(self, module: cst.Module) -> None:
        from redislint.walk import children_of

        func: Optional[_Function] = None
        stack: List[object] = [module]
        while stack:
            node = stack.pop()
            if type(node) is tuple:  # leaving a function: (marker, the enclosing one)
                self._emit(func)  # type: ignore[arg-type]
                func = node[1]  # type: ignore[index]
                continue
            if type(node) is cst.FunctionDef:
                stack.append(("leave", func))
                func = self._enter(node, func)  # type: ignore[arg-type]
            elif type(node) is cst.Call and type(node.func) is cst.Attribute:  # type: ignore
                self._call(node, func)  # type: ignore[arg-type]
            children = children_of(node)  # type: ignore[arg-type]
            children.reverse()
            stack.extend(children)

    def _enter(self, node: cst.FunctionDef, outer: Optional[_Function]) -> _Function:
        method = self._methods.get(id(node))
        if method is not None:
            facts, cls = method
            params = (*node.params.posonly_params, *node.params.params)
            self_name = params[0].name.value if params else None
            return _Function(node, facts, cls, self_name)
        facts = self._functions.get(id(node))
        if outer is not None and facts is None:  # a nested function: its class and `self`
            return _Function(node, None, outer.cls, outer.self_name)
        return _Function(node, facts, None, None)

    def _emit(self, func: Optional[_Function]) -> None:
        if func is None:
            return
        families = (INVALIDATES, SIGNALS) if func.signal else (INVALIDATES,)
        # A write counts as a refresh only in a function that does not read the entity's cache
        # first: `get()` that fills the cache on a miss invalidates nothing.
        refreshed = {e: r for e, r in func.refreshed.items() if e not in func.read}
        for entity, receiver in {**refreshed, **func.entities}.items():
            for family in families:
                self.found.setdefault(family + entity, set()).add(f"{func.name}\t{receiver}")
        if func.unknown is not None:
            for family in families:
                self.found.setdefault(family + ANY_ENTITY, set()).add(
                    f"{func.name}\t{func.unknown}")

    def _call(self, call: cst.Call, func: Optional[_Function]) -> None:
        command = call.func.attr.value.lower()  # type: ignore[attr-defined]
        caches = command in CACHE_COMMANDS and not any(
            a.keyword is not None and a.keyword.value == "nx" for a in call.args)
        invalidates = func is not None and command in INVALIDATE_COMMANDS
        if not caches and not invalidates:
            return
        positional = [a.value for a in call.args if a.keyword is None and not a.star]
        first = positional[0] if positional else next(
            (a.value for a in call.args if a.keyword is not None
             and a.keyword.value in ("name", "key")), None)
        if first is None:
            return
        receiver = self._receiver(call.func.value, func)  # type: ignore[attr-defined]
        if receiver is None:
            return
        cls = func.cls if func is not None else None
        self_name = func.self_name if func is not None else None
        lookup = _function_keys(func.facts) if func is not None and func.facts else None

        def template_of(expr: cst.BaseExpression) -> Optional[str]:
            return key_template(expr, self.facts, lookup, cls, self_name)

        if caches:
            template = template_of(first)
            if template is not None and _cache_like(template):
                for name in key_entities(template):
                    self.found.setdefault(CACHED + name, set()).add(
                        f"{template}\t{receiver}\t{self.module}")
                    if func is not None and command not in INVALIDATE_COMMANDS:
                        func.read.add(name)
        if invalidates:
            deletes = command in _DELETES
            keys = positional if command in ("delete", "unlink") else [first]
            for key in keys:
                template = template_of(key)
                if template is None or not has_literal_text(template):
                    if deletes:
                        func.unknown = receiver  # type: ignore[union-attr]
                    continue
                into = func.entities if deletes else func.refreshed  # type: ignore[union-attr]
                for name in key_entities(template):
                    into.setdefault(name, receiver)

    def declare_clients(self) -> None:
        """Module globals bound to a client and functions returning one, for other modules."""
        if not self.module:
            return
        for name, values in self.facts.assigns.items():
            if len(values) == 1 and self._receiver(values[0], None) == REDIS_RECEIVER or (
                    name in self.facts.annotations
                    and self._annotation(self.facts.annotations[name]) == REDIS_RECEIVER):
                self.found.setdefault(REDIS_CLIENTS, set()).add(f"{self.module}.{name}")
        for name, func in self.facts.functions.items():
            context = _Function(func.node, func, None, None)  # type: ignore[arg-type]
            if self._annotation(func.annotation) == REDIS_RECEIVER or any(
                    self._receiver(value, context) == REDIS_RECEIVER for value in func.returns):
                self.found.setdefault(REDIS_FACTORIES, set()).add(f"{self.module}.{name}")

    # -- receivers ---------------------------------------------------------------------
    def _receiver(self, expr: cst.BaseExpression, func: Optional[_Function],
                  depth: int = 0) -> Optional[str]:
        if depth > 3:
            return None
        if isinstance(expr, cst.Await):
            expr = expr.expression
        if isinstance(expr, cst.Call):
            return self._made_by(expr, func, depth)
        if isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name) \
                and func is not None and expr.value.value == func.self_name:
            return self._attribute(expr.attr.value, func, depth)
        name = dotted(expr)
        if name is None:
            return None
        head = name.split(".")[0]
        facts = func.facts if func is not None else None
        if facts is not None and head in facts.locals:
            values = facts.locals[head]
            if head != name or len(values) != 1:
                return None
            return self._receiver(values[0], func, depth + 1)
        if facts is not None and head in facts.params:
            return self._annotation(facts.params[head]) if head == name else None
        qualified = self.facts.imports.qualify(name)
        if qualified is not None:
            return f"name:{qualified}"
        if head == name and head in self.facts.assigns:
            values = self.facts.assigns[head]
            found = self._receiver(values[0], None, depth + 1) if len(values) == 1 else None
            if found is not None:
                return found
            return f"name:{self.module}.{head}" if self.module else None
        if head == name and head in self.facts.annotations:
            return self._annotation(self.facts.annotations[head])
        return None

    def _made_by(self, call: cst.Call, func: Optional[_Function], depth: int) -> Optional[str]:
        callee = call.func
        if isinstance(callee, cst.Attribute) and callee.attr.value in ("pipeline", "client"):
            return self._receiver(callee.value, func, depth + 1)  # `r.pipeline()`
        name = dotted(callee)
        if name is None:
            return None
        qualified = self.facts.imports.qualify(name)
        if qualified is not None:
            if qualified.split(".")[0] in _REDIS_PACKAGES:
                return REDIS_RECEIVER
            return f"call:{qualified}"
        if name in self.facts.functions and self.module:
            return f"call:{self.module}.{name}"
        return None

    def _attribute(self, attr: str, func: _Function, depth: int) -> Optional[str]:
        """`self.<attr>`: what the class binds it to, once."""
        cls = func.cls
        assigned = cls.attrs.get(attr, ()) if cls is not None else ()
        if len(assigned) != 1:
            return None
        value, annotation, method = assigned[0]
        if annotation is not None:
            found = self._annotation(annotation)
            if found is not None:
                return found
        if value is None:
            return None
        context = func
        if method is not None:
            context = _Function(method.node, method, cls, func.self_name)
        elif isinstance(value, cst.Name):
            context = None  # a class-body binding reads module names
        return self._receiver(value, context, depth + 1)

    def _annotation(self, annotation: Optional[cst.BaseExpression]) -> Optional[str]:
        if annotation is None:
            return None
        for option in strip_optional(annotation):
            name = dotted(option)
            qualified = self.facts.imports.qualify(name) if name else None
            if qualified is not None and qualified.split(".")[0] in _REDIS_PACKAGES:
                return REDIS_RECEIVER
        return None
