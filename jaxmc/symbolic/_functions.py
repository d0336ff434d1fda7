"""Functions on expressions (tr, det, exp, ...) and the ``symbols`` helper."""

from __future__ import annotations

from typing import Any

from jaxmc.symbolic import _expr as ex
from jaxmc.symbolic._expr import Expr, Symbol, as_expr


def _e(name: str, a: Any) -> Expr:
    if not isinstance(a, Expr):
        msg = (
            f"jaxmc.symbolic.{name}: argument must be an expression (build one "
            f"from jaxmc.symbolic.Symbol); got {type(a).__name__}."
        )
        raise TypeError(msg)
    return a


def tr(a: Expr, /) -> Expr:
    """The trace of a square matrix, ``tr(A)``."""
    return ex.tr(_e("tr", a))


def trace(a: Expr, /) -> Expr:
    """The trace of a square matrix, ``trace(A)`` (an alias of :func:`tr`)."""
    return ex.tr(_e("trace", a))


def det(a: Expr, /) -> Expr:
    """The determinant of a square matrix, ``det(A)``."""
    return ex.det(_e("det", a))


def logdet(a: Expr, /) -> Expr:
    """``log|det(A)|`` of a square matrix (``log(det(A))`` where det(A) > 0)."""
    return ex.logdet(_e("logdet", a))


def inv(a: Expr, /) -> Expr:
    """The inverse of a square matrix, ``inv(A)``."""
    return ex.inv(_e("inv", a))


def sum(a: Expr, /) -> Expr:  # noqa: A001 - the name of the operation
    """The sum of all entries, ``sum(A)``."""
    return ex.sum_(_e("sum", a))


def norm2(a: Expr, /) -> Expr:
    """The Euclidean norm of a vector (Frobenius norm of a matrix)."""
    return ex.norm2(_e("norm2", a))


def norm1(a: Expr, /) -> Expr:
    """The entry-wise 1-norm ``sum(abs(A))`` of a vector or matrix."""
    return ex.norm1(_e("norm1", a))


def kron(a: Expr, b: Expr, /) -> Expr:
    """The Kronecker product ``kron(A, B)`` (as :func:`jax.numpy.kron`)."""
    return ex.kron(_e("kron", a), _e("kron", b))


def vec(a: Expr, /) -> Expr:
    """``vec(A)``: the columns of A stacked into one column (:func:`jaxmc.vec`)."""
    return ex.vec(_e("vec", a))


def diag(a: Expr, /) -> Expr:
    """``diag(v)``: the diagonal matrix of a vector; ``diag(M)``: M's diagonal."""
    return ex.diag(_e("diag", a))


def _elementwise(name: str, doc: str):
    def f(a: Expr, /) -> Expr:
        return ex.func(name, _e(name, a))

    f.__name__ = f.__qualname__ = name
    f.__doc__ = doc
    return f


exp = _elementwise("exp", "The element-wise exponential, ``exp(A)``.")
log = _elementwise(
    "log", "The element-wise logarithm, ``log(A)`` (``log(det(A))`` is logdet)."
)
sin = _elementwise("sin", "The element-wise sine, ``sin(A)``.")
cos = _elementwise("cos", "The element-wise cosine, ``cos(A)``.")
tanh = _elementwise("tanh", "The element-wise hyperbolic tangent, ``tanh(A)``.")
sigmoid = _elementwise("sigmoid", "The element-wise logistic, ``1 ./ (1 + exp(-A))``.")
relu = _elementwise("relu", "The element-wise ``max(A, 0)``.")
abs = _elementwise("abs", "The element-wise absolute value, ``abs(A)``.")  # noqa: A001
sqrt = _elementwise("sqrt", "The element-wise square root, ``sqrt(A)``.")


def hadamard(a: Expr, b: Expr, /) -> Expr:
    """The element-wise product ``a .* b`` (same as ``a * b`` on expressions)."""
    return ex.hadamard(as_expr(a), as_expr(b))


def symbols(names: str, /, **options: Any) -> tuple[Symbol, ...]:
    """Creates several symbols at once, kinds from the names or from ``kind=``.

    Without ``kind``, a name with an upper-case initial is a matrix and any other
    name a (column) vector (the parser's convention); scalars need
    ``kind="scalar"``. The other options (``shape``, ``symmetric``, ``spd``,
    ``diagonal``) go to every :class:`Symbol`.

    Args:
      names: names separated by spaces or commas, e.g. ``"x A b"``.
      **options: ``kind`` and the keyword options of :class:`Symbol`.

    Returns:
      A tuple of symbols, one per name.

    Raises:
      ValueError: an empty or bad name, or bad options.

    >>> from jaxmc.symbolic import symbols, derive
    >>> x, A = symbols("x A")
    >>> print(derive(x.T @ A @ x, wrt=x).text)
    (A + A')*x
    """
    if not isinstance(names, str):
        msg = f"jaxmc.symbolic.symbols: argument `names` must be a string; got {type(names).__name__}."  # noqa: E501
        raise TypeError(msg)
    parts = names.replace(",", " ").split()
    if not parts:
        msg = "jaxmc.symbolic.symbols: argument `names` holds no names; got ''."
        raise ValueError(msg)
    kind = options.pop("kind", None)
    out = []
    for p in parts:
        k = kind or ("matrix" if p[0].isupper() else "vector")
        out.append(Symbol(p, k, **options))
    return tuple(out)
