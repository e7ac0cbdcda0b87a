"""What a rule is: a libcst visitor with a code, a name, a message, docs and examples.

A rule subclasses `Rule`, implements any of `visit_<Node>` / `leave_<Node>` (libcst node names),
`on_redis_call(call)` and `on_scope_exit(scope)`, and calls `self.report(...)`. Its class
docstring is its documentation (What it does / Why is this bad? / Example / Use instead: /
Fix safety), and its VALID / INVALID examples are turned into tests.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Dict, List, Optional, Sequence, Union

import libcst as cst

if TYPE_CHECKING:
    from redislint.config import Settings
    from redislint.semantic.model import SemanticModel


@dataclass(frozen=True)
class Valid:
    """Code the rule must stay silent on (under `settings`, `[tool.redislint]` keys)."""

    code: str
    settings: Dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Invalid:
    """Code the rule must flag, optionally with the code its fix produces."""

    code: str
    expected_fix: Optional[str] = None
    unsafe: bool = False
    count: int = 1
    settings: Dict[str, object] = field(default_factory=dict)


@dataclass
class Fix:
    """A replacement of CST nodes; `safe` fixes apply with --fix, unsafe ones need --unsafe-fixes.

    A statement may map to `cst.RemovalSentinel.REMOVE` to delete it
    (`redislint.semantic.fixes.edits.remove_statements`)."""

    message: str
    replacements: Dict[cst.CSTNode, Union[cst.CSTNode, cst.RemovalSentinel]]
    applicability: str = "safe"  # "safe" | "unsafe"


@dataclass
class Report:
    """A finding while its file is still a tree: nodes, not yet line numbers."""

    rule: "type[Rule]"
    node: cst.CSTNode
    end_node: cst.CSTNode
    message: str
    fix: Optional[Fix] = None


class Rule:
    code: ClassVar[str]
    name: ClassVar[str]
    message: ClassVar[str]
    default_enabled: ClassVar[bool] = True
    # None when the rule never fixes; else the best applicability it offers ("safe"/"unsafe").
    fix_safety: ClassVar[Optional[str]] = None
    # The reference pattern (`redislint patterns NAME`) that shows the correct code.
    pattern: ClassVar[Optional[str]] = None
    VALID: ClassVar[Sequence[Valid]] = ()
    INVALID: ClassVar[Sequence[Invalid]] = ()

    def __init__(self, model: "SemanticModel", settings: "Settings") -> None:
        self.model = model
        self.settings = settings
        self.reports: List[Report] = []

    def report(self, node: cst.CSTNode, message: Optional[str] = None, *,
               end: Optional[cst.CSTNode] = None, fix: Optional[Fix] = None) -> None:
        self.reports.append(Report(type(self), node, end or node, message or self.message, fix))

    @classmethod
    def docs(cls) -> str:
        return textwrap.dedent(cls.__doc__ or "").strip()

    @classmethod
    def summary(cls) -> str:
        return cls.docs().split("\n\n", 1)[0].replace("\n", " ")
