"""Lint many files: byte pre-filter, project index, then lint, across processes.

Phase one parses every file that can touch Redis and summarises which clients it exports;
phase two lints the same trees with the whole project's index. Each worker keeps the trees it
parsed in phase one, so no file is parsed twice. Files that cannot touch Redis (no `redis`
anywhere in their bytes and no name another module exports as a client) are never parsed.
"""

from __future__ import annotations

import multiprocessing
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Type

import libcst as cst

from redislint.config import Settings
from redislint.linter import (Finding, facts_for, internal_error, parse, rules_for_path,
                              run_rules, syntax_error, to_findings, decode)
from redislint.project import ModuleSummary, ProjectIndex, module_name, summarize
from redislint.rule import Rule
from redislint.semantic.infer import Inferer

_REDIS_BYTES = re.compile(rb"redis|valkey", re.I)


@dataclass
class Source:
    index: int
    path: str
    data: bytes
    module: str
    is_package: bool


@dataclass
class RunResult:
    findings: List[Finding] = field(default_factory=list)
    files: int = 0
    parsed: int = 0


def io_error(path: str, error: OSError) -> Finding:
    reason = error.strerror or type(error).__name__
    return Finding("RL001", "io-error", f"cannot read file: {reason}", path, (1, 1), (1, 1))


def might_use_redis(data: bytes, extra: Optional["re.Pattern[bytes]"]) -> bool:
    return _REDIS_BYTES.search(data) is not None or (extra is not None and extra.search(data) is not None)


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
        self.trees: Dict[int, Tuple[Source, object, object]] = {}

    def summarize(self, sources: List[Source]) -> Dict[int, ModuleSummary]:
        out = {}
        for source in sources:
            try:
                module = parse(source.data)
            except Exception as error:  # syntax errors are reported in the lint phase
                self.trees[source.index] = (source, None, error)
                continue
            try:
                facts = facts_for(module, source.module, source.is_package)
                out[source.index] = summarize(facts, Inferer(facts, None, self.settings.clients))
                self.trees[source.index] = (source, module, facts)
            except Exception as error:  # noqa: BLE001
                self.trees[source.index] = (source, None, error)
        return out

    def lint(self, index: ProjectIndex) -> List[Finding]:
        findings: List[Finding] = []
        for source, module, facts in self.trees.values():
            findings.extend(self._lint_one(source, module, facts, index))
        self.trees.clear()
        return findings

    def _lint_one(self, source: Source, module, facts, index: ProjectIndex) -> List[Finding]:
        if module is None:
            if isinstance(facts, (cst.ParserSyntaxError, SyntaxError, ValueError, UnicodeDecodeError)):
                return [syntax_error(source.path, facts, source.data)]
            return [internal_error(source.path, facts)]
        try:
            rules = rules_for_path(self.rules, self.settings, source.path)
            reports = run_rules(module, facts, self.settings, rules, index)
            return to_findings(module, reports, source.path, decode(source.data) if reports else None)
        except Exception as error:  # noqa: BLE001 - one odd file must not hide the others
            return [internal_error(source.path, error)]


def _serve(connection, settings: Settings, rules: Sequence[Type[Rule]]) -> None:
    worker = _Worker(settings, rules)
    while True:
        try:
            command, payload = connection.recv()
        except EOFError:
            return
        if command == "summarize":
            connection.send(worker.summarize(payload))
        elif command == "lint":
            connection.send(worker.lint(payload))
        else:
            return


class _Pool:
    """N processes, each owning a fixed shard of files across both phases."""

    def __init__(self, jobs: int, settings: Settings, rules: Sequence[Type[Rule]]) -> None:
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        self.connections = []
        self.processes = []
        for _ in range(jobs):
            parent, child = context.Pipe()
            process = context.Process(target=_serve, args=(child, settings, rules), daemon=True)
            process.start()
            child.close()
            self.connections.append(parent)
            self.processes.append(process)
        self._next = 0

    def summarize(self, sources: List[Source]) -> Dict[int, ModuleSummary]:
        shards: List[List[Source]] = [[] for _ in self.connections]
        loads = [0] * len(shards)
        for source in sorted(sources, key=lambda s: -len(s.data)):
            target = loads.index(min(loads))
            shards[target].append(source)
            loads[target] += len(source.data)
        for connection, shard in zip(self.connections, shards):
            connection.send(("summarize", shard))
        out: Dict[int, ModuleSummary] = {}
        for connection in self.connections:
            out.update(connection.recv())
        return out

    def lint(self, index: ProjectIndex) -> List[Finding]:
        for connection in self.connections:
            connection.send(("lint", index))
        findings: List[Finding] = []
        for connection in self.connections:
            findings.extend(connection.recv())
        return findings

    def close(self) -> None:
        for connection in self.connections:
            try:
                connection.send(("stop", None))
            except OSError:
                pass
        for process in self.processes:
            process.join(timeout=5)


def read_sources(paths: Sequence[Path]) -> Tuple[List[Source], List[Finding]]:
    sources: List[Source] = []
    errors: List[Finding] = []
    for path in paths:
        try:
            data = path.read_bytes()
        except IsADirectoryError as error:
            errors.append(io_error(str(path), error))
            continue
        except OSError as error:
            errors.append(io_error(str(path), error))
            continue
        try:
            name, is_package = module_name(path.absolute())
        except OSError:
            name, is_package = path.stem, False
        sources.append(Source(len(sources), str(path), data, name, is_package))
    return sources, errors


def lint_paths(paths: Sequence[Path], settings: Settings, rules: Sequence[Type[Rule]],
               jobs: int = 0, stdin: Optional[Tuple[str, bytes]] = None) -> RunResult:
    sources, errors = read_sources(paths)
    if stdin is not None:
        name, data = stdin
        sources.append(Source(len(sources), name, data, Path(name).stem, False))
    result = RunResult(findings=list(errors), files=len(sources) + len(errors))
    client_names = _names_pattern(n.split(".")[-1] for n in settings.clients)
    candidates = [s for s in sources if might_use_redis(s.data, client_names)]
    rest = [s for s in sources if not might_use_redis(s.data, client_names)]
    jobs = jobs or os.cpu_count() or 1
    jobs = max(1, min(jobs, len(candidates) // 4 or 1))
    engine = _Pool(jobs, settings, rules) if jobs > 1 else _Worker(settings, rules)
    try:
        index = ProjectIndex()
        pending = candidates
        while pending:
            result.parsed += len(pending)
            for source_index, summary in engine.summarize(pending).items():
                source = sources[source_index]
                index.add(source.module, summary)
            exported = _names_pattern(index.exported_names())
            if exported is None:
                break
            pending = [s for s in rest if exported.search(s.data)]
            chosen = {s.index for s in pending}
            rest = [s for s in rest if s.index not in chosen]
        result.findings.extend(engine.lint(index))
    finally:
        if isinstance(engine, _Pool):
            engine.close()
    result.findings.sort(key=Finding.sort_key)
    return result

