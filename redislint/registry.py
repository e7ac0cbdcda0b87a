"""Finds the rules: every `Rule` subclass in the modules of `redislint.rules`.

The engine never names a rule; adding a rule is adding a file under `rules/`. Importing the
rules imports libcst (a tenth of a second): a run that parses nothing (every file cached, or no
file can touch Redis) selects rules from their catalogue instead, which the cache keeps for as
long as the rule files are unchanged.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Dict, Iterable, List, Optional, Sequence, Tuple, Type

from redislint import __version__
from redislint.config import ConfigError, Settings

if TYPE_CHECKING:
    from redislint.rule import Rule

# Diagnostics of the engine itself: not rules, but codes users see and can select.
ENGINE_CODES = {
    "RL000": ("syntax-error", "The file could not be parsed."),
    "RL001": ("io-error", "The file could not be read."),
    "RL999": ("internal-error", "redislint failed on this file; please report it."),
}


@lru_cache(maxsize=1)
def all_rules() -> Tuple[Type[Rule], ...]:
    import redislint.rules as package
    from redislint.rule import Rule

    found: Dict[str, Type[Rule]] = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Rule) and value is not Rule \
                    and value.__module__ == module.__name__ and getattr(value, "code", None):
                if value.code in found and found[value.code] is not value:
                    raise RuntimeError(f"two rules claim {value.code}")
                found[value.code] = value
    return tuple(found[code] for code in sorted(found))


@dataclass(frozen=True)
class RuleInfo:
    """What selecting a rule needs to know of it, and where to load it from."""

    code: str
    name: str
    default_enabled: bool
    module: str
    qualname: str

    def load(self) -> Type[Rule]:
        return getattr(importlib.import_module(self.module), self.qualname)


_catalogue: Optional[Tuple[RuleInfo, ...]] = None


def catalogue(store=None) -> Tuple[RuleInfo, ...]:
    """Every rule, as RuleInfo. `store` (a `redislint.cache.Cache`) keeps the list keyed by the
    version and the rule files' names, sizes and modification times."""
    global _catalogue
    if _catalogue is not None:
        return _catalogue
    key = _rule_files_stamp() if store is not None else None
    if key is not None:
        kept = store.get("rules", key)
        try:
            _catalogue = tuple(RuleInfo(**row) for row in kept) if isinstance(kept, list) else None
        except TypeError:  # an entry of another shape: rebuild it
            _catalogue = None
    if _catalogue is None:
        _catalogue = tuple(RuleInfo(r.code, r.name, bool(r.default_enabled), r.__module__,
                                    r.__qualname__) for r in all_rules())
        if key is not None:
            store.put("rules", key, [asdict(info) for info in _catalogue])
    return _catalogue


def _rule_files_stamp() -> Optional[str]:
    from redislint.cache import digest

    import redislint.rules as package

    rows = [__version__]
    try:
        for folder in package.__path__:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.name.endswith(".py"):
                        info = entry.stat()
                        rows.append(f"{entry.name}:{info.st_size}:{info.st_mtime_ns}")
    except OSError:
        return None
    return digest(*sorted(row.encode() for row in rows))


def load(rules: Sequence) -> List[Type[Rule]]:
    """Rule classes for a selection of classes or RuleInfo."""
    return [r.load() if isinstance(r, RuleInfo) else r for r in rules]


def by_code() -> Dict[str, Type[Rule]]:
    return {rule.code: rule for rule in all_rules()}


def find(code_or_name: str) -> Type[Rule]:
    wanted = code_or_name.strip()
    for rule in all_rules():
        if wanted.upper() == rule.code or wanted == rule.name:
            return rule
    raise KeyError(code_or_name)


def _matches(selector: str, code: str) -> bool:
    return selector == "ALL" or code.startswith(selector)


def _check(selectors: Iterable[str], option: str, rules: Sequence = ()) -> List[str]:
    codes = [r.code for r in rules or all_rules()] + list(ENGINE_CODES)
    checked = []
    for raw in selectors:
        selector = raw.strip().upper()
        if not selector:
            continue
        if selector != "ALL" and not any(code.startswith(selector) for code in codes):
            raise ConfigError(f"unknown rule selector `{raw}` in {option}")
        checked.append(selector)
    return checked


def validate(settings: Settings, rules: Sequence = ()) -> None:
    _check(settings.select, "select", rules)
    _check(settings.extend_select, "extend-select", rules)
    _check(settings.ignore, "ignore", rules)
    for pattern, codes in settings.per_file_ignores.items():
        _check(codes, f"per-file-ignores[{pattern!r}]", rules)


def select(settings: Settings, extra_ignores: Sequence[str] = ()) -> List[Type[Rule]]:
    """The rule classes the settings turn on."""
    return choose(settings, all_rules(), extra_ignores)


def choose(settings: Settings, rules: Sequence, extra_ignores: Sequence[str] = ()) -> list:
    """Ruff's semantics: `select` replaces the defaults, `extend-select` adds, `ignore` removes;
    a more specific selector wins over a less specific one. `rules` are classes or RuleInfo."""
    selected = _check(settings.select, "select", rules)
    extend = _check(settings.extend_select, "extend-select", rules)
    ignored = _check(settings.ignore, "ignore", rules) + list(extra_ignores)
    chosen = []
    for rule in rules:
        if selected:
            best_on = max((len(s) for s in selected if _matches(s, rule.code)), default=-1)
            on = best_on >= 0
        else:
            best_on, on = (0, True) if rule.default_enabled else (-1, False)
        best_extend = max((len(s) for s in extend if _matches(s, rule.code)), default=-1)
        if best_extend >= 0:
            on, best_on = True, max(best_on, best_extend)
        best_off = max((len(s if s != "ALL" else "") for s in ignored if _matches(s, rule.code)),
                       default=-1)
        if best_off >= 0 and best_off >= best_on:
            on = False
        if on:
            chosen.append(rule)
    return chosen


class _EngineCode:
    """Engine diagnostics described like rules, for output formats that list rules (SARIF)."""

    default_enabled = True
    fix_safety = None

    def __init__(self, code: str, name: str, text: str) -> None:
        self.code, self.name, self.message, self._text = code, name, text, text

    def summary(self) -> str:
        return self._text

    def docs(self) -> str:
        return self._text


def engine_descriptors() -> list:
    return [_EngineCode(code, name, text) for code, (name, text) in ENGINE_CODES.items()]
