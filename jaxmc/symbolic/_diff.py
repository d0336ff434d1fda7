"""Differentials by rule, and the identification theorems that read derivatives off.

``differential(f, X, dX)`` applies the rules of Magnus & Neudecker

    d(A + B) = dA + dB            d(AB) = dA B + A dB        d(A') = (dA)'
    d tr(A) = tr(dA)              d inv(A) = -inv(A) dA inv(A)
    d det(A) = det(A) tr(inv(A) dA)            d log|det A| = tr(inv(A) dA)
    d f(A) = f'(A) .* dA (element-wise f)      d ||A|| = sum(A .* dA) / ||A||

and returns an expression linear in the symbol ``dX``. Two identification steps
turn that linear expression into a derivative:

- ``gradient``: for scalar f, df = tr(G' dX) = <G, dX> identifies the gradient G
  (shaped like X). G is found by transposing the linear map: a cotangent starts
  at 1 at the root and is pushed down to dX (``a @ b``: the factor holding dX
  receives ``G b'`` or ``a' G``; ``tr``: ``G I``; ``sum``: ``G 1 1'``; ...).
- ``jacobian``: for vector-valued f and a vector (or scalar) variable,
  df = J dx identifies the Jacobian J (numerator layout). The same push-down
  carries the Jacobian of f with respect to each intermediate vector (after
  products are distributed so that they end in vectors). A matrix intermediate
  that depends on x would need Kronecker products and raises
  :class:`UnsupportedDerivative`; ``derive`` then reads J off the transpose,
  grad_x(v' f) = J' v for a symbolic vector v, which the gradient rules handle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn

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
    add,
    add_many,
    broadcast,
    diag,
    ediv,
    hadamard,
    identity,
    inv,
    is_scalar_shape,
    kind_of,
    kron,
    matmul,
    neg,
    numel,
    power,
    scale,
    sum_,
    tr,
    transpose,
    vec,
    zero,
)
from jaxmc.symbolic._expr import func as F

_FN = "jaxmc.symbolic"


class UnsupportedDerivative(ValueError):
    """Raised when a derivative cannot be stated in the expression language."""


def _fprime(name: str, u: Expr) -> Expr | None:
    """f'(u) for an element-wise function f (None when f' = 0 a.e.)."""
    one = broadcast(Const(1.0), u.shape)
    if name == "exp":
        return F("exp", u)
    if name == "log":
        return power(u, -1)
    if name == "sin":
        return F("cos", u)
    if name == "cos":
        return neg(F("sin", u))
    if name == "tanh":
        return add(one, neg(power(F("tanh", u), 2)))
    if name == "sigmoid":
        s = F("sigmoid", u)
        return hadamard(s, add(one, neg(s)))
    if name == "relu":
        return F("step", u)
    if name == "abs":
        return F("sign", u)
    if name == "sqrt":
        return scale(Const(0.5), power(u, -0.5))
    return None  # sign, step


def differential(e: Expr, x: Symbol, dx: Symbol) -> Expr | None:
    """The differential of ``e`` in the direction ``dx`` of ``x`` (None if 0)."""
    memo: dict[Expr, Expr | None] = {}

    def d(e: Expr) -> Expr | None:
        if e in memo:
            return memo[e]
        out = _d(e)
        memo[e] = out
        return out

    def _d(e: Expr) -> Expr | None:  # noqa: C901 - one rule per node type
        if e is x:
            return dx
        if not e.depends_on(x):
            return None
        a = e.args
        if isinstance(e, Add):
            terms = [t for t in (d(u) for u in a) if t is not None]
            return add_many(terms, e.shape) if terms else None
        if isinstance(e, ScalarMul | MatMul | Hadamard):
            op = {ScalarMul: scale, MatMul: matmul, Hadamard: hadamard}[type(e)]
            da, db = d(a[0]), d(a[1])
            terms = []
            if da is not None:
                terms.append(op(da, a[1]))
            if db is not None:
                terms.append(op(a[0], db))
            return add_many(terms, e.shape)
        if isinstance(e, ElemDiv):
            da, db = d(a[0]), d(a[1])
            terms = []
            if da is not None:
                terms.append(ediv(da, a[1]))
            if db is not None:
                # -(a ./ b.^2) .* db
                terms.append(neg(hadamard(ediv(a[0], power(a[1], 2)), db)))
            return add_many(terms, e.shape)
        if isinstance(e, Transpose):
            return transpose(d(a[0]))
        if isinstance(e, Power):
            return hadamard(scale(Const(e.p), power(a[0], e.p - 1)), d(a[0]))
        if isinstance(e, Func):
            fp = _fprime(e.name, a[0])
            return None if fp is None else hadamard(fp, d(a[0]))
        if isinstance(e, Trace):
            return tr(d(a[0]))
        if isinstance(e, Sum):
            return sum_(d(a[0]))
        if isinstance(e, Det):
            return scale(e, tr(matmul(inv(a[0]), d(a[0]))))
        if isinstance(e, LogDet):
            return tr(matmul(inv(a[0]), d(a[0])))
        if isinstance(e, Inv):
            return neg(matmul(matmul(e, d(a[0])), e))
        if isinstance(e, Norm2):
            return ediv(sum_(hadamard(a[0], d(a[0]))), e)
        if isinstance(e, Diag):
            return diag(d(a[0]))
        if isinstance(e, Norm1):
            return sum_(hadamard(F("sign", a[0]), d(a[0])))
        if isinstance(e, MatPower):
            # d(A^k) = sum_i A^i dA A^(k-1-i)
            da = d(a[0])

            def pw(i: int) -> Expr:
                return (
                    identity(a[0].shape[0])
                    if i == 0
                    else a[0]
                    if i == 1
                    else MatPower(a[0], i)
                )  # noqa: E501

            terms = [matmul(matmul(pw(i), da), pw(e.k - 1 - i)) for i in range(e.k)]
            return add_many(terms, e.shape)
        if isinstance(e, Kron):
            da, db = d(a[0]), d(a[1])
            terms = []
            if da is not None:
                terms.append(kron(da, a[1]))
            if db is not None:
                terms.append(kron(a[0], db))
            return Add(tuple(terms), e.shape) if len(terms) > 1 else terms[0]
        if isinstance(e, Vec):
            return vec(d(a[0]))
        if isinstance(e, Broadcast):
            return broadcast(d(a[0]), e.shape)
        msg = f"{_FN}: no differential rule for {type(e).__name__}."  # pragma: no cover
        raise NotImplementedError(msg)  # pragma: no cover

    return d(e)


def _nonlinear(e: Expr) -> NoReturn:
    msg = (
        f"{_FN}: internal error: the differential is not linear in the direction at "
        f"`{e}`."
    )
    raise RuntimeError(msg)


Rule = Callable[[Expr, Expr, list[bool]], tuple[Expr, Expr]]


def _push_down(
    df: Expr,
    dx: Symbol,
    seed: Expr,
    rule: Rule,
    check: Callable[[Expr], None] | None = None,
) -> list[Expr]:
    """Transposes the linear map ``dx -> df``: the cotangents reaching ``dx``.

    The cotangent ``seed`` starts at the root of ``df`` and is pushed down the
    expression to the leaves ``dx``: a sum passes it to every term; any other
    node ``e`` depending on ``dx`` hands it to ``rule(e, g, dep)``, which
    returns the one argument holding ``dx`` and that argument's cotangent
    (``dep[i]``: whether argument ``i`` depends on ``dx``). A product of two
    factors that both depend on ``dx``, or a division by one, is not linear.
    ``check(e)``, if given, runs first on every node depending on ``dx``.
    """
    contributions: list[Expr] = []

    def push(e: Expr, g: Expr) -> None:
        if e is dx:
            contributions.append(g)
            return
        if not e.depends_on(dx):
            return
        if check is not None:
            check(e)
        if isinstance(e, Add):
            for u in e.args:
                push(u, g)
            return
        dep = [u.depends_on(dx) for u in e.args]
        if len(dep) == 2 and all(dep):
            _nonlinear(e)
        if isinstance(e, ElemDiv) and dep[1]:
            _nonlinear(e)
        push(*rule(e, g, dep))

    push(df, seed)
    return contributions


def _gradient_rule(e: Expr, g: Expr, dep: list[bool]) -> tuple[Expr, Expr]:  # noqa: C901 - one rule per node type
    """For df = <G, dx>: the argument of ``e`` holding dx, and its cotangent."""
    a = e.args
    if isinstance(e, ScalarMul):
        s, u = a
        return (u, scale(s, g)) if dep[1] else (s, sum_(hadamard(g, u)))
    if isinstance(e, MatMul):
        if dep[0]:
            return a[0], matmul(g, transpose(a[1]))
        return a[1], matmul(transpose(a[0]), g)
    if isinstance(e, Transpose):
        return a[0], transpose(g)
    if isinstance(e, Hadamard):
        return (a[0], hadamard(g, a[1])) if dep[0] else (a[1], hadamard(g, a[0]))
    if isinstance(e, ElemDiv):
        return a[0], ediv(g, a[1])
    if isinstance(e, Trace):
        return a[0], scale(g, identity(a[0].shape[0]))
    if isinstance(e, Sum):
        return a[0], broadcast(g, a[0].shape)
    if isinstance(e, Diag):
        return a[0], diag(g)
    if isinstance(e, Broadcast):
        return a[0], sum_(g)
    _nonlinear(e)


def gradient_of_linear(df: Expr, dx: Symbol) -> Expr:
    """G with df = <G, dx> for a scalar ``df`` linear in ``dx`` (shaped like dx)."""
    contributions = _push_down(df, dx, Const(1.0), _gradient_rule)
    return add_many(contributions, dx.shape)


def _vecc(e: Expr) -> Expr:
    """Vec of a vector or scalar as a column."""
    return transpose(e) if kind_of(e.shape) == "row" else e


def _through_matrix(e: Expr, what: str) -> NoReturn:
    msg = (
        f"{_FN}.derive: the Jacobian passes through the matrix-valued "
        f"intermediate `{e}` ({what}), which depends on the variable; reading it "
        f"off needs Kronecker products: pass layout='vec' for the Kronecker "
        f"form, or derive the gradient of a scalar expression."
    )
    raise UnsupportedDerivative(msg)


def _no_matrix(e: Expr) -> None:
    if kind_of(e.shape) == "matrix":
        _through_matrix(e, "a matrix")


def _jacobian_rule(e: Expr, g: Expr, dep: list[bool]) -> tuple[Expr, Expr]:  # noqa: C901 - one rule per node type
    """For vec(df) = J vec(dx), e a vector or scalar: as ``_vec_rule``."""
    a = e.args
    if isinstance(e, ScalarMul):
        s, u = a
        return (u, scale(s, g)) if dep[1] else (s, matmul(g, _vecc(u)))
    if isinstance(e, MatMul):
        # e = u v is a vector or a scalar, so u is a row or v is a column:
        # vec(u v) = v' vec(u) (u a row) = u vec(v) (v a column).
        u, v = a
        if dep[0]:
            if kind_of(u.shape) == "matrix":
                _through_matrix(u, "a matrix factor")
            return u, matmul(g, transpose(v))
        if kind_of(v.shape) == "matrix":
            _through_matrix(v, "a matrix factor")
        return v, matmul(g, u)
    if isinstance(e, Transpose):
        return a[0], g
    if isinstance(e, Hadamard):
        other = a[1] if dep[0] else a[0]
        return a[0] if dep[0] else a[1], matmul(g, diag(_vecc(other)))
    if isinstance(e, ElemDiv):
        b = a[1]
        if kind_of(b.shape) == "scalar":
            return a[0], ediv(g, b)
        return a[0], matmul(g, diag(power(_vecc(b), -1)))
    if isinstance(e, Sum):
        return a[0], matmul(g, transpose(broadcast(Const(1.0), _vecc(a[0]).shape)))
    if isinstance(e, Broadcast):
        return a[0], matmul(g, broadcast(Const(1.0), _vecc(e).shape))
    if isinstance(e, Trace | Diag):
        _through_matrix(a[0], "a matrix argument")
    _nonlinear(e)


def jacobian_of_linear(df: Expr, dx: Symbol) -> Expr:
    """J with vec(df) = J vec(dx), for vector/scalar ``df`` and ``dx``."""
    m = df.shape[0] if kind_of(df.shape) != "row" else df.shape[1]
    contributions = _push_down(df, dx, identity(m), _jacobian_rule, _no_matrix)
    shape = (m, dx.shape[0])
    return add_many(contributions, shape)


def _vec_unsupported(e: Expr, why: str) -> NoReturn:
    msg = (
        f"{_FN}.derive: the vec-layout Jacobian passes through `{e}` ({why}), "
        f"which has no Kronecker form in the expression language; use "
        f"jaxmc.symbolic.differential for the differential, or jaxmc.jacobian "
        f"(layout='vec') for values."
    )
    raise UnsupportedDerivative(msg)


def _mm(a: Expr, b: Expr) -> Expr:
    """``a @ b``, or a scaling where one side is a scalar (no simplification)."""
    if is_scalar_shape(a.shape):
        return ScalarMul((a, b), b.shape)
    if is_scalar_shape(b.shape):
        return ScalarMul((b, a), a.shape)
    return MatMul((a, b), (a.shape[0], b.shape[1]))


def _t(a: Expr) -> Expr:
    return a if is_scalar_shape(a.shape) else Transpose((a,), a.shape[::-1])


def _vec_rule(e: Expr, g: Expr, dep: list[bool]) -> tuple[Expr, Expr]:  # noqa: C901 - one rule per node type
    """The cotangent g = d vec(f) / d vec(e), (numel f, numel e), pushed on."""
    a = e.args
    if isinstance(e, ScalarMul):
        s, u = a
        return (u, _mm(s, g)) if dep[1] else (s, _mm(g, vec(u)))
    if isinstance(e, MatMul):
        u, v = a
        if dep[0]:  # vec(u v) = (v' kron I) vec(u)
            return u, _mm(g, kron(_t(v), identity(u.shape[0])))
        # vec(u v) = (I kron u) vec(v)
        return v, _mm(g, kron(identity(v.shape[1]), u))
    if isinstance(e, Transpose):
        u = a[0]
        if kind_of(u.shape) == "matrix":
            return u, _mm(g, CommutationMatrix(u.shape[0], u.shape[1]))
        return u, g
    if isinstance(e, Hadamard):
        u, w = (a[0], a[1]) if dep[0] else (a[1], a[0])
        return u, _mm(g, Diag((vec(w),), (numel(w.shape), numel(w.shape))))
    if isinstance(e, ElemDiv):
        b = a[1]
        if is_scalar_shape(b.shape):
            return a[0], ElemDiv((g, b), g.shape)
        n = numel(b.shape)
        return a[0], _mm(g, Diag((Power(vec(b), -1.0),), (n, n)))
    if isinstance(e, Trace):
        return a[0], _mm(g, _t(vec(identity(a[0].shape[0]))))
    if isinstance(e, Sum):
        return a[0], _mm(g, Broadcast((Const(1.0),), (1, numel(a[0].shape))))
    if isinstance(e, Broadcast):
        return a[0], _mm(g, Broadcast((Const(1.0),), (numel(e.shape), 1)))
    if isinstance(e, Vec):
        return a[0], g
    if isinstance(e, Diag):
        # vec(diag(u)) = D u and diag(M) = D' vec(M), with the selection
        # D = diag(vec(I)) (1 kron I) of shape (n^2, n).
        n = e.shape[0]
        eye = identity(n)
        sel = _mm(
            Diag((vec(eye),), (numel(eye.shape), numel(eye.shape))),
            kron(Broadcast((Const(1.0),), (n, 1)), eye),
        )
        return a[0], _mm(g, sel if kind_of(e.shape) == "matrix" else _t(sel))
    _vec_unsupported(e, type(e).__name__)


def jacobian_vec(df: Expr, dx: Symbol) -> Expr:
    """J with vec(df) = J vec(dx), for ``df`` of any shape linear in ``dx``.

    Magnus & Neudecker's first identification theorem: the cotangent
    g = d vec(f) / d vec(e), of shape (numel f, numel e), is pushed down from
    the root (where it is the identity) with vec(A U B) = (B' kron A) vec(U),
    vec(U') = K vec(U) (the commutation matrix), vec(s U) = vec(U) s and
    vec(U .* W) = diag(vec(W)) vec(U).
    """
    m = numel(df.shape)
    contributions = _push_down(df, dx, identity(m), _vec_rule)
    shape = (m, numel(dx.shape))
    if not contributions:
        return zero(shape)
    if len(contributions) == 1:
        return contributions[0]
    return Add(tuple(contributions), contributions[0].shape)
