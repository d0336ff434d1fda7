"""The public entry points: derive and differential, with verification."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from jaxmc import _checks
from jaxmc.layout import convert_layout, layout_shape
from jaxmc.symbolic import _codegen
from jaxmc.symbolic._diff import (
    UnsupportedDerivative,
    gradient_of_linear,
    jacobian_of_linear,
    jacobian_vec,
)
from jaxmc.symbolic._diff import (
    differential as _differential,
)
from jaxmc.symbolic._expr import (
    Det,
    Dim,
    Expr,
    Inv,
    LogDet,
    Symbol,
    matmul,
    numel,
    substitute,
    transpose,
    unify_pairs,
    zero,
)
from jaxmc.symbolic._parse import parse
from jaxmc.symbolic._simplify import expand, simplify

LAYOUTS = ("mixed", "numerator", "denominator", "vec", "jax")
_SYMBOLIC_LAYOUTS = ("mixed", "numerator", "denominator")

# Verification tolerance on max |closed form - autodiff| / max(1, max |autodiff|),
# evaluated in float64.
VERIFY_RTOL = 1e-8


class VerificationError(ArithmeticError):
    """A derived closed form disagreed with JAX autodiff at a random point."""


@dataclasses.dataclass(frozen=True)
class Derivative:
    """A derived closed form: the expression, its text and LaTeX, a JAX function.

    Attributes:
      f: the differentiated expression.
      wrt: the variable.
      kind: "gradient", "jacobian", "hessian" or "differential".
      layout: "mixed", "numerator", "denominator", "vec" or "jax" (see
        :func:`derive`).
      expr: the closed form (an :class:`Expr`; for "differential" it holds the
        direction symbol ``d<wrt>``).
      args: names of the arguments of ``fn``, in order (the symbols of ``f``, then
        ``d<wrt>`` for a differential).
      fn: the closed form as a jit-compiled JAX function of ``args`` (arrays
        positionally or by name).
      error: the verification's relative discrepancy against autodiff, or None
        when verification was switched off.
    """

    f: Expr
    wrt: Symbol
    kind: str
    layout: str
    expr: Expr
    args: tuple[str, ...]
    fn: Callable[..., jax.Array] = dataclasses.field(repr=False, compare=False)
    error: float | None = None

    @property
    def text(self) -> str:
        """The closed form in plain text (matrixcalculus.org syntax)."""
        return self.expr.text

    @property
    def latex(self) -> str:
        """The closed form in LaTeX."""
        return self.expr.latex

    @property
    def symbol(self) -> str:
        """The derivative's name, e.g. ``df/dx`` or ``d2f/dx2``."""
        x = self.wrt.name
        return {
            "gradient": f"df/d{x}",
            "jacobian": f"df/d{x}",
            "hessian": f"d2f/d{x}2",
            "differential": "df",
        }[self.kind]

    def __repr__(self) -> str:
        check = (
            "not verified"
            if self.error is None
            else f"verified, rel. error {self.error:.1e}"
        )
        return (
            f"Derivative({self.kind} of {self.f.text!r} wrt {self.wrt.name}, "
            f"{self.layout} layout: {self.text!r}; {check})"
        )

    def __str__(self) -> str:
        return self.text


def _as_expr(fn: str, f: Any, declarations: dict[str, Any]) -> Expr:
    if isinstance(f, str):
        return parse(f, **declarations)
    if isinstance(f, Expr):
        if declarations:
            msg = (
                f"{fn}: declarations ({', '.join(declarations)}) apply to an "
                f"expression string; `f` is already an expression."
            )
            raise TypeError(msg)
        return f
    msg = (
        f"{fn}: argument `f` must be an expression or a string; got {type(f).__name__}."  # noqa: E501
    )
    raise TypeError(msg)


def _variable(fn: str, f: Expr, wrt: Any) -> Symbol:
    syms = f.symbols
    names = ", ".join(s.name for s in syms) or "none"
    if isinstance(wrt, Symbol):
        if wrt in syms:
            return wrt
        msg = f"{fn}: argument `wrt`: {wrt.name} does not occur in `{f}` (symbols: {names})."  # noqa: E501
        raise ValueError(msg)
    if isinstance(wrt, str):
        for s in syms:
            if s.name == wrt:
                return s
        msg = (
            f"{fn}: argument `wrt`: {wrt!r} does not occur in `{f}` (symbols: {names})."  # noqa: E501
        )
        raise ValueError(msg)
    msg = (
        f"{fn}: argument `wrt` must be a symbol or its name; got {type(wrt).__name__}."  # noqa: E501
    )
    raise TypeError(msg)


def _jacobian(g: Expr, dg: Expr, x: Symbol, dx: Symbol) -> Expr:
    """J with dg = J dx, for a vector (or scalar) g of a vector (or scalar) x.

    First by pushing d vec(g)/d vec(node) down the differential; if that meets a
    matrix that depends on x, through the transpose instead: for a symbolic
    vector v, grad_x (v' g) = J' v is found by the gradient engine (which handles
    matrices), and J' is the Jacobian of that linear function of v.
    """
    try:
        return simplify(jacobian_of_linear(expand(dg), dx))
    except UnsupportedDerivative as err:
        v = Symbol("v_", "vector")
        unify_pairs("jaxmc.symbolic", [(g.shape[0], v.shape[0])], "")
        dv = _direction(v)
        d_vg = _differential(simplify(matmul(transpose(v), g)), x, dx)
        jtv = simplify(gradient_of_linear(simplify(d_vg), dx))
        d_jtv = _differential(jtv, v, dv)
        if d_jtv is None:
            return zero((g.shape[0], x.shape[0]))
        try:
            jt = jacobian_of_linear(expand(simplify(d_jtv)), dv)
        except UnsupportedDerivative:
            raise err from None
        result = simplify(transpose(simplify(jt)))
        if result.depends_on(v):  # pragma: no cover - J' v is linear in v
            raise err from None
        return result


def _free_copy(x: Symbol) -> Symbol:
    """The variable, or a copy without symmetry (same name and sizes)."""
    if not x.symmetric:
        return x
    c = Symbol(x.name, "matrix")
    unify_pairs("jaxmc.symbolic", list(zip(x.shape, c.shape, strict=True)), "")
    return c


def _direction(x: Symbol) -> Symbol:
    d = Symbol("d" + x.name, x.declared_kind)
    unify_pairs("jaxmc.symbolic", list(zip(x.shape, d.shape, strict=True)), "")
    return d


def derive(
    f: Expr | str,
    /,
    wrt: Symbol | str,
    *,
    hessian: bool = False,
    layout: str = "mixed",
    verify: bool = True,
    key: jax.Array | None = None,
    **declarations: Any,
) -> Derivative:
    r"""Derives the closed-form gradient, Jacobian or Hessian of a matrix expression.

    The differential df is built by the rules of matrix calculus (product, chain,
    trace, inverse, determinant, element-wise functions as Hadamard products), then
    the identification theorems read the derivative off:

    - scalar f: df = tr(G' dX) gives the gradient G (``kind="gradient"``);
      with ``hessian=True`` and a vector (or scalar) x, d(grad f) = H dx gives
      the Hessian H (``kind="hessian"``);
    - vector-valued f and a vector (or scalar) x: df = J dx gives the Jacobian
      J (``kind="jacobian"``);
    - with ``layout="vec"`` (or ``"jax"``), also a matrix-valued f, a vector f
      by a matrix, and the Hessian by a matrix X: d vec(f) = J d vec(X) gives
      J in Kronecker form, with the names of :mod:`jaxmc.vec` (``kron``,
      ``vec``, ``commutation_matrix``): ``A*X*B`` gives ``kron(B', A)``,
      ``X'`` the commutation matrix, ``inv(X)`` gives
      ``-kron(inv(X'), inv(X))``, and ``tr(X'*A*X)`` with ``hessian=True``
      gives ``kron(eye, A + A')``, an ``(nk, nk)`` matrix for X of shape
      ``(n, k)``.

    The result is simplified to a readable closed form (``x'*A*x`` gives
    ``(A + A')*x``) and, unless ``verify=False``, checked against JAX autodiff
    (``jax.grad``/``jax.jacfwd``/``jax.hessian``) in float64 at random points
    with random sizes (two points; symmetric, SPD and diagonal symbols are drawn
    with their property; if f is not finite there, e.g. ``log(x)`` at negative
    x, positive values are drawn). A disagreement beyond a relative 1e-8 raises
    :class:`VerificationError`, so a wrong rule never passes silently. For
    symmetric (or SPD, diagonal) variables the result is the unconstrained
    gradient evaluated on such matrices, as ``jax.grad`` computes it.

    Layouts (the conventions of :mod:`jaxmc.layout`): ``"mixed"`` (default):
    the gradient has the shape of the variable, Jacobians and Hessians are in
    numerator layout (rows index f). ``"numerator"``: the closed form of the
    gradient is transposed (``G'``; a row ``(1, n)`` for a vector variable).
    ``"denominator"``: Jacobians and Hessians are transposed, gradients are
    columns ``(n, 1)``. In these three layouts ``.expr`` is the closed form in
    that layout and ``.fn`` returns the layout's explicit shape
    (:func:`jaxmc.layout_shape`). ``"vec"`` and ``"jax"`` have no closed form of
    their own: ``.expr`` is the mixed form and ``.fn`` converts its values with
    :func:`jaxmc.convert_layout`, except for the Kronecker forms above, whose
    ``.expr`` is the vec-layout closed form. ``.fn`` accepts a vector as ``(n,)``
    or as a column ``(n, 1)`` (the derivative's shape follows
    :func:`jaxmc.layout_shape` of the variable as given) and rejects complex
    inputs.

    The text and LaTeX read as a textbook writes them: positive terms first,
    common factors taken out, division rather than negative powers
    (``(x - a)/norm2(x - a)``), no double negation (``2*(U*V' - X)*V``).

    Args:
      f: an expression or a string in matrixcalculus.org syntax (see
        :func:`parse`).
      wrt: the variable: a symbol of ``f`` or its name.
      hessian: derive the Hessian of a scalar ``f`` instead of the gradient
        (a bool).
      layout: "mixed", "numerator", "denominator", "vec" or "jax".
      verify: check the closed form against autodiff before returning it (a
        bool). Points where a matrix that is inverted is nearly singular are
        skipped; if every point tried is, :class:`VerificationError` says the
        expression is singular there.
      key: PRNG key for the verification's random sizes and points (default
        ``jax.random.key(0)``).
      **declarations: for a string ``f``: name -> "scalar", "vector",
        "matrix", "symmetric", "spd", "diagonal", a shape tuple, or a Symbol.

    Returns:
      A :class:`Derivative` with ``.expr``, ``.text``, ``.latex``, ``.fn`` (a
      jit-compiled function of the symbols of f, arrays in their natural
      shapes: the gradient has the variable's shape, a Jacobian/Hessian is
      ``(m, n)``) and ``.error``.

    Raises:
      ParseError: a syntax or shape error in the string (with its position).
      UnsupportedDerivative: a 3- or 4-way derivative (matrix-valued f, Hessian
        by a matrix) outside ``layout="vec"``/``"jax"``, or a Jacobian through
        an element-wise function of a matrix that depends on the variable
        outside the vec layout; use ``layout="vec"`` or :func:`differential`.
      VerificationError: the closed form disagrees with autodiff, or the
        expression is singular at every random point tried.
      TypeError, ValueError: bad arguments (``hessian``, ``verify`` not bools).

    >>> from jaxmc.symbolic import derive
    >>> print(derive("x'*A*x + b'*x", wrt="x").text)
    (A + A')*x + b
    >>> print(derive("norm2(A*x - b)^2", wrt="x").text)
    2*A'*(A*x - b)
    >>> print(derive("log(det(X))", wrt="X").latex)
    X^{-\top}
    >>> print(derive("tr(X'*A*X)", wrt="X", hessian=True, layout="vec").text)
    kron(eye, A + A')
    """
    fn = "jaxmc.symbolic.derive"
    f = _as_expr(fn, f, declarations)
    x = _variable(fn, f, wrt)
    _checks.check_one_of(fn, "layout", layout, LAYOUTS)
    _check_bool(fn, "hessian", hessian)
    _check_bool(fn, "verify", verify)
    fk, xk = f.kind, x.declared_kind
    if hessian and fk != "scalar":
        msg = f"{fn}: hessian=True needs a scalar expression; `{f}` is a {fk}."
        raise ValueError(msg)
    kron_form = fk == "matrix" or (xk == "matrix" and (hessian or fk != "scalar"))
    if kron_form and layout not in ("vec", "jax"):
        ways = 2 * _RANK[xk] if hessian else _RANK[fk] + _RANK[xk]
        what = (
            f"the Hessian of `{f}` with respect to the matrix {x.name}"
            if hessian
            else f"the derivative of the {fk}-valued `{f}` with respect to the {xk} "
            f"{x.name}"
        )
        msg = (
            f"{fn}: {what} is a {ways}-way tensor, which the {layout!r} layout "
            f"cannot hold as a matrix; pass layout='vec' for its Kronecker form "
            f"(d vec(f) = J d vec({x.name})), or use jaxmc.symbolic.differential."
        )
        raise UnsupportedDerivative(msg)

    # Differentiate with respect to an unconstrained copy of a symmetric variable
    # (so X' is not X while differentiating: the result is the unconstrained
    # gradient, as jax.grad computes it), then put the symmetric symbol back.
    x_free = _free_copy(x)
    g = simplify(substitute(f, x, x_free)) if x_free is not x else simplify(f)
    x_user, x = x, x_free
    dx = _direction(x)
    if fk == "row" and not kron_form:
        g = simplify(transpose(g))
    df = _differential(g, x, dx)
    df = simplify(df) if df is not None else None

    if kron_form:
        result, kind = _kron_form(g, df, x, dx, hessian)
    elif fk == "scalar":
        grad = simplify(gradient_of_linear(df, dx)) if df is not None else zero(x.shape)
        if hessian:
            ddf = _differential(grad, x, dx)
            m = x.shape[0]
            if ddf is None:
                result = zero((m, m))
            else:
                result = _jacobian(grad, simplify(ddf), x, dx)
            kind = "hessian"
            if layout == "denominator":
                result = simplify(transpose(result))
        else:
            result, kind = grad, "gradient"
            if layout == "numerator":
                result = simplify(transpose(result))
    else:
        m = g.shape[0]
        if df is None:
            result = zero((m, x.shape[0]))
        else:
            try:
                result = _jacobian(g, df, x, dx)
            except UnsupportedDerivative:
                if layout not in ("vec", "jax"):
                    raise
                # Through a matrix that depends on x: the Kronecker form.
                kron_form = True
                result, _ = _kron_form(g, df, x, dx, False)
        kind = "jacobian"
        if layout == "denominator":
            result = simplify(transpose(result))

    if x is not x_user:
        result = simplify(substitute(result, x, x_user))
    x = x_user
    syms = f.symbols
    raw = _codegen.make_function(result, syms, fn + " result")
    if kron_form:
        shaped = _kron_layout(raw, f, kind, layout, syms, syms.index(x))
    else:
        shaped = _in_layout(raw, kind, layout, syms.index(x), fk)
    call = _codegen.wrap(_columns_in(shaped, syms, syms.index(x), kind, layout), syms)
    out = Derivative(f, x, kind, layout, result, tuple(s.name for s in syms), call)
    if verify:
        key = _default_key(fn, key)
        err = _verify(fn, out, syms, key)
        out = dataclasses.replace(out, error=err)
    return out


_RANK = {"scalar": 0, "vector": 1, "row": 1, "matrix": 2}


def _check_bool(fn: str, name: str, value: Any) -> None:
    if not isinstance(value, bool | np.bool_):
        msg = (
            f"{fn}: argument `{name}` must be a bool (True or False); got "
            f"{type(value).__name__} {value!r}."
        )
        raise TypeError(msg)


def _kron_form(
    g: Expr, df: Expr | None, x: Symbol, dx: Symbol, hessian: bool
) -> tuple[Expr, str]:
    """The vec-layout Jacobian (or Hessian) of g in Kronecker form, and its kind."""
    if hessian:
        grad = simplify(gradient_of_linear(df, dx)) if df is not None else zero(x.shape)
        dg = _differential(grad, x, dx)
        n = numel(x.shape)
        if dg is None:
            return zero((n, n)), "hessian"
        return simplify(jacobian_vec(simplify(dg), dx)), "hessian"
    if df is None:
        return zero((numel(g.shape), numel(x.shape))), "jacobian"
    return simplify(jacobian_vec(df, dx)), "jacobian"


def _natural(shape: tuple[int, int], kind: str) -> tuple[int, ...]:
    """A 2-D shape of an expression's kind as the array shape users pass."""
    return {
        "scalar": (),
        "vector": shape[:1],
        "row": shape[1:],
        "matrix": shape,
    }[kind]


def _kron_layout(
    raw: Callable, f: Expr, kind: str, layout: str, syms: tuple, i: int
) -> Callable:
    """Shapes a Kronecker-form result as the "vec" layout (or converts to "jax")."""

    def out(*vals: Any) -> jax.Array:
        y = raw(*vals)
        x_shape = tuple(np.shape(vals[i]))
        if kind == "hessian":
            f_shape = x_shape
        else:
            f_shape = _natural(
                _codegen.concrete_shape(f, syms, vals, "jaxmc.symbolic"), f.kind
            )
        y = y.reshape(layout_shape(x_shape, f_shape, "vec"))
        if layout == "jax":
            y = convert_layout(
                y, in_shape=x_shape, out_shape=f_shape, src="vec", dst="jax"
            )
        return y

    return out


def _columns_in(
    call: Callable, syms: tuple, i: int, kind: str, layout: str
) -> Callable:
    """Accepts an explicit column (n, 1) for vector symbols, as jaxmc.jacobian does.

    Every vector argument may be given as (n,) or (n, 1); the derivative's
    shape follows :func:`jaxmc.layout_shape` of the variable as given (a
    gradient in the mixed layout of a column variable is a column).
    """
    vector = [s.declared_kind == "vector" for s in syms]

    def f(*vals: Any) -> jax.Array:
        vals = list(vals)
        column = False
        for j, v in enumerate(vals):
            if vector[j] and np.ndim(v) == 2 and np.shape(v)[1] == 1:
                vals[j] = v[:, 0] if hasattr(v, "shape") else v
                column = column or j == i
        y = call(*vals)
        if column and kind == "gradient" and layout in ("mixed", "jax"):
            y = y.reshape(-1, 1)
        if column and kind == "hessian" and layout == "jax":
            n = y.shape[0]
            y = y.reshape(n, 1, n, 1)
        return y

    return f


def _shapes(kind: str, f_kind: str, x_shape: tuple, mixed_shape: tuple) -> tuple:
    """(in_shape, out_shape) of a derivative, for jaxmc.layout."""
    if kind == "hessian":
        return x_shape, x_shape
    if kind == "gradient":
        return x_shape, ()
    return x_shape, mixed_shape[:1]


def _in_layout(raw: Callable, kind: str, layout: str, i: int, f_kind: str) -> Callable:
    """Arranges the closed form's values in the layout (see jaxmc.layout).

    For the symbolic layouts the closed form is already arranged (transposed as
    needed) and only gets the layout's explicit 2-D shape; for "vec" and "jax"
    the mixed-layout values are converted with ``jaxmc.convert_layout``.
    """
    if layout == "mixed":
        return raw

    def f(*vals: Any) -> jax.Array:
        y = raw(*vals)
        x_shape = tuple(np.shape(vals[i]))
        if layout in _SYMBOLIC_LAYOUTS:
            mixed_shape = y.shape if layout == "numerator" else y.shape[::-1]
            ins, outs = _shapes(kind, f_kind, x_shape, mixed_shape)
            return y.reshape(layout_shape(ins, outs, layout))
        ins, outs = _shapes(kind, f_kind, x_shape, y.shape)
        return convert_layout(y, in_shape=ins, out_shape=outs, src="mixed", dst=layout)

    return f


def differential(
    f: Expr | str,
    /,
    wrt: Symbol | str,
    *,
    verify: bool = True,
    key: jax.Array | None = None,
    **declarations: Any,
) -> Derivative:
    """Derives the differential df of any expression, linear in a direction dX.

    Works for scalar-, vector- and matrix-valued f and any variable (e.g.
    ``d inv(X) = -inv(X)*dX*inv(X)``); the direction is the symbol ``d<wrt>``.
    Unless ``verify=False``, the closed form is checked against ``jax.jvp`` in
    float64 at random points and directions (see :func:`derive`).

    Args:
      f: an expression or a string (see :func:`parse`).
      wrt: the variable: a symbol of ``f`` or its name.
      verify: check against ``jax.jvp`` before returning.
      key: PRNG key for the verification (default ``jax.random.key(0)``).
      **declarations: for a string ``f``, as in :func:`derive`.

    Returns:
      A :class:`Derivative` with ``kind="differential"``; ``.fn`` takes the
      symbols of ``f`` and then the direction ``d<wrt>``, and returns an array of
      ``f``'s shape.

    Raises:
      VerificationError: the closed form disagrees with ``jax.jvp``.
      ParseError, TypeError, ValueError: bad arguments.

    >>> from jaxmc.symbolic import differential
    >>> print(differential("inv(X)", wrt="X").text)
    -inv(X)*dX*inv(X)
    """
    fn = "jaxmc.symbolic.differential"
    f = _as_expr(fn, f, declarations)
    x = _variable(fn, f, wrt)
    _check_bool(fn, "verify", verify)
    dx = _direction(x)
    df = _differential(simplify(f), x, dx)
    result = simplify(df) if df is not None else zero(f.shape)
    syms = (*f.symbols, dx)
    raw = _codegen.make_function(result, syms, fn + " result")
    call = _codegen.wrap(
        _columns_in(raw, syms, syms.index(x), "differential", "mixed"), syms
    )
    out = Derivative(
        f, x, "differential", "mixed", result, tuple(s.name for s in syms), call
    )
    if verify:
        err = _verify(fn, out, syms, _default_key(fn, key))
        out = dataclasses.replace(out, error=err)
    return out


# ------------------------------------------------------------- verification


def _default_key(fn: str, key: Any) -> jax.Array:
    return jax.random.key(0) if key is None else _checks.check_key(fn, "key", key)


def _dims(syms: tuple[Symbol, ...]) -> list[Dim]:
    roots: dict[int, Dim] = {}
    for s in syms:
        for d in s.shape:
            if isinstance(d, Dim):
                roots.setdefault(id(d.root()), d.root())
    return list(roots.values())


def _sample(
    syms: tuple[Symbol, ...],
    sizes: dict[int, int],
    rng: np.random.Generator,
    positive: bool,
) -> list[np.ndarray]:
    vals = []
    for s in syms:
        shape = tuple(sizes[id(d.root())] for d in s.shape if isinstance(d, Dim))
        if positive:
            v = rng.uniform(0.5, 1.5, shape)
        else:
            v = rng.standard_normal(shape)
        if s.spd:
            n = shape[0]
            v = v @ v.T / n + np.eye(n)
        if s.diagonal:
            v = np.diag(np.diag(v))
        elif s.symmetric:
            v = (v + v.T) / 2
        vals.append(v)
    return vals


def _reference(out: Derivative, f: Callable, syms: tuple) -> Callable:
    """A jitted function of all values: (f's value, the autodiff derivative)."""
    nf = len(out.f.symbols)
    i = syms.index(out.wrt)
    if out.kind == "differential":

        def both(*vals):
            def g(v):
                return f(*vals[:i], v, *vals[i + 1 : nf])

            return jax.jvp(g, (vals[i],), (vals[-1],))

        return jax.jit(both)
    op = {"gradient": jax.grad, "jacobian": jax.jacfwd, "hessian": jax.hessian}

    def both(*vals):
        ref = op[out.kind](f, argnums=i)(*vals)  # the "jax" layout
        x_shape = tuple(np.shape(vals[i]))
        if out.kind == "hessian":
            ins, outs = x_shape, x_shape
        elif out.kind == "gradient":
            ins, outs = x_shape, ()
        else:
            ins, outs = x_shape, jax.eval_shape(f, *vals).shape
        ref = convert_layout(
            ref, in_shape=ins, out_shape=outs, src="jax", dst=out.layout
        )
        return f(*vals), ref

    return jax.jit(both)


def _verify(
    fn: str, out: Derivative, syms: tuple[Symbol, ...], key: jax.Array
) -> float:
    fsyms = out.f.symbols
    seed = np.asarray(jax.random.key_data(key)).ravel().tolist()
    rng = np.random.default_rng(seed)
    dims = _dims(syms)
    sizes = {
        id(d): d.value if d.value is not None else int(rng.integers(2, 6)) for d in dims
    }  # noqa: E501
    worst = 0.0
    inverted = _inverted(out)
    with jax.enable_x64(True):
        check = _reference(out, _codegen.make_function(out.f, fsyms, fn), syms)
        for point in range(2):
            singular: list[str] = []
            for attempt, positive in enumerate((False, True, False, True)):
                if attempt == 2:  # other sizes: X - X' is singular at odd sizes
                    sizes = {
                        id(d): d.value
                        if d.value is not None
                        else int(rng.integers(2, 6))
                        for d in dims
                    }
                vals = _sample(syms, sizes, rng, positive)
                fval, ref = (np.asarray(r) for r in check(*vals))
                where = _singular_at(inverted, syms, vals, fn)
                finite = np.all(np.isfinite(fval)) and np.all(np.isfinite(ref))
                if finite and where is None:
                    break
                singular.append(
                    (where or f"`{out.f}` or its autodiff derivative is not finite")
                    + f" (sizes {_fmt_sizes(dims, sizes)})"
                )
            else:
                msg = (
                    f"{fn}: could not verify `{out.text}`: the expression is "
                    f"singular (or not finite) at every random point tried: "
                    f"{'; '.join(dict.fromkeys(singular))}. The closed form may "
                    f"still hold where `{out.f}` is defined; pass verify=False to "
                    f"skip the check, or declare the symbols (e.g. spd) so that "
                    f"the expression is defined."
                )
                raise VerificationError(msg)
            got = np.asarray(out.fn(*vals))
            if got.shape != ref.shape:
                msg = (
                    f"{fn}: the closed form `{out.text}` has shape {got.shape}, but "
                    f"autodiff gives {ref.shape} (sizes {_fmt_sizes(dims, sizes)})."
                )
                raise VerificationError(msg)
            scale = max(1.0, float(np.max(np.abs(ref))) if ref.size else 1.0)
            err = float(np.max(np.abs(got - ref))) / scale if ref.size else 0.0
            if not err <= VERIFY_RTOL:
                msg = (
                    f"{fn}: the closed form {out.kind} of `{out.f}` with respect to "
                    f"{out.wrt.name}, `{out.text}`, disagrees with JAX autodiff at "
                    f"random point {point}: max |closed form - autodiff| / "
                    f"max(1, |autodiff|) = {err:.3e} > {VERIFY_RTOL:.0e} (sizes "
                    f"{_fmt_sizes(dims, sizes)}). This is a bug in a rule; please "
                    f"report it."
                )
                raise VerificationError(msg)
            worst = max(worst, err)
    return worst


# A sample point where a matrix that is inverted (or whose determinant is taken)
# has a condition number above this is too close to singular to check at.
_COND_LIMIT = 1e8


def _inverted(out: Derivative) -> list[Expr]:
    """The arguments of inv, det and log det in f and in the closed form."""
    found: dict[Expr, None] = {}
    stack = [out.f, out.expr]
    while stack:
        e = stack.pop()
        if isinstance(e, Inv | Det | LogDet) and e.args[0].kind == "matrix":
            found.setdefault(e.args[0], None)
        stack.extend(e.args)
    return list(found)


def _singular_at(
    mats: list[Expr], syms: tuple[Symbol, ...], vals: list, fn: str
) -> str | None:
    """Which inverted matrix is (nearly) singular at the point, or None."""
    if not mats:
        return None
    used = [s for s in syms if any(m.depends_on(s) for m in mats)]
    vals_used = [v for s, v in zip(syms, vals, strict=True) if s in used]
    values = _codegen.evaluate(mats, used, vals_used, fn)
    for m, v in zip(mats, values, strict=True):
        v = np.asarray(v)
        cond = np.linalg.cond(v) if np.all(np.isfinite(v)) else np.inf
        if not cond < _COND_LIMIT:
            return f"`{m}` has condition number {cond:.1e}"
    return None


def _fmt_sizes(dims: list[Dim], sizes: dict[int, int]) -> str:
    return ", ".join(f"{d.label}={sizes[id(d)]}" for d in dims)


__all__ = [
    "Derivative",
    "UnsupportedDerivative",
    "VerificationError",
    "derive",
    "differential",
]
