"""A tokenizer and recursive-descent parser for the R that model scripts are written in: pipes
(``%>%``, ``|>``, ``%<>%``), assignments, calls with named arguments, ``{ }`` blocks, ``if``/
``else``, ``for``, ``function``, comments and continuation lines. The result is a tree of tuples
``(kind, ..., line)`` that :mod:`cnnspec.interop.import_r` interprets. Pure Python."""
from __future__ import annotations

import re
from dataclasses import dataclass

from cnnspec.errors import SpecError

#: Deepest nesting of parentheses, blocks and calls read (real scripts stay far below).
MAX_DEPTH = 100

_R_TOKEN = re.compile(r"""
    (?P<ws>[ \t\r\f]+) | (?P<comment>\#[^\n]*) | (?P<nl>\n)
  | (?P<num>(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)L?)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<id>[A-Za-z.][A-Za-z0-9._]*|`[^`]+`)
  | (?P<op>%[^%\n]*%|\|>|<<-|<-|->>|->|::|==|!=|<=|>=|&&|\|\||\[\[|\\|[-+*/^$@~!<>&|;:,=()\[\]{}?])
""", re.VERBOSE)

_BINARY = {"||": 1, "|": 1, "&&": 2, "&": 2, "==": 4, "!=": 4, "<": 4, ">": 4, "<=": 4, ">=": 4,
           "+": 5, "-": 5, "*": 6, "/": 6, "|>": 7, ":": 8, "^": 10}
_CONSTS = {"TRUE": True, "FALSE": False, "T": True, "F": False, "NULL": None, "NA": None,
           "NA_integer_": None, "NA_real_": None, "Inf": float("inf")}


@dataclass
class Tok:
    """One R token with its line."""

    kind: str
    value: str
    line: int


def tokenize(text: str, file: str) -> list[Tok]:
    """R tokens; newlines inside ``( )`` and ``[ ]`` are dropped (they continue the statement)."""
    toks: list[Tok] = []
    pos, line = 0, 1
    depth: list[str] = []
    closing = {")": "(", "]": "[", "}": "{"}
    while pos < len(text):
        m = _R_TOKEN.match(text, pos)
        if not m:
            raise SpecError(f"R syntax error: unexpected character {text[pos]!r}", file=file, line=line)
        kind, val = m.lastgroup, m.group()
        if kind == "nl":
            if not depth or depth[-1] == "{":
                toks.append(Tok("nl", val, line))
            line += 1
        elif kind == "str":
            toks.append(Tok("str", val, line))
            line += val.count("\n")
        elif kind in ("num", "id", "op"):
            toks.append(Tok(kind, val, line))
            if val in ("(", "[", "{"):
                depth.append(val)
            elif val == "[[":
                depth += ["[", "["]
            elif val in closing:
                if not depth or depth[-1] != closing[val]:
                    raise SpecError(f"R syntax error: unmatched '{val}'", file=file, line=line)
                depth.pop()
            if len(depth) > MAX_DEPTH:
                raise SpecError(f"nesting deeper than {MAX_DEPTH} levels: cnnspec import reads model code, "
                                "not generated data", file=file, line=line)
        pos = m.end()
    if depth:
        raise SpecError(f"R syntax error: unclosed '{depth[-1]}' at the end of the file", file=file, line=line)
    toks.append(Tok("eof", "", line))
    return toks


class RParser:
    """``RParser(text, file).program()`` -> a list of statement trees."""

    def __init__(self, text: str, file: str) -> None:
        self.file = file
        self.toks = tokenize(text, file)
        self.i = 0
        self.depth = 0

    def peek(self) -> Tok:
        """The next token."""
        return self.toks[self.i]

    def next(self) -> Tok:
        """Consume the next token."""
        t = self.toks[self.i]
        self.i += 1
        return t

    def err(self, msg: str, tok: Tok | None = None) -> SpecError:
        """A syntax error at a token's line."""
        return SpecError(msg, file=self.file, line=(tok or self.peek()).line)

    def expect(self, value: str) -> Tok:
        """Consume a given token or fail."""
        t = self.next()
        if t.value != value:
            got = "end of line" if t.kind == "nl" else ("end of file" if t.kind == "eof" else f"'{t.value}'")
            raise self.err(f"R syntax error: expected '{value}', got {got}", t)
        return t

    def skip_nl(self) -> None:
        """Skip newlines (inside an open expression)."""
        while self.peek().kind == "nl":
            self.i += 1

    def program(self, close: str = "") -> list:
        """Statements up to the end of the file (or the ``}`` closing a block)."""
        stmts = []
        while True:
            while self.peek().kind == "nl" or self.peek().value == ";":
                self.i += 1
            t = self.peek()
            if t.kind == "eof" or (close and t.value == close):
                return stmts
            stmts.append(self.statement())
            t = self.peek()
            if t.kind not in ("nl", "eof") and t.value != ";" and not (close and t.value == close):
                raise self.err(f"R syntax error: unexpected '{t.value}'", t)

    def statement(self):
        """One statement: an expression or an assignment."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.err(f"nesting deeper than {MAX_DEPTH} levels: cnnspec import reads model code")
        try:
            t = self.peek()
            e = self.expr(0)
            op = self.peek()
            if op.value in ("<-", "<<-", "="):
                self.next()
                self.skip_nl()
                if e[0] not in ("id", "dollar", "index", "str"):
                    raise self.err("R syntax error: can only assign to a name", op)
                return ("assign", ("id", e[1], e[2]) if e[0] == "str" else e, self.statement(), t.line)
            if op.value in ("->", "->>"):
                self.next()
                return ("assign", self.expr(0), e, t.line)
            return e
        finally:
            self.depth -= 1

    def expr(self, min_prec: int):
        """A binary expression by precedence climbing."""
        left = self.unary()
        while True:
            t = self.peek()
            v = t.value
            if t.kind != "op":
                return left
            if v.startswith("%") and v.endswith("%") and len(v) >= 2:
                prec = 7
            elif v in _BINARY:
                prec = _BINARY[v]
            else:
                return left
            if prec < min_prec:
                return left
            self.next()
            self.skip_nl()  # a trailing operator continues the statement on the next line
            right = self.expr(prec + 1 if v != "^" else prec)
            left = ("bin", v, left, right, t.line)

    def unary(self):
        """A unary minus, not or formula, else a postfix expression."""
        t = self.peek()
        if t.value in ("-", "+"):
            self.next()
            e = self.expr(9)
            return ("neg", e, t.line) if t.value == "-" else e
        if t.value == "!":
            self.next()
            return ("not", self.expr(3), t.line)
        if t.value == "~":
            self.next()
            return ("opaque", "a formula", self.expr(3), t.line)
        return self.postfix(self.primary())

    def primary(self):
        """A literal, name, parenthesised expression, block or lambda."""
        t = self.next()
        if t.kind == "num":
            return ("num", _number(t.value), t.line)
        if t.kind == "str":
            return ("str", _string(t.value), t.line)
        if t.kind == "id":
            return self.identifier(t)
        if t.value == "(":
            self.skip_nl()
            e = self.statement()
            self.skip_nl()
            self.expect(")")
            return e
        if t.value == "{":
            body = self.program("}")
            self.expect("}")
            return ("block", body, t.line)
        if t.value == "\\":
            return self.function(t)
        if t.kind == "eof":
            raise self.err("R syntax error: unexpected end of file", t)
        if t.kind == "nl":
            raise self.err("R syntax error: unexpected end of line", t)
        raise self.err(f"R syntax error: unexpected '{t.value}'", t)

    def identifier(self, t: Tok):
        """A name, or the keyword construct it starts (if, for, function ...)."""
        name = t.value.strip("`")
        if name == "if":
            return self.if_(t)
        if name == "for":
            self.expect("(")
            var = self.next()
            if var.kind != "id" or self.next().value != "in":
                raise self.err("R syntax error: expected 'for (name in ...)'", var)
            seq = self.expr(0)
            self.expect(")")
            self.skip_nl()
            return ("for", var.value, seq, self.statement(), t.line)
        if name in ("while", "repeat"):
            if name == "while":
                self.expect("(")
                self.expr(0)
                self.expect(")")
            self.skip_nl()
            return ("loop", name, self.statement(), t.line)
        if name == "function":
            return self.function(t)
        if name in ("next", "break"):
            return ("opaque", f"'{name}'", ("const", None, t.line), t.line)
        if self.peek().value == "::":
            self.next()
            t2 = self.next()
            if t2.kind != "id":
                raise self.err("R syntax error: expected a name after '::'", t2)
            name = t2.value.strip("`")  # keras::layer_dense -> layer_dense
        if name == "NULL":
            return ("null", None, t.line)  # dropped by c(): c(NULL, 10) is 10
        if name in _CONSTS and not t.value.startswith("`"):
            return ("const", _CONSTS[name], t.line)
        return ("id", name, t.line)

    def if_(self, t: Tok):
        """``if (cond) then [else other]``."""
        self.expect("(")
        self.skip_nl()
        cond = self.statement()
        self.skip_nl()
        self.expect(")")
        self.skip_nl()
        then = self.statement()
        save = self.i
        self.skip_nl()
        if self.peek().value == "else":
            self.next()
            self.skip_nl()
            return ("if", cond, then, self.statement(), t.line)
        self.i = save
        return ("if", cond, then, None, t.line)

    def function(self, t: Tok):
        """``function(params) body``."""
        self.expect("(")
        params = []
        while self.peek().value != ")":
            p = self.next()
            if p.kind != "id" and p.value != "...":
                raise self.err("R syntax error: expected a parameter name", p)
            default = None
            if self.peek().value == "=":
                self.next()
                default = self.expr(0)
            params.append((p.value.strip("`"), default))
            if self.peek().value == ",":
                self.next()
        self.expect(")")
        self.skip_nl()
        return ("function", params, self.statement(), t.line)

    def postfix(self, e):
        """Calls, indexing and ``$`` access after a primary."""
        while True:
            t = self.peek()
            if t.value == "(":
                self.next()
                e = ("call", e, self.args(")"), t.line)
            elif t.value in ("[", "[["):
                self.next()
                args = self.args("]")
                if t.value == "[[":
                    self.expect("]")
                e = ("index", e, args, t.value, t.line)
            elif t.value in ("$", "@"):
                self.next()
                n = self.next()
                if n.kind not in ("id", "str"):
                    raise self.err(f"R syntax error: expected a name after '{t.value}'", n)
                e = ("dollar", e, n.value, t.line)
            else:
                return e

    def args(self, close: str) -> list:
        """Call arguments up to the closing token: (name, expression, line)."""
        out = []
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.err(f"nesting deeper than {MAX_DEPTH} levels: cnnspec import reads model code")
        try:
            if self.peek().value == close:
                self.next()
                return out
            while True:
                t = self.peek()
                if t.value in (",", close):  # an empty argument (x[, 1])
                    out.append((None, ("const", None, t.line), t.line))
                elif t.kind in ("id", "str") and self.toks[self.i + 1].value == "=":
                    self.i += 2
                    out.append((t.value.strip("`\"'"), self.expr(0), t.line))
                else:
                    out.append((None, self.expr(0), t.line))
                t = self.next()
                if t.value == close:
                    return out
                if t.value != ",":
                    raise self.err(f"R syntax error: expected ',' or '{close}', got '{t.value}'", t)
        finally:
            self.depth -= 1


def _number(text: str):
    if text.endswith("L"):
        return int(text[:-1], 0)
    if text.lower().startswith("0x"):
        return int(text, 16)
    if re.fullmatch(r"\d+", text):
        return int(text)
    return float(text)


def _string(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), text[1:-1])
