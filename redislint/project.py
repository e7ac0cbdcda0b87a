"""The project index: what every module of the project tells the others.

`from .extensions import store` must make `store.set(...)` a Redis call even though the file
never mentions redis, and a parameter is a client when the project's callers pass one. Each
module contributes a summary (its client facts, `redislint.semantic.clients.summary`, and the key
patterns it drains, expires or deletes, `redislint.semantic.keys.keyspace`); the index solves the
client facts of all of them together once (`redislint.semantic.clients.solve`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Dict, FrozenSet, Iterable, List, Optional, Set, Tuple

if TYPE_CHECKING:
    from redislint.semantic.clients.records import ClientSummary
    from redislint.semantic.clients.solve import ProjectClients


@dataclass
class ModuleSummary:
    clients: Optional["ClientSummary"] = None
    # Family -> key patterns the module drains or expires (`redislint.semantic.keys.keyspace`).
    key_uses: Dict[str, List[str]] = field(default_factory=dict)


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
    """Module name -> summary, and the client facts solved over all of them."""

    def __init__(self, modules: Optional[Dict[str, ModuleSummary]] = None,
                 client_paths: FrozenSet[str] = frozenset(), cache=None) -> None:
        self.modules: Dict[str, ModuleSummary] = modules or {}
        self.client_paths = client_paths
        # What each module's summary is made of (a digest of its bytes): the solution is a
        # function of these, so it is cached under them.
        self.digests: Dict[str, str] = {}
        self.cache = cache
        self._key_uses: Dict[str, FrozenSet[str]] = {}
        self._clients: Optional["ProjectClients"] = None
        self._fingerprint: Optional[str] = None

    def add(self, module: str, summary: ModuleSummary, digest: str = "") -> None:
        self.modules[module] = summary
        self.digests[module] = digest
        self._key_uses = {}
        self._clients = None
        self._fingerprint = None

    @property
    def clients(self) -> "ProjectClients":
        """The project's client facts: from the cache when these summaries were solved
        before, else solved now (and kept)."""
        if self._clients is None:
            key = self.fingerprint() if self.cache is not None else None
            found = self.cache.get_solution(key) if key is not None else None
            if found is None:
                from redislint.semantic.clients.solve import ProjectClients

                found = ProjectClients(
                    (s.clients for s in self.modules.values() if s.clients is not None),
                    self.client_paths)
                if key is not None:
                    self.cache.put_solution(key, found)
            self._clients = found
        return self._clients

    def key_uses(self, family: str) -> FrozenSet[str]:
        """Key patterns some module of the project drains (`list`, `zset`, `stream`),
        expires (`expire`) or deletes (`delete`); see `redislint.semantic.keys.keyspace`."""
        found = self._key_uses.get(family)
        if found is None:
            found = frozenset(p for s in self.modules.values() for p in s.key_uses.get(family, ()))
            self._key_uses[family] = found
        return found

    def exported_names(self) -> Set[str]:
        """Names through which some module hands out a client (a global, a factory, a class
        that is or wraps one, an attribute holding one), or a lock (a lock wrapper: its callers
        decide its timeout)."""
        names = self.clients.exported_names()
        import json

        for entry in self.key_uses("lock-wrapper"):
            try:
                names.add(str(json.loads(entry)[0]).rsplit(".", 1)[-1])
            except (ValueError, IndexError, TypeError):
                continue
        return names

    def flow_targets(self) -> Set[str]:
        """Modules whose functions receive a client from a caller elsewhere."""
        modules = set()
        for qual in self.clients.flow_targets:
            module = self.clients.module_of(qual)
            if module is not None:
                modules.add(module)
        return modules

    def handed_out(self) -> List[str]:
        """Names outside the known modules that the project's calls hand a client to."""
        return sorted(self.clients.handed_out)

    def for_workers(self) -> "ProjectIndex":
        """What linting needs: key uses and the solved client facts, without the terms."""
        light = ProjectIndex({name: ModuleSummary(None, s.key_uses)
                              for name, s in self.modules.items()}, self.client_paths)
        light._clients = self.clients
        light._fingerprint = self.fingerprint()
        return light

    def fingerprint(self) -> str:
        """Changes whenever any module's summary does: every answer of the index depends on
        nothing else (the solution is a deterministic function of the summaries)."""
        if self._fingerprint is None:
            import hashlib

            digest = hashlib.sha256(repr(sorted(self.client_paths)).encode())
            for module in sorted(self.modules):
                content = self.digests.get(module) or summary_digest(self.modules[module])
                digest.update(f"{module}\0{content}\0".encode("utf-8", "surrogatepass"))
            self._fingerprint = digest.hexdigest()[:24]
        return self._fingerprint

    def __getstate__(self):
        state = dict(self.__dict__)
        state["cache"] = None
        return state


def summary_digest(summary: ModuleSummary) -> str:
    """What the project's solution depends on of one summary: the same in every process
    (summaries hold no sets, so they pickle to the same bytes)."""
    import hashlib

    from redislint.semantic.clients.codec import dumps

    return hashlib.blake2b(dumps(summary), digest_size=16).hexdigest()
