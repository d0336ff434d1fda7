"""A parser for matrix expressions in the syntax of matrixcalculus.org.

Grammar (lowest precedence first)::

    expr    := term (("+" | "-") term)*
    term    := unary (("*" | "/" | ".*" | "./") unary)*
    unary   := "-" unary | power
    power   := postfix (("^" | ".^") unary)?
    postfix := atom "'"*
    atom    := number | name | name "(" expr ")" | "(" expr ")"

``*`` is the matrix product (scaling when one side is a scalar), ``/`` divides by
a scalar, ``.*``, ``./``, ``.^`` act element-wise, ``'`` transposes, ``A^k`` is an
integer matrix power (``A^-1`` the inverse). Functions: tr, det, logdet, inv,
sum, norm2, diag, vector, matrix and the element-wise exp, log, sin, cos, tanh,
sigmoid, relu, abs, sqrt, sign, step; ``eye`` is the identity.

Errors are :class:`ParseError` (a ``ValueError``) whose message quotes the text
with a caret under the offending position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from jaxmc.symbolic import _expr as ex
from jaxmc.symbolic._expr import Expr, ShapeError, Symbol

_FN = "jaxmc.symbolic.parse"

# Deepest nesting of parentheses, calls, signs and powers the parser accepts;
# deeper trees would exhaust Python's recursion in the parser and the rules.
MAX_DEPTH = 100

_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+(?:\.(?![*/^])\d*)?|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z_0-9]*)"
    r"|(?P<op>\.\*|\./|\.\^|[-+*/^'(),]))"
)

_UNARY_FUNCS = {
    "tr": ex.tr,
    "trace": ex.tr,
    "norm1": ex.norm1,
    "vec": ex.vec,
    "det": ex.det,
    "logdet": ex.logdet,
    "inv": ex.inv,
    "sum": ex.sum_,
    "norm2": ex.norm2,
    "diag": ex.diag,
}
KINDS = ("scalar", "vector", "matrix", "symmetric", "spd", "diagonal")
RESERVED = frozenset(
    set(_UNARY_FUNCS) | set(ex.ELEMENTWISE) | {"vector", "matrix", "eye", "kron"}
)


class ParseError(ValueError):
    """A syntax or shape error in an expression string, with its position."""

    def __init__(self, text: str, pos: int, problem: str):
        self.text = text
        self.pos = pos
        self.problem = problem
        caret = " " * pos + "^"
        super().__init__(f"{_FN}: {problem} at position {pos}:\n  {text}\n  {caret}")


@dataclass(frozen=True)
class _Tok:
    kind: str  # "num", "name", "op", "end"
    value: str
    pos: int


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            bad = pos + len(text[pos:]) - len(text[pos:].lstrip())
            raise ParseError(text, bad, f"unexpected character {text[bad]!r}")
        kind = m.lastgroup
        assert kind is not None
        toks.append(_Tok(kind, m.group(kind), m.start(kind)))
        pos = m.end()
    toks.append(_Tok("end", "", len(text)))
    return toks


def make_symbol(name: str, decl: Any) -> Symbol:
    """A symbol from a declaration: a kind string, a shape tuple or a Symbol."""
    if isinstance(decl, Symbol):
        return decl
    if isinstance(decl, tuple | list):
        kind = {0: "scalar", 1: "vector", 2: "matrix"}.get(len(decl))
        if kind is None:
            msg = (
                f"{_FN}: the shape declared for `{name}` must have 0, 1 or 2 "
                f"entries; got {decl!r}."
            )
            raise ValueError(msg)
        return Symbol(name, kind, shape=tuple(decl))
    if decl not in KINDS:
        valid = ", ".join(repr(k) for k in KINDS)
        msg = (
            f"{_FN}: the declaration of `{name}` must be one of {valid}, a shape "
            f"tuple or a Symbol; got {decl!r}."
        )
        raise ValueError(msg)
    if decl in ("scalar", "vector", "matrix"):
        return Symbol(name, decl)
    return Symbol(name, "matrix", **{decl: True})


def default_kind(name: str) -> str:
    """The kind of an undeclared name: upper-case initial -> matrix, else vector."""
    return "matrix" if name[0].isupper() else "vector"


class _Parser:
    def __init__(self, text: str, declarations: dict[str, Any]):
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0
        self.decl = declarations
        self.symbols: dict[str, Symbol] = {}
        self.depth = 0

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(
                f"the expression is nested more than {MAX_DEPTH} levels deep "
                f"(parentheses, function calls, signs and powers); name an inner "
                f"part as a symbol, or split the expression"
            )

    # helpers -------------------------------------------------------------
    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def error(self, problem: str, pos: int | None = None) -> ParseError:
        return ParseError(self.text, self.tok.pos if pos is None else pos, problem)

    def expect(self, value: str) -> None:
        if self.tok.value != value or self.tok.kind == "end":
            got = "the end" if self.tok.kind == "end" else repr(self.tok.value)
            raise self.error(f"expected {value!r}, found {got}")
        self.i += 1

    def apply(self, pos: int, f: Any, *args: Any) -> Expr:
        try:
            return f(*args)
        except ShapeError as err:
            problem = str(err).removeprefix("jaxmc.symbolic: ").rstrip(".")
            raise ParseError(self.text, pos, problem) from None
        except ValueError as err:
            problem = str(err).removeprefix("jaxmc.symbolic: ").rstrip(".")
            raise ParseError(self.text, pos, problem) from None

    # grammar ---------------------------------------------------------------
    def parse(self) -> Expr:
        if self.tok.kind == "end":
            raise self.error("empty expression")
        e = self.expr()
        if self.tok.kind != "end":
            raise self.error(f"unexpected {self.tok.value!r}")
        return e

    def expr(self) -> Expr:
        self.enter()
        e = self.term()
        while self.tok.value in ("+", "-") and self.tok.kind == "op":
            op = self.tok
            self.i += 1
            rhs = self.term()
            if op.value == "+":
                e = self.apply(op.pos, ex.add, e, rhs)
            else:
                e = self.apply(op.pos, ex.add, e, ex.neg(rhs))
        self.depth -= 1
        return e

    def term(self) -> Expr:
        e = self.unary()
        while self.tok.kind == "op" and self.tok.value in ("*", "/", ".*", "./"):
            op = self.tok
            self.i += 1
            rhs = self.unary()
            if op.value == "*":
                e = self.apply(op.pos, ex.matmul, e, rhs)
            elif op.value == ".*":
                e = self.apply(op.pos, ex.hadamard, e, rhs)
            elif op.value == "./":
                self.nonzero(rhs, op.pos)
                e = self.apply(op.pos, ex.ediv, e, rhs)
            else:
                if rhs.kind != "scalar":
                    raise self.error(
                        f"`/` divides by a scalar, but `{rhs}` is a {rhs.kind}; use "
                        f"`./` for element-wise division or inv() for the inverse",
                        op.pos,
                    )
                self.nonzero(rhs, op.pos)
                e = self.apply(op.pos, ex.ediv, e, rhs)
        return e

    def nonzero(self, divisor: Expr, pos: int) -> None:
        """Raises a ParseError when the divisor is identically zero."""
        from jaxmc.symbolic._simplify import simplify

        try:
            zero = ex.is_constant_zero(simplify(divisor))
        except ValueError:  # pragma: no cover - the divisor parsed cleanly
            zero = False
        if zero:
            raise self.error(
                f"division by zero: the divisor `{divisor}` is identically zero", pos
            )

    def unary(self) -> Expr:
        if self.tok.kind == "op" and self.tok.value in ("-", "+"):
            sign = self.tok.value
            self.i += 1
            self.enter()
            e = self.unary()
            self.depth -= 1
            return ex.neg(e) if sign == "-" else e
        return self.power()

    def power(self) -> Expr:
        base = self.postfix()
        if self.tok.kind == "op" and self.tok.value in ("^", ".^"):
            op = self.tok
            self.i += 1
            epos = self.tok.pos
            self.enter()
            p = self.unary()
            self.depth -= 1
            if not (
                isinstance(p, ex.Const)
                or (
                    isinstance(p, ex.ScalarMul)
                    and all(isinstance(a, ex.Const) for a in p.args)
                )
            ):
                raise self.error(f"the exponent must be a number; got `{p}`", epos)
            value = (
                p.value
                if isinstance(p, ex.Const)
                else p.args[0].value * p.args[1].value
            )  # noqa: E501
            f = ex.mpower if op.value == "^" else ex.power
            return self.apply(op.pos, f, base, value)
        return base

    def postfix(self) -> Expr:
        e = self.atom()
        while self.tok.kind == "op" and self.tok.value == "'":
            e = ex.transpose(e)
            self.i += 1
        return e

    def atom(self) -> Expr:
        tok = self.tok
        if tok.kind == "num":
            self.i += 1
            return ex.Const(float(tok.value))
        if tok.kind == "op" and tok.value == "(":
            self.i += 1
            e = self.expr()
            self.expect(")")
            return e
        if tok.kind == "name":
            self.i += 1
            name = tok.value
            if self.tok.kind == "op" and self.tok.value == "(":
                return self.call(tok)
            if name == "eye":
                d = ex.Dim("size(eye)")
                return ex.Identity((), (d, d))
            if name in RESERVED:
                raise self.error(
                    f"the function {name!r} needs an argument: {name}(...)", tok.pos
                )  # noqa: E501
            return self.symbol(name)
        if tok.kind == "end":
            raise self.error("unexpected end of the expression")
        raise self.error(f"unexpected {tok.value!r}")

    def call(self, tok: _Tok) -> Expr:
        name = tok.value
        self.expect("(")
        if self.tok.kind == "op" and self.tok.value == ")":
            raise self.error(f"{name}() needs an argument")
        arg = self.expr()
        if name == "kron":
            self.expect(",")
            second = self.expr()
            self.expect(")")
            return self.apply(tok.pos, ex.kron, arg, second)
        if self.tok.kind == "op" and self.tok.value == ",":
            raise self.error(f"{name}() takes one argument")
        self.expect(")")
        if name in _UNARY_FUNCS:
            return self.apply(tok.pos, _UNARY_FUNCS[name], arg)
        if name in ex.ELEMENTWISE:
            return self.apply(tok.pos, ex.func, name, arg)
        if name in ("vector", "matrix"):
            if arg.kind != "scalar":
                raise self.error(
                    f"{name}(s) repeats a scalar; got a {arg.kind}", tok.pos
                )  # noqa: E501
            if name == "vector":
                shape: tuple[Any, Any] = (ex.Dim("len(vector)"), 1)
            else:
                shape = (ex.Dim("rows(matrix)"), ex.Dim("cols(matrix)"))
            return ex.Broadcast((arg,), shape)
        raise self.error(f"unknown function {name!r}", tok.pos)

    def symbol(self, name: str) -> Symbol:
        if name not in self.symbols:
            decl = self.decl.get(name, default_kind(name))
            sym = make_symbol(name, decl)
            if sym.name != name:
                msg = (
                    f"{_FN}: the Symbol declared for `{name}` is named "
                    f"{sym.name!r}; use the same name."
                )
                raise ValueError(msg)
            self.symbols[name] = sym
        return self.symbols[name]


def parse(text: str, /, **declarations: Any) -> Expr:
    """Parses a matrix expression written in the syntax of matrixcalculus.org.

    ``*`` is the matrix product (scaling when one side is a scalar), ``'`` the
    transpose, ``.*``, ``./`` and ``.^`` act element-wise, ``/`` divides by a
    scalar, ``A^k`` is an integer matrix power, ``x^p`` a scalar power. Functions:
    ``tr det logdet inv sum norm2 diag`` and the element-wise ``exp log sin cos
    tanh sigmoid relu abs sqrt`` (``log(det(X))`` is ``logdet(X)``, i.e.
    ``log|det X|``). A scalar added to a vector is repeated (``1 + exp(x)``).

    Names are declared by keyword: a kind (``"scalar"``, ``"vector"``,
    ``"matrix"``, ``"symmetric"``, ``"spd"``, ``"diagonal"``), a concrete shape
    tuple (``()``, ``(n,)``, ``(m, n)``) or a :class:`Symbol`. An undeclared name
    is a matrix if it starts with an upper-case letter and a (column) vector
    otherwise. Sizes are symbolic and tied by use (``A*x``: A's column count is
    x's length).

    Args:
      text: the expression, e.g. ``"x'*A*x + b'*x"``.
      **declarations: name -> kind, shape or Symbol.

    Returns:
      The expression (an :class:`Expr`).

    Raises:
      ParseError: (a ValueError) a syntax error or incompatible shapes; the
        message shows the text with a caret at the position.
      TypeError: ``text`` is not a string.
      ValueError: a bad declaration.

    >>> from jaxmc.symbolic import parse
    >>> e = parse("x'*A*x + b'*x", A="matrix")
    >>> print(e, e.kind)
    x'*A*x + b'*x scalar
    """
    if not isinstance(text, str):
        msg = f"{_FN}: argument `text` must be a string; got {type(text).__name__}."
        raise TypeError(msg)
    for name, decl in declarations.items():
        if name in RESERVED:
            msg = f"{_FN}: cannot declare `{name}`: it is a function name."
            raise ValueError(msg)
        make_symbol(name, decl)  # validate early
    return _Parser(text, declarations).parse()
