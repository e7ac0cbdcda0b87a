"""`# noqa`, `# noqa: RL201,RL202` and `# redislint: ignore[RL201]` comments."""

from __future__ import annotations

import io
import re
import tokenize
from typing import Dict, FrozenSet, Optional

_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.I)
_IGNORE = re.compile(r"#\s*redislint:\s*ignore(?:\[(?P<codes>[^\]]*)\])?", re.I)
ALL: FrozenSet[str] = frozenset({"*"})


def suppressions(text: str) -> Dict[int, FrozenSet[str]]:
    """Row -> codes suppressed on that row (`{"*"}` for all). Only real comments count."""
    if "noqa" not in text.lower() and "redislint:" not in text:
        return {}
    found: Dict[int, FrozenSet[str]] = {}
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return {}
    for token in tokens:
        if token.type != tokenize.COMMENT:
            continue
        codes = _codes(token.string)
        if codes is not None:
            row = token.start[0]
            found[row] = found.get(row, frozenset()) | codes
    return found


def _codes(comment: str) -> Optional[FrozenSet[str]]:
    result: Optional[FrozenSet[str]] = None
    for pattern in (_NOQA, _IGNORE):
        for match in pattern.finditer(comment):
            codes = match.group("codes")
            if not codes:
                return ALL
            parsed = frozenset(c.upper() for c in re.split(r"[\s,]+", codes.strip()) if c)
            result = (result or frozenset()) | parsed
    return result


def is_suppressed(rows: Dict[int, FrozenSet[str]], code: str, start_row: int, end_row: int) -> bool:
    """A finding is suppressed by a comment on its first or its last line."""
    for row in {start_row, end_row}:
        codes = rows.get(row)
        if codes and ("*" in codes or code in codes):
            return True
    return False


_AN_RL_CODE = re.compile(rb"RL[0-9]")  # a fast literal search (12 MB/s with re.I; ~800 without)


def unknown_codes(data: bytes, known: FrozenSet[str]) -> Dict[int, FrozenSet[str]]:
    """Row -> the RL codes a suppression comment names that are no rule (`# noqa: RL7777`);
    they suppress nothing. Other linters' codes (`# noqa: E501`) are not ours to judge."""
    if not _AN_RL_CODE.search(data):  # codes are written upper-case (`# noqa: rl501` is not
        return {}                       # warned about)
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        text = data.decode(encoding)
    except (SyntaxError, LookupError, UnicodeDecodeError):
        return {}
    unknown = {}
    for row, codes in suppressions(text).items():
        odd = frozenset(c for c in codes if c.startswith("RL") and c not in known)
        if odd:
            unknown[row] = odd
    return unknown
