"""Is this expression a Redis client? The question every rule asks first, answered once here.

Real code rarely builds its client beside the call: it passes it in, keeps it on `self`, wraps
it, gets it from a factory or a config object. So the answer is a project-wide inference:

- `translate.py` turns code into terms: what an expression says, naming what it depends on (a
  parameter, an attribute, what a function returns) instead of guessing.
- `summary.py` gives each module's terms and what its calls pass on, with no CST node and no
  position, cached with the file (`records.py` holds the plain records).
- `solve.py` runs the fixpoint over every module of the project, whatever files are linted.
- `evaluate.py` says what calling, attribute access, iteration and `with` do to a value; the
  solver and the lint-time questions (`infer.py`) both use it, so they cannot disagree.
- `objects.py`: `RedisObject`, the answer, with its `evidence` (proven / inferred / probable).

Recognised (each has a case in `tests/test_client_inference.py`):

- constructors of redis-py, `redis.asyncio`, `RedisCluster`, Sentinel `master_for`/`slave_for`,
  `from_url`, `from_pool`, valkey (`Valkey`, `StrictValkey`, `ValkeyCluster`, `valkey.asyncio`),
  aioredis 2, `django_redis.get_redis_connection`, names declared in `clients = [...]`;
- values that flow in: a parameter the project's callers fill with a client (positional or
  keyword, calls, constructors, `cls(...)`, `super().__init__(...)`, `self` of a client
  subclass), attributes set from one (`self.conn = conn`, `self.a = self.b = c`) in the class
  and its subclasses, functions returning one, a method any subclass overrides;
- project wrappers: classes whose methods forward to the same command of a client they hold
  (clients for those commands only), `__getattr__` proxies, subclasses of a client through any
  alias or module, in annotations and `typing.cast`;
- factories: return annotations (through type aliases, `Union`, `Optional`), a class chosen
  from a default (`kwargs.pop("client_class", redis.StrictRedis)`), function aliases and
  re-exports;
- where clients live: class attributes of config classes (`Config.redis`, `Config().redis`,
  `get_config().redis`), lazy proxies (`SimpleLazyObject(f)`, `LocalProxy(f)`, `@LazyObject`),
  containers (`self.servers[name] = ...`, `.values()`, `.items()`), `@contextmanager`
  functions that yield one, the `redis` module held at run time (`import_module("redis")`,
  a module passed as a parameter), methods that hand out clients
  (`get_redis_connection(node)`, `get_node(...).redis_connection`);
- raw commands sent by name (`execute_command("BRPOP", ...)`, `send_command`);
- last, usage evidence (`probable`): a parameter, attribute, global or local sent two
  Redis-only commands (`hset`, `zadd`, `brpop`, `expire`...) that nothing else explains (one is
  enough for a parameter named like the client parameter of two other functions of its
  module: the module's convention), and never one known to be something else (a dict, Django's or Flask's cache, memcache, a
  Prometheus metric, a project object with methods of its own).
"""


def shapes() -> str:
    """The list above, for `redislint rule CODE` and the README."""
    text = __doc__ or ""
    start = text.index("Recognised")
    return text[start:].strip()
