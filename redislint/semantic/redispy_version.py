"""Which redis-py the linted code runs on, for rules whose answer depends on it.

A linter cannot know which redis-py a project will run with, so: the `redis-py-version`
setting when the project states it (`[tool.redislint] redis-py-version = "7.4"`), else the redis-py
installed next to redislint at lint time (`importlib.metadata`), else `FALLBACK`, the last
release line before 8.0: redislint running in an isolated environment (pre-commit, pipx) sees
no redis-py, and a project that does not say otherwise is assumed to run the older defaults.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Optional, Tuple

Version = Tuple[int, int, int]
FALLBACK: Version = (7, 4, 0)
_VERSION = re.compile(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?(.*)")


def parse(text: str) -> Optional[Version]:
    """(major, minor, patch) of a version string; a pre-release (`8.0.0b1`) sorts just before
    its release: (8, 0, -1)."""
    match = _VERSION.fullmatch(text.strip())
    if match is None:
        return None
    major, minor, patch, rest = match.groups()
    version = (int(major), int(minor or 0), int(patch or 0))
    if re.match(r"\.?(a|b|rc|dev|alpha|beta|pre)", rest or ""):
        version = (version[0], version[1], version[2] - 1)
    return version


@lru_cache(maxsize=None)
def installed() -> Optional[Version]:
    """The redis-py version installed in this interpreter, or None.

    The `redis-X.Y.Z.dist-info` folder on `sys.path` answers in a few directory listings;
    `importlib.metadata` (which builds every distribution's metadata) is the fallback."""
    import os
    import sys

    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if name.startswith("redis-") and name.endswith((".dist-info", ".egg-info")):
                found = parse(name[len("redis-"):].rsplit(".", 1)[0])
                if found is not None:
                    return found
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover - Python < 3.8
        return None
    try:
        return parse(version("redis"))
    except PackageNotFoundError:
        return None


def targeted(settings: object) -> Version:
    """The redis-py version rules judge against (setting, installed, fallback)."""
    stated = getattr(settings, "redis_py_version", None)
    if stated is not None:
        return stated
    return installed() or FALLBACK
