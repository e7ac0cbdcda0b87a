"""Lint many files: byte pre-filter, project index, then lint (and fix), across processes.

Phase one parses every file that can touch Redis and summarises which clients it exports;
phase two lints the same trees with the whole project's index. Each worker keeps the trees it
parsed in phase one, so no file is parsed twice. Files that cannot touch Redis (no `redis`
anywhere in their bytes and no name another module exports as a client) are never parsed.
Both phases consult the cache first.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from redislint import __version__, prefilter, registry
from redislint.cache import Cache, digest
from redislint.config import Settings
from redislint.findings import Finding, internal_error, syntax_error
from redislint.project import ProjectIndex, module_name, summary_digest
from redislint.sources import Source, read_sources
from redislint.suppression import unknown_codes
from redislint.workers import Supervisor, time_budget


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


class _Keys:
    """Cache keys: what a file's summary and findings depend on."""

    def __init__(self, settings: Settings, rules: Sequence) -> None:
        version = __version__.encode()
        from redislint.semantic.clients.records import FORMAT

        self.summary_salt = digest(version, FORMAT.encode(), repr(settings.clients).encode()).encode()
        self.findings_salt = digest(version, settings.fingerprint().encode(),
                                    ",".join(r.code for r in rules).encode()).encode()

    def summary(self, source: Source) -> str:
        return digest(self.summary_salt, source.module.encode(), str(source.is_package).encode(),
                      source.data)

    def run(self, candidates: Sequence[Source], rest: Sequence[Source]) -> str:
        """The whole run: every file of the project as it is now (a change anywhere may
        change what the project's facts say)."""
        parts = sorted((s.path, self.summary(s), s.lint) for s in (*candidates, *rest))
        return digest(self.findings_salt, repr(parts).encode("utf-8", "surrogatepass"))

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


def _serve(connection, settings: Settings, rules: Sequence) -> None:
    from redislint.worker import serve

    serve(connection, settings, rules)


def _pool(jobs: int, settings: Settings, rules: Sequence) -> Supervisor:
    # Forked workers inherit what the supervisor imported: import the parser and the rules
    # once, here, only now that some file needs parsing.
    import redislint.worker  # noqa: F401

    return Supervisor(jobs, _serve, settings, registry.load(rules))


def lint_paths(paths: Sequence[Path], settings: Settings, rules: Sequence,
               jobs: int = 0, stdin: Optional[Tuple[str, bytes]] = None,
               cache: Optional[Cache] = None, fix: Optional[FixMode] = None,
               project: Sequence[Path] = ()) -> RunResult:
    """Lint `paths`; `project` lists the other files of the project, read (when they can
    touch Redis) for the facts the linted files depend on, never linted themselves."""
    sources, unreadable = read_sources(paths)
    errors = [FileResult(f.path, [f]) for f in unreadable]
    if stdin is not None:
        name, data = stdin
        module, is_package = Path(name).stem, False
        if name != "-":
            try:
                module, is_package = module_name(Path(name).absolute())
            except OSError:
                pass
        sources.append(Source(len(sources), name, data, module, is_package))
    named = {_real(s.path) for s in sources}
    others, _ = read_sources([p for p in project if _real(str(p)) not in named],
                             first=len(sources), lint=False)
    result = RunResult(files=len(sources) + len(errors), results=list(errors))
    client_names = prefilter.names_pattern(n.split(".")[-1] for n in settings.clients)

    def may_use_redis(source: Source) -> bool:
        return prefilter.mentions_redis(source.data) or (
            client_names is not None and client_names.search(source.data) is not None)

    candidates, rest = [], []
    for source in (*sources, *others):
        (candidates if may_use_redis(source) else rest).append(source)
    if stdin is not None:  # never cache what came from standard input
        cache = None
    keys = _Keys(settings, rules)
    run_key = keys.run(candidates, rest) if cache is not None and fix is None else None
    replayed: Dict[int, FileResult] = {}
    if run_key is not None and _replay(cache, run_key, keys, sources, replayed):  # type: ignore[arg-type]
        result.cached += len(replayed)
        result.results.extend(replayed.values())
        _note_unknown_codes(sources, result)
        result.results.sort(key=lambda r: r.path)
        return result
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(candidates) // 4 or 1))
    pool: Optional[Supervisor] = None
    failed: Dict[int, FileResult] = {}
    try:
        index = ProjectIndex(client_paths=frozenset(n for n in settings.clients if "." in n),
                             cache=cache)
        pending = candidates
        linted: List[Source] = []
        while pending:
            linted.extend(pending)
            misses = []
            for source in pending:
                found = cache.get_summary(keys.summary(source)) if cache else None
                if found is None:
                    misses.append(source)
                else:
                    index.add(source.module, *found)
            if misses:
                result.parsed += len(misses)
                pool = pool or _pool(jobs, settings, rules)
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
                        # The digest only names cache entries: not made when there is no cache.
                        content = summary_digest(summary) if cache else ""
                        index.add(source.module, summary, content)
                        if cache:
                            cache.put_summary(keys.summary(source), summary, content)
            pending = _reached(index, rest)
            chosen = {s.index for s in pending}
            rest = [s for s in rest if s.index not in chosen]
        fingerprint = index.fingerprint() if cache else ""
        to_lint = []
        for source in linted:
            if not source.lint:
                continue
            if source.index in replayed:
                result.cached += 1
                result.results.append(replayed[source.index])
                continue
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
            pool = pool or _pool(jobs, settings, rules)
            pool.broadcast("index", index.for_workers())
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
        if run_key is not None and not failed:
            cache.put("run", run_key, {"fingerprint": fingerprint,  # type: ignore[union-attr]
                                       "linted": sorted(s.path for s in linted if s.lint)})
    finally:
        if pool is not None:
            pool.close()
    _note_unknown_codes(sources, result)
    result.results.sort(key=lambda r: r.path)
    return result


def _replay(cache: Cache, run_key: str, keys: _Keys, sources: Sequence[Source],
            found: Dict[int, FileResult]) -> bool:
    """Nothing in the project changed since a run that recorded itself: its findings come
    straight from the cache, without reading a summary or solving the project again. True when
    every linted file was served (`found` holds those that were, by source index)."""
    record = cache.get("run", run_key)
    if not isinstance(record, dict) or not isinstance(record.get("fingerprint"), str) or \
            not isinstance(record.get("linted"), list):
        return False
    linted = set(record["linted"])
    complete = True
    for source in sources:
        if source.path not in linted:
            continue
        findings = cache.get_findings(keys.findings(source, record["fingerprint"]), source.path)
        if findings is None:
            complete = False
        else:
            found[source.index] = FileResult(source.path, findings)
    return complete


def _reached(index: ProjectIndex, rest: Sequence[Source]) -> List[Source]:
    """Files not read yet that the facts so far reach: they mention a name through which a
    client is handed out, or they are the modules calls hand a client to."""
    if not rest:
        return []
    exported = prefilter.names_pattern(index.exported_names())
    wanted = index.handed_out()
    reached = []
    for source in rest:
        if exported is not None and exported.search(source.data):
            reached.append(source)
        elif wanted and _is_wanted(source.module, wanted):
            reached.append(source)
    return reached


def _is_wanted(module: str, wanted: Sequence[str]) -> bool:
    """`pkg.service` is wanted when a client is handed to `pkg.service.process` (or to
    `app.pkg.service.process`, when the folder above has no `__init__.py`)."""
    if not module:
        return False
    parts = module.split(".")
    for name in wanted:
        target = name.split(".")
        for start in range(len(target) - len(parts)):
            if target[start:start + len(parts)] == parts:
                return True
    return False


def _real(path: str) -> str:
    try:
        return os.path.realpath(path)
    except (OSError, ValueError):
        return os.path.abspath(path)


def _note_unknown_codes(sources: Sequence[Source], result: RunResult) -> None:
    """`# noqa: RL7777`: a warning on the file (as Ruff does), the exit code unchanged. Read
    from the bytes, so a cached run warns too."""
    known = frozenset(r.code for r in registry.catalogue()) | frozenset(registry.ENGINE_CODES)
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
