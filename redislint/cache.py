"""A per-file result cache (`.redislint_cache/`), keyed by content, settings, rules, version and
the project index, so a finding that depends on another module never comes back stale.

Entries are small JSON files named by their key: a corrupt, missing or half-written entry is a
miss, never an error, and a cache directory deleted mid-run only costs the writes.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, List, Optional, Tuple

from redislint import __version__
from redislint.findings import Edit, Finding, FixInfo
from redislint.project import ModuleSummary

if TYPE_CHECKING:
    from redislint.semantic.clients.solve import ProjectClients


def digest(*parts: bytes) -> str:
    hasher = hashlib.blake2b(digest_size=20)
    for part in parts:
        hasher.update(len(part).to_bytes(8, "little"))
        hasher.update(part)
    return hasher.hexdigest()


class Cache:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder) / __version__
        self.enabled = True
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            ignore = Path(folder) / ".gitignore"
            if not ignore.exists():
                ignore.write_text("# Automatically created by redislint.\n*\n")
        except OSError:
            self.enabled = False

    # -- raw entries ----------------------------------------------------------------------
    def _path(self, kind: str, key: str) -> Path:
        return self.folder / kind / key[:2] / key[2:]

    def get(self, kind: str, key: str) -> Optional[object]:
        """Any JSON value kept under (kind, key); None when absent or unreadable."""
        if not self.enabled:
            return None
        try:
            return json.loads(self._path(kind, key).read_bytes())
        except (OSError, ValueError):
            return None

    def put(self, kind: str, key: str, value: object) -> None:
        if not self.enabled:
            return
        path = self._path(kind, key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "w") as handle:
                json.dump(value, handle, separators=(",", ":"))
            os.replace(temp, path)
        except OSError:
            pass

    def get_bytes(self, kind: str, key: str) -> Optional[bytes]:
        if not self.enabled:
            return None
        try:
            return self._path(kind, key).read_bytes()
        except OSError:
            return None

    def put_bytes(self, kind: str, key: str, data: bytes) -> None:
        if not self.enabled:
            return
        path = self._path(kind, key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(temp, path)
        except OSError:
            pass

    # -- summaries (phase one) and the solved project ----------------------------------------
    def get_summary(self, key: str) -> Optional[Tuple[ModuleSummary, str]]:
        """A module's summary and the digest of its content (what the project's solution
        depends on), or None."""
        data = self.get_bytes("summary", key)
        if data is None:
            return None
        # Imported here: a run served by the cache alone never loads the solver.
        from redislint.semantic.clients import codec
        from redislint.semantic.clients.records import ClientSummary

        try:
            content, summary = codec.loads(data)
        except (codec.CodecError, RecursionError, TypeError, ValueError):
            return None
        if not isinstance(content, str) or not isinstance(summary, ModuleSummary) or not (
                summary.clients is None or isinstance(summary.clients, ClientSummary)):
            return None
        return summary, content

    def put_summary(self, key: str, summary: ModuleSummary, content: str) -> None:
        """`content`: the summary's digest (`redislint.project.summary_digest`)."""
        from redislint.semantic.clients import codec

        self.put_bytes("summary", key, codec.dumps((content, summary)))

    def get_solution(self, key: str) -> Optional["ProjectClients"]:
        data = self.get_bytes("solution", key)
        if data is None:
            return None
        from redislint.semantic.clients import codec
        from redislint.semantic.clients.solve import ProjectClients

        try:
            found = codec.loads(data)
        except (codec.CodecError, RecursionError):
            return None
        return found if isinstance(found, ProjectClients) else None

    def put_solution(self, key: str, clients: "ProjectClients") -> None:
        from redislint.semantic.clients import codec

        self.put_bytes("solution", key, codec.dumps(clients))

    # -- findings (phase two) -----------------------------------------------------------------
    def get_findings(self, key: str, path: str) -> Optional[List[Finding]]:
        raw = self.get("findings", key)
        if not isinstance(raw, list):
            return None
        try:
            return [_finding(item, path) for item in raw]
        except (KeyError, TypeError, ValueError):
            return None

    def put_findings(self, key: str, findings: Iterable[Finding]) -> None:
        self.put("findings", key, [_finding_json(f) for f in findings])


def _position(value: object) -> tuple:
    if not (isinstance(value, list) and len(value) == 2
            and all(type(v) is int and v >= 0 for v in value)):
        raise TypeError("not a cached position")
    return tuple(value)


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("not cached text")
    return value


def _finding_json(f: Finding) -> dict:
    fix = None
    if f.fix is not None:
        fix = [f.fix.applicability, f.fix.message,
               [[list(e.start), list(e.end), e.content] for e in f.fix.edits]]
    return {"c": f.code, "n": f.name, "m": f.message, "s": list(f.start), "e": list(f.end),
            "f": fix, "v": f.severity}


def _finding(item: dict, path: str) -> Finding:
    fix = None
    if item["f"] is not None:
        applicability, message, edits = item["f"]
        fix = FixInfo(_text(applicability), _text(message),
                      tuple(Edit(_position(s), _position(e), _text(c)) for s, e, c in edits))
    return Finding(_text(item["c"]), _text(item["n"]), _text(item["m"]), path,
                   _position(item["s"]), _position(item["e"]), fix, _text(item["v"]))
