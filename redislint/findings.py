"""What a run reports. Kept free of libcst so a run whose files are all cached, or that finds no
file that can touch Redis, never imports the parser."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Optional, Tuple

Position = Tuple[int, int]


@dataclass(frozen=True)
class Edit:
    start: Position
    end: Position
    content: str


@dataclass(frozen=True)
class FixInfo:
    applicability: str
    message: str
    edits: Tuple[Edit, ...]


@dataclass(frozen=True)
class Finding:
    code: str
    name: str
    message: str
    path: str
    start: Position
    end: Position
    fix: Optional[FixInfo] = None
    severity: str = "error"

    def sort_key(self):
        return (self.path, self.start, self.code)


def syntax_error(path: str, error: Exception, data: Optional[bytes] = None) -> Finding:
    """RL000 at the position Python itself reports (libcst's native parser is vaguer); RL999
    when Python accepts what libcst rejects (more than ~4,000 implicitly concatenated strings):
    the code is fine, redislint is not."""
    if data is not None and not isinstance(error, SyntaxError):
        try:
            compile(data, path, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
        except SyntaxError as python_error:
            error = python_error
        except (ValueError, RecursionError, MemoryError):
            pass
        else:
            detail = (getattr(error, "message", None) or str(error)).splitlines()[0]
            return internal_error(path, RuntimeError(
                f"the parser rejects this file, which Python accepts: {detail}"))
    if isinstance(error, SyntaxError):
        row, column = error.lineno or 1, error.offset or 1
        message = error.msg
    else:
        row = getattr(error, "raw_line", None) or 1
        column = (getattr(error, "raw_column", None) or 0) + 1
        message = (getattr(error, "message", None) or str(error)).splitlines()[0]
        message = message.replace("parser error: ", "")
    return Finding("RL000", "syntax-error", f"SyntaxError: {message}", path, (row, column), (row, column))


def internal_error(path: str, error: BaseException) -> Finding:
    detail = f"{type(error).__name__}: {error}".splitlines()[0][:200]
    return Finding("RL999", "internal-error",
                   f"redislint failed on this file ({detail}); please report it with the file",
                   path, (1, 1), (1, 1))


def io_error(path: str, error: OSError) -> Finding:
    reason = error.strerror or type(error).__name__
    return Finding("RL001", "io-error", f"cannot read file: {reason}", path, (1, 1), (1, 1))
