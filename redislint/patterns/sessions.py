"""Sessions: server-side session data in a hash per session, with a sliding expiry.

When
    Web or API sessions that must be shared by every app server, expire after a period of
    inactivity, and be revocable (logout, password change) at once.

How
    Each session is a hash ``session:{sid}`` with one JSON-encoded field per session attribute,
    so concurrent requests updating *different* attributes never overwrite each other. ``create``
    draws 256 random bits from :mod:`secrets` and writes the hash only if that id is unused.
    ``get`` reads the hash and pushes its expiry back in one script; ``update`` only touches a
    session that still exists, so it never resurrects an expired or destroyed one. ``rotate``
    (call it on login and privilege changes, against session fixation) atomically reads and
    deletes the old hash, then creates a new one with the same data.

Benefits
    One round trip for every operation but ``rotate``. Expiry is enforced by Redis itself, and
    a destroyed session is gone for every server at once.

Drawbacks
    ``rotate`` costs two round trips: the old and new ids hash to different Cluster slots, so no
    single script may touch both. The old id dies first; if Redis fails in between, the user
    simply has to log in again. Sessions hold small data: a large hash is re-read on every
    ``get``.

Keys and hash tags
    One key per session, ``session:{sid}``: every script touches that one key, so nothing needs
    to share a slot, and with the random id as the tag, sessions spread evenly over a cluster.
    ``rotate`` is the one step across two keys, and two random ids never share a slot: hence its
    two round trips (the take, then the create) instead of one script.
"""

from __future__ import annotations

import secrets
from typing import Any, Mapping

from ._codec import dumps, loads, text
from ._scripts import tagged, to_ms

#: An empty hash cannot exist in Redis, so every session carries this field; it also keeps an
#: empty session distinguishable from a missing one.
_MARKER = ""


class SessionStore:
    """Create, read, update, rotate and destroy sessions that expire after ``ttl`` idle seconds."""

    # ARGV[2] says whether the session must already exist: '0' for create (a collision must
    # never hijack a session), '1' for update (never resurrect an expired or destroyed one).
    _WRITE = """
    if redis.call('EXISTS', KEYS[1]) ~= tonumber(ARGV[2]) then return 0 end
    redis.call('HSET', KEYS[1], unpack(ARGV, 3))
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
    return 1
    """

    # Reading a session is activity: slide its expiry in the same round trip.
    _GET = """
    local fields = redis.call('HGETALL', KEYS[1])
    if #fields > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
    return fields
    """

    # Read and delete in one step, so the old id is dead the moment its data is copied.
    _TAKE = """
    local fields = redis.call('HGETALL', KEYS[1])
    redis.call('DEL', KEYS[1])
    return fields
    """

    def __init__(self, client: Any, *, ttl: float = 1800, prefix: str = "session:") -> None:
        self.client = client
        self.ttl = ttl
        self.prefix = prefix
        self._write = client.register_script(self._WRITE)
        self._get = client.register_script(self._GET)
        self._take = client.register_script(self._TAKE)

    def create(self, data: Mapping[str, Any]) -> str:
        """Store ``data`` under a fresh unguessable id and return the id."""
        if _MARKER in data:
            raise ValueError("the empty field name is reserved")
        fields = self._encode(data)
        while True:
            sid = self.new_id()
            args = [to_ms(self.ttl), 0, _MARKER, "1", *fields]
            if self._write(keys=[self._key(sid)], args=args):
                return sid

    def get(self, sid: str) -> dict[str, Any] | None:
        """The session's data, or None if it expired or never existed; extends its life."""
        return self._decode(self._get(keys=[self._key(sid)], args=[to_ms(self.ttl)]))

    def update(self, sid: str, **fields: Any) -> bool:
        """Set some attributes; False (and nothing written) if the session is gone."""
        if not fields:
            return self.get(sid) is not None
        args = [to_ms(self.ttl), 1, *self._encode(fields)]
        return bool(self._write(keys=[self._key(sid)], args=args))

    def destroy(self, sid: str) -> None:
        self.client.delete(self._key(sid))

    def rotate(self, sid: str) -> str | None:
        """Move the session to a new id and kill the old one; None if it was gone."""
        data = self._decode(self._take(keys=[self._key(sid)]))
        return None if data is None else self.create(data)

    def new_id(self) -> str:
        """256 random bits, URL-safe: far beyond guessing or brute force."""
        return secrets.token_urlsafe(32)

    def _key(self, sid: str) -> str:
        return tagged(self.prefix, sid)

    @staticmethod
    def _encode(data: Mapping[str, Any]) -> list[str]:
        return [item for name, value in data.items() for item in (name, dumps(value))]

    @staticmethod
    def _decode(flat: list[Any]) -> dict[str, Any] | None:
        if not flat:
            return None
        pairs = zip(flat[::2], flat[1::2])
        return {text(name): loads(value) for name, value in pairs if text(name) != _MARKER}
