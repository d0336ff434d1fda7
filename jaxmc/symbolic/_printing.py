"""Plain-text (matrixcalculus.org syntax) and LaTeX forms of expressions.

The text form is what :func:`jaxmc.symbolic.parse` reads back: ``*`` for matrix
products and scaling, ``'`` for the transpose, ``.*``, ``./`` and ``.^`` for
element-wise operations, ``tr``, ``det``, ``inv``, ``sum``, ``norm2``, ``diag``
and the element-wise functions; ``vector(s)``/``matrix(s)`` repeat a scalar and
``eye`` is the identity.
"""

from __future__ import annotations

from collections.abc import Callable

from jaxmc.symbolic._expr import (
    Add,
    Broadcast,
    CommutationMatrix,
    Const,
    Det,
    Diag,
    ElemDiv,
    Expr,
    Func,
    Hadamard,
    Identity,
    Inv,
    Kron,
    LogDet,
    MatMul,
    MatPower,
    Norm1,
    Norm2,
    Power,
    ScalarMul,
    Sum,
    Symbol,
    Trace,
    Transpose,
    Vec,
    Zero,
    kind_of,
)

_ADD, _NEG, _MUL, _POW, _POST, _ATOM = 1, 2, 3, 4, 5, 6

_GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota",
    "kappa", "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "phi", "chi",
    "psi", "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Phi",
    "Psi", "Omega",
}  # fmt: skip


def _num(v: float) -> str:
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.12g}"


def _neg_coef(e: Expr) -> tuple[float, Expr] | None:
    """(|c|, rest) when e is a negative multiple of rest."""
    if isinstance(e, ScalarMul) and isinstance(e.args[0], Const):
        c = e.args[0].value
        if c < 0:
            return -c, e.args[1]
    return None


def _den(u: Expr, q: float) -> Expr:
    """The denominator u^q, written as u (q = 1) or sqrt(u) (q = 1/2)."""
    if q == 1.0:
        return u
    if q == 0.5:
        return Func("sqrt", u)
    return Power(u, q)


def _fraction(e: Expr) -> tuple[Expr | None, Expr] | None:
    """(numerator or None for 1, denominator) when ``e`` reads as a division.

    ``s*a`` with ``s = u^(-q)`` or ``s = n/u`` (scalars) is ``a/u^q``; an
    element-wise ``a .* u.^(-q)`` is ``a./u.^q``; ``u.^(-q)`` is ``1./u.^q``.
    """
    if isinstance(e, Power) and e.p < 0:
        return None, _den(e.args[0], -e.p)
    if isinstance(e, ScalarMul):
        s, a = e.args
        if isinstance(s, Power) and s.p < 0:
            return a, _den(s.args[0], -s.p)
        if isinstance(s, ElemDiv) and isinstance(s.args[0], Const):
            n = s.args[0].value
            num = a if n == 1.0 else ScalarMul((s.args[0], a), a.shape)
            return num, s.args[1]
    if isinstance(e, Hadamard):
        a, b = e.args
        for num, d in ((a, b), (b, a)):
            if isinstance(d, Power) and d.p < 0:
                return num, _den(d.args[0], -d.p)
    return None


# ------------------------------------------------------------------- text


def _sum(e: Add, wrap: Callable[[Expr, int], str], times: str) -> str:
    """Renders a sum, writing ``a + (-c)*b`` as ``a - c*b``.

    ``wrap`` is the printer's ``(expr, precedence) -> str`` and ``times`` the
    string between a coefficient and its factor ("*" in text, " " in LaTeX).
    """
    parts = []
    for i, term in enumerate(e.args):
        if isinstance(term, Broadcast):
            term = term.args[0]
        nc = _neg_coef(term)
        if isinstance(term, Const) and term.value < 0:
            nc = (-term.value, Const(1.0))
        if nc is not None and i > 0:
            c, rest = nc
            if isinstance(rest, Const):
                body = _num(c)
            elif c == 1:
                body = wrap(rest, _MUL)
            else:
                body = f"{_num(c)}{times}{wrap(rest, _MUL)}"
            parts.append(" - " + body)
        else:
            s = wrap(term, _NEG if i == 0 else _MUL)
            parts.append(s if i == 0 else " + " + s)
    return "".join(parts)


def to_text(e: Expr) -> str:
    """The plain-text form of ``e``."""
    return _t(e)[0]


def _tw(e: Expr, prec: int) -> str:
    s, p = _t(e)
    return s if p >= prec else f"({s})"


def _t(e: Expr) -> tuple[str, int]:  # noqa: C901 - one case per node type
    if isinstance(e, Symbol):
        return e.name, _ATOM
    frac = _fraction(e)
    if frac is not None:
        num, den = frac
        op = "/" if kind_of(den.shape) == "scalar" else "./"
        top = "1" if num is None else _tw(num, _MUL)
        return f"{top}{op}{_tw(den, _POW)}", _MUL
    if isinstance(e, Const):
        return _num(e.value), (_NEG if e.value < 0 else _ATOM)
    if isinstance(e, Zero):
        return "0", _ATOM
    if isinstance(e, Identity):
        return "eye", _ATOM
    if isinstance(e, Broadcast):
        word = "matrix" if kind_of(e.shape) == "matrix" else "vector"
        return f"{word}({_t(e.args[0])[0]})", _ATOM
    if isinstance(e, Add):
        return _sum(e, _tw, "*"), _ADD
    if isinstance(e, ScalarMul):
        s, a = e.args
        if isinstance(s, Const) and s.value == -1:
            return "-" + _tw(a, _MUL), _NEG
        if isinstance(s, Const) and s.value < 0:
            return f"-{_num(-s.value)}*{_tw(a, _MUL)}", _NEG
        return f"{_tw(s, _MUL)}*{_tw(a, _MUL)}", _MUL
    if isinstance(e, MatMul):
        a, b = e.args
        right = _tw(b, _POW) if isinstance(b, Hadamard | ElemDiv) else _tw(b, _MUL)
        return f"{_tw(a, _MUL)}*{right}", _MUL
    if isinstance(e, Hadamard):
        return f"{_tw(e.args[0], _MUL)}.*{_tw(e.args[1], _POW)}", _MUL
    if isinstance(e, ElemDiv):
        a, b = e.args
        if isinstance(a, Broadcast):
            a = a.args[0]
        op = "/" if kind_of(b.shape) == "scalar" else "./"
        return f"{_tw(a, _MUL)}{op}{_tw(b, _POW)}", _MUL
    if isinstance(e, Power):
        op = "^" if kind_of(e.shape) == "scalar" else ".^"
        p = _num(e.p)
        if e.p < 0:
            p = f"({p})"
        return f"{_tw(e.args[0], _POST)}{op}{p}", _POW
    if isinstance(e, Transpose):
        return _tw(e.args[0], _POST) + "'", _POST
    if isinstance(e, MatPower):
        return f"{_tw(e.args[0], _POST)}^{e.k}", _POW
    if isinstance(e, Kron):
        return f"kron({_t(e.args[0])[0]}, {_t(e.args[1])[0]})", _ATOM
    if isinstance(e, CommutationMatrix):
        return f"commutation_matrix({e.m!r}, {e.n!r})", _ATOM
    name = {
        Trace: "tr",
        Det: "det",
        Inv: "inv",
        Sum: "sum",
        Norm2: "norm2",
        Norm1: "norm1",
        Diag: "diag",
        Vec: "vec",
    }.get(type(e))
    if isinstance(e, Func):
        name = e.name
    if isinstance(e, LogDet):
        return f"log(det({_t(e.args[0])[0]}))", _ATOM
    if name is None:  # pragma: no cover
        msg = f"jaxmc.symbolic: no text form for {type(e).__name__}."
        raise NotImplementedError(msg)
    return f"{name}({_t(e.args[0])[0]})", _ATOM


# ------------------------------------------------------------------ LaTeX


def to_latex(e: Expr) -> str:
    """The LaTeX form of ``e``."""
    return _l(e)[0]


def _lw(e: Expr, prec: int) -> str:
    s, p = _l(e)
    return s if p >= prec else rf"\left({s}\right)"


def _lname(name: str) -> str:
    if name.startswith("d") and len(name) > 1 and not name[1:].startswith("d"):
        inner = _lname(name[1:])
        if name[1:] in _GREEK or len(name) == 2:
            return r"\mathrm{d}" + inner
    if name in _GREEK:
        return "\\" + name
    if len(name) == 1:
        return name
    head, _, tail = name.partition("_")
    if tail:
        return f"{_lname(head)}_{{{tail}}}"
    return rf"\mathit{{{name}}}"


def _ldim(d: object) -> str:
    """A size in LaTeX: a number, or rows(X) as m_X and cols(X) as n_X."""
    s = repr(d)
    for word, letter in (("rows(", "m_"), ("cols(", "n_"), ("len(", "n_")):
        s = s.replace(word, letter)
    return s.replace(")", "")


_LFUNC = {
    "exp": r"\exp",
    "log": r"\log",
    "sin": r"\sin",
    "cos": r"\cos",
    "tanh": r"\tanh",
    "sigmoid": r"\sigma",
    "relu": r"\operatorname{relu}",
    "sign": r"\operatorname{sign}",
    "step": r"\operatorname{step}",
}


def _l(e: Expr) -> tuple[str, int]:  # noqa: C901 - one case per node type
    if isinstance(e, Symbol):
        return _lname(e.name), _ATOM
    frac = _fraction(e)
    if frac is not None:
        num, den = frac
        top = "1" if num is None else _l(num)[0]
        if kind_of(den.shape) == "scalar":
            return rf"\frac{{{top}}}{{{_l(den)[0]}}}", _ATOM
        top = "1" if num is None else _lw(num, _MUL)
        return rf"{top} \oslash {_lw(den, _POW)}", _MUL
    if isinstance(e, Const):
        return _num(e.value), (_NEG if e.value < 0 else _ATOM)
    if isinstance(e, Zero):
        return "0", _ATOM
    if isinstance(e, Identity):
        return "I", _ATOM
    if isinstance(e, Broadcast):
        s = e.args[0]
        if isinstance(s, Const) and s.value == 1:
            return r"\mathbf{1}", _ATOM
        return rf"{_lw(s, _POW)}\mathbf{{1}}", _MUL
    if isinstance(e, Add):
        return _sum(e, _lw, " "), _ADD
    if isinstance(e, ScalarMul):
        s, a = e.args
        if isinstance(s, Const) and s.value == -1:
            return "-" + _lw(a, _MUL), _NEG
        if isinstance(s, Const) and s.value < 0:
            return f"-{_num(-s.value)} {_lw(a, _MUL)}", _NEG
        return f"{_lw(s, _POW)} {_lw(a, _MUL)}", _MUL
    if isinstance(e, MatMul):
        a, b = e.args
        right = _lw(b, _POW) if isinstance(b, Hadamard | ElemDiv) else _lw(b, _MUL)
        return f"{_lw(a, _MUL)} {right}", _MUL
    if isinstance(e, Hadamard):
        return rf"{_lw(e.args[0], _MUL)} \odot {_lw(e.args[1], _POW)}", _MUL
    if isinstance(e, ElemDiv):
        a, b = e.args
        if isinstance(a, Broadcast):
            a = a.args[0]
        if kind_of(b.shape) == "scalar":
            return rf"\frac{{{_l(a)[0]}}}{{{_l(b)[0]}}}", _ATOM
        return rf"{_lw(a, _MUL)} \oslash {_lw(b, _POW)}", _MUL
    if isinstance(e, Power):
        circ = "" if kind_of(e.shape) == "scalar" else r"\circ "
        return rf"{_lw(e.args[0], _POST)}^{{{circ}{_num(e.p)}}}", _POW
    if isinstance(e, Transpose):
        return _lw(e.args[0], _POST) + r"^\top", _POST
    if isinstance(e, Inv):
        a = e.args[0]
        if isinstance(a, Transpose):
            return _lw(a.args[0], _POST) + r"^{-\top}", _POST
        return _lw(a, _POST) + "^{-1}", _POST
    if isinstance(e, MatPower):
        a = e.args[0]
        base = _lw(a, _ATOM) if isinstance(a, Transpose | Inv) else _lw(a, _POST)
        return f"{base}^{{{e.k}}}", _POST
    if isinstance(e, Kron):
        # Looser than the matrix product: (A kron B) C is written with parentheses.
        return rf"{_lw(e.args[0], _MUL)} \otimes {_lw(e.args[1], _POW)}", _NEG
    if isinstance(e, CommutationMatrix):
        return rf"K_{{{_ldim(e.m)},{_ldim(e.n)}}}", _ATOM
    a = _l(e.args[0])[0]
    if isinstance(e, Func):
        if e.name == "abs":
            return rf"\left\lvert {a}\right\rvert", _ATOM
        if e.name == "sqrt":
            return rf"\sqrt{{{a}}}", _ATOM
        return rf"{_LFUNC[e.name]}\left({a}\right)", _ATOM
    if isinstance(e, Norm2):
        sub = "F" if kind_of(e.args[0].shape) == "matrix" else "2"
        return rf"\lVert {a}\rVert_{sub}", _ATOM
    if isinstance(e, Norm1):
        return rf"\lVert {a}\rVert_1", _ATOM
    name = {
        Trace: r"\operatorname{tr}",
        Det: r"\det",
        LogDet: r"\log\det",
        Sum: r"\operatorname{sum}",
        Diag: r"\operatorname{diag}",
        Vec: r"\operatorname{vec}",
    }.get(type(e))
    if name is None:  # pragma: no cover
        msg = f"jaxmc.symbolic: no LaTeX form for {type(e).__name__}."
        raise NotImplementedError(msg)
    return rf"{name}\left({a}\right)", _ATOM
