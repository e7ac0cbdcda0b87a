"""The files of a run, as bytes, before anything parses them."""

from __future__ import annotations

import errno
import io
import stat
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence, Tuple

from redislint.findings import Finding, io_error
from redislint.project import module_name


@dataclass
class Source:
    index: int
    path: str
    data: bytes
    module: str
    is_package: bool
    # False for a file read only for the project's facts (not named, so not linted).
    lint: bool = True


def decode(data: bytes) -> str:
    """Source text as Python itself would decode it (BOM, coding cookie, else UTF-8)."""
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    text = data.decode(encoding)
    return text[1:] if text.startswith("\ufeff") else text


def read_sources(paths: Sequence[Path], first: int = 0, lint: bool = True
                 ) -> Tuple[List[Source], List[Finding]]:
    """The files' bytes, and an RL001 finding for each file that cannot be read; indexes
    count from `first`."""
    sources: List[Source] = []
    errors: List[Finding] = []
    for path in paths:
        try:
            if not stat.S_ISREG(path.stat().st_mode):  # a FIFO would block the run forever
                raise OSError(errno.EINVAL, "not a regular file (a FIFO, socket or device)")
            data = path.read_bytes()
        except OSError as error:
            errors.append(io_error(str(path), error))
            continue
        try:
            name, is_package = module_name(path.absolute())
        except OSError:
            name, is_package = path.stem, False
        sources.append(Source(first + len(sources), str(path), data, name, is_package, lint))
    return sources, errors
