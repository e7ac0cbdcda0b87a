"""Which files to lint: walk the given paths, honour excludes and .gitignore."""

from __future__ import annotations

import errno
import fnmatch
import os
import re
import subprocess
from functools import lru_cache
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Set, Tuple

from redislint.config import Settings

SUFFIXES = (".py", ".pyi")


@dataclass(frozen=True)
class Missing:
    """A path the user named that does not exist, or a folder that cannot be listed (reported,
    exit code 2, and the other files are linted)."""

    path: str
    reason: str = "no such file or directory"


def _patterns(settings: Settings) -> Tuple[str, ...]:
    return tuple(settings.exclude) + tuple(settings.extend_exclude)


@lru_cache(maxsize=64)
def _matchers(patterns: Tuple[str, ...]) -> Tuple["re.Pattern[str]", "re.Pattern[str]"]:
    """One regex for basenames and one for relative paths, instead of a loop of fnmatch calls."""
    names, paths = [], []
    for pattern in patterns:
        pattern = pattern.rstrip("/")
        names.append(fnmatch.translate(pattern))
        paths.append(fnmatch.translate(pattern))
        if "/" in pattern:
            paths.append(fnmatch.translate(pattern.lstrip("./") + "/*"))
    never = r"(?!x)x"
    return re.compile("|".join(names) or never), re.compile("|".join(paths) or never)


def is_excluded(path: Path, settings: Settings, patterns: Optional[Sequence[str]] = None) -> bool:
    """Ruff's convention: a pattern matches a path's basename or its path from the config root."""
    patterns = _patterns(settings) if patterns is None else patterns
    by_name, by_path = _matchers(tuple(patterns))
    if by_name.match(path.name):
        return True
    try:
        relative = os.path.relpath(os.path.abspath(path), settings.root)
    except ValueError:
        relative = path.as_posix()
    if relative.startswith(".."):
        relative = path.as_posix()
    return by_path.match(relative.replace(os.sep, "/")) is not None


def _git_visible(folder: Path) -> Optional[Set[str]]:
    """Files git does not ignore under `folder` (absolute paths), or None outside a work tree."""
    try:
        result = subprocess.run(
            ["git", "-C", str(folder), "ls-files", "--cached", "--others", "--exclude-standard",
             "-z", "--", "."],
            capture_output=True, timeout=60, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:
        return None
    base = folder.resolve()
    return {str(base / p) for p in result.stdout.decode("utf-8", "surrogateescape").split("\0") if p}


def _real(path: Path) -> str:
    """The resolved path, or the absolute one when it cannot be resolved (a symlink loop,
    reported when the file is read rather than crashing the walk)."""
    try:
        return str(path.resolve())
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop before Python 3.13
        return os.path.abspath(path)


def _why_missing(path: Path) -> str:
    try:
        os.stat(path)
    except OSError as error:
        if error.strerror and error.errno != errno.ENOENT:
            return error.strerror[0].lower() + error.strerror[1:]  # a symlink loop, ...
    return "no such file or directory"


def discover(paths: Sequence[str], settings: Settings, force_exclude: bool = False
             ) -> Tuple[List[Path], List[Missing]]:
    """Files to lint, in a stable order, and named paths that do not exist."""
    found: List[Path] = []
    missing: List[Missing] = []
    seen: Set[str] = set()
    patterns = _patterns(settings)
    for raw in paths:
        path = Path(raw)
        if not os.path.lexists(path) or (path.is_symlink() and not path.exists()):
            missing.append(Missing(raw, _why_missing(path)))
            continue
        if path.is_dir():
            for file in _walk(path, settings, patterns, missing):
                key = _real(file)
                if key not in seen:
                    seen.add(key)
                    found.append(file)
        else:
            if force_exclude and is_excluded(path, settings, patterns):
                continue
            key = _real(path)
            if key not in seen:
                seen.add(key)
                found.append(path)
    return found, missing


def _walk(folder: Path, settings: Settings, patterns: Sequence[str],
          unreadable: List[Missing]) -> Iterable[Path]:
    visible = _git_visible(folder) if settings.respect_gitignore else None
    visited: Set[Tuple[int, int]] = set()

    def cannot_list(error: OSError) -> None:  # a folder that cannot be listed is said, not skipped
        reason = (error.strerror or type(error).__name__).lower()
        unreadable.append(Missing(str(error.filename or folder), f"cannot list this folder: {reason}"))

    for current, dirs, files in os.walk(folder, followlinks=True, onerror=cannot_list):
        try:
            stat = os.stat(current)
            if (stat.st_dev, stat.st_ino) in visited:  # a symlink loop
                dirs[:] = []
                continue
            visited.add((stat.st_dev, stat.st_ino))
        except OSError:
            dirs[:] = []
            continue
        here = Path(current)
        dirs[:] = sorted(d for d in dirs if not is_excluded(here / d, settings, patterns))
        for name in sorted(files):
            if not name.endswith(SUFFIXES):
                continue
            file = here / name
            if is_excluded(file, settings, patterns):
                continue
            if visible is not None and _real(file) not in visible and \
                    str(Path(os.path.abspath(file))) not in visible:
                continue
            yield file


def project_root(paths: Sequence[str], settings: Settings) -> Optional[Path]:
    """Where the project the named paths belong to begins: the folder of the configuration,
    else the git work tree around the first path, else the top of the package it is in; None
    when none exists (then the named files are the whole project)."""
    if settings.config_path is not None:
        return settings.config_path.parent
    for raw in paths:
        if raw == "-":
            continue
        folder = Path(raw).resolve()
        if not folder.is_dir():
            folder = folder.parent
        for candidate in (folder, *folder.parents):
            if (candidate / ".git").exists():
                return candidate
        # No configuration, no git: the package the path belongs to, from its top.
        top = None
        while (folder / "__init__.py").is_file():
            top, folder = folder, folder.parent
        return top
    return None


def project_files(paths: Sequence[str], settings: Settings) -> List[Path]:
    """Every file of the project whose facts a named file's findings may depend on (a client
    it imports, a caller passing one, a key deleted elsewhere): the project's files as
    `redislint ROOT` would lint them, and every file of an excluded folder a named path lies in
    (linting `fixtures/app/a.py` and `fixtures/` must see the same neighbours). Linting a file
    alone and linting the whole tree then give that file the same findings."""
    root = project_root(paths, settings)
    if root is None:
        return []
    files, _ = discover([str(root)], settings)
    patterns = _patterns(settings)
    extra: List[str] = []
    for raw in paths:
        if raw == "-":
            continue
        path = Path(raw).resolve()
        try:
            path.relative_to(root)
        except ValueError:
            continue
        top = None
        for folder in (path, *path.parents):
            if folder == root:
                break
            if is_excluded(folder, settings, patterns):
                top = folder
        if top is not None and top.is_dir():
            extra.append(str(top))
    if extra:
        more, _ = discover(sorted(set(extra)), settings)
        files.extend(more)
    return files
