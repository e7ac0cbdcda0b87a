"""Client summaries to JSON and back, for the cache: plain data, never code (no pickle), and a
cached entry of the wrong shape is a miss, never a crash."""

from __future__ import annotations

import dataclasses
from typing import Any, Dict

from redislint.semantic.clients import terms
from redislint.semantic.clients.records import ClassInfo, FunctionInfo
from redislint.semantic.clients.objects import RedisObject
from redislint.semantic.clients.records import ClientSummary

_CLASSES = {cls.__name__: cls for cls in (
    terms.Q, terms.Func, terms.Cls, terms.Obj, terms.Super, terms.Box, terms.Tup, terms.Method,
    terms.Thunk, terms.Manager, terms.Known, terms.Ref, terms.Name, terms.Attr, terms.Opts,
    terms.Call, terms.Either, terms.Fallback, terms.Instance, terms.Iter, terms.Item,
    terms.Index, terms.Enter, terms.Pack, terms.Tuple_, RedisObject, FunctionInfo, ClassInfo,
    ClientSummary)}
_FIELDS = {name: tuple(f.name for f in dataclasses.fields(cls) if f.name != "origin")
           for name, cls in _CLASSES.items()}


class CodecError(ValueError):
    pass


def encode(value: Any) -> Any:
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if value is terms.OTHER:
        return ["O"]
    if isinstance(value, tuple):
        return ["T", *map(encode, value)]
    if isinstance(value, frozenset):
        return ["F", *sorted((encode(v) for v in value), key=repr)]
    if isinstance(value, dict):
        return ["D", *([encode(k), encode(v)] for k, v in sorted(value.items(), key=repr))]
    name = type(value).__name__
    if name in _FIELDS:
        return ["C", name, *(encode(getattr(value, f)) for f in _FIELDS[name])]
    raise CodecError(f"cannot encode {name}")


def decode(data: Any) -> Any:
    if data is None or isinstance(data, (str, bool, int, float)):
        return data
    if not isinstance(data, list) or not data or not isinstance(data[0], str):
        raise CodecError("not an encoded value")
    tag = data[0]
    if tag == "O":
        return terms.OTHER
    if tag == "T":
        return tuple(map(decode, data[1:]))
    if tag == "F":
        return frozenset(map(decode, data[1:]))
    if tag == "D":
        out: Dict[Any, Any] = {}
        for pair in data[1:]:
            if not isinstance(pair, list) or len(pair) != 2:
                raise CodecError("not an encoded mapping")
            out[decode(pair[0])] = decode(pair[1])
        return out
    if tag == "C" and len(data) >= 2 and data[1] in _FIELDS:
        fields = _FIELDS[data[1]]
        if len(data) != len(fields) + 2:
            raise CodecError("wrong number of fields")
        try:
            return _CLASSES[data[1]](**{f: decode(v) for f, v in zip(fields, data[2:])})
        except TypeError as error:
            raise CodecError(str(error)) from None
    raise CodecError(f"unknown tag {tag!r}")
