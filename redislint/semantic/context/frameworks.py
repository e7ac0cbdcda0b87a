"""Where code runs: per request (a web route, a view, a task), in tests, or in operator tooling.

- `per_request(func)`: why a function runs once per request, task or event (`@app.get("/x")`,
  `@router.post`, `@api_view`, `@app.before_request`, `@app.middleware("http")`,
  `@shared_task`, `@app.task`, `@dramatiq.actor`, a Django view taking `request`, a signal
  receiver), or None.
- `in_test_code(model)`: the current node is test code: a file under `tests/`, `test_*.py`,
  `*_test.py`, `conftest.py`; a `test_*` function, a pytest fixture, a `TestCase` method.
- `in_tooling(model)`: code an operator runs on purpose, or sample code: `scripts/`, `bin/`,
  `benchmarks/`, `examples/`, `docs/` (`security.is_demo_path`), a Django management command,
  a `click`/`typer` command, an `if __name__ == "__main__":` block.
- `is_cached_factory(func)`: a function whose result is memoised (`@lru_cache`, `@cache`,
  `@cached_property`), so what it builds is built once.
- `is_migration_module(model)`: the module is a schema / data migration that runs once per
  deployment: a Django migration (in a `migrations` package, defining `class
  Migration(migrations.Migration)`) or an Alembic revision (`revision` and `down_revision`
  assigned, `def upgrade`).
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import TYPE_CHECKING, Iterator, Optional, Sequence, Tuple

import libcst as cst

from redislint.semantic.context.database import is_signal_handler
from redislint.semantic.names import dotted, string_value
from redislint.semantic.context.security import is_demo_path

if TYPE_CHECKING:
    from redislint.semantic.model import SemanticModel

# `@app.route("/")`, `@router.get("/items")`: only as calls, on something other than `self`.
_ROUTE_METHODS = frozenset({"route", "get", "post", "put", "patch", "delete", "head", "options",
                            "websocket", "api_route", "view", "add_route"})
# Decorators (bare or called) that make a function run per request, task or message.
_PER_CALL_DECORATORS = frozenset({
    "api_view", "action", "view_config", "login_required", "permission_required",
    "require_http_methods", "require_GET", "require_POST", "require_safe", "csrf_exempt",
    "shared_task", "task", "periodic_task", "actor", "job", "cron", "on_message",
    "before_request", "after_request", "teardown_request", "middleware",
})
_TASK_DECORATORS = frozenset({"shared_task", "task", "periodic_task", "actor", "job", "cron",
                              "on_message"})
_REQUEST_HOOKS = frozenset({"before_request", "after_request", "teardown_request", "middleware"})
_CACHING_DECORATORS = frozenset({"lru_cache", "cache", "cached_property", "cached", "memoize",
                                 "once", "singleton"})
_FIXTURE_DECORATORS = frozenset({"pytest.fixture", "fixture", "pytest_asyncio.fixture"})
_TEST_DIRS = frozenset({"test", "tests", "testing", "testsuite", "unittests", "integration_tests",
                        "t"})
_TEST_FILE = re.compile(r"^(test_.*|.*_tests?|tests?|conftest)\.pyi?$")
_TEST_METHODS = frozenset({"setUp", "tearDown", "setUpClass", "tearDownClass", "asyncSetUp",
                           "asyncTearDown", "setup_method", "teardown_method", "setup_class",
                           "teardown_class", "setup_module", "teardown_module", "setup_function",
                           "teardown_function"})
# Operator tooling; sample code (`examples/`, `docs/`...) is `security.is_demo_path`.
_TOOLING_DIRS = frozenset({"scripts", "script", "bin", "tools", "benchmarks", "benchmark",
                           "bench"})
_COMMAND_DECORATORS = frozenset({"command", "group", "callback"})


def _decorator_names(func: cst.FunctionDef) -> Iterator[Tuple[str, bool, cst.BaseExpression]]:
    """(dotted name, whether it is called, the receiver or None) for each decorator."""
    for decorator in func.decorators:
        expr = decorator.decorator
        called = isinstance(expr, cst.Call)
        target = expr.func if isinstance(expr, cst.Call) else expr
        name = dotted(target)
        if name is not None:
            receiver = target.value if isinstance(target, cst.Attribute) else None
            yield name, called, receiver


def _params(func: cst.FunctionDef):
    return (*func.params.posonly_params, *func.params.params)


def per_request(func: Optional[cst.CSTNode]) -> Optional[str]:
    """Why `func` runs once per request, task or event (for a message), or None."""
    if not isinstance(func, cst.FunctionDef):
        return None
    for name, called, receiver in _decorator_names(func):
        last = name.split(".")[-1]
        if last in _ROUTE_METHODS and called and receiver is not None and \
                not (isinstance(receiver, cst.Name) and receiver.value in ("self", "cls")):
            return f"`@{name}` handler"
        if last in _PER_CALL_DECORATORS and name.split(".")[0] not in ("self", "cls"):
            kind = "task" if last in _TASK_DECORATORS else (
                "request hook" if last in _REQUEST_HOOKS else "view")
            return f"`@{name}` {kind}"
    if is_signal_handler(func):
        return "signal receiver"
    params = _params(func)
    if params and params[0].name.value in ("self", "cls"):
        params = params[1:]
    if params and params[0].name.value == "request":
        return "view (it takes `request`)"
    return None


def is_cached_factory(func: Optional[cst.CSTNode]) -> bool:
    if not isinstance(func, cst.FunctionDef):
        return False
    return any(name.split(".")[-1] in _CACHING_DECORATORS for name, _, _ in _decorator_names(func))


def is_migration_module(model: "SemanticModel") -> bool:
    facts = model.facts
    parts = _relative_parts(model)
    cls = facts.classes.get("Migration")
    if cls is not None and "migrations" in parts[:-1] and any(
            base.split(".")[-1] == "Migration" for base in cls.bases):
        return True
    return {"revision", "down_revision"} <= set(facts.assigns) and "upgrade" in facts.functions


def _relative_parts(model: "SemanticModel") -> Tuple[str, ...]:
    path = getattr(model, "path", "") or ""
    if not path:
        module = model.facts.imports.module
        return tuple(module.split(".")[:-1]) + ((module.split(".")[-1] + ".py",) if module else ())
    return PurePath(path.replace("\\", "/")).parts


def _is_fixture(func: cst.FunctionDef) -> bool:
    return any(name in _FIXTURE_DECORATORS or name.endswith(".fixture")
               for name, _, _ in _decorator_names(func))


def _is_test_class(node: cst.ClassDef) -> bool:
    name = node.name.value
    if name.startswith("Test") or name.endswith(("Test", "Tests", "TestCase", "TestBase")):
        return True
    bases = [(dotted(b.value) or "").split(".")[-1] for b in node.bases]
    return any(base.endswith(("TestCase", "TestBase")) for base in bases)


def in_test_code(model: "SemanticModel",
                 ancestors: Optional[Sequence[cst.CSTNode]] = None) -> bool:
    """The node being visited (or the one whose `ancestors` are given, such as a
    `RedisCall.ancestors`) belongs to tests, by its file or its enclosing definitions."""
    parts = _relative_parts(model)
    if parts:
        if any(part in _TEST_DIRS for part in parts[:-1]) or _TEST_FILE.match(parts[-1]):
            return True
    module = model.facts.imports.module
    if module and any(part in _TEST_DIRS for part in module.split(".")):
        return True
    for node in model.ancestors if ancestors is None else ancestors:
        if isinstance(node, cst.FunctionDef):
            name = node.name.value
            if name.startswith("test") or name in _TEST_METHODS or _is_fixture(node):
                return True
        elif isinstance(node, cst.ClassDef) and _is_test_class(node):
            return True
    return False


def _is_main_guard(node: cst.CSTNode) -> bool:
    if not isinstance(node, cst.If) or not isinstance(node.test, cst.Comparison):
        return False
    sides = [node.test.left] + [c.comparator for c in node.test.comparisons]
    return any(isinstance(s, cst.Name) and s.value == "__name__" for s in sides) and any(
        string_value(s) == "__main__" for s in sides if isinstance(s, (cst.SimpleString,
                                                                      cst.ConcatenatedString)))


def in_tooling(model: "SemanticModel",
               ancestors: Optional[Sequence[cst.CSTNode]] = None) -> bool:
    """The node (as in `in_test_code`) belongs to code an operator runs on purpose: a script,
    a CLI command."""
    parts = _relative_parts(model)
    folders = parts[:-1]
    if is_demo_path("/".join(parts)):
        return True
    if any(part in _TOOLING_DIRS for part in folders) or any(
            a == "management" and b == "commands" for a, b in zip(folders, folders[1:])):
        return True
    if parts and parts[-1] in ("manage.py", "fabfile.py", "noxfile.py", "setup.py"):
        return True
    for node in model.ancestors if ancestors is None else ancestors:
        if _is_main_guard(node):
            return True
        if isinstance(node, cst.FunctionDef):
            for name, _, _ in _decorator_names(node):
                head, _, last = name.rpartition(".")
                if last in _COMMAND_DECORATORS and head:
                    return True
    return False
