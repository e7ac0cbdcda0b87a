from typing import Dict, List, Optional, Set

import libcst as cst

from redislint.rule import Invalid, Rule, Valid
from redislint.semantic.context.database import (
    ANY_ENTITY, CACHE_COMMANDS, CACHED, INVALIDATE_COMMANDS, INVALIDATES, REDIS_CLIENTS,
    REDIS_FACTORIES, SIGNALS, FunctionWrites, ProjectClients, WriteContext, db_write, entity,
    has_literal_text, is_commit, is_invalidator, is_signal_handler, key_entities, key_template,
    reachable,
)
from redislint.semantic.model import RedisCall

_HEAD = 'import redis\nr = redis.Redis()\n'
_SQL_READ = ('def get_user(db, uid):\n'
             '    cached = r.get(f"user:{uid}")\n'
             '    if cached is not None:\n'
             '        return cached\n'
             '    row = db.execute("SELECT name FROM users WHERE id = ?", (uid,)).fetchone()\n'
             '    r.set(f"user:{uid}", row[0], ex=300)\n'
             '    return row[0]\n')


class MissingInvalidation(Rule):
    """
    ## What it does
    Flags a function that writes an entity to the database (SQL `UPDATE`/`DELETE`/`INSERT` run
    through `.execute(...)`/`.executemany(...)`, Django `obj.save()`/`obj.delete()`/
    `Model.objects.filter(...).update(...)`, SQLAlchemy `session.add(obj)` + `commit()`,
    `session.delete(obj)`, `session.query(Model)...update(...)`, `update(Model)`) when the
    project caches that entity in Redis, in this module or any other, and the function neither
    deletes (`delete`/`unlink`) nor refreshes (`set`/`hset`...) a cache key of that entity,
    itself or through a function or method of the same module it calls (or that calls it). The
    finding is on the database write; the message names the function.

    The entity of a write is the SQL table after `UPDATE`/`INTO`/`FROM`, the model class, or the
    name of the saved variable (and the model it was loaded or built from). A module caches an
    entity when it reads or writes (`get`, `set`, `hget`, `hset`, ...) a key whose template has
    a literal segment naming it: followed by an id (`user:{}`), ending the key (`cache:users`,
    `user:{}:orders`), followed by a collection word (`users:all`, `user:by_email:{}`), or
    followed by one part of the entity and an id (`product:price:{}`: `entity:part:{id}`);
    `users:last_active_at` is a buffer of one column, not a cache of users. Names are compared
    case- and separator-insensitively, singular or plural:
    table `users`, `user_profiles`, model `User`, `UserProfile`, variable `user` match keys
    `user:{}`, `users:{}`, `app:user_profile:{}`. Inserts only count for keys without a hole
    (`users:all`, `users:count`): a new row cannot be in a per-id cache yet.

    Other modules are read from the project index (`redislint.semantic.context.database`,
    `project_cache_uses`): their cache keys count when the receiver is known to be Redis
    (`redis.Redis(...)`, a Redis annotation, `get_redis_connection()`, a module global bound to
    a client or a function returning one, in any module, `self.r` bound to one of those), so
    Django's `cache`, a dict or an unknown object elsewhere never makes an entity cached; their keys must have a
    separator or an id (`user:{}`, not `user`). Only modules the runner lints are checked: a
    file that mentions neither redis nor a client name is skipped before parsing.

    Counted as invalidation, to stay quiet when unsure: a delete or write of any key of the
    entity (not only the exact cached pattern), of a key the linter cannot read (a parameter, an
    opaque helper), a call whose name says so (`invalidate_user(uid)`, `evict(...)`,
    `clear_cache()`), a call of a function another module of the project defines that deletes
    a key of the entity (or a key it cannot read), or refreshes one without reading the cache
    first (a `get()` that fills the cache on a miss invalidates nothing), matched by its name
    (`users.forget(uid)`, `self.cache.forget(uid)`), and, for ORM instance writes (`save()`,
    `delete()`, `session.add`), a `post_save`/`post_delete` receiver or SQLAlchemy
    `listens_for` handler of the project that invalidates the entity (bulk `update()` and raw
    SQL do not fire them). Keys used with `set(..., nx=True)` are locks or markers, not caches.
    Django's `cache` is not Redis.

    ## Why is this bad?
    Cache-aside keeps serving the old value until its TTL runs out: users see their change
    "not saved", a deleted row keeps appearing, a revoked permission keeps working. The write and
    the invalidation belong together in the function that changes the data.

    ## Example
    ```python
    def rename(db, uid, name):
        db.execute("UPDATE users SET name = ? WHERE id = ?", (name, uid))
        db.commit()
    ```
    while another function of the module, or another module, caches `r.set(f"user:{uid}", ...)`.

    ## Use instead:
    ```python
    def rename(db, uid, name):
        db.execute("UPDATE users SET name = ? WHERE id = ?", (name, uid))
        db.commit()
        r.delete(f"user:{uid}")  # after the commit: the next read refills from the new row
    ```
    See `redislint patterns caching` (`CacheAside.invalidate` also drops an in-flight fill).

    ## Fix safety
    No automatic fix: which key (and which id) to invalidate is the author's decision.
    """

    code = "RL401"
    name = "missing-invalidation"
    message = ("`{function}` writes `{entity}` to the database but leaves its Redis cache "
               "`{pattern}` stale: delete or refresh that key after the write "
               "(see `redislint patterns caching`)")
    pattern = "caching"

    VALID = [
        # invalidation with the same key spelt differently (f-string vs `+` vs `.format`)
        Valid(_HEAD + _SQL_READ + 'def rename(db, uid, name):\n'
              '    db.execute("UPDATE users SET name = ? WHERE id = ?", (name, uid))\n'
              '    r.delete("user:" + str(uid))\n'),
        Valid(_HEAD + _SQL_READ + 'def remove(db, uid):\n'
              '    db.execute("DELETE FROM users WHERE id = ?", (uid,))\n'
              '    r.unlink("user:{}".format(uid))\n'),
        # refreshed (write-through) instead of deleted
        Valid(_HEAD + _SQL_READ + 'def rename(db, uid, name):\n'
              '    db.execute(f"UPDATE users SET name = \'{name}\' WHERE id = {uid}")\n'
              '    r.set(f"user:{uid}", name, ex=300)\n'),
        # a write to a table the module does not cache; a read-only SELECT
        Valid(_HEAD + _SQL_READ + 'def log(db, uid):\n'
              '    db.execute("INSERT INTO audit_log (uid) VALUES (?)", (uid,))\n'
              '    db.execute("UPDATE orders SET seen = 1 WHERE uid = ?", (uid,))\n'
              '    return db.execute("SELECT * FROM users").fetchall()\n'),
        # invalidation in a helper of the same module (a method through self)
        Valid('import redis\nclass Repo:\n    def __init__(self, db):\n'
              '        self.db = db\n        self.r = redis.Redis()\n'
              '    def get(self, uid):\n        return self.r.get(f"user:{uid}")\n'
              '    def _forget(self, uid):\n        self.r.delete(f"user:{uid}")\n'
              '    def rename(self, uid, name):\n'
              '        self.db.execute("UPDATE users SET name = %s WHERE id = %s", (name, uid))\n'
              '        self._forget(uid)\n'),
        # Django's cache is not Redis: no Redis cache of users in this module
        Valid('from django.core.cache import cache\nfrom .models import User\n'
              'def get(uid):\n    return cache.get(f"user:{uid}")\n'
              'def rename(uid, name):\n    User.objects.filter(pk=uid).update(name=name)\n'
              '    cache.delete(f"user:{uid}")\n'),
        # a dict `.update` / `.get` and a new row of a per-id cache are not stale entries
        Valid(_HEAD + _SQL_READ + 'def create(db, name):\n'
              '    settings = {}\n    settings.update(name=name)\n'
              '    db.execute("INSERT INTO users (name) VALUES (?)", (name,))\n'
              '    return settings.get("name")\n'),
        # the caller invalidates what the low-level helper writes
        Valid(_HEAD + _SQL_READ + 'def _write(db, uid, name):\n'
              '    db.execute("UPDATE users SET name = ? WHERE id = ?", (name, uid))\n'
              'def rename(db, uid, name):\n    _write(db, uid, name)\n'
              '    r.delete(f"user:{uid}")\n'),
        # SQLAlchemy add without a commit in the function: the caller owns the transaction
        Valid('import redis\nr = redis.Redis()\n'
              'def cached(uid):\n    return r.get(f"user:{uid}")\n'
              'def stage(session, user):\n    session.add(user)\n'),
        # a post_save receiver invalidates on every instance save
        Valid(_HEAD + 'from django.db.models.signals import post_save\n'
              'from django.dispatch import receiver\nfrom .models import User\n'
              'def get(uid):\n    return r.get(f"user:{uid}")\n'
              '@receiver(post_save, sender=User)\ndef _forget(sender, instance, **kwargs):\n'
              '    r.delete(f"user:{instance.pk}")\n'
              'def rename(uid, name):\n    user = User.objects.get(pk=uid)\n'
              '    user.name = name\n    user.save()\n'),
        # an invalidation helper imported from another module
        Valid(_HEAD + 'from .cache import invalidate_user\n'
              'def get(uid):\n    return r.get(f"user:{uid}")\n'
              'def rename(db, uid, name):\n'
              '    db.execute("UPDATE users SET name = ? WHERE id = ?", (name, uid))\n'
              '    invalidate_user(uid)\n'),
        # `entity:part:{id}` invalidated; a buffer of one column (`users:last_active_at`) is
        # not a cache of users
        Valid(_HEAD + 'def price(pid):\n    return r.get(f"product:price:{pid}")\n'
              'def set_price(db, pid, p):\n'
              '    db.execute("UPDATE products SET price = ? WHERE id = ?", (p, pid))\n'
              '    r.delete(f"product:price:{pid}")\n'
              'def seen(db, uid, now):\n    r.hset("users:last_active_at", uid, now)\n'
              '    db.execute("UPDATE users SET active = 1 WHERE id = ?", (uid,))\n'),
        # a lock (`set(..., nx=True)`) on a user key is not a cache of users
        Valid(_HEAD + 'def rename(db, uid, name):\n'
              '    if r.set(f"lock:user:{uid}", 1, nx=True, ex=5):\n'
              '        db.execute("UPDATE users SET name = ? WHERE id = ?", (name, uid))\n'),
    ]
    INVALID = [
        # raw SQL through a cursor; cache read elsewhere in the module
        Invalid(_HEAD + _SQL_READ + 'def rename(conn, uid, name):\n'
                '    cur = conn.cursor()\n'
                '    cur.execute("UPDATE users SET name = ? WHERE id = ?", (name, uid))\n'
                '    conn.commit()\n'),
        # `self.r` from `__init__`; the cache key refreshed is another entity's
        Invalid('import redis\nclass Repo:\n    def __init__(self, db):\n'
                '        self.db = db\n        self.r = redis.Redis()\n'
                '    def get(self, pid):\n        return self.r.hgetall(f"product:{pid}")\n'
                '    def delete(self, pid):\n'
                '        self.db.execute("DELETE FROM products WHERE id = %s", (pid,))\n'
                '        self.r.delete(f"order:{pid}")\n'),
        # redis.asyncio + await, annotated parameter, Django ORM
        Invalid('from redis.asyncio import Redis\nfrom .models import Product\n'
                'async def price(r: Redis, pid):\n    return await r.get(f"product:{pid}:price")\n'
                'async def set_price(r: Redis, pid, price):\n'
                '    await Product.objects.filter(pk=pid).aupdate(price=price)\n'
                '    Product.objects.filter(pk=pid).update(price=price)\n'),
        # Django instance save of an object loaded through the manager
        Invalid(_HEAD + 'from .models import Account\n'
                'def balance(aid):\n    return r.hget(f"account:{aid}", "balance")\n'
                'def credit(aid, amount):\n    obj = Account.objects.get(pk=aid)\n'
                '    obj.balance += amount\n    obj.save(update_fields=["balance"])\n'),
        # SQLAlchemy session delete; Django's cache.delete does not clear the Redis key
        Invalid(_HEAD + 'from django.core.cache import cache\n'
                'def load(uid):\n    return r.get("user:%s" % uid)\n'
                'def drop(session, user):\n    session.delete(user)\n    session.commit()\n'
                '    cache.delete(f"user:{user.id}")\n'),
        # SQLAlchemy add + commit of a loaded object
        Invalid(_HEAD + 'from .models import User\n'
                'def load(uid):\n    return r.get(f"users:{uid}")\n'
                'def rename(db, uid, name):\n    user = db.get(User, uid)\n'
                '    user.name = name\n    db.session.add(user)\n    db.session.commit()\n'),
        # a bulk update bypasses the post_save receiver that invalidates
        Invalid(_HEAD + 'from django.db.models.signals import post_save\n'
                'from django.dispatch import receiver\nfrom .models import User\n'
                'def get(uid):\n    return r.get(f"user:{uid}")\n'
                '@receiver(post_save, sender=User)\ndef _forget(sender, instance, **kwargs):\n'
                '    r.delete(f"user:{instance.pk}")\n'
                'def deactivate(ids):\n    User.objects.filter(pk__in=ids).update(active=False)\n'),
        # `entity:part:{id}` names the entity: `product:price:{}` caches products
        Invalid(_HEAD + 'def price(pid):\n    return r.get(f"product:price:{pid}")\n'
                'def discontinue(db, pid):\n'
                '    db.execute("DELETE FROM products WHERE id = ?", (pid,))\n'),
        # an insert goes stale in a collection cache without a hole
        Invalid(_HEAD + 'import json\n'
                'def all_users(db):\n    return json.loads(r.get("users:all") or "[]")\n'
                'def create(db, name):\n'
                '    db.executemany("INSERT INTO users (name) VALUES (?)", [(name,)])\n'),
    ]

    def __init__(self, model, settings) -> None:
        super().__init__(model, settings)
        self._cached: Dict[str, Set[str]] = {}
        self._records: List[FunctionWrites] = []
        self._stack: List[FunctionWrites] = []
        self._redis_nodes: Set[int] = set()
        self._projects: Dict[str, _ProjectEntity] = {}
        self._own: Optional[Set[str]] = None
        self._clients: Optional[ProjectClients] = None

    # -- collection ---------------------------------------------------------------------
    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        scope = self.model.scope
        owner = self._class_name() if scope.parent is not None and scope.parent.kind == "class" \
            else None
        name = f"{owner}.{node.name.value}" if owner else node.name.value
        record = FunctionWrites(node, name, signal=is_signal_handler(node))
        self._records.append(record)
        self._stack.append(record)

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._stack.pop()

    def on_redis_call(self, call: RedisCall) -> None:
        self._redis_nodes.add(id(call.node))
        if call.command in CACHE_COMMANDS and not call.has_kwarg("nx"):
            template = self._template(call.arg(0, "name"))
            for name in key_entities(template or ""):
                self._cached.setdefault(name, set()).add(template)  # type: ignore[arg-type]
        if call.command in INVALIDATE_COMMANDS and self._stack:
            record = self._stack[-1]
            if call.command in ("delete", "unlink"):
                keys = [a.value for a in call.node.args if a.keyword is None]
            else:
                keys = [call.arg(0, "name")]
            for key in keys:
                template = self._template(key)
                if template is None or not has_literal_text(template):
                    record.invalidates_unknown = True
                else:
                    record.invalidated |= key_entities(template)

    def visit_Call(self, node: cst.Call) -> None:
        if not self._stack or id(node) in self._redis_nodes:
            return
        record = self._stack[-1]
        func = node.func
        if isinstance(func, cst.Name):
            record.calls.add(func.value)
        elif isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
            owner = func.value.value
            if owner in (self.model.scope.self_name, "cls"):
                owner = self._class_name() or owner
            record.calls.add(f"{owner}.{func.attr.value}")
        if is_commit(node):
            record.commits = True
            return
        if is_invalidator(node):
            record.invalidates_unknown = True
            return
        write = db_write(node, self._context())
        if write is not None:
            record.writes.append(write)
        elif isinstance(func, cst.Attribute):
            record.foreign.add(func.attr.value)
        elif isinstance(func, cst.Name):
            record.foreign.add(func.value)

    # -- decision -----------------------------------------------------------------------
    def leave_Module(self, node: cst.Module) -> None:
        index = self.model.inferer.index
        if not self._cached and index is None:
            return
        by_name: Dict[str, List[FunctionWrites]] = {}
        for record in self._records:
            by_name.setdefault(record.name, []).append(record)
        edges = {name: [c for r in records for c in r.calls if c in by_name]
                 for name, records in by_name.items()}
        callers: Dict[str, List[str]] = {}
        for name, targets in edges.items():
            for target in targets:
                callers.setdefault(target, []).append(name)
        for record in self._records:
            for write in record.writes:
                if write.needs_commit and not record.commits:
                    continue
                cached = self._cached_templates(write)
                if not cached:
                    continue
                entities = set(cached)
                if any(self._invalidates(name, entities, by_name, edges)
                       for name in reachable(record.name, callers)):
                    continue
                if write.instance and any(self._invalidates(r.name, entities, by_name, edges)
                                          for r in self._records if r.signal):
                    continue
                if self._invalidated_elsewhere(record, write, entities, by_name, edges,
                                               callers):
                    continue
                pattern = sorted(cached.values())[0]
                # At the write itself: the line to fix, and the one a reviewer reads.
                self.report(write.node, self.message.format(
                    function=record.node.name.value, entity=write.label,  # type: ignore
                    pattern=pattern.replace("{}", "*")))
                break

    def _cached_templates(self, write) -> Dict[str, str]:
        """entity -> one cached key template of it (only hole-free ones for inserts): cached
        in this module, else in another module of the project."""
        found = {}
        for raw in write.entities:
            name = entity(raw)
            templates = sorted(t for t in self._cached.get(name, ())
                               if write.kind != "insert" or "{}" not in t)
            if not templates:
                templates = sorted(t for t in self._project(name).cached
                                   if write.kind != "insert" or "{}" not in t)
            if templates:
                found[name] = templates[0]
        return found

    def _invalidated_elsewhere(self, record: FunctionWrites, write, entities: Set[str],
                               by_name, edges, callers) -> bool:
        """The function (or one it calls, or that calls it) calls a function another module
        invalidates the entity with (or a key it cannot read), or, for an ORM instance write,
        another module has a signal handler that invalidates it."""
        if self.model.inferer.index is None:
            return False
        facts = [self._project(name) for name in (*entities, ANY_ENTITY)]
        if write.instance and any(f.signal for f in facts):
            return True
        names = set().union(*(f.invalidators for f in facts))
        if not names:
            return False
        for caller in reachable(record.name, callers):
            for name in reachable(caller, edges):
                if any(r.foreign & names for r in by_name.get(name, ())):
                    return True
        return False

    def _project(self, name: str) -> "_ProjectEntity":
        """What the other modules of the project say about an entity, asked once per entity."""
        found = self._projects.get(name)
        if found is not None:
            return found
        found = _ProjectEntity()
        index = self.model.inferer.index
        if index is not None:
            here = self.model.facts.imports.module
            known = self._receiver_known
            if name != ANY_ENTITY:
                for entry in index.key_uses(CACHED + name):
                    template, receiver, module = (entry.split("\t") + ["", ""])[:3]
                    if module != here and known(receiver):
                        found.cached.add(template)
            # this module's own functions are judged by the module's own call graph
            own = self._own_functions()
            for entry in index.key_uses(INVALIDATES + name):
                function, _, receiver = entry.partition("\t")
                if function not in own and known(receiver):
                    found.invalidators.add(function)
            found.signal = any(entry.partition("\t")[0] not in own and
                               known(entry.partition("\t")[2])
                               for entry in index.key_uses(SIGNALS + name))
        self._projects[name] = found
        return found

    def _own_functions(self) -> Set[str]:
        if self._own is None:
            self._own = {record.node.name.value for record in self._records}  # type: ignore
        return self._own

    def _receiver_known(self, receiver: str) -> bool:
        if self._clients is None:
            index = self.model.inferer.index
            if index is None:
                return False
            self._clients = ProjectClients(index.key_uses(REDIS_CLIENTS),
                                           index.key_uses(REDIS_FACTORIES))
        return self._clients.known(receiver)

    def _invalidates(self, start: str, entities: Set[str], by_name, edges) -> bool:
        for name in reachable(start, edges):
            for record in by_name.get(name, ()):
                if record.invalidates_unknown or record.invalidated & entities:
                    return True
        return False

    # -- helpers ------------------------------------------------------------------------
    def _class_name(self) -> Optional[str]:
        cls = self.model.scope.cls
        return cls.node.name.value if cls is not None else None

    def _context(self) -> WriteContext:
        scope = self.model.scope
        return WriteContext(scope.key_lookup, self._facts(), scope.self_name, self._class_name())

    def _facts(self):
        record = self._stack[-1]
        node = record.node
        facts = self.model.facts
        owner, _, name = record.name.rpartition(".")
        if owner:
            cls = facts.classes.get(owner)
            found = cls.methods.get(name) if cls is not None else None
        else:
            found = facts.functions.get(name)
        return found if found is not None and found.node is node else None

    def _template(self, expr: Optional[cst.BaseExpression]) -> Optional[str]:
        scope = self.model.scope
        return key_template(expr, self.model.facts, scope.key_lookup, scope.cls, scope.self_name)


class _ProjectEntity:
    """An entity as the other modules of the project see it: the key templates they cache it
    under, the functions that invalidate it, whether a signal handler does."""

    __slots__ = ("cached", "invalidators", "signal")

    def __init__(self) -> None:
        self.cached: Set[str] = set()
        self.invalidators: Set[str] = set()
        self.signal = False
