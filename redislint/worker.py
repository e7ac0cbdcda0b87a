"""A worker process: parses the files it is sent, summarises them for the project index, lints
(and fixes) them. The only place a run imports libcst and the rules: the supervisor
(`redislint.runner`) decides from bytes and the cache alone what needs parsing at all.
"""

from __future__ import annotations

import gc
from typing import Dict, Optional, Sequence, Tuple

import libcst as cst

from redislint import registry
from redislint.config import Settings
from redislint.findings import internal_error, syntax_error
from redislint.fixes import fix_until_stable
from redislint.linter import facts_for, lint_module, parse
from redislint.positions import locate
from redislint.project import ModuleSummary, ProjectIndex
from redislint.runner import FileResult, FixMode
from redislint.semantic.keys import keyspace
from redislint.semantic.context import pubsub
from redislint.semantic.facts import ModuleFacts
from redislint.semantic.clients.summary import summarize_clients
from redislint.sources import Source

_PARSE_ERRORS = (cst.ParserSyntaxError, SyntaxError, ValueError, UnicodeDecodeError, RecursionError)


def summarize(module: cst.Module, facts: ModuleFacts, client_names=(),
              data: Optional[bytes] = None) -> ModuleSummary:
    """What this module gives the project index: its client facts, and the key patterns it
    drains, expires or deletes."""
    names = frozenset(n for n in client_names if "." not in n)
    summary = ModuleSummary(summarize_clients(module, facts, names))
    key_uses = keyspace.scan(module, facts, data)
    key_uses.update(pubsub.work_channels(module, facts, data))
    summary.key_uses = {family: sorted(set(patterns)) for family, patterns in sorted(key_uses.items())}
    return summary


def serve(connection, settings: Settings, rules: Sequence) -> None:
    """A worker process's loop: one request in, one reply out."""
    worker = Worker(settings, rules)
    # The analysis makes many short-lived objects and few cycles; with the default threshold
    # (700) the collector runs thousands of times per run for almost nothing.
    gc.set_threshold(100_000, 50, 100)
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


# A tree kept between the phases costs about 1 MiB per 1,000 lines. Beyond this many lines a
# worker keeps only the summary and parses the file again to lint it: memory stays bounded on
# big Redis-heavy trees, and time grows by one parse per file past the budget.
KEPT_LINES = 200_000


class Worker:
    """Parses and lints in a worker process, keeping the trees it parsed for the lint phase."""

    def __init__(self, settings: Settings, rules: Sequence) -> None:
        self.settings = settings
        self.rules = registry.load(rules)
        self.index = ProjectIndex()
        self.trees: Dict[int, Tuple[Optional[cst.Module], object]] = {}
        self.kept_lines = 0

    def summarize(self, source: Source) -> Optional[ModuleSummary]:
        module, facts = self._parse(source)
        if module is None:
            return None
        try:
            # The tree too: the summary records the key patterns the module drains or expires.
            summary = summarize(module, facts, self.settings.clients,  # type: ignore[arg-type]
                                source.data)
        except Exception as error:  # noqa: BLE001 - reported when the file is linted
            self.trees[source.index] = (None, error)
            return None
        lines = source.data.count(b"\n")
        if not source.lint or self.kept_lines + lines > KEPT_LINES:
            del self.trees[source.index]
        else:
            self.kept_lines += lines
        return summary

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
        kept = self.trees.get(source.index, (None, None))[0] is not None
        result = self._lint_one(source, fix)
        self.trees.pop(source.index, None)
        if kept:
            self.kept_lines -= source.data.count(b"\n")
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
                                          facts=facts, data=source.data)  # type: ignore[arg-type]
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
