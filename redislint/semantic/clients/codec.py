"""Client summaries and solutions to bytes and back, for the cache.

Pickle is fast (summaries of a large project load in milliseconds) but loading a pickle can run
code; a cache folder is not a place to trust. So loading admits only the classes of this package
and a few builtins (`find_class` refuses everything else): a tampered or foreign entry is a miss,
never code run, and never a crash.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

_ALLOWED = {
    ("builtins", "frozenset"), ("builtins", "set"), ("builtins", "tuple"), ("builtins", "dict"),
    ("builtins", "list"), ("builtins", "object"), ("copyreg", "_reconstructor"),
}
_MODULES = ("redislint.semantic.clients.", "redislint.project")


class CodecError(ValueError):
    pass


class _Restricted(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED or (module.startswith(_MODULES) and not name.startswith("_")
                                          or (module, name) == (
                                              "redislint.semantic.clients.terms", "_Other")):
            return super().find_class(module, name)
        raise CodecError(f"{module}.{name} is not allowed in a cache entry")

    def persistent_load(self, pid: Any) -> Any:
        raise CodecError("no persistent ids in a cache entry")


def dumps(value: Any) -> bytes:
    return pickle.dumps(value, protocol=4)


def loads(data: bytes) -> Any:
    try:
        return _Restricted(io.BytesIO(data)).load()
    except CodecError:
        raise
    except Exception as error:  # a truncated or corrupt entry
        raise CodecError(str(error)) from None
