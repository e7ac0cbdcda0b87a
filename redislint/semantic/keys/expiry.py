"""Writes that leave a key without the TTL it should have, and which concern each one is.

Three rules look at writes without an expiry, each with its own diagnosis of the same call:

- `TTL_CLEARED` (RL102): a string overwrite (SET or GETSET with no expiry option and no NX) of
  a key pattern the module gives a TTL elsewhere: the write silently discards that TTL.
- `SESSION` (RL103): a write of a session key (`session-key-patterns`); whether the session
  expires is judged across the module and the project, not per function.
- otherwise RL101 (set-without-ttl) judges the write on its own.

`ttl_concern(call, ttl_patterns, settings)` answers which of the first two a call is, so a
write is reported once, by the rule with the most precise message.
"""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING, FrozenSet, Iterable, Optional

from redislint.semantic.keys.expressions import Key
from redislint.semantic.keys.keyspace import DELETES, gives_ttl, matches_any, named_pattern
from redislint.semantic.redispy import set_option, write_ttl
from redislint.semantic.flow.sequences import expired_after

if TYPE_CHECKING:
    from redislint.config import Settings
    from redislint.semantic.model import RedisCall

TTL_CLEARED = "ttl-cleared"
SESSION = "session"
# String overwrites: they replace the value and, without an expiry option, drop the TTL.
CLEARS_TTL = frozenset({"set", "getset"})


def ttl_patterns(calls: Iterable["RedisCall"]) -> FrozenSet[str]:
    """Named patterns of the keys these calls give a TTL (EXPIRE*, SETEX/PSETEX, SET/GETEX
    with an expiry option)."""
    out = set()
    for call in calls:
        pattern = named_pattern(call.key)
        if pattern is not None and not call.has_star_args and gives_ttl(call.command, call.node):
            out.add(pattern)
    return frozenset(out)


def clears_ttl(call: "RedisCall") -> bool:
    """SET/GETSET that replaces a value with no expiry option, KEEPTTL or NX (an NX write never
    touches an existing key, so it never drops its TTL)."""
    if call.command not in CLEARS_TTL or call.receiver.role not in ("client", "pipeline"):
        return False
    if write_ttl(call) is not False:
        return False
    return call.command != "set" or set_option(call, "nx") is None


def is_session_key(key: Optional[Key], settings: "Settings") -> bool:
    """The key's pattern matches one of the `session-key-patterns` globs (`session:{}` is
    `session:*`); keys built from values alone never do."""
    pattern = named_pattern(key)
    return pattern is not None and any(
        fnmatch.fnmatchcase(pattern, glob) for glob in settings.session_key_patterns)


def _written_with_ttl_here(call: "RedisCall") -> bool:
    """The same function also writes this key with a TTL (`if ttl: set(k, v, ex=ttl)` /
    `else: set(k, v)`), or expires it after this write: the TTL is handled here."""
    return expired_after(call) or any(
        other.key == call.key and write_ttl(other) for other in call.scope.calls)


def ttl_concern(call: "RedisCall", patterns: FrozenSet[str], settings: "Settings") -> Optional[str]:
    """`TTL_CLEARED`, `SESSION` or None for a write, given the module's `ttl_patterns`."""
    pattern = named_pattern(call.key)
    if pattern is None:
        return None
    if clears_ttl(call) and pattern in patterns and not _written_with_ttl_here(call):
        return TTL_CLEARED
    if is_session_key(call.key, settings):
        return SESSION
    return None


def lifetime_managed(call: "RedisCall", calls: Iterable["RedisCall"], project_deletes: Iterable[str] = ()
                     ) -> bool:
    """Whether the code ends this key's life itself: the module deletes the same key (however
    it is spelt: `self._pause_key`), or the module or project deletes its pattern. A flag set
    by `pause()` and deleted by `resume()` is not a key that piles up."""
    pattern = named_pattern(call.key)
    deleted = []
    for other in calls:
        if other.command in DELETES and other.receiver.role in ("client", "pipeline"):
            if call.key is not None and other.key == call.key:
                return True
            deleted.extend(p for p in (named_pattern(other.key),) if p is not None)
    if pattern is None:
        return False
    return matches_any(pattern, deleted) or matches_any(pattern, project_deletes)
