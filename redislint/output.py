"""Output formats. The JSON shape follows Ruff's and is a stable, documented interface."""

from __future__ import annotations

import json
from collections import Counter
from typing import Dict, List, Optional, Sequence

import click

from redislint.linter import Finding

FORMATS = ("full", "concise", "json")


def _fix_json(finding: Finding) -> Optional[dict]:
    if finding.fix is None:
        return None
    return {
        "applicability": finding.fix.applicability,
        "message": finding.fix.message,
        "edits": [
            {"content": e.content, "location": {"row": e.start[0], "column": e.start[1]},
             "end_location": {"row": e.end[0], "column": e.end[1]}}
            for e in finding.fix.edits
        ],
    }


def as_dict(finding: Finding) -> dict:
    return {
        "code": finding.code,
        "name": finding.name,
        "message": finding.message,
        "filename": finding.path,
        "location": {"row": finding.start[0], "column": finding.start[1]},
        "end_location": {"row": finding.end[0], "column": finding.end[1]},
        "fix": _fix_json(finding),
        "severity": finding.severity,
    }


def render_json(findings: Sequence[Finding]) -> str:
    return json.dumps([as_dict(f) for f in findings], indent=2)


def _fix_marker(finding: Finding) -> str:
    if finding.fix is None:
        return ""
    return " [*]" if finding.fix.applicability == "safe" else " [unsafe fix]"


def render_concise(findings: Sequence[Finding], color: bool = False) -> str:
    lines = []
    for f in findings:
        where = f"{f.path}:{f.start[0]}:{f.start[1]}:"
        code = click.style(f.code, fg="red", bold=True) if color else f.code
        if color:
            where = click.style(where, bold=True)
        lines.append(f"{where} {code}{_fix_marker(f)} {f.message}")
    return "\n".join(lines)


def render_full(findings: Sequence[Finding], sources: Dict[str, List[str]], color: bool = False) -> str:
    """Each finding with the lines it spans, as Ruff's `full` format shows them."""
    blocks = []
    for f in findings:
        header = render_concise([f], color)
        lines = sources.get(f.path) or []
        snippet = []
        first, last = f.start[0], min(f.end[0], f.start[0] + 4)
        width = len(str(last))
        for row in range(max(1, first - 1), min(len(lines), last + 1) + 1):
            text = lines[row - 1].rstrip("\r\n") if row - 1 < len(lines) else ""
            snippet.append(f"  {str(row).rjust(width)} | {text}")
            if row == first:
                pad = " " * (f.start[1] - 1)
                end_col = f.end[1] if f.end[0] == first else len(text) + 1
                marks = "^" * max(1, end_col - f.start[1])
                marker = f"  {' ' * width} | {pad}{marks}"
                snippet.append(click.style(marker, fg="red") if color else marker)
        blocks.append("\n".join([header, *snippet]))
    return "\n\n".join(blocks)


def statistics(findings: Sequence[Finding]) -> str:
    counts = Counter((f.code, f.name) for f in findings)
    fixable = Counter(f.code for f in findings if f.fix is not None)
    rows = []
    for (code, name), count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][0])):
        mark = "[*]" if fixable.get(code) else "   "
        rows.append(f"{count:>5}\t{code}\t{mark} {name}")
    return "\n".join(rows)


def summary_line(count: int, fixable: int) -> str:
    if count == 0:
        return "All checks passed!"
    text = f"Found {count} error{'s' if count != 1 else ''}."
    if fixable:
        text += f"\n[*] {fixable} fixable with the `--fix` option."
    return text
