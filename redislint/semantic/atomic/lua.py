"""A small, forgiving scanner of Redis Lua scripts (no Lua dependency).

`key_accesses(script)` finds every `redis.call(...)` / `redis.pcall(...)` (and Valkey's
`server.call`) whose command is a literal, and classifies each argument in a key position
(`redislint/semantic/keys/keyspecs.py`):

- `declared`: `KEYS[i]`, or a local bound only to one;
- `literal`: a string literal (`'config:limits'`);
- `argv`: a key name passed as an argument (`ARGV[1]`, or a local bound to one);
- `built`: a name the script builds (`'rate:' .. ARGV[1]`, `KEYS[1] .. ':count'`,
  `string.format('job:%s', id)`);
- `unknown`: anything else (a loop variable, a function parameter, a value read from Redis
  that is not concatenated, `unpack(KEYS)`): never reported.

`owner_checks(script)` finds the compare-and-delete of a lock release: a `GET KEYS[i]`
compared (`==` / `~=`) with `ARGV[j]` or a literal, in a script that DELs `KEYS[i]`.

Locals are followed flow-insensitively: a name bound twice to different kinds is unknown.
Comments, long strings (`[[...]]`, `[==[...]==]`) and escapes are understood; a script that
does not tokenize is scanned as far as it goes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from redislint.semantic.keys.keyspecs import FIRST, FIRST_TWO, ALL, PAIRS, SECOND, key_positions

UNDECLARED = ("literal", "argv", "built")


@dataclass(frozen=True)
class Token:
    kind: str  # name, string, number, op
    value: str
    line: int
    start: int
    end: int


@dataclass(frozen=True)
class KeyAccess:
    command: str  # upper case
    kind: str  # declared / literal / argv / built / unknown
    text: str  # the argument's source text
    line: int  # 1-based line in the script


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"0[xX][0-9a-fA-F.]+(?:[pP][+-]?\d+)?|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_LONG_OPEN = re.compile(r"\[(=*)\[")
_OPS = ("...", "..", "==", "~=", "<=", ">=", "//", "::", "<<", ">>")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v",
            "\\": "\\", '"': '"', "'": "'", "\n": "\n"}
_BINARY = frozenset({"..", "+", "-", "*", "/", "%", "^", "==", "~=", "<", ">", "<=", ">=",
                     "and", "or", "//", "&", "|", "~", "<<", ">>"})
_KEYWORDS = frozenset({"and", "break", "do", "else", "elseif", "end", "false", "for", "function",
                       "goto", "if", "in", "local", "nil", "not", "or", "repeat", "return",
                       "then", "true", "until", "while"})
_CALLERS = frozenset({"redis", "server"})


def tokenize(text: str) -> List[Token]:
    tokens: List[Token] = []
    pos, line, size = 0, 1, len(text)
    while pos < size:
        char = text[pos]
        if char == "\n":
            line += 1
            pos += 1
            continue
        if char.isspace():
            pos += 1
            continue
        if text.startswith("--", pos):
            long = _LONG_OPEN.match(text, pos + 2)
            if long:
                close = text.find("]" + long.group(1) + "]", long.end())
                end = size if close < 0 else close + len(long.group(1)) + 2
            else:
                newline = text.find("\n", pos)
                end = size if newline < 0 else newline
            line += text.count("\n", pos, end)
            pos = end
            continue
        long = _LONG_OPEN.match(text, pos) if char == "[" else None
        if long:
            close = text.find("]" + long.group(1) + "]", long.end())
            end = size if close < 0 else close + len(long.group(1)) + 2
            body = text[long.end():close if close >= 0 else size]
            if body.startswith("\r\n"):
                body = body[2:]
            elif body.startswith("\n"):
                body = body[1:]
            tokens.append(Token("string", body, line, pos, end))
            line += text.count("\n", pos, end)
            pos = end
            continue
        if char in "'\"":
            value, end = _short_string(text, pos)
            tokens.append(Token("string", value, line, pos, end))
            line += text.count("\n", pos, end)
            pos = end
            continue
        match = _NAME.match(text, pos)
        if match:
            tokens.append(Token("name", match.group(), line, pos, match.end()))
            pos = match.end()
            continue
        match = _NUMBER.match(text, pos)
        if match and match.group():
            tokens.append(Token("number", match.group(), line, pos, match.end()))
            pos = match.end()
            continue
        op = next((o for o in _OPS if text.startswith(o, pos)), char)
        tokens.append(Token("op", op, line, pos, pos + len(op)))
        pos += len(op)
    return tokens


def _short_string(text: str, pos: int) -> Tuple[str, int]:
    quote = text[pos]
    out: List[str] = []
    index = pos + 1
    size = len(text)
    while index < size:
        char = text[index]
        if char == quote:
            return "".join(out), index + 1
        if char == "\n":  # unfinished string: stop at the line end
            return "".join(out), index
        if char == "\\" and index + 1 < size:
            nxt = text[index + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                index += 2
            elif nxt == "z":
                index += 2
                while index < size and text[index].isspace():
                    index += 1
            elif nxt == "x":
                out.append(chr(int(text[index + 2:index + 4], 16)) if re.fullmatch(
                    r"[0-9a-fA-F]{2}", text[index + 2:index + 4]) else "")
                index += 4
            elif nxt.isdigit():
                digits = re.match(r"\d{1,3}", text[index + 1:]).group()  # type: ignore[union-attr]
                out.append(chr(min(int(digits), 255)))
                index += 1 + len(digits)
            else:
                out.append(nxt)
                index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out), size


# -- expressions --------------------------------------------------------------------------------
def _expression_end(tokens: Sequence[Token], start: int) -> int:
    """Index just past the expression starting at `start` (a forgiving Lua expression skipper)."""
    index = start
    size = len(tokens)
    expect_operand = True
    while index < size:
        token = tokens[index]
        value = token.value
        if expect_operand:
            if token.kind == "op" and value in ("-", "#", "~") or value == "not":
                index += 1
                continue
            if token.kind == "op" and value in ("(", "{"):
                index = _matching(tokens, index) + 1
            elif token.kind in ("string", "number") or value in ("nil", "true", "false", "..."):
                index += 1
            elif token.kind == "name" and value not in _KEYWORDS:
                index += 1
            else:
                return index
            expect_operand = False
            continue
        if token.kind == "op" and value in ("(", "["):
            index = _matching(tokens, index) + 1
        elif token.kind == "op" and value in (".", ":") and index + 1 < size:
            index += 2
        elif token.kind == "string" or (token.kind == "op" and value == "{"):
            index = _matching(tokens, index) + 1 if value == "{" and token.kind == "op" else index + 1
        elif value in _BINARY and (token.kind == "op" or value in ("and", "or")):
            index += 1
            expect_operand = True
        else:
            return index
    return index


_PAIRS_OF = {"(": ")", "[": "]", "{": "}"}


def _matching(tokens: Sequence[Token], index: int) -> int:
    opener = tokens[index].value
    closer = _PAIRS_OF[opener]
    depth = 0
    for position in range(index, len(tokens)):
        token = tokens[position]
        if token.kind != "op":
            continue
        if token.value in _PAIRS_OF:
            depth += 1
        elif token.value in (")", "]", "}"):
            depth -= 1
            if depth == 0:
                return position
    return len(tokens) - 1


def _split(tokens: Sequence[Token], separator: str) -> List[Sequence[Token]]:
    """Top-level pieces of a token span separated by `separator` (`,` or `..`)."""
    pieces: List[Sequence[Token]] = []
    depth = 0
    start = 0
    for index, token in enumerate(tokens):
        if token.kind == "op" and token.value in _PAIRS_OF:
            depth += 1
        elif token.kind == "op" and token.value in (")", "]", "}"):
            depth -= 1
        elif depth == 0 and token.kind == "op" and token.value == separator:
            pieces.append(tokens[start:index])
            start = index + 1
    pieces.append(tokens[start:])
    return pieces


class _Script:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.kinds: Dict[str, List[str]] = {}
        self._bind()

    def source(self, span: Sequence[Token]) -> str:
        if not span:
            return ""
        return " ".join(self.text[span[0].start:span[-1].end].split())

    # -- bindings -------------------------------------------------------------------------
    def _bind(self) -> None:
        tokens = self.tokens
        size = len(tokens)
        index = 0
        while index < size:
            token = tokens[index]
            if token.kind == "name" and token.value == "function":
                end = index + 1
                while end < size and not (tokens[end].kind == "op" and tokens[end].value == "("):
                    end += 1
                close = _matching(tokens, end) if end < size else size
                for param in tokens[end + 1:close]:
                    if param.kind == "name":
                        self._note(param.value, "unknown")
                index = close + 1
                continue
            if token.kind == "name" and token.value == "for":
                end = index + 1
                while end < size and tokens[end].value not in ("=", "in", "do"):
                    if tokens[end].kind == "name":
                        self._note(tokens[end].value, "unknown")
                    end += 1
                index = end
                continue
            names, after = self._targets(index)
            if names:
                values = []
                position = after
                while True:
                    end = _expression_end(tokens, position)
                    values.append(tokens[position:end])
                    if end < size and tokens[end].kind == "op" and tokens[end].value == ",":
                        position = end + 1
                        continue
                    break
                for offset, name in enumerate(names):
                    if offset < len(values) and (offset < len(values) - 1 or len(names) == len(values)):
                        self._note(name, self._classify_now(values[offset]))
                    else:
                        self._note(name, "unknown")
                index = max(after, end)
                continue
            index += 1

    def _targets(self, index: int) -> Tuple[List[str], int]:
        """`local a, b =` / `a =` at `index`: the names and the index after `=`."""
        tokens = self.tokens
        local = tokens[index].kind == "name" and tokens[index].value == "local"
        position = index + 1 if local else index
        if not local and index > 0 and tokens[index - 1].kind == "op" and \
                tokens[index - 1].value in (".", ":", "[", ",", "{"):
            return [], index
        names: List[str] = []
        while position < len(tokens) and tokens[position].kind == "name" and \
                tokens[position].value not in _KEYWORDS:
            names.append(tokens[position].value)
            position += 1
            if position < len(tokens) and tokens[position].kind == "op" and tokens[position].value == "<":
                position += 3  # `local x <const> = ...`
            if position < len(tokens) and tokens[position].kind == "op" and tokens[position].value == ",":
                position += 1
                continue
            break
        if names and position < len(tokens) and tokens[position].kind == "op" and \
                tokens[position].value == "=":
            return names, position + 1
        if local:
            for name in names:
                self._note(name, "unknown")
        return [], index

    def _note(self, name: str, kind: str) -> None:
        self.kinds.setdefault(name, []).append(kind)

    def _name_kind(self, name: str) -> str:
        kinds = self.kinds.get(name)
        if not kinds or len(set(kinds)) != 1:
            return "unknown"
        return kinds[0]

    # -- classification -------------------------------------------------------------------
    def _classify_now(self, span: Sequence[Token]) -> str:
        """A binding's kind, judged when it is made (names it uses are looked up lazily)."""
        return "=" + self.source(span) if span else "unknown"

    def classify(self, span: Sequence[Token], depth: int = 0) -> str:
        span = _strip_parens(span)
        if not span or depth > 8:
            return "unknown"
        pieces = _split(span, "..")
        if len(pieces) > 1:
            kinds = [self.classify(piece, depth + 1) for piece in pieces]
            if any(kind in ("declared", "literal", "argv", "built", "number") for kind in kinds):
                return "built"
            return "unknown"
        first = span[0]
        if len(span) == 1:
            if first.kind == "string":
                return "literal"
            if first.kind == "number":
                return "number"
            if first.kind == "name" and first.value not in _KEYWORDS:
                return self._resolve(first.value, depth)
            return "unknown"
        if first.kind == "name" and first.value in ("KEYS", "ARGV") and \
                span[1].kind == "op" and span[1].value == "[" and _matching(span, 1) == len(span) - 1:
            return "declared" if first.value == "KEYS" else "argv"
        if first.kind == "name" and first.value == "tostring" and len(span) > 2 and \
                span[1].value == "(" and _matching(span, 1) == len(span) - 1:
            return self.classify(span[2:-1], depth + 1)
        if len(span) > 4 and first.value == "string" and span[1].value == "." and \
                span[2].value == "format" and span[3].value == "(" and span[4].kind == "string":
            return "built"
        return "unknown"

    def _resolve(self, name: str, depth: int) -> str:
        kind = self._name_kind(name)
        if kind.startswith("="):
            value = kind[1:]
            inner = _Script.__new__(_Script)
            inner.text = value
            inner.tokens = tokenize(value)
            inner.kinds = self.kinds
            return inner.classify(inner.tokens, depth + 1)
        return kind

    # -- calls ----------------------------------------------------------------------------
    def accesses(self) -> List[KeyAccess]:
        found: List[KeyAccess] = []
        tokens = self.tokens
        for index in range(len(tokens) - 3):
            head, dot, method, paren = tokens[index:index + 4]
            if not (head.kind == "name" and head.value in _CALLERS and dot.value == "."
                    and method.value in ("call", "pcall") and paren.value == "("):
                continue
            if index > 0 and tokens[index - 1].value in (".", ":"):
                continue
            close = _matching(tokens, index + 3)
            args = [a for a in _split(tokens[index + 4:close], ",")]
            if not args or not args[0]:
                continue
            command = _strip_parens(args[0])
            if len(command) != 1 or command[0].kind != "string":
                continue
            name = command[0].value.strip().upper()
            rest = [_strip_parens(a) for a in args[1:]]
            found.extend(self._keys(name, rest))
        return found

    def _keys(self, command: str, args: List[Sequence[Token]]) -> List[KeyAccess]:
        def literal(i: int) -> Optional[str]:
            if i < len(args) and len(args[i]) == 1 and args[i][0].kind in ("string", "number"):
                return args[i][0].value
            return None

        spread = next((i for i, a in enumerate(args) if _is_spread(a)), None)
        if spread is None:
            positions = key_positions(command, len(args), literal)
        elif command in FIRST or command in SECOND or command in FIRST_TWO or command in ALL \
                or command in PAIRS:
            positions = key_positions(command, spread, literal)
        else:
            positions = None
        if not positions:
            return []
        out = []
        for position in positions:
            span = args[position]
            out.append(KeyAccess(command, self.classify(span), self._describe(span),
                                 span[0].line if span else 0))
        return out

    def _describe(self, span: Sequence[Token]) -> str:
        """The argument's text; for a local, also what it was bound to (`key = 'p:' .. id`)."""
        text = self.source(span)
        if len(span) == 1 and span[0].kind == "name":
            kind = self._name_kind(span[0].value)
            if kind.startswith("="):
                return f"{text} = {kind[1:]}"
        return text


def _strip_parens(span: Sequence[Token]) -> Sequence[Token]:
    while len(span) >= 2 and span[0].kind == "op" and span[0].value == "(" and \
            _matching(span, 0) == len(span) - 1:
        span = span[1:-1]
    return span


def _is_spread(span: Sequence[Token]) -> bool:
    """`unpack(...)`, `table.unpack(...)`, `...`: any number of arguments."""
    values = [t.value for t in span]
    return values == ["..."] or values[:2] == ["unpack", "("] or values[:4] == [
        "table", ".", "unpack", "("]


def key_accesses(script: str) -> List[KeyAccess]:
    """Every key argument of the script's `redis.call`/`redis.pcall` with a literal command."""
    return _Script(script).accesses()


def undeclared_keys(script: str) -> List[KeyAccess]:
    """The key arguments the script did not receive through KEYS (literal, ARGV, built)."""
    return [access for access in key_accesses(script) if access.kind in UNDECLARED]


# -- compare-and-delete -------------------------------------------------------------------------
@dataclass(frozen=True)
class OwnerCheck:
    """A script that deletes `KEYS[key]` and compares its value (`GET KEYS[key]`) with a token:
    `ARGV[n]` (`token` is `n`, `argv` True) or a literal (`token` is its text)."""

    key: int
    token: str
    argv: bool


_DELETING = frozenset({"DEL", "UNLINK"})


def _operand_after(tokens: Sequence[Token], index: int) -> Sequence[Token]:
    """The primary expression starting at `index`: a literal, `ARGV[1]`, a name, a call
    (`redis.call(...)`, `tostring(x)`), in parentheses or not."""
    size = len(tokens)
    if index >= size:
        return ()
    token = tokens[index]
    if token.kind in ("string", "number"):
        return tokens[index:index + 1]
    if token.kind == "op" and token.value == "(":
        return tokens[index:_matching(tokens, index) + 1]
    if token.kind != "name" or token.value in _KEYWORDS:
        return ()
    end = index + 1
    while end < size and tokens[end].kind == "op":
        value = tokens[end].value
        if value in ("[", "(") :
            end = _matching(tokens, end) + 1
        elif value in (".", ":") and end + 1 < size and tokens[end + 1].kind == "name":
            end += 2
        else:
            break
    return tokens[index:end]


def _operand_before(tokens: Sequence[Token], index: int) -> Sequence[Token]:
    """The primary expression ending just before `index` (the mirror of `_operand_after`)."""
    end = index
    start = index - 1
    if start < 0:
        return ()
    while start >= 0:
        token = tokens[start]
        if token.kind == "op" and token.value in (")", "]"):
            opener = "(" if token.value == ")" else "["
            depth = 0
            while start >= 0:
                value = tokens[start].value if tokens[start].kind == "op" else None
                if value in (")", "]"):
                    depth += 1
                elif value in ("(", "["):
                    depth -= 1
                    if depth == 0:
                        break
                start -= 1
            if start < 0 or tokens[start].value != opener:
                return ()
            start -= 1
            continue
        if token.kind in ("string", "number") and start == end - 1:
            return tokens[start:end]
        if token.kind == "name" and token.value not in _KEYWORDS:
            if start > 0 and tokens[start - 1].kind == "op" and tokens[start - 1].value in (".", ":"):
                start -= 2
                continue
            return tokens[start:end]
        break
    return tokens[start + 1:end]


class _Checks(_Script):
    def operand(self, span: Sequence[Token], depth: int = 0) -> Optional[Tuple[str, str]]:
        """("get", n) for `redis.call('GET', KEYS[n])`, ("argv", n) for `ARGV[n]`,
        ("literal", text) for a literal; names bound once are followed."""
        span = _strip_parens(span)
        if not span or depth > 4:
            return None
        values = [t.value for t in span]
        if len(span) == 1:
            token = span[0]
            if token.kind in ("string", "number"):
                return ("literal", token.value)
            if token.kind == "name":
                kind = self._name_kind(token.value)
                if kind.startswith("="):
                    return self.operand(tokenize(kind[1:]), depth + 1)
            return None
        if values[0] == "tostring" and len(span) > 2 and values[1] == "(":
            return self.operand(span[2:-1], depth + 1)
        if len(span) == 4 and values[0] in ("ARGV", "KEYS") and values[1] == "[" and \
                span[2].kind == "number" and values[3] == "]":
            return ("argv" if values[0] == "ARGV" else "key", span[2].value)
        if len(span) > 4 and values[0] in _CALLERS and values[1] == "." and \
                values[2] in ("call", "pcall") and values[3] == "(":
            args = _split(span[4:-1], ",")
            command = _strip_parens(args[0]) if args else ()
            if len(args) == 2 and len(command) == 1 and command[0].kind == "string" and \
                    command[0].value.strip().upper() == "GET":
                key = self.operand(args[1], depth + 1)
                if key is not None and key[0] == "key":
                    return ("get", key[1])
        return None

    def deleted_keys(self) -> List[str]:
        out = []
        tokens = self.tokens
        for index in range(len(tokens) - 3):
            head, dot, method, paren = tokens[index:index + 4]
            if head.kind == "name" and head.value in _CALLERS and dot.value == "." and \
                    method.value in ("call", "pcall") and paren.value == "(":
                span = _operand_after(tokens, index)
                args = _split(span[4:-1], ",")
                command = _strip_parens(args[0]) if args else ()
                if len(command) == 1 and command[0].kind == "string" and \
                        command[0].value.strip().upper() in _DELETING:
                    for arg in args[1:]:
                        key = self.operand(arg)
                        if key is not None and key[0] == "key":
                            out.append(key[1])
        return out

    def owner_checks(self) -> List[OwnerCheck]:
        deleted = set(self.deleted_keys())
        if not deleted:
            return []
        found = []
        tokens = self.tokens
        for index, token in enumerate(tokens):
            if token.kind != "op" or token.value not in ("==", "~="):
                continue
            left = self.operand(_operand_before(tokens, index))
            right = self.operand(_operand_after(tokens, index + 1))
            if left is None or right is None:
                continue
            if right[0] == "get":
                left, right = right, left
            if left[0] == "get" and left[1] in deleted and right[0] in ("argv", "literal"):
                found.append(OwnerCheck(int(float(left[1])), right[1], right[0] == "argv"))
        return found


def owner_checks(script: str) -> List[OwnerCheck]:
    """The compare-and-delete checks of a script: `if redis.call('get', KEYS[1]) == ARGV[1]
    then return redis.call('del', KEYS[1]) end` gives `OwnerCheck(1, "1", argv=True)`."""
    return _Checks(script).owner_checks()
