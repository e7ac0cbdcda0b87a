"""The value every analysis passes around: a Redis client or something made from one. Free of
libcst (its `origin` is only annotated), so cached project summaries load without the parser."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    import libcst as cst


@dataclass(frozen=True)
class RedisObject:
    """A value known to be a Redis client or something derived from one.

    `role` is one of: client, pipeline, lock, pubsub, script.
    `transaction` is meaningful for pipelines: True (MULTI/EXEC), False, or None (unknown).
    """

    role: str
    is_async: bool = False
    cluster: bool = False
    transaction: Optional[bool] = None
    decode_responses: Optional[bool] = None
    origin: Optional[cst.CSTNode] = field(default=None, compare=False, hash=False, repr=False)

    def derive(self, role: str, **changes: object) -> "RedisObject":
        """The object `role` made from this one; `origin=` may name the call that made it."""
        changes.setdefault("origin", None)
        return replace(self, role=role, **changes)

    def detached(self) -> "RedisObject":
        """A copy without CST nodes, cheap to send to other processes."""
        return replace(self, origin=None)
