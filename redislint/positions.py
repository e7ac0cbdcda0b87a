"""Line and column numbers, computed only for the nodes a rule reported.

libcst's PositionProvider records every node of every file and costs several times the parse.
Most files have no findings, so positions wait until one does, and then only the reported
nodes are measured: one code generation that counts characters, with the syntactic start and
end recorded for the nodes we were asked about.
"""

from __future__ import annotations

import bisect
import re
from contextlib import contextmanager
from typing import Dict, Iterable, Iterator, List, Optional, Tuple

import libcst as cst
from libcst._nodes.internal import CodegenState

Position = Tuple[int, int]  # 1-based row, 1-based column


class _OffsetState(CodegenState):
    def __init__(self, module: cst.Module, wanted: set) -> None:
        super().__init__(default_indent=module.default_indent,
                         default_newline=module.default_newline)
        self.wanted = wanted
        self.offset = 0
        self.spans: Dict[cst.CSTNode, Tuple[int, int]] = {}

    def add_indent_tokens(self) -> None:
        for token in self.indent_tokens:
            self.tokens.append(token)
            self.offset += len(token)

    def add_token(self, value: str) -> None:
        self.tokens.append(value)
        self.offset += len(value)

    @contextmanager
    def record_syntactic_position(self, node: cst.CSTNode, *, start_node: Optional[cst.CSTNode] = None,
                                  end_node: Optional[cst.CSTNode] = None) -> Iterator[None]:
        if node not in self.wanted:
            yield
            return
        start = self.offset
        yield
        self.spans[node] = (start, self.offset)


def locate(module: cst.Module, nodes: Iterable[cst.CSTNode]) -> Dict[cst.CSTNode, Tuple[Position, Position]]:
    """Start and end positions of `nodes` (statements include their decorators and keywords)."""
    wanted = set(nodes)
    state = _OffsetState(module, wanted)
    module._codegen(state)
    code = "".join(state.tokens)
    line_starts = _line_starts(code)
    found = {}
    for node in wanted:
        span = state.spans.get(node)
        if span is None:
            continue
        found[node] = (_position(line_starts, code, span[0]), _position(line_starts, code, span[1]))
    return found


_NEWLINE = re.compile(r"\r\n?|\n")


def _line_starts(code: str) -> List[int]:
    """Offsets where rows start; a row ends at \n, \r\n or a lone \r (as Python counts)."""
    return [0, *(match.end() for match in _NEWLINE.finditer(code))]


def _position(line_starts: List[int], code: str, offset: int) -> Position:
    row = bisect.bisect_right(line_starts, offset) - 1
    return row + 1, offset - line_starts[row] + 1
