"""Building replacement nodes for fixes, so rules describe the change, not libcst plumbing.

A fix maps original nodes to new ones. To merge two statements into one, replace an
expression inside the first (the call) and remove the second with `remove_statements`:
each edit stays small, so fixes elsewhere in the same block still apply in the same pass.
"""

from __future__ import annotations

from collections import OrderedDict

from typing import Callable, Dict, Optional, Sequence, Tuple

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


# -- statements ----------------------------------------------------------------------------
Statement = cst.BaseStatement


def statement_block(ancestors: Sequence[cst.CSTNode], statement: cst.CSTNode
                    ) -> Optional[Tuple[Sequence[cst.CSTNode], int]]:
    """The body (of a block or the module) that holds `statement`, and its index there."""
    for index in range(len(ancestors) - 1, 0, -1):
        if ancestors[index] is statement:
            holder = ancestors[index - 1]
            if isinstance(holder, (cst.IndentedBlock, cst.Module)):
                body = holder.body
                position = _positions(body).get(id(statement))
                return (body, position) if position is not None else None
            return None
    return None


# The positions of the statements of the last few blocks asked about (fixes of one block come
# together: a module of 8,000 statements would otherwise be scanned once per fix). Each entry
# holds its block, so an id is never reused while it is here.
_BLOCKS: "OrderedDict[int, Tuple[Sequence[cst.CSTNode], Dict[int, int]]]" = OrderedDict()


def _positions(body: Sequence[cst.CSTNode]) -> Dict[int, int]:
    known = _BLOCKS.get(id(body))
    if known is not None and known[0] is body:
        _BLOCKS.move_to_end(id(body))
        return known[1]
    positions = {id(s): i for i, s in enumerate(body)}
    _BLOCKS[id(body)] = (body, positions)
    if len(_BLOCKS) > 8:
        _BLOCKS.popitem(last=False)
    return positions


def next_statement(ancestors: Sequence[cst.CSTNode], statement: cst.CSTNode
                   ) -> Optional[cst.CSTNode]:
    """The statement right after `statement` in the same block, if any."""
    found = statement_block(ancestors, statement)
    if found is None:
        return None
    body, index = found
    return body[index + 1] if index + 1 < len(body) else None


def expression_statement(statement: Optional[cst.CSTNode]) -> Optional[cst.BaseExpression]:
    """`expr` for a statement line that is exactly one expression (`r.expire(k, 5)`,
    `await r.expire(k, 5)`), else None."""
    if isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1 and \
            isinstance(statement.body[0], cst.Expr):
        return statement.body[0].value
    return None


def has_comments(node: cst.CSTNode) -> bool:
    """The node's source carries a comment (which removing or rebuilding it would lose)."""
    found = []

    class _Find(cst.CSTVisitor):
        def visit_Comment(self, comment: cst.Comment) -> None:
            found.append(comment)

    node.visit(_Find())
    return bool(found)


def remove_statements(*statements: cst.CSTNode) -> Optional[Dict[cst.CSTNode, object]]:
    """Replacements that delete whole statements (with the blank lines above them), or None
    when one carries a comment: a fix never drops a comment silently. The caller keeps at
    least one statement in the block."""
    if any(has_comments(statement) for statement in statements):
        return None
    return {statement: cst.RemovalSentinel.REMOVE for statement in statements}



# -- arguments -----------------------------------------------------------------------------
def bind_arguments(call: cst.Call, params: Sequence[str], required: int = 0
                   ) -> Optional[Dict[str, cst.Arg]]:
    """Each argument of `call` under its parameter name, for a method whose signature is
    `params` (after `self`); None when the mapping is not exact: `*args`/`**kwargs`, too many
    positionals, an unknown or repeated keyword, or fewer than `required` leading params."""
    bound: Dict[str, cst.Arg] = {}
    position = 0
    for arg in call.args:
        if arg.star:
            return None
        if arg.keyword is None:
            if position >= len(params):
                return None
            bound[params[position]] = arg
            position += 1
            continue
        name = arg.keyword.value
        if name not in params or name in bound:
            return None
        bound[name] = arg
    if any(name not in bound for name in params[:required]):
        return None
    return bound


def positional(value: cst.BaseExpression) -> cst.Arg:
    return cst.Arg(value=value)


def keeps_evaluation_order(call: cst.Call, new_args: Sequence[cst.Arg],
                           pure: Callable[[cst.CSTNode], bool]) -> bool:
    """Rebuilding `call` with `new_args` (made from its argument values) evaluates them in the
    same order, or reorders only expressions without side effects."""
    order = {id(arg.value): index for index, arg in enumerate(call.args)}
    moved = [arg.value for arg in new_args if id(arg.value) in order]
    if [order[id(v)] for v in moved] == sorted(order[id(v)] for v in moved):
        return True
    return sum(1 for value in moved if not pure(value)) <= 1


def literal_number(value: float) -> cst.BaseExpression:
    """`30` for 30.0, `0.5` for 0.5: a configured number, spelt as a user would."""
    if float(value).is_integer():
        return cst.Integer(str(int(value)))
    return cst.Float(repr(float(value)))
