"""Lint many files: byte pre-filter, project index, then lint (and fix), across processes.

Phase one parses every file that can touch Redis and summarises which clients it exports;
phase two lints the same trees with the whole project's index. Each worker keeps the trees it
parsed in phase one, so no file is parsed twice. Files that cannot touch Redis (no `redis`
anywhere in their bytes and no name another module exports as a client) are never parsed.
Both phases consult the cache first.
"""

from __future__ import annotations

import ast
import errno
import gc
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Type

import libcst as cst

from redislint import __version__, registry
from redislint.cache import Cache, digest
from redislint.config import Settings
from redislint.fixes import fix_until_stable
from redislint.linter import (Finding, facts_for, internal_error, lint_module, parse,
                              syntax_error)
from redislint.positions import locate
from redislint.project import ModuleSummary, ProjectIndex, module_name, summarize
from redislint.rule import Rule
from redislint.semantic.infer import Inferer
from redislint.suppression import unknown_codes
from redislint.workers import Supervisor, time_budget

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
    """Parses and lints in a worker process, keeping the trees it parsed for the lint phase."""

    def __init__(self, settings: Settings, rules: Sequence[Type[Rule]]) -> None:
        self.settings = settings
        self.rules = rules
        self.index = ProjectIndex()
        self.trees: Dict[int, Tuple[Optional[cst.Module], object]] = {}

    def summarize(self, source: Source) -> Optional[ModuleSummary]:
        module, facts = self._parse(source)
        if module is None:
            return None
        try:
            # The tree too: the summary records the key patterns the module drains or expires.
            return summarize(facts, Inferer(facts, None, self.settings.clients),  # type: ignore[arg-type]
                             module, source.data)
        except Exception as error:  # noqa: BLE001 - reported when the file is linted
            self.trees[source.index] = (None, error)
            return None

    def _parse(self, source: Source) -> Tuple[Optional[cst.Module], object]:
        known = self.trees.get(source.index)
        if known is not None:
            return known
        try:
            module = parse(source.data)
            entry: Tuple[Optional[cst.Module], object] = (module, facts_for(module, source.module, source.is_package))
            # Trees kept for the lint phase hold millions of objects (and no cycles): keep the
            # garbage collector from re-scanning them on every collection.
            gc.freeze()
        except Exception as error:  # noqa: BLE001 - syntax errors are findings, reported later
            entry = (None, error)
        self.trees[source.index] = entry
        return entry

    def lint(self, source: Source, fix: Optional[FixMode]) -> FileResult:
        result = self._lint_one(source, fix)
        self.trees.pop(source.index, None)
        return result

    def _lint_one(self, source: Source, fix: Optional[FixMode]) -> FileResult:
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
                _, findings = lint_module(module, source.path, self.settings, self.rules, self.index,
                                          facts=facts)  # type: ignore[arg-type]
                result.findings = [f for f in findings if f is not None]
                return result
            self._fix(source, module, fix, result)
        except Exception as error:  # noqa: BLE001 - one odd file must not hide the others
            result.findings = [internal_error(source.path, error)]
        return result

    def _fix(self, source: Source, module: cst.Module, fix: FixMode, result: FileResult) -> None:
        def lint(tree: cst.Module):
            reports, findings = lint_module(tree, source.path, self.settings, self.rules, self.index,
                                            source.module, source.is_package)
            kept = [(r, f) for r, f in zip(reports, findings) if f is not None]
            return [r for r, _ in kept], [f for _, f in kept]

        _, outcome = fix_until_stable(module, lint, fix.unsafe, locate)
        result.findings = outcome.remaining
        result.fixed = outcome.fixed
        if outcome.fixed and module.bytes != source.data:
            # libcst does not give these bytes back as they were (it drops form feeds and a
            # lone CR ending the file): its code would change more than the fixes. Lint only.
            result.findings, result.fixed = lint(module)[1], []
            result.notes.append("not fixed: the parser does not reproduce this file byte for "
                                "byte (form feeds, or CR line endings), so a fix would change "
                                "more than its edit")
        elif outcome.fixed and outcome.data != source.data:
            result.new_data = outcome.data
            result.original = source.data
        if outcome.dropped:
            result.notes.append("a fix for " + ", ".join(sorted(set(outcome.dropped))) +
                                " produced code that does not parse; it was not applied")
        if not outcome.converged:
            result.notes.append("fixes did not converge after several passes")


def _serve(connection, settings: Settings, rules: Sequence[Type[Rule]]) -> None:
    """A worker process's loop: one request in, one reply out."""
    worker = _Worker(settings, rules)
    while True:
        try:
            _, command, payload = connection.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if command == "summarize":
            reply: object = worker.summarize(payload)  # type: ignore[arg-type]
        elif command == "lint":
            reply = worker.lint(*payload)  # type: ignore[misc]
        elif command == "index":
            worker.index = payload  # type: ignore[assignment]
            reply = None
        else:
            return
        try:
            connection.send(reply)
        except OSError:  # the supervisor is gone
            return


def read_sources(paths: Sequence[Path]) -> Tuple[List[Source], List[FileResult]]:
    sources: List[Source] = []
    errors: List[FileResult] = []
    for path in paths:
        try:
            if not stat.S_ISREG(path.stat().st_mode):  # a FIFO would block the run forever
                raise OSError(errno.EINVAL, "not a regular file (a FIFO, socket or device)")
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


def _failed(source: Source, reason: str) -> FileResult:
    """A file that killed or stalled its worker: Python's own verdict if it is not valid
    Python (too deeply nested), else an internal error naming the file."""
    result = FileResult(source.path)
    try:
        compile(source.data, source.path, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except (SyntaxError, ValueError) as error:
        result.findings = [syntax_error(source.path, error, None)]
        return result
    except (RecursionError, MemoryError):
        pass
    problem = RuntimeError(f"the parser {reason} on this file (very deeply nested or very long "
                           "expressions?)")
    result.findings = [internal_error(source.path, problem)]
    return result


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
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(candidates) // 4 or 1))
    pool: Optional[Supervisor] = None
    failed: Dict[int, FileResult] = {}
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
                pool = pool or Supervisor(jobs, _serve, settings, rules)
                by_id = {s.index + 1: s for s in misses}
                requests = [(s.index, (s.index + 1, "summarize", s), time_budget(s.data))
                            for s in sorted(misses, key=lambda s: -len(s.data))]
                replies = pool.run(requests, sticky=False,
                                   on_failure=lambda req, why: _failed(by_id[req[0]], why))
                for request_id, summary in replies.items():
                    source = by_id[request_id]
                    if isinstance(summary, FileResult):
                        failed[source.index] = summary
                    elif summary is not None:
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
            if source.index in failed:
                result.results.append(failed[source.index])
                continue
            found = cache.get_findings(keys.findings(source, fingerprint), source.path) if cache else None
            if found is None or (fix is not None and any(f.fix for f in found)):
                to_lint.append(source)
            else:
                result.cached += 1
                result.results.append(FileResult(source.path, found))
        if to_lint:
            pool = pool or Supervisor(jobs, _serve, settings, rules)
            pool.broadcast("index", index)
            by_id = {s.index + 1: s for s in to_lint}
            requests = [(s.index, (s.index + 1, "lint", (s, fix)), time_budget(s.data))
                        for s in sorted(to_lint, key=lambda s: -len(s.data))]
            replies = pool.run(requests, sticky=True,
                               on_failure=lambda req, why: _failed(by_id[req[0]], why))
            for request_id, file_result in replies.items():
                source = by_id[request_id]
                result.results.append(file_result)  # type: ignore[arg-type]
                if cache and file_result.new_data is None and \
                        not any(f.code in ("RL999", "RL000") for f in file_result.findings):  # type: ignore[union-attr]
                    cache.put_findings(keys.findings(source, fingerprint), file_result.findings)  # type: ignore[union-attr]
    finally:
        if pool is not None:
            pool.close()
    _note_unknown_codes(sources, result)
    result.results.sort(key=lambda r: r.path)
    return result


def _note_unknown_codes(sources: Sequence[Source], result: RunResult) -> None:
    """`# noqa: RL7777`: a warning on the file (as Ruff does), the exit code unchanged. Read
    from the bytes, so a cached run warns too."""
    known = frozenset(r.code for r in registry.all_rules()) | frozenset(registry.ENGINE_CODES)
    notes = {}
    for source in sources:
        unknown = unknown_codes(source.data, known)
        if unknown:
            rows = ", ".join(str(row) for row in sorted(unknown))
            codes = sorted(set().union(*unknown.values()))
            plural = "s" if len(unknown) > 1 else "", "s" if len(codes) > 1 else ""
            notes[source.path] = (f"line{plural[0]} {rows}: suppression comment names unknown "
                                  f"rule{plural[1]} {', '.join(codes)} (see `redislint rules`); "
                                  "it suppresses nothing")
    for file_result in result.results:
        if file_result.path in notes:
            file_result.notes.append(notes.pop(file_result.path))
