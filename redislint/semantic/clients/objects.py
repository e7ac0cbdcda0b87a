"""The value every analysis passes around: a Redis client or something made from one. Free of
libcst (its `origin` is only annotated), so cached project summaries load without the parser."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, FrozenSet, Optional

if TYPE_CHECKING:
    import libcst as cst

# How a receiver was recognised, strongest first. `proven`: the code builds it or declares its
# type (`redis.Redis(...)`, `r: Redis`, a `clients` name from the configuration); `inferred`:
# the project's own code hands it over (a parameter its callers fill with a client, an attribute
# set from one, a wrapper that forwards to one); `probable`: nothing says what it is, but the code
# calls at least two commands only Redis has on it.
EVIDENCE = ("proven", "inferred", "probable")


@dataclass(frozen=True)
class RedisObject:
    """A value known to be a Redis client or something derived from one.

    `role` is one of: client, pipeline, lock, pubsub, script (and, inside the engine, factory:
    a Sentinel; node: a cluster node).
    `transaction` is meaningful for pipelines: True (MULTI/EXEC), False, or None (unknown).
    `forwards`: for a project wrapper whose methods forward to a client, the commands it
    forwards (None: every command, a real client).
    """

    role: str
    is_async: bool = False
    cluster: bool = False
    transaction: Optional[bool] = None
    decode_responses: Optional[bool] = None
    origin: Optional[cst.CSTNode] = field(default=None, compare=False, hash=False, repr=False)
    evidence: str = "proven"
    forwards: Optional[FrozenSet[str]] = None

    def derive(self, role: str, **changes: object) -> "RedisObject":
        """The object `role` made from this one; `origin=` may name the call that made it."""
        changes.setdefault("origin", None)
        changes.setdefault("forwards", None)
        return replace(self, role=role, **changes)

    def detached(self) -> "RedisObject":
        """A copy without CST nodes, cheap to send to other processes."""
        return replace(self, origin=None) if self.origin is not None else self

    def weakened(self, evidence: str) -> "RedisObject":
        """This object as known through weaker evidence (a value handed over by other code)."""
        if EVIDENCE.index(evidence) <= EVIDENCE.index(self.evidence):
            return self
        return replace(self, evidence=evidence, origin=None)

    def sends(self, command: str) -> bool:
        """Whether calling `command` on this object sends it to Redis."""
        return self.forwards is None or command in self.forwards
