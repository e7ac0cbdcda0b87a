"""Leaderboards: members ranked by score in a sorted set.

When
    Rankings that change constantly and are read often: game scores, most active users,
    trending items. Anything needing "top N", "my rank" or "players around me".

How
    One sorted set per board. ``ZADD`` sets a score, ``ZINCRBY`` adds to it atomically, and
    the reverse-order commands (``ZREVRANGE``, ``ZREVRANK``) read it highest first. ``around``
    finds the member's rank and its neighbours in one script.

Benefits
    Every operation is one round trip and O(log N); ranks are computed by Redis, never by
    loading the board into the application.

Drawbacks
    Ties are ordered by member name in *descending* byte order (Redis' order for equal scores
    read in reverse); to break ties by time instead, fold a timestamp into the score. Scores
    are doubles: integers are exact up to 2**53. Boards are permanent by design (no TTL);
    delete or rename them when a season ends.

Keys and hash tags
    One key per board, ``leaderboard:{name}``: every operation reads or writes that sorted set
    alone, so nothing must share a slot; a board lives on one primary of a cluster, and boards
    spread by name.
"""

from __future__ import annotations

from typing import Any

from ._codec import text
from ._scripts import tagged


class Leaderboard:
    """Highest score first, ranks 1-based."""

    _AROUND = """
    local rank = redis.call('ZREVRANK', KEYS[1], ARGV[1])
    if not rank then return {} end
    local span = tonumber(ARGV[2])
    return redis.call('ZREVRANGE', KEYS[1], math.max(0, rank - span), rank + span, 'WITHSCORES')
    """

    def __init__(self, client: Any, name: str, *, prefix: str = "leaderboard:") -> None:
        self.client = client
        self.key = tagged(prefix, name)
        self._around = client.register_script(self._AROUND)

    def add(self, member: str, score: float) -> None:
        """Set ``member``'s score, adding the member if new."""
        self.client.zadd(self.key, {member: score})

    def incr(self, member: str, delta: float) -> float:
        """Add ``delta`` to the score (from 0 for a new member); returns the new score."""
        return float(self.client.zincrby(self.key, delta, member))

    def top(self, n: int) -> list[tuple[str, float]]:
        """The ``n`` best members with their scores."""
        if n <= 0:
            return []
        rows = self.client.zrevrange(self.key, 0, n - 1, withscores=True)
        return [(text(member), float(score)) for member, score in rows]

    def rank(self, member: str) -> int | None:
        """1 for the best member; None if absent."""
        rank = self.client.zrevrank(self.key, member)
        return None if rank is None else int(rank) + 1

    def score(self, member: str) -> float | None:
        score = self.client.zscore(self.key, member)
        return None if score is None else float(score)

    def around(self, member: str, n: int) -> list[tuple[str, float]]:
        """``member`` with up to ``n`` neighbours on each side, best first; [] if absent."""
        flat = self._around(keys=[self.key], args=[member, n])
        return [(text(name), float(score)) for name, score in zip(flat[::2], flat[1::2])]
