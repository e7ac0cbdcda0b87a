"""The project-wide index: which names other modules export as Redis clients.

`from .extensions import store` must make `store.set(...)` a Redis call even though the file
never mentions redis. Each module contributes a small summary (built from its facts pre-pass);
the index resolves qualified names through re-exports.
"""

from __future__ import annotations

from functools import lru_cache
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, FrozenSet, Iterable, List, Optional, Tuple

from redislint.semantic.clients.objects import RedisObject


@dataclass
class ModuleSummary:
    clients: Dict[str, RedisObject] = field(default_factory=dict)
    factories: Dict[str, RedisObject] = field(default_factory=dict)
    reexports: Dict[str, str] = field(default_factory=dict)
    # Family -> key patterns the module drains or expires (`redislint.semantic.keys.keyspace`).
    key_uses: Dict[str, List[str]] = field(default_factory=dict)

    @property
    def exported_names(self) -> Tuple[str, ...]:
        return (*self.clients, *self.factories)


def module_name(path: Path) -> Tuple[str, bool]:
    """Dotted module name from the package folders above `path`, and whether it is a package."""
    path = path.resolve() if not path.is_absolute() else path
    is_package = path.name == "__init__.py"
    package = _package(str(path.parent))
    name = package if is_package else (f"{package}.{path.stem}" if package else path.stem)
    return name, is_package


@lru_cache(maxsize=4096)
def _package(folder: str) -> str:
    """The dotted package a folder is (empty when it has no `__init__.py`); one stat per folder."""
    here = Path(folder)
    if not (here / "__init__.py").exists() or here.parent == here:
        return ""
    parent = _package(str(here.parent))
    return f"{parent}.{here.name}" if parent else here.name


class ProjectIndex:
    """Module name -> summary, with lookups that follow re-exports."""

    def __init__(self, modules: Optional[Dict[str, ModuleSummary]] = None) -> None:
        self.modules: Dict[str, ModuleSummary] = modules or {}
        self._suffixes: Optional[Dict[str, Optional[str]]] = None
        self._key_uses: Dict[str, FrozenSet[str]] = {}
        self._lookups: Dict[Tuple[str, bool], Optional[RedisObject]] = {}

    def add(self, module: str, summary: ModuleSummary) -> None:
        self.modules[module] = summary
        self._suffixes = None
        self._key_uses = {}
        self._lookups = {}

    def key_uses(self, family: str) -> FrozenSet[str]:
        """Key patterns some module of the project drains (`list`, `zset`, `stream`),
        expires (`expire`) or deletes (`delete`); see `redislint.semantic.keys.keyspace`."""
        found = self._key_uses.get(family)
        if found is None:
            found = frozenset(p for s in self.modules.values() for p in s.key_uses.get(family, ()))
            self._key_uses[family] = found
        return found

    def exported_names(self) -> Iterable[str]:
        """Names under which some module hands out a client (directly or re-exported)."""
        for summary in self.modules.values():
            yield from summary.exported_names
            for name, target in summary.reexports.items():
                if self.lookup(target, call=False) or self.lookup(target, call=True):
                    yield name

    def lookup(self, qualname: str, call: bool) -> Optional[RedisObject]:
        """The client a qualified name denotes (or a call of it returns). Re-export chains are
        followed once per index, not once per question."""
        key = (qualname, call)
        if key not in self._lookups:
            self._lookups[key] = self._follow(qualname, call, 0)
        return self._lookups[key]

    def _follow(self, qualname: str, call: bool, depth: int) -> Optional[RedisObject]:
        if depth > 8 or "." not in qualname:
            return None
        module, _, name = qualname.rpartition(".")
        summary = self._find(module)
        if summary is None:
            # `store.set` through `import app.extensions as ext` -> `app.extensions.store.set`
            return None
        found = (summary.factories if call else summary.clients).get(name)
        if found is not None:
            return found
        target = summary.reexports.get(name)
        if target is not None and target != qualname:
            return self._follow(target, call, depth + 1)
        return None

    def _find(self, module: str) -> Optional[ModuleSummary]:
        summary = self.modules.get(module)
        if summary is not None:
            return summary
        # A tree linted from inside a package sees other names than its imports spell:
        # match on dotted suffixes, when only one module has that suffix.
        if self._suffixes is None:
            self._suffixes = {}
            for known in self.modules:
                parts = known.split(".")
                for start in range(1, len(parts)):
                    suffix = ".".join(parts[start:])
                    self._suffixes[suffix] = None if suffix in self._suffixes else known
        known_name = self._suffixes.get(module)
        if known_name is not None:
            return self.modules[known_name]
        parts = module.split(".")
        for start in range(1, len(parts)):
            candidate = self.modules.get(".".join(parts[start:]))
            if candidate is not None:
                return candidate
        return None

    def fingerprint(self) -> str:
        import hashlib

        digest = hashlib.sha256()
        for module in sorted(self.modules):
            summary = self.modules[module]
            digest.update(repr((module, sorted(summary.clients.items(), key=str),
                                sorted(summary.factories.items(), key=str),
                                sorted(summary.reexports.items()),
                                sorted(summary.key_uses.items()))).encode())
        return digest.hexdigest()[:16]
