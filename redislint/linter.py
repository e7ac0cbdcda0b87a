"""Lint one file: parse, one batched traversal with every selected rule, positions, noqa."""

from __future__ import annotations

import ast
import fnmatch
import re
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Type

import libcst as cst

from redislint.config import Settings
from redislint.findings import Edit, Finding, FixInfo, internal_error, syntax_error
from redislint.positions import locate
from redislint.project import ProjectIndex
from redislint.rule import Fix, Report, Rule
from redislint.semantic.facts import ModuleFacts, collect
from redislint.semantic.clients.infer import Inferer
from redislint.semantic.keys.helpers import ScopeSeeder
from redislint.semantic.model import SemanticModel
from redislint.sources import decode
from redislint.suppression import is_suppressed, suppressions
from redislint.walk import Dispatcher


def parse(data: bytes) -> cst.Module:
    if _beyond_python_limits(data):
        try:  # Python itself refuses it: say so now, before libcst's slow (or fatal) parse
            compile(data, "<redislint>", "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
        except SyntaxError:
            raise
        except (ValueError, RecursionError, MemoryError):
            pass
    return cst.parse_module(data)


_OPEN, _CLOSE = b"([{", b")]}"
_NOT_BRACKETS = bytes(b for b in range(256) if b not in _OPEN + _CLOSE)
_DEEP_INDENT = re.compile(rb"^[ \t]{100,}\S", re.M)


def _beyond_python_limits(data: bytes) -> bool:
    """Might this nest deeper than CPython allows (200 brackets, 100 indents)? libcst accepts
    such code, and parses it in quadratic time or overflows its stack. Cheap and conservative:
    brackets in strings count too; the verdict is then Python's own."""
    if _DEEP_INDENT.search(data):
        return True
    brackets = data.translate(None, _NOT_BRACKETS)
    if len(brackets) < 400:
        return False
    depth = deepest = 0
    for byte in brackets:
        depth += 1 if byte in _OPEN else -1
        deepest = max(depth, deepest)
    return deepest >= 200


def facts_for(module: cst.Module, module_name: str, is_package: bool) -> ModuleFacts:
    return collect(module, module_name, is_package)


def rules_for_path(rules: Sequence[Type[Rule]], settings: Settings, path: str) -> List[Type[Rule]]:
    """Drop the rules `per-file-ignores` switches off for this path."""
    if not settings.per_file_ignores:
        return list(rules)
    try:
        relative = Path(path).resolve().relative_to(settings.root).as_posix()
    except ValueError:
        relative = Path(path).as_posix()
    ignored = []
    for pattern, codes in settings.per_file_ignores.items():
        if fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(Path(path).name, pattern):
            ignored.extend(c.upper() for c in codes)
    return [r for r in rules if not any(c == "ALL" or r.code.startswith(c) for c in ignored)]


def run_rules(module: cst.Module, facts: ModuleFacts, settings: Settings,
              rules: Sequence[Type[Rule]], index: Optional[ProjectIndex], path: str = "") -> List[Report]:
    """The one traversal: the model wraps the rules so it opens context before them and
    closes it after them."""
    inferer = Inferer(facts, index, settings.clients, module)
    model = SemanticModel(module, facts, inferer, path)
    instances = [rule(model, settings) for rule in rules]
    dispatcher = Dispatcher()
    for instance in instances:
        dispatcher.add(instance)
        hook = getattr(instance, "on_redis_call", None)
        if hook is not None:
            model.on_call.append(hook)
        hook = getattr(instance, "on_scope_exit", None)
        if hook is not None:
            model.on_scope_exit.append(hook)
    # Key helpers join the model's key tables as it opens each scope, before any rule looks.
    dispatcher.add(ScopeSeeder(model, index), wraps=True)
    dispatcher.add(model, wraps=True)
    dispatcher.walk(module, model.ancestors)
    return [report for instance in instances for report in instance.reports]


def to_findings(module: cst.Module, reports: List[Report], path: str, text: Optional[str]
                ) -> List[Optional[Finding]]:
    """One entry per report, in order: its Finding, or None when a comment suppresses it."""
    if not reports:
        return []
    nodes = {r.node for r in reports} | {r.end_node for r in reports}
    for report in reports:
        if report.fix is not None:
            nodes.update(report.fix.replacements)
    spans = locate(module, nodes)
    rows = suppressions(text) if text is not None else {}
    empty = cst.Module(body=[])
    findings: List[Optional[Finding]] = []
    seen = set()
    for report in reports:
        start = spans.get(report.node, ((1, 1), (1, 1)))[0]
        end = spans.get(report.end_node, ((1, 1), (1, 1)))[1]
        code = report.rule.code
        if (rows and is_suppressed(rows, code, start[0], end[0])) or (code, start, end) in seen:
            findings.append(None)
            continue
        seen.add((code, start, end))
        fix = _fix_info(report.fix, spans, empty) if report.fix is not None else None
        findings.append(Finding(code, report.rule.name, report.message, path, start, end, fix))
    return findings


def lint_module(module: cst.Module, path: str, settings: Settings, rules: Sequence[Type[Rule]],
                index: Optional[ProjectIndex], module_name: str = "", is_package: bool = False,
                facts: Optional[ModuleFacts] = None, data: Optional[bytes] = None
                ) -> Tuple[List[Report], List[Optional[Finding]]]:
    """Rule reports for a parsed module and, aligned with them, their findings. `data`, the
    bytes the module was parsed from, spares regenerating its code to read noqa comments."""
    if facts is None:
        facts = facts_for(module, module_name, is_package)
    reports = run_rules(module, facts, settings, rules_for_path(rules, settings, path), index, path)
    text = None
    if reports:
        text = decode(data) if data is not None else module.code
    return reports, to_findings(module, reports, path, text)


def _fix_info(fix: Fix, spans: Dict, empty: cst.Module) -> Optional[FixInfo]:
    edits = []
    for old, new in fix.replacements.items():
        span = spans.get(old)
        if span is None:
            return None
        if isinstance(new, cst.RemovalSentinel):
            # A removed statement takes its whole lines: indentation, trailing comment, newline
            # and the blank lines above it (its `leading_lines`), as the rewritten tree does.
            start = (span[0][0] - len(getattr(old, "leading_lines", ())), 1)
            end = span[1] if span[1][1] == 1 else (span[1][0] + 1, 1)
            edits.append(Edit(start, end, ""))
            continue
        if isinstance(old, cst.BaseStatement) and isinstance(new, cst.BaseStatement):
            new = new.with_changes(leading_lines=())  # outside the span, and kept
        edits.append(Edit(span[0], span[1], empty.code_for_node(new)))
    return FixInfo(fix.applicability, fix.message, tuple(sorted(edits, key=lambda e: e.start)))


def lint_source(data: bytes, path: str, settings: Settings, rules: Sequence[Type[Rule]],
                index: Optional[ProjectIndex] = None, module_name: str = "",
                is_package: bool = False) -> List[Finding]:
    """Lint one file's bytes. Never raises for the file's own content."""
    try:
        module = parse(data)
    except (cst.ParserSyntaxError, SyntaxError, ValueError, UnicodeDecodeError, RecursionError) as error:
        return [syntax_error(path, error, data)]
    try:
        _, findings = lint_module(module, path, settings, rules, index, module_name, is_package,
                                  data=data)
        return [f for f in findings if f is not None]
    except RecursionError as error:
        return [internal_error(path, error)]
    except Exception as error:  # noqa: BLE001 - one odd file must not hide the others
        return [internal_error(path, error)]
