"""Settings from `[tool.redislint]` in pyproject.toml, overridden by the command line.

Every key is validated: an unknown key or a value of the wrong type is a one-line
`ConfigError` naming the key (exit 2), never a traceback.
"""

from __future__ import annotations

import hashlib
import re
import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from redislint.semantic.redispy_version import parse as parse_redis_py, targeted

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on the oldest interpreter in CI
    import tomli as tomllib

DEFAULT_EXCLUDE = (
    ".bzr", ".direnv", ".eggs", ".git", ".git-rewrite", ".hg", ".mypy_cache", ".nox", ".pants.d",
    ".pytype", ".ruff_cache", ".redislint_cache", ".svn", ".tox", ".venv", "__pypackages__",
    "_build", "buck-out", "build", "dist", "node_modules", "site-packages", "venv",
)


class ConfigError(Exception):
    """A configuration problem, reported as one line with exit code 2."""


@dataclass(frozen=True)
class Settings:
    select: Tuple[str, ...] = ()
    ignore: Tuple[str, ...] = ()
    extend_select: Tuple[str, ...] = ()
    per_file_ignores: Dict[str, Tuple[str, ...]] = field(default_factory=dict)
    exclude: Tuple[str, ...] = DEFAULT_EXCLUDE
    extend_exclude: Tuple[str, ...] = ()
    respect_gitignore: bool = True
    target_redis_version: Tuple[int, int] = (7, 0)
    default_ttl: Optional[int] = None
    lock_timeout: Optional[float] = None
    clients: Tuple[str, ...] = ()
    # Key globs that hold user sessions (RL103 session-without-ttl).
    session_key_patterns: Tuple[str, ...] = ("session:*", "sess:*")
    # The redis-py the project runs on; None: the installed one (redislint.semantic.redispy_version).
    redis_py_version: Optional[Tuple[int, int, int]] = None
    # Where the settings came from: relative exclude patterns and per-file-ignores anchor here.
    root: Path = field(default_factory=Path.cwd, compare=False)
    # The configuration file the settings were read from (None: defaults only).
    config_path: Optional[Path] = field(default=None, compare=False)

    def fingerprint(self) -> str:
        """Everything that can change a file's findings, for the result cache."""
        relevant = {f.name: getattr(self, f.name) for f in fields(self)
                    if f.name not in ("root", "config_path")}
        relevant["redis_py_version"] = targeted(self)  # an upgrade of the installed one counts
        return hashlib.sha256(repr(sorted(relevant.items())).encode()).hexdigest()[:16]


def _strings(key: str, value: Any) -> Tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"`{key}` must be a list of strings, got {value!r}")
    return tuple(value)


def _version(key: str, value: Any) -> Tuple[int, int]:
    text = str(value)
    match = re.fullmatch(r"(\d+)(?:\.(\d+))?(?:\.\d+)?", text)
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or match is None:
        raise ConfigError(f"`{key}` must be a Redis version like \"7.0\", got {value!r}")
    return int(match.group(1)), int(match.group(2) or 0)


def _redis_py(key: str, value: Any) -> Tuple[int, int, int]:
    parsed = parse_redis_py(str(value)) if isinstance(value, (str, int, float)) and not isinstance(
        value, bool) else None
    if parsed is None:
        raise ConfigError(f"`{key}` must be a redis-py version like \"7.4\", got {value!r}")
    return parsed


def _positive(key: str, value: Any, kind: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"`{key}` must be a positive number of seconds, got {value!r}")
    if kind is int and int(value) != value:
        raise ConfigError(f"`{key}` must be a whole number of seconds, got {value!r}")
    return kind(value)


def _per_file(key: str, value: Any) -> Dict[str, Tuple[str, ...]]:
    if not isinstance(value, dict):
        raise ConfigError(f"`{key}` must be a table of glob = [codes], got {value!r}")
    return {pattern: _strings(f"{key}.{pattern}", codes) for pattern, codes in value.items()}


def _globs(key: str, value: Any) -> Tuple[str, ...]:
    globs = _strings(key, value)
    for glob in globs:
        if not glob.strip() or not glob.strip("*?"):
            raise ConfigError(f"`{key}` must be key globs with some literal text (like "
                              f"\"session:*\"), got {glob!r}")
    return globs


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"`{key}` must be true or false, got {value!r}")
    return value


PARSERS = {
    "select": _strings,
    "ignore": _strings,
    "extend-select": _strings,
    "per-file-ignores": _per_file,
    "exclude": _strings,
    "extend-exclude": _strings,
    "respect-gitignore": _bool,
    "target-redis-version": _version,
    "default-ttl": lambda k, v: _positive(k, v, int),
    "lock-timeout": lambda k, v: _positive(k, v, float),
    "clients": _strings,
    "session-key-patterns": _globs,
    "redis-py-version": _redis_py,
}


def parse_options(options: Dict[str, Any], source: str) -> Dict[str, Any]:
    """Validated `Settings` field values from a `[tool.redislint]` table or CLI options."""
    parsed = {}
    for key, value in options.items():
        parser = PARSERS.get(key)
        if parser is None:
            known = ", ".join(sorted(PARSERS))
            raise ConfigError(f"{source}: unknown key `{key}` in [tool.redislint] (known: {known})")
        try:
            parsed[key.replace("-", "_")] = parser(key, value)
        except ConfigError as error:
            raise ConfigError(f"{source}: {error}") from None
    return parsed


def find_pyproject(start: Path) -> Optional[Path]:
    """The nearest pyproject.toml with a [tool.redislint] table, searching upwards."""
    folder = start.resolve()
    if folder.is_file():
        folder = folder.parent
    for candidate in (folder, *folder.parents):
        path = candidate / "pyproject.toml"
        if path.is_file() and _has_table(path):
            return path
    return None


def _has_table(path: Path) -> bool:
    try:
        return b"[tool.redislint" in path.read_bytes()
    except OSError:
        return False


def read_file(path: Path) -> Dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read config file {path}: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from None
    if path.name == "pyproject.toml" or "tool" in data:
        tool = data.get("tool", {})
        if not isinstance(tool, dict):
            raise ConfigError(f"{path}: [tool] must be a table")
        table = tool.get("redislint", {})
    else:  # a dedicated redislint.toml
        table = data
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.redislint] must be a table")
    return table


def load(config: Optional[Path], start: Path, overrides: Dict[str, Any]) -> Settings:
    """Settings from `config` (or the nearest pyproject.toml), then CLI `overrides`."""
    path = config if config is not None else find_pyproject(start)
    values: Dict[str, Any] = {}
    root = Path.cwd()
    if path is not None:
        values.update(parse_options(read_file(path), str(path)))
        root = path.resolve().parent
    for key, value in overrides.items():
        if value is None:
            continue
        if key in ("extend_select", "extend_exclude") and key in values:
            value = values[key] + tuple(value)
        values[key] = value
    found = path.resolve() if path is not None else None
    return replace(Settings(root=root, config_path=found), **values)
