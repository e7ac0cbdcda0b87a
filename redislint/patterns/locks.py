"""Locks: a distributed mutex with an expiry, owner tokens and fencing tokens.

When
    Several processes or machines must not run a critical section at the same time (a cron job
    on every node, rebuilding one cache entry, charging one order) and Redis is already shared.

How
    ``acquire`` runs one script: ``SET lock:{name} <random token> NX PX <timeout>`` and, only if
    that succeeded, ``INCR lock:{name}:fence``, whose result is the *fencing token*. A blocked
    caller retries with exponential backoff and full jitter. ``release`` and ``extend`` are
    scripts that compare the stored token with the caller's first, so a holder whose lock
    expired (and was maybe taken by another) cannot release or extend somebody else's lock.
    ``owned`` is a script too: even a client set to read from replicas asks the primary.

Benefits
    One round trip per attempt, release and extend. The expiry frees the lock when a holder
    crashes. The fencing token strictly increases with every acquisition, so a storage system
    that remembers the highest token it saw can reject a paused (GC, swap, network) former holder
    still writing after its lock expired: the expiry alone cannot prevent that.

Drawbacks
    A single Redis node: a failover that loses the last writes can grant the lock twice. Use
    fencing tokens (or a consensus system) when that would corrupt data. Not re-entrant. The
    holder must finish, or ``extend``, within ``timeout``.

Keys and hash tags
    ``lock:{name}`` (the owner token, with the expiry) and ``lock:{name}:fence`` (the fencing
    counter) are written by one script, so they share the ``{name}`` hash tag. The fence counter
    has no TTL by design: if it expired, tokens would start again from 1.
"""

from __future__ import annotations

import random
import secrets
import time
from types import TracebackType
from typing import Any

from ._scripts import DELETE_IF_EQUAL, tagged, to_ms


class LockError(Exception):
    """Base class of lock failures."""


class LockNotOwnedError(LockError):
    """The lock expired or belongs to someone else: the critical section was not protected."""


class LockNotAcquiredError(LockError):
    """``blocking_timeout`` ran out before the lock became free."""


class Lock:
    """A mutex named ``name`` that expires ``timeout`` seconds after acquisition."""

    # The fence only moves when the lock was really taken, in the same atomic step. An attempt
    # that finds its own token already there (a retry after a lost reply) gets the same fence.
    _ACQUIRE = """
    if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
        return redis.call('INCR', KEYS[2])
    end
    if redis.call('GET', KEYS[1]) == ARGV[1] then
        return tonumber(redis.call('GET', KEYS[2]))
    end
    return false
    """

    # A script although it only reads: a client that reads from replicas (read_from_replicas,
    # load_balancing_strategy) would send a GET to a replica, which may lag behind the primary.
    _OWNED = "return redis.call('GET', KEYS[1]) == ARGV[1]"

    # ARGV[3] == '1' replaces the remaining time instead of adding to it.
    _EXTEND = """
    if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
    local ttl = tonumber(ARGV[2])
    if ARGV[3] ~= '1' then ttl = ttl + math.max(0, redis.call('PTTL', KEYS[1])) end
    return redis.call('PEXPIRE', KEYS[1], ttl)
    """

    min_backoff = 0.005
    max_backoff = 0.25

    def __init__(
        self,
        client: Any,
        name: str,
        *,
        timeout: float,
        blocking_timeout: float | None = None,
        prefix: str = "lock:",
    ) -> None:
        self.client = client
        self.name = name
        self.timeout = timeout
        self.blocking_timeout = blocking_timeout
        self.key = tagged(prefix, name)
        self.fence_key = self.key + ":fence"
        #: Strictly increases with every acquisition of this name; None before the first.
        self.fencing_token: int | None = None
        self._token: str | None = None
        self._acquire = client.register_script(self._ACQUIRE)
        self._extend = client.register_script(self._EXTEND)
        self._release = client.register_script(DELETE_IF_EQUAL)
        self._owned = client.register_script(self._OWNED)

    def acquire(self, blocking: bool = True) -> bool:
        """Take the lock; if ``blocking``, retry until ``blocking_timeout`` (None: forever)."""
        token = secrets.token_hex(16)
        deadline = None
        if self.blocking_timeout is not None:
            deadline = time.monotonic() + self.blocking_timeout
        backoff = self.min_backoff
        while True:
            fence = self._acquire(keys=[self.key, self.fence_key], args=[token, self._ms()])
            if fence is not None:
                self._token, self.fencing_token = token, int(fence)
                return True
            if not blocking:
                return False
            pause = random.uniform(0, backoff)  # full jitter: waiters do not retry in lockstep
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                pause = min(pause, left)
            time.sleep(pause)
            backoff = min(backoff * 2, self.max_backoff)

    def release(self) -> None:
        """Free the lock; raise :class:`LockNotOwnedError` if it had been lost meanwhile."""
        token, self._token = self._token, None
        if token is None or not self._release(keys=[self.key], args=[token]):
            raise LockNotOwnedError(f"lock {self.name!r} was not held by this owner")

    def extend(self, seconds: float, *, replace: bool = False) -> bool:
        """Add ``seconds`` to the remaining time (or set it, if ``replace``); False if lost."""
        if self._token is None:
            return False
        args = [self._token, to_ms(seconds), "1" if replace else "0"]
        return bool(self._extend(keys=[self.key], args=args))

    def owned(self) -> bool:
        """Whether this owner still holds the lock (it may have expired), asked of the primary."""
        if self._token is None:
            return False
        return bool(self._owned(keys=[self.key], args=[self._token]))

    def _ms(self) -> int:
        return to_ms(self.timeout)

    def __enter__(self) -> Lock:
        if not self.acquire():
            raise LockNotAcquiredError(
                f"lock {self.name!r} not acquired within {self.blocking_timeout} s"
            )
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()
