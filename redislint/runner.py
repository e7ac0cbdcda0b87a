"""Lint many files: byte pre-filter, project index, then lint (and fix), across processes.

Phase one parses every file that can touch Redis and summarises which clients it exports;
phase two lints the same trees with the whole project's index. Each worker keeps the trees it
parsed in phase one, so no file is parsed twice. Files that cannot touch Redis (no `redis`
anywhere in their bytes and no name another module exports as a client) are never parsed.
Both phases consult the cache first.
"""

from __future__ import annotations

import multiprocessing
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Type

import libcst as cst

from redislint import __version__
from redislint.cache import Cache, digest
from redislint.config import Settings
from redislint.fixes import fix_until_stable
from redislint.linter import (Finding, facts_for, internal_error, lint_module, parse,
                              syntax_error)
from redislint.positions import locate
from redislint.project import ModuleSummary, ProjectIndex, module_name, summarize
from redislint.rule import Rule
from redislint.semantic.infer import Inferer

_REDIS_BYTES = re.compile(rb"redis|valkey", re.I)
_PARSE_ERRORS = (cst.ParserSyntaxError, SyntaxError, ValueError, UnicodeDecodeError, RecursionError)


@dataclass
class Source:
    index: int
    path: str
    data: bytes
    module: str
    is_package: bool


@dataclass
class FileResult:
    """What linting (and fixing) one file produced."""

    path: str
    findings: List[Finding] = field(default_factory=list)
    fixed: List[Finding] = field(default_factory=list)
    new_data: Optional[bytes] = None
    original: Optional[bytes] = None
    notes: List[str] = field(default_factory=list)


@dataclass(frozen=True)
class FixMode:
    unsafe: bool = False


@dataclass
class RunResult:
    files: int = 0
    parsed: int = 0
    cached: int = 0
    results: List[FileResult] = field(default_factory=list)

    @property
    def findings(self) -> List[Finding]:
        out = [f for r in self.results for f in r.findings]
        out.sort(key=Finding.sort_key)
        return out


def io_error(path: str, error: OSError) -> Finding:
    reason = error.strerror or type(error).__name__
    return Finding("RL001", "io-error", f"cannot read file: {reason}", path, (1, 1), (1, 1))


def _names_pattern(names) -> Optional["re.Pattern[bytes]"]:
    names = sorted({n for n in names if n})
    if not names:
        return None
    return re.compile(rb"\b(?:" + b"|".join(re.escape(n.encode()) for n in names) + rb")\b")


class _Worker:
    """Holds the trees it parsed between the two phases (in-process or in a child process)."""

    def __init__(self, settings: Settings, rules: Sequence[Type[Rule]]) -> None:
        self.settings = settings
        self.rules = rules
        self.trees: Dict[int, Tuple[Optional[cst.Module], object]] = {}

    def summarize(self, sources: List[Source]) -> Dict[int, ModuleSummary]:
        out = {}
        for source in sources:
            module, facts = self._parse(source)
            if module is not None:
                try:
                    out[source.index] = summarize(facts, Inferer(facts, None, self.settings.clients),
                                                  module, source.data)
                except Exception as error:  # noqa: BLE001 - reported when the file is linted
                    self.trees[source.index] = (None, error)
        return out

    def _parse(self, source: Source) -> Tuple[Optional[cst.Module], object]:
        known = self.trees.get(source.index)
        if known is not None:
            return known
        try:
            module = parse(source.data)
            entry: Tuple[Optional[cst.Module], object] = (module, facts_for(module, source.module, source.is_package))
        except Exception as error:  # noqa: BLE001 - syntax errors are findings, reported later
            entry = (None, error)
        self.trees[source.index] = entry
        return entry

    def lint(self, index: ProjectIndex, sources: List[Source], fix: Optional[FixMode]) -> List[FileResult]:
        results = [self._lint_one(source, index, fix) for source in sources]
        self.trees.clear()
        return results

    def _lint_one(self, source: Source, index: ProjectIndex, fix: Optional[FixMode]) -> FileResult:
        result = FileResult(source.path)
        module, facts = self._parse(source)
        if module is None:
            if isinstance(facts, _PARSE_ERRORS):
                result.findings = [syntax_error(source.path, facts, source.data)]
            else:
                result.findings = [internal_error(source.path, facts)]  # type: ignore[arg-type]
            return result
        try:
            if fix is None:
                _, findings = lint_module(module, source.path, self.settings, self.rules, index,
                                          facts=facts)  # type: ignore[arg-type]
                result.findings = [f for f in findings if f is not None]
                return result
            self._fix(source, module, index, fix, result)
        except Exception as error:  # noqa: BLE001 - one odd file must not hide the others
            result.findings = [internal_error(source.path, error)]
        return result

    def _fix(self, source: Source, module: cst.Module, index: ProjectIndex, fix: FixMode,
             result: FileResult) -> None:
        def lint(tree: cst.Module):
            reports, findings = lint_module(tree, source.path, self.settings, self.rules, index,
                                            source.module, source.is_package)
            kept = [(r, f) for r, f in zip(reports, findings) if f is not None]
            return [r for r, _ in kept], [f for _, f in kept]

        _, outcome = fix_until_stable(module, lint, fix.unsafe, locate)
        result.findings = outcome.remaining
        result.fixed = outcome.fixed
        if outcome.data != source.data:
            result.new_data = outcome.data
            result.original = source.data
        if outcome.dropped:
            result.notes.append("a fix for " + ", ".join(sorted(set(outcome.dropped))) +
                                " produced code that does not parse; it was not applied")
        if not outcome.converged:
            result.notes.append("fixes did not converge after several passes")


def _serve(connection, settings: Settings, rules: Sequence[Type[Rule]]) -> None:
    worker = _Worker(settings, rules)
    while True:
        try:
            command, payload = connection.recv()
        except (EOFError, OSError):
            return
        if command == "summarize":
            connection.send(worker.summarize(payload))
        elif command == "lint":
            connection.send(worker.lint(*payload))
        else:
            return


class _Pool:
    """N processes, each owning a shard of files across both phases (it keeps their trees)."""

    def __init__(self, jobs: int, settings: Settings, rules: Sequence[Type[Rule]]) -> None:
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        self.connections = []
        self.processes = []
        self.owner: Dict[int, int] = {}
        for _ in range(jobs):
            parent, child = context.Pipe()
            process = context.Process(target=_serve, args=(child, settings, rules), daemon=True)
            process.start()
            child.close()
            self.connections.append(parent)
            self.processes.append(process)

    def _shard(self, sources: List[Source], sticky: bool) -> List[List[Source]]:
        shards: List[List[Source]] = [[] for _ in self.connections]
        loads = [0] * len(shards)
        for source in sorted(sources, key=lambda s: -len(s.data)):
            target = self.owner.get(source.index) if sticky else None
            if target is None:
                target = loads.index(min(loads))
            shards[target].append(source)
            loads[target] += len(source.data)
            self.owner[source.index] = target
        return shards

    def summarize(self, sources: List[Source]) -> Dict[int, ModuleSummary]:
        shards = self._shard(sources, sticky=False)
        for connection, shard in zip(self.connections, shards):
            connection.send(("summarize", shard))
        out: Dict[int, ModuleSummary] = {}
        for connection in self.connections:
            out.update(connection.recv())
        return out

    def lint(self, index: ProjectIndex, sources: List[Source], fix: Optional[FixMode]) -> List[FileResult]:
        shards = self._shard(sources, sticky=True)
        for connection, shard in zip(self.connections, shards):
            connection.send(("lint", (index, shard, fix)))
        results: List[FileResult] = []
        for connection in self.connections:
            results.extend(connection.recv())
        return results

    def close(self) -> None:
        for connection in self.connections:
            try:
                connection.send(("stop", None))
            except OSError:
                pass
        for process in self.processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()


def read_sources(paths: Sequence[Path]) -> Tuple[List[Source], List[FileResult]]:
    sources: List[Source] = []
    errors: List[FileResult] = []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as error:
            errors.append(FileResult(str(path), [io_error(str(path), error)]))
            continue
        try:
            name, is_package = module_name(path.absolute())
        except OSError:
            name, is_package = path.stem, False
        sources.append(Source(len(sources), str(path), data, name, is_package))
    return sources, errors


class _Keys:
    """Cache keys: what a file's summary and findings depend on."""

    def __init__(self, settings: Settings, rules: Sequence[Type[Rule]]) -> None:
        version = __version__.encode()
        self.summary_salt = digest(version, repr(settings.clients).encode()).encode()
        self.findings_salt = digest(version, settings.fingerprint().encode(),
                                    ",".join(r.code for r in rules).encode()).encode()

    def summary(self, source: Source) -> str:
        return digest(self.summary_salt, source.module.encode(), str(source.is_package).encode(),
                      source.data)

    def findings(self, source: Source, index_fingerprint: str) -> str:
        return digest(self.findings_salt, source.path.encode(), source.module.encode(),
                      index_fingerprint.encode(), source.data)


def lint_paths(paths: Sequence[Path], settings: Settings, rules: Sequence[Type[Rule]],
               jobs: int = 0, stdin: Optional[Tuple[str, bytes]] = None,
               cache: Optional[Cache] = None, fix: Optional[FixMode] = None) -> RunResult:
    sources, errors = read_sources(paths)
    if stdin is not None:
        name, data = stdin
        sources.append(Source(len(sources), name, data, Path(name).stem, False))
    result = RunResult(files=len(sources) + len(errors), results=list(errors))
    client_names = _names_pattern(n.split(".")[-1] for n in settings.clients)

    def may_use_redis(source: Source) -> bool:
        return _REDIS_BYTES.search(source.data) is not None or (
            client_names is not None and client_names.search(source.data) is not None)

    candidates = [s for s in sources if may_use_redis(s)]
    rest = [s for s in sources if not may_use_redis(s)]
    if stdin is not None:  # never cache what came from standard input
        cache = None
    keys = _Keys(settings, rules)
    jobs = jobs or os.cpu_count() or 1
    jobs = max(1, min(jobs, len(candidates) // 8 or 1))
    engine = _Pool(jobs, settings, rules) if jobs > 1 else _Worker(settings, rules)
    try:
        index = ProjectIndex()
        pending = candidates
        linted: List[Source] = []
        while pending:
            linted.extend(pending)
            misses = []
            for source in pending:
                summary = cache.get_summary(keys.summary(source)) if cache else None
                if summary is None:
                    misses.append(source)
                else:
                    index.add(source.module, summary)
            if misses:
                result.parsed += len(misses)
                for source_index, summary in engine.summarize(misses).items():
                    source = sources[source_index]
                    index.add(source.module, summary)
                    if cache:
                        cache.put_summary(keys.summary(source), summary)
            exported = _names_pattern(index.exported_names())
            if exported is None:
                break
            pending = [s for s in rest if exported.search(s.data)]
            chosen = {s.index for s in pending}
            rest = [s for s in rest if s.index not in chosen]
        fingerprint = index.fingerprint()
        to_lint = []
        for source in linted:
            found = cache.get_findings(keys.findings(source, fingerprint), source.path) if cache else None
            if found is None or (fix is not None and any(f.fix for f in found)):
                to_lint.append(source)
            else:
                result.cached += 1
                result.results.append(FileResult(source.path, found))
        if to_lint:
            by_path = {s.path: s for s in to_lint}
            for file_result in engine.lint(index, to_lint, fix):
                result.results.append(file_result)
                source = by_path[file_result.path]
                if cache and file_result.new_data is None and \
                        not any(f.code == "RL999" for f in file_result.findings):
                    cache.put_findings(keys.findings(source, fingerprint), file_result.findings)
    finally:
        if isinstance(engine, _Pool):
            engine.close()
    result.results.sort(key=lambda r: r.path)
    return result
