"""JSON in and out of Redis: patterns never pickle, so any language can read what they store."""

from __future__ import annotations

import json
from typing import Any


def dumps(value: Any) -> str:
    """Encode a value compactly; the same value always gives the same text."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def loads(raw: str | bytes) -> Any:
    """Decode what :func:`dumps` stored, whether the client decodes responses or not."""
    return json.loads(text(raw))


def text(raw: str | bytes) -> str:
    """Redis replies are bytes unless the client was built with ``decode_responses=True``."""
    return raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
