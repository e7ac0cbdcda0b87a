"""Output formats. The JSON shape follows Ruff's and is a stable, documented interface."""

from __future__ import annotations

import json
from collections import Counter
from typing import Dict, List, Optional, Sequence

import click

from redislint.findings import Finding

FORMATS = ("full", "concise", "json", "json-lines", "github", "gitlab", "junit", "sarif")


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


def summary_line(count: int, fixable: int, unsafe: int = 0, fixed: int = 0) -> str:
    if count == 0:
        if fixed:
            return f"Found {fixed} error{'s' if fixed != 1 else ''} ({fixed} fixed, 0 remaining)."
        return "All checks passed!"
    total = count + fixed
    text = f"Found {total} error{'s' if total != 1 else ''}"
    text += f" ({fixed} fixed, {count} remaining)." if fixed else "."
    if fixable:
        text += f"\n[*] {fixable} fixable with the `--fix` option."
    if unsafe:
        text += f"\n{unsafe} more fixable with `--fix --unsafe-fixes`."
    return text


def render_json_lines(findings: Sequence[Finding]) -> str:
    return "\n".join(json.dumps(as_dict(f)) for f in findings)


def _escape_property(value: str) -> str:
    return (value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
            .replace(":", "%3A").replace(",", "%2C"))


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def render_github(findings: Sequence[Finding]) -> str:
    """GitHub Actions workflow commands: each finding becomes an annotation on the PR diff."""
    lines = []
    for f in findings:
        props = (f"title={_escape_property(f'redislint ({f.code})')},file={_escape_property(f.path)},"
                 f"line={f.start[0]},col={f.start[1]},endLine={f.end[0]},endColumn={f.end[1]}")
        lines.append(f"::error {props}::{_escape_data(f'{f.code} {f.message}')}")
    return "\n".join(lines)


def _fingerprint(finding: Finding) -> str:
    import hashlib

    text = f"{finding.path}:{finding.code}:{finding.start}:{finding.message}"
    return hashlib.sha256(text.encode()).hexdigest()


def render_gitlab(findings: Sequence[Finding]) -> str:
    """GitLab Code Quality report (a JSON array of issues)."""
    issues = [{
        "description": f"{f.code} {f.message}",
        "check_name": f.code,
        "fingerprint": _fingerprint(f),
        "severity": "major",
        "location": {"path": f.path, "positions": {
            "begin": {"line": f.start[0], "column": f.start[1]},
            "end": {"line": f.end[0], "column": f.end[1]},
        }},
    } for f in findings]
    return json.dumps(issues, indent=2)


def render_junit(findings: Sequence[Finding]) -> str:
    """JUnit XML: one test suite per file, one failing test case per finding."""
    from xml.etree import ElementTree as ET

    root = ET.Element("testsuites", name="redislint", tests=str(len(findings)),
                      failures=str(len(findings)))
    by_file: Dict[str, List[Finding]] = {}
    for f in findings:
        by_file.setdefault(f.path, []).append(f)
    if not by_file:
        suite = ET.SubElement(root, "testsuite", name="redislint", tests="1", failures="0")
        ET.SubElement(suite, "testcase", name="No findings", classname="redislint")
    for path, items in by_file.items():
        suite = ET.SubElement(root, "testsuite", name=path, tests=str(len(items)),
                              failures=str(len(items)))
        for f in items:
            case = ET.SubElement(suite, "testcase", name=f"{f.code} {f.name}",
                                 classname=f"{path}:{f.start[0]}:{f.start[1]}")
            failure = ET.SubElement(case, "failure", message=f.message, type=f.code)
            failure.text = f"{path}:{f.start[0]}:{f.start[1]}: {f.code} {f.message}"
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


def render_sarif(findings: Sequence[Finding], rules: Sequence[type], version: str) -> str:
    """SARIF 2.1.0, as GitHub code scanning and other tools ingest it."""
    from pathlib import Path

    descriptors = [{
        "id": r.code,
        "name": r.name,
        "shortDescription": {"text": r.message.split(":")[0].strip("`") if r.message else r.name},
        "fullDescription": {"text": r.summary() if hasattr(r, "summary") else r.name},
        "help": {"text": r.docs() if hasattr(r, "docs") else r.name,
                 "markdown": r.docs() if hasattr(r, "docs") else r.name},
        "defaultConfiguration": {"level": "error" if getattr(r, "default_enabled", True) else "note"},
        "properties": {"fix": getattr(r, "fix_safety", None) or "none"},
    } for r in rules]
    index = {d["id"]: i for i, d in enumerate(descriptors)}
    results = []
    for f in findings:
        result = {
            "ruleId": f.code,
            "level": "error",
            "message": {"text": f.message},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": Path(f.path).as_posix()},
                "region": {"startLine": f.start[0], "startColumn": f.start[1],
                           "endLine": f.end[0], "endColumn": f.end[1]},
            }}],
        }
        if f.code in index:
            result["ruleIndex"] = index[f.code]
        if f.fix is not None:
            result["fixes"] = [{
                "description": {"text": f.fix.message},
                "artifactChanges": [{
                    "artifactLocation": {"uri": Path(f.path).as_posix()},
                    "replacements": [{
                        "deletedRegion": {"startLine": e.start[0], "startColumn": e.start[1],
                                          "endLine": e.end[0], "endColumn": e.end[1]},
                        "insertedContent": {"text": e.content},
                    } for e in f.fix.edits],
                }],
            }]
        results.append(result)
    log = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "redislint", "version": version, "rules": descriptors}},
            "results": results,
        }],
    }
    return json.dumps(log, indent=2)
