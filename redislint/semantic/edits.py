"""Building replacement nodes for fixes, so rules describe the change, not libcst plumbing."""

from __future__ import annotations

from typing import Optional, Sequence

import libcst as cst

_NO_SPACE = cst.SimpleWhitespace("")


def keyword(name: str, value: cst.BaseExpression) -> cst.Arg:
    """`name=value`, spelt as Black would (no spaces around `=`)."""
    return cst.Arg(value=value, keyword=cst.Name(name),
                   equal=cst.AssignEqual(whitespace_before=_NO_SPACE, whitespace_after=_NO_SPACE))


def with_args(args: Sequence[cst.Arg]) -> list:
    """Arguments with commas between them and none after the last."""
    out = []
    for index, arg in enumerate(args):
        last = index == len(args) - 1
        comma = cst.MaybeSentinel.DEFAULT if last else (
            arg.comma if isinstance(arg.comma, cst.Comma) else cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
        out.append(arg.with_changes(comma=comma))
    return out


def renamed_call(call: cst.Call, method: str, args: Optional[Sequence[cst.Arg]] = None) -> cst.Call:
    """`recv.old(...)` -> `recv.method(args)` keeping the receiver and its formatting."""
    func = call.func
    assert isinstance(func, cst.Attribute)
    changes = {"func": func.with_changes(attr=cst.Name(method))}
    if args is not None:
        changes["args"] = with_args(list(args))
    return call.with_changes(**changes)


def add_keywords(call: cst.Call, *pairs: cst.Arg) -> cst.Call:
    """The call with keyword arguments appended (before a `**kwargs`, which must stay last)."""
    args = list(call.args)
    insert_at = len(args)
    while insert_at and args[insert_at - 1].star == "**":
        insert_at -= 1
    args[insert_at:insert_at] = list(pairs)
    return call.with_changes(args=with_args(args))
