"""Applying fixes: pick non-overlapping edits, rewrite the tree, keep only code that re-parses,
repeat until the file is stable (bounded), and write files atomically."""

from __future__ import annotations

import errno
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import libcst as cst

from redislint.findings import Finding
from redislint.rule import Fix, Report

MAX_PASSES = 10


class _Replace(cst.CSTTransformer):
    def __init__(self, replacements: Dict[cst.CSTNode, cst.CSTNode]) -> None:
        super().__init__()
        self.replacements = replacements

    def on_leave(self, original, updated):
        return self.replacements.get(original, updated)


def applicable(fix: Optional[Fix], unsafe: bool) -> bool:
    return fix is not None and (fix.applicability == "safe" or unsafe)


def choose(reports: Sequence[Report], spans: Dict[cst.CSTNode, tuple], unsafe: bool
           ) -> List[Report]:
    """Fixes whose edited spans do not overlap, first come first served."""
    taken: List[Tuple[tuple, tuple]] = []
    chosen = []
    for report in sorted(reports, key=lambda r: spans.get(r.node, ((0, 0),))[0]):
        if not applicable(report.fix, unsafe):
            continue
        ranges = [spans.get(node) for node in report.fix.replacements]  # type: ignore[union-attr]
        if any(r is None for r in ranges):
            continue
        if any(a[0] < b[1] and b[0] < a[1] for a in ranges for b in taken):  # type: ignore[index]
            continue
        taken.extend(ranges)  # type: ignore[arg-type]
        chosen.append(report)
    return chosen


def rewrite(module: cst.Module, reports: Sequence[Report]) -> Optional[cst.Module]:
    """The module with the chosen fixes applied, or None when the result would not parse."""
    replacements: Dict[cst.CSTNode, cst.CSTNode] = {}
    for report in reports:
        replacements.update(report.fix.replacements)  # type: ignore[union-attr]
    fixed = module.visit(_Replace(replacements))
    try:
        return cst.parse_module(fixed.bytes)
    except Exception:  # noqa: BLE001 - a fix that breaks the code is dropped, never written
        return None


@dataclass
class FixOutcome:
    data: bytes
    fixed: List[Finding] = field(default_factory=list)
    remaining: List[Finding] = field(default_factory=list)
    converged: bool = True
    dropped: List[str] = field(default_factory=list)


def fix_until_stable(module: cst.Module, lint: Callable[[cst.Module], Tuple[List[Report], List[Finding]]],
                     unsafe: bool, locate: Callable) -> Tuple[cst.Module, FixOutcome]:
    """Lint, fix, re-lint until nothing applicable remains (at most MAX_PASSES passes).

    `lint(module)` returns the rule reports and their findings (same order).
    """
    outcome = FixOutcome(data=module.bytes)
    for _ in range(MAX_PASSES):
        reports, findings = lint(module)
        by_report = dict(zip(map(id, reports), findings))
        candidates = [r for r in reports if applicable(r.fix, unsafe)]
        if not candidates:
            outcome.remaining = findings
            outcome.data = module.bytes
            return module, outcome
        spans = locate(module, [n for r in candidates for n in r.fix.replacements])  # type: ignore[union-attr]
        chosen = choose(candidates, spans, unsafe)
        fixed = rewrite(module, chosen)
        if fixed is not None and not _compiles(fixed.bytes) and _compiles(module.bytes):
            fixed = None  # libcst parses it, Python does not (a repeated keyword argument, ...)
        if fixed is None:
            outcome.dropped.extend(r.rule.code for r in chosen)
            outcome.remaining = findings
            outcome.data = module.bytes
            return module, outcome
        outcome.fixed.extend(by_report[id(r)] for r in chosen if id(r) in by_report)
        module = fixed
    reports, findings = lint(module)
    outcome.remaining = findings
    outcome.data = module.bytes
    outcome.converged = not any(applicable(r.fix, unsafe) for r in reports)
    return module, outcome


def _compiles(data: bytes) -> bool:
    """Python itself compiles the code (libcst's grammar is more lenient; a repeated keyword
    argument is only caught by the compiler, past the AST)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarning: "is" with a literal, ...
            compile(data, "<fixed>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def write_atomically(path: Path, data: bytes, expected: Optional[bytes] = None) -> None:
    """Write next to the file, then replace it: an interrupted write leaves the original. A
    read-only file is refused (renaming over it would succeed), and so is a file that is no
    longer `expected` (edited while redislint ran); mode and owner are kept."""
    path = Path(path)
    status = path.stat()
    mode = status.st_mode & 0o7777
    if not mode & 0o222 or not os.access(path, os.W_OK):  # root may write a 0444 file: don't
        raise PermissionError(errno.EACCES, "the file is read-only", str(path))
    if expected is not None and path.read_bytes() != expected:
        raise OSError(errno.EAGAIN, "the file changed while redislint ran", str(path))
    folder = path.resolve().parent
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".redislint-tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if hasattr(os, "chown") and (status.st_uid, status.st_gid) != (os.getuid(), os.getgid()):
            try:  # root fixing someone else's file: the file stays theirs
                os.chown(temp, status.st_uid, status.st_gid)
            except OSError:
                pass
        os.chmod(temp, mode)
        os.replace(temp, path.resolve())
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
