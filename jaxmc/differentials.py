r"""Trace-trick differentials: from a hand-written differential to the derivative.

The method of Magnus & Neudecker derives a derivative by writing the
differential and reading the derivative off it. This module makes each step
executable, so a derivation done on paper can be checked line by line:

* :func:`differential` computes ``df = f'(X)[dX]``, the directional derivative
  (a Jacobian-vector product), to compare with a differential derived by hand,
  e.g. ``d log det X = tr(X^{-1} dX)``.
* :func:`gradient_from_differential` is the trace trick: for a scalar ``f``
  whose differential is the linear map ``dX -> df``, it returns the unique ``G``
  of the shape of ``X`` with ``df = tr(G^T dX) = <G, dX>`` for every ``dX``
  (the gradient in the *numerator shape = variable shape* convention). It
  transposes the linear map with ``jax.linear_transpose``: one transposed
  evaluation, no loop over basis matrices.
* :func:`jacobian_from_differential` is the first identification theorem: if
  ``vec(dF) = A vec(dX)`` then ``A`` is the Jacobian ``D F(X)``, of shape
  ``(len(vec F), len(vec X))``, with ``vec`` column-major (:func:`jaxmc.vec`).
* :func:`hessian_from_second_differential` is the second identification
  theorem: if ``d^2 f = dx^T B dx`` then the Hessian is ``H = (B + B^T) / 2``.
  ``d^2 f`` is the second differential (``2 dx^T A dx`` for ``x^T A x``), not
  the Taylor term ``d^2 f / 2``; a ``d2f`` that is not a quadratic form raises.

Symmetric-matrix variables
--------------------------
When ``X`` is constrained to be symmetric, "the gradient" answers one of three
different questions. All three start from ``G``, the unconstrained gradient of
any extension of ``f`` to all square matrices (``X^{-T}`` for ``log det``);
all three depend only on the symmetric part of ``G``, so the extension chosen
does not matter. :func:`symmetric_gradient` returns each:

* ``"sym"``: ``(G + G^T) / 2``, the gradient in the space of symmetric
  matrices with the Frobenius inner product: the unique *symmetric* ``S`` with
  ``df = tr(S^T dX)`` for every *symmetric* ``dX``. Use it for gradient
  descent on a symmetric matrix, for Riemannian/projected methods, and whenever
  the derivative is paired with symmetric directions. For ``log det`` on SPD
  matrices it is ``X^{-1}``.
* ``"vech"``: ``D_n^T vec(G)``, a vector of length ``n (n + 1) / 2``: the
  ordinary gradient of ``s -> f(unvech(s))`` with respect to the independent
  entries ``s = vech(X)`` (lower triangle, column by column). Use it when the
  parameters really are the ``n (n + 1) / 2`` free entries (an optimiser over
  ``vech``, a Jacobian chained through ``vech``, a Fisher information).
* ``"cookbook"``: ``G + G^T - G * I`` (the Matrix Cookbook's rule, and the
  seed notes' ``2 X^{-1} - diag(X^{-1})`` for ``log det``). This is the
  ``"vech"`` gradient written back into a symmetric matrix:
  ``cookbook[i, j] = cookbook[j, i] = d f(unvech(s)) / d s_ij``, the
  derivative when the tied pair ``X_ij = X_ji`` moves together, i.e. the
  partial derivative with respect to a lower-triangle entry of the function
  evaluated on the symmetrised matrix. It is **not** a gradient with respect to
  the Frobenius inner product: for symmetric ``dX``,
  ``tr(cookbook^T dX) != df`` whenever ``dX`` has off-diagonal entries (they
  are counted twice). Use it to read off partial derivatives entry by entry,
  not as a descent direction on the matrix.

The three agree on the diagonal; off the diagonal ``cookbook = 2 sym`` and
``vech(cookbook) = vech-gradient``.

Conventions
-----------
``vec`` is column-major (Magnus & Neudecker). Variables and values of rank 0,
1 or 2 are supported by the vec-layout functions; a scalar counts as a vector
of length 1. Real floating dtypes only; results take the dtype of ``X``.
A variable with no entries raises a ``ValueError`` (nothing to differentiate),
and a user function that raises is reported with its error quoted.

Transforms. Every function here works under ``jax.jit``, ``jax.vmap``,
``jax.grad`` and ``jax.jacfwd``, also when the differential closes over a
traced value (``vmap`` over the point ``X``, ``grad`` with respect to a matrix
inside ``df``). The check that a differential is linear has two parts:
``jax.linear_transpose`` rejects maps it cannot transpose, always; the value
check ``df(0) == 0`` (which catches a constant term) needs concrete values and
is skipped under tracing.

References:
  J. R. Magnus and H. Neudecker, *Matrix Differential Calculus with
  Applications in Statistics and Econometrics*, 3rd ed., Wiley, 2019,
  ch. 5 (first identification theorem), 6 (second identification theorem).
  K. B. Petersen and M. S. Pedersen, *The Matrix Cookbook*, 2012, sec. 2.8.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmc import _checks
from jaxmc.vec import unvec as _unvec
from jaxmc.vec import vec as _vec
from jaxmc.vec import vech as _vech

__all__ = [
    "differential",
    "gradient_from_differential",
    "hessian_from_second_differential",
    "jacobian_from_differential",
    "symmetric_gradient",
]

_CONVENTIONS = ("sym", "vech", "cookbook")


def _tree_shapes(tree: Any) -> list[tuple[int, ...]]:
    return [tuple(np.shape(leaf)) for leaf in jax.tree_util.tree_leaves(tree)]


def _as_real_variable(fn: str, name: str, X: Any) -> Any:
    """``X`` as a non-empty pytree of real floating arrays (lists become arrays)."""
    return _checks.as_variable(fn, name, X)


def _vec_any(x: jax.Array) -> jax.Array:
    """Column-major vec of a rank 0, 1 or 2 array (a scalar is a length-1 vector)."""
    return _vec(jnp.reshape(x, (1,)) if x.ndim == 0 else x)


def _check_vec_rank(fn: str, name: str, x: Any) -> None:
    if not hasattr(x, "ndim") or x.ndim > 2:
        shape = getattr(x, "shape", None)
        given = f"shape {tuple(shape)}" if shape is not None else type(x).__name__
        msg = (
            f"{fn}: {name} must be a scalar, vector or matrix (rank 0, 1 or 2, so "
            f"that it has a column-major vec); got {given}. Reshape higher-rank "
            f"arrays to matrices first."
        )
        raise ValueError(msg)


def _check_scalar_output(fn: str, name: str, out: Any) -> None:
    if not (hasattr(out, "shape") and out.shape == ()):
        given = _checks.describe(out)
        msg = (
            f"{fn}: argument `{name}` must return a scalar (shape ()); got "
            f"{given}. Reduce it to a scalar (e.g. jnp.trace or jnp.sum), or use "
            f"jacobian_from_differential for array-valued differentials."
        )
        raise ValueError(msg)


def _check_linear_at_zero(fn: str, name: str, d: Callable, zero: Any) -> None:
    """Raises if concrete ``d(0)`` is non-zero (an affine, not linear, map).

    A value check, so it runs only on concrete values: when ``d`` closes over a
    traced value (under ``jax.jit``, ``jax.vmap``, ``jax.grad`` or
    ``jax.jacfwd``) it is skipped, and ``jax.linear_transpose`` alone rejects
    maps that are not linear.
    """
    if not _checks.is_concrete(zero):
        return
    values = d(zero)
    if not _checks.is_concrete(values):
        return
    for value in jax.tree_util.tree_leaves(values):
        arr = np.asarray(value)
        if np.issubdtype(arr.dtype, np.inexact) and np.any(arr != 0):
            msg = (
                f"{fn}: argument `{name}` must be linear in dX, but {name}(0) = "
                f"{arr.tolist()} is not zero (it has a constant term). Drop the "
                f"terms that do not contain dX."
            )
            raise ValueError(msg)


def _transpose_error(fn: str, name: str, err: Exception) -> ValueError:
    msg = (
        f"{fn}: argument `{name}` must be linear in dX (built from linear "
        f"operations on dX such as products with constant matrices, traces, "
        f"transposes and solves); JAX could not transpose it "
        f"({type(err).__name__}: {str(err)[:200]})."
    )
    return ValueError(msg)


def differential(f: Callable, argnums: int = 0) -> Callable:
    r"""Returns ``df(*args, dX)``, the differential of ``f`` in direction ``dX``.

    ``df(*args, dX) = f'(X)[dX] = lim_{t -> 0} (f(X + t dX) - f(X)) / t`` with
    ``X = args[argnums]``: the Jacobian-vector product (``jax.jvp``). It has
    the value type of ``f`` (scalar, array or pytree) and is linear in ``dX``.
    Compare it with a differential derived by hand, e.g.
    ``d(X^{-1}) = -X^{-1} dX X^{-1}``.

    Args:
      f: a differentiable function of one or more arguments.
      argnums: which positional argument of ``f`` is the variable ``X``
        (an int).

    Returns:
      A function ``df(*args, dX)`` taking ``f``'s arguments followed by the
      direction ``dX``, a pytree of the structure and shapes of ``X``. Its
      floating leaves are cast to ``X``'s dtype. It works under ``jax.jit``
      and ``jax.vmap``.

    Raises:
      TypeError: if ``f`` is not callable, ``argnums`` is not an int, or ``X``
        is not real floating.
      ValueError: (from ``df``) if ``dX`` differs from ``X`` in structure or
        shape, or ``argnums`` is out of range.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxmc import differential
      >>> d_logdet = differential(lambda X: jnp.linalg.slogdet(X)[1])
      >>> X = jnp.array([[2.0, 0.0], [0.0, 4.0]])
      >>> float(d_logdet(X, jnp.eye(2)))  # tr(X^{-1} I) = 1/2 + 1/4
      0.75
    """
    fn = "jaxmc.differential"
    _checks.check_callable(fn, "f", f)
    if isinstance(argnums, bool) or not isinstance(argnums, int):
        msg = f"{fn}: argument `argnums` must be an int; got {argnums!r}."
        raise TypeError(msg)

    def df(*args_and_direction: Any) -> Any:
        if len(args_and_direction) < 2:
            msg = (
                f"{fn}: df must be called as df(*args, dX) with f's arguments "
                f"then the direction dX; got {len(args_and_direction)} argument(s)."
            )
            raise TypeError(msg)
        *args, dX = args_and_direction
        if not -len(args) <= argnums < len(args):
            msg = (
                f"{fn}: argument `argnums`={argnums} is out of range for f called "
                f"with {len(args)} argument(s)."
            )
            raise ValueError(msg)
        index = operator.index(argnums) % len(args)
        X = _as_real_variable(fn, "X", args[index])
        dX = jax.tree_util.tree_map(lambda leaf: _checks.as_array(fn, "dX", leaf), dX)
        structure_x = jax.tree_util.tree_structure(X)
        structure_d = jax.tree_util.tree_structure(dX)
        if structure_x != structure_d or _tree_shapes(X) != _tree_shapes(dX):
            msg = (
                f"{fn}: the direction `dX` must have the structure and shape of "
                f"the variable X = args[{index}]; got X with shape(s) "
                f"{_tree_shapes(X)} and dX with shape(s) {_tree_shapes(dX)}."
            )
            raise ValueError(msg)
        dX = jax.tree_util.tree_map(lambda d, x: d.astype(x.dtype), dX, X)

        def f_of_x(x: Any) -> Any:
            full = list(args)
            full[index] = x
            return f(*full)

        _checks.eval_user(fn, "f", f_of_x, (X,))
        return jax.jvp(f_of_x, (X,), (dX,))[1]

    return df


def gradient_from_differential(df: Callable, X: Any, /) -> Any:
    r"""Reads the gradient off a scalar differential: ``df(dX) = tr(G^T dX)``.

    The trace trick: a linear map ``dX -> df`` to the reals is ``<G, dX>`` for
    exactly one ``G`` of the shape of ``X``, the gradient
    (``G[i, j] = d f / d X[i, j]``). ``G`` is the transpose of the linear map
    applied to 1, computed with ``jax.linear_transpose`` in one evaluation,
    without looping over basis matrices. For ``df = tr(X^{-1} dX)``
    (``log det``) it returns ``X^{-T}``; for ``df = tr(A dX B)`` it returns
    ``A^T B^T``.

    Args:
      df: a function of one argument ``dX`` (a pytree of the structure and
        shapes of ``X``) returning a scalar, linear in ``dX``: write it with the
        point ``X`` closed over, e.g. ``lambda dX: jnp.trace(Xinv @ dX)``.
      X: the variable (an array or pytree of real floating arrays); only its
        shapes and dtypes are used.

    Returns:
      ``G``, of the structure, shapes and dtypes of ``X``. Works under
      ``jax.jit`` (close over ``df``).

    Raises:
      TypeError: if ``df`` is not callable or ``X`` is not real floating.
      ValueError: if ``df`` does not return a scalar, or is not linear in
        ``dX`` (JAX cannot transpose it, or, for concrete inputs, ``df(0) != 0``).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxmc import gradient_from_differential
      >>> A = jnp.array([[1.0, 2.0], [3.0, 4.0]])
      >>> G = gradient_from_differential(lambda dX: jnp.trace(A @ dX), jnp.ones((2, 2)))
      >>> G.tolist() == A.T.tolist()  # d tr(A X) / dX = A^T
      True
    """
    fn = "jaxmc.gradient_from_differential"
    _checks.check_callable(fn, "df", df)
    X = _as_real_variable(fn, "X", X)
    zero = jax.tree_util.tree_map(jnp.zeros_like, X)
    out = _checks.eval_user(fn, "df", df, (zero,))
    _check_scalar_output(fn, "df", out)
    _check_linear_at_zero(fn, "df", df, zero)
    try:
        transpose = jax.linear_transpose(df, zero)
        (G,) = transpose(jnp.ones((), dtype=out.dtype))
    except (NotImplementedError, AssertionError) as err:
        raise _transpose_error(fn, "df", err) from None
    return jax.tree_util.tree_map(lambda g, x: g.astype(x.dtype), G, X)


def jacobian_from_differential(dF: Callable, X: jax.Array, /) -> jax.Array:
    r"""First identification theorem: ``vec(dF) = A vec(dX)`` gives the Jacobian A.

    For a matrix function ``F`` of a matrix ``X`` with differential
    ``dF = L(dX)`` (a linear map), returns the matrix ``A`` with
    ``vec(L(dX)) = A vec(dX)`` for every ``dX``: the Jacobian ``D F(X)`` in
    Magnus & Neudecker's layout (rows index ``vec F``, columns ``vec X``,
    ``vec`` column-major). For ``d(X^{-1}) = -X^{-1} dX X^{-1}`` it is
    ``-(X^{-T} kron X^{-1})``; for ``d(AXB) = A dX B`` it is ``B^T kron A``.
    Built column by column with forward-mode products (``jax.jacfwd`` of the
    linear map) when ``vec X`` is shorter than ``vec F``, row by row with
    transposed products (``jax.jacrev``) otherwise.

    Args:
      dF: a linear function of ``dX`` (same shape as ``X``) returning an array
        of rank 0, 1 or 2.
      X: the variable, a real floating array of rank 0, 1 or 2 (a scalar
        counts as a vector of length 1); only its shape and dtype are used.

    Returns:
      ``A`` of shape ``(p, m n)`` where ``p`` is the size of ``dF``'s value and
      ``(m, n)`` the shape of ``X``, in the dtype of ``dF``'s value. Works
      under ``jax.jit``.

    Raises:
      TypeError: if ``dF`` is not callable or ``X`` is not real floating.
      ValueError: if ``X`` or the value of ``dF`` has rank above 2, or ``dF``
        is not linear in ``dX`` (JAX cannot transpose it, or, for concrete
        inputs, ``dF(0) != 0``).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxmc import jacobian_from_differential
      >>> A = jnp.array([[1.0, 2.0], [3.0, 4.0]])
      >>> J = jacobian_from_differential(lambda dX: A @ dX, jnp.zeros((2, 1)))
      >>> J.tolist() == A.tolist()  # vec(A dX) = (I kron A) vec(dX)
      True
    """
    fn = "jaxmc.jacobian_from_differential"
    _checks.check_callable(fn, "dF", dF)
    X = _checks.as_array(fn, "X", X)
    _checks.check_floating(fn, "X", X)
    _check_vec_rank(fn, "argument `X`", X)
    _checks.check_nonempty(fn, "X", X)
    zero = jnp.zeros_like(X)
    out = _checks.eval_user(fn, "dF", dF, (zero,))
    _check_vec_rank(fn, "the value of `dF`", out)
    if not jnp.issubdtype(out.dtype, jnp.floating):
        msg = (
            f"{fn}: argument `dF` must return a floating array; got dtype {out.dtype}."
        )
        raise TypeError(msg)
    if math.prod(out.shape) == 0:
        msg = (
            f"{fn}: argument `dF` returned an array with no entries (shape "
            f"{_checks._shape_str(out.shape)}), so the Jacobian has none."
        )
        raise ValueError(msg)
    _check_linear_at_zero(fn, "dF", dF, zero)
    try:  # Tracing the transpose (no FLOPs) rejects maps that are not linear.
        jax.eval_shape(jax.linear_transpose(dF, zero), out)
    except (NotImplementedError, AssertionError) as err:
        raise _transpose_error(fn, "dF", err) from None
    shape = X.shape

    def vec_map(v: jax.Array) -> jax.Array:
        dX = _unvec_any(v, shape)
        return _vec_any(jnp.asarray(dF(dX)))

    v0 = jnp.zeros((X.size,), dtype=X.dtype)
    out_size = int(np.prod(out.shape))
    jac = jax.jacfwd if X.size <= out_size else jax.jacrev
    return jac(vec_map)(v0)


def _unvec_any(v: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    if len(shape) == 0:
        return v.reshape(())
    return _unvec(v, shape)


def _check_quadratic_form(fn: str, d2f: Callable, x: jax.Array) -> None:
    """Raises unless concrete ``d2f`` is a quadratic form in ``dx``.

    Three identities every quadratic form ``q(u) = u^T B u`` satisfies, at two
    fixed pseudo-random directions ``u`` and ``v``: ``q(0) = 0``,
    ``q(2u) = 4 q(u)`` and the parallelogram law (the symmetric polarisation
    identity) ``q(u + v) + q(u - v) = 2 q(u) + 2 q(v)``. Skipped when ``x`` or a
    value of ``d2f`` is traced (under jit, vmap or grad).
    """
    if not _checks.is_concrete(x):
        return
    ku, kv = jax.random.split(jax.random.key(0))
    u = jax.random.normal(ku, x.shape, dtype=x.dtype)
    v = jax.random.normal(kv, x.shape, dtype=x.dtype)
    probes = {
        "0": jnp.zeros_like(x),
        "u": u,
        "2u": 2 * u,
        "v": v,
        "u+v": u + v,
        "u-v": u - v,
    }
    q = {}
    for name, direction in probes.items():
        value = d2f(direction)
        if not _checks.is_concrete(value):
            return
        q[name] = float(np.asarray(value, dtype=np.float64))
    if not all(np.isfinite(list(q.values()))):
        return  # non-finite values are not a question of the form's degree
    scale = max(abs(val) for val in q.values())
    tol = 64 * max(1, x.size) * float(jnp.finfo(x.dtype).eps) * max(scale, 1e-30)
    hint = (
        " Write d2f as the second differential, quadratic in dx (for "
        "f = x^T A x: lambda dx: 2 * dx @ A @ dx)."
    )
    if abs(q["0"]) > tol:
        msg = (
            f"{fn}: argument `d2f` must be a quadratic form in dx, but d2f(0) = "
            f"{q['0']:.6g} is not zero (it has a constant term: an affine or "
            f"constant d2f).{hint}"
        )
        raise ValueError(msg)
    if abs(q["2u"] - 4 * q["u"]) > tol:
        ratio = abs(q["2u"] / q["u"]) if q["u"] != 0 else float("inf")
        degree = f"{np.log2(ratio):.3g}" if 0 < ratio < float("inf") else "?"
        msg = (
            f"{fn}: argument `d2f` must be a quadratic form in dx (degree 2), "
            f"but d2f(2 dx) = {q['2u']:.6g} is not 4 d2f(dx) = {4 * q['u']:.6g} "
            f"for a test direction dx (it scales like degree {degree}: a linear "
            f"or cubic term?).{hint}"
        )
        raise ValueError(msg)
    parallelogram = q["u+v"] + q["u-v"] - 2 * q["u"] - 2 * q["v"]
    if abs(parallelogram) > tol:
        msg = (
            f"{fn}: argument `d2f` must be a quadratic form in dx, but it fails "
            f"the polarisation identity d2f(u + v) + d2f(u - v) = 2 d2f(u) + "
            f"2 d2f(v) by {parallelogram:.6g} for test directions u, v (it is "
            f"homogeneous of degree 2 but not a quadratic form, e.g. it has an "
            f"absolute value or a norm that is not Euclidean).{hint}"
        )
        raise ValueError(msg)


def hessian_from_second_differential(d2f: Callable, x: jax.Array, /) -> jax.Array:
    r"""Second identification theorem: ``d^2 f = dx^T B dx`` gives ``H = (B + B^T)/2``.

    ``d2f`` is the second differential written as a quadratic form in ``dx``
    (for a matrix variable, in ``vec(dX)``: ``d^2 f = vec(dX)^T B vec(dX)``).
    A quadratic form determines only the symmetric part of ``B``, which is the
    Hessian. It is recovered as half the Hessian of ``q(dx) = d2f(dx)`` (an
    exact identity for a quadratic form: ``nabla^2 q = B + B^T``), computed
    with ``jax.hessian`` at ``dx = 0`` and symmetrised once more so that the
    result is exactly symmetric in floating point.

    Convention: ``d2f`` is the second differential ``d^2 f = dx^T H dx``
    (Magnus & Neudecker), **not** the second-order Taylor term
    ``dx^T H dx / 2``. For ``f(x) = x^T A x``, ``df = dx^T (A + A^T) x`` and
    ``d^2 f = 2 dx^T A dx``, so pass ``lambda dx: 2 * dx @ A @ dx``; passing
    the Taylor term ``lambda dx: dx @ A @ dx`` (the mistake) returns
    ``(A + A^T) / 2``, half the Hessian. Both are quadratic forms, so no check
    can tell them apart.

    Input checks: on concrete inputs (eager calls) ``d2f`` must be a quadratic
    form: ``d2f(0) = 0``, ``d2f(2 dx) = 4 d2f(dx)`` and the polarisation
    identity ``d2f(u + v) + d2f(u - v) = 2 d2f(u) + 2 d2f(v)`` must hold, up
    to rounding, at fixed test directions. A linear, cubic or affine ``d2f``
    (which would give zeros or drop terms) raises. Under ``jax.jit``,
    ``jax.vmap`` or ``jax.grad`` (a traced ``x`` or a ``d2f`` closing over
    traced values) the checks are skipped.

    Args:
      d2f: a function of ``dx`` (same shape as ``x``) returning a scalar,
        quadratic in ``dx``; e.g. for ``f(X) = log det X``,
        ``lambda dX: -jnp.trace(Xinv @ dX @ Xinv @ dX)``.
      x: the variable, a real floating array of rank 0, 1 or 2; only its shape
        and dtype are used.

    Returns:
      ``H`` of shape ``(N, N)`` with ``N = x.size``, in the vec layout
      (column-major), symmetric, with ``d2f(dx) = vec(dx)^T H vec(dx)``. Works
      under ``jax.jit``.

    Raises:
      TypeError: if ``d2f`` is not callable or ``x`` is not real floating.
      ValueError: if ``x`` has rank above 2, ``d2f`` does not return a
        scalar, or (concrete inputs) ``d2f`` is not a quadratic form in ``dx``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxmc import hessian_from_second_differential
      >>> B = jnp.array([[1.0, 4.0], [0.0, 3.0]])
      >>> H = hessian_from_second_differential(lambda dx: dx @ B @ dx, jnp.zeros(2))
      >>> H.tolist()
      [[1.0, 2.0], [2.0, 3.0]]
    """
    fn = "jaxmc.hessian_from_second_differential"
    _checks.check_callable(fn, "d2f", d2f)
    x = _checks.as_array(fn, "x", x)
    _checks.check_floating(fn, "x", x)
    _check_vec_rank(fn, "argument `x`", x)
    _checks.check_nonempty(fn, "x", x)
    zero = jnp.zeros_like(x)
    _check_scalar_output(fn, "d2f", _checks.eval_user(fn, "d2f", d2f, (zero,)))
    _check_quadratic_form(fn, d2f, x)
    shape = x.shape

    def quadratic(v: jax.Array) -> jax.Array:
        return d2f(_unvec_any(v, shape))

    v0 = jnp.zeros((x.size,), dtype=x.dtype)
    twice = jax.hessian(quadratic)(v0)
    return ((twice + twice.T) / 4).astype(x.dtype)


def symmetric_gradient(G: jax.Array, /, convention: str = "sym") -> jax.Array:
    r"""Maps an unconstrained gradient ``G`` to a gradient for a symmetric variable.

    See the module docstring for which convention answers which question.

    * ``"sym"``: ``(G + G^T) / 2``, the gradient in the space of symmetric
      matrices: ``df = tr(S^T dX)`` for every symmetric ``dX``.
    * ``"vech"``: ``D_n^T vec(G)``, the gradient of ``s -> f(unvech(s))``
      with respect to the ``n (n + 1) / 2`` independent entries ``s = vech(X)``
      (computed by indexing, as ``vech(G + G^T - G * I)``, without forming
      ``D_n``).
    * ``"cookbook"``: ``G + G^T - G * I``, the Matrix Cookbook's rule:
      entry ``(i, j)`` is the partial derivative with respect to the tied pair
      ``X_ij = X_ji``; ``vech`` of it is the ``"vech"`` gradient. Not a
      Frobenius gradient (it double counts off-diagonal directions).

    Args:
      G: the unconstrained gradient, a square matrix of shape ``(n, n)``, e.g.
        ``jax.grad(f)(X)`` for ``f`` defined on all square matrices.
      convention: ``"sym"`` (default), ``"vech"`` or ``"cookbook"``.

    Returns:
      A symmetric ``(n, n)`` matrix for ``"sym"`` and ``"cookbook"``, a vector
      of shape ``(n (n + 1) / 2,)`` for ``"vech"``; in the dtype of ``G``.
      Works under ``jax.jit`` and ``jax.vmap``.

    Raises:
      ValueError: if ``G`` is not a square matrix, ``convention`` is unknown,
        or (for concrete ``G``, not under tracing) ``G`` holds NaN or
        infinity; the message gives the first such entry.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxmc import symmetric_gradient
      >>> G = jnp.array([[1.0, 2.0], [4.0, 3.0]])
      >>> symmetric_gradient(G).tolist()
      [[1.0, 3.0], [3.0, 3.0]]
      >>> symmetric_gradient(G, convention="vech").tolist()
      [1.0, 6.0, 3.0]
      >>> symmetric_gradient(G, convention="cookbook").tolist()
      [[1.0, 6.0], [6.0, 3.0]]
    """
    fn = "jaxmc.symmetric_gradient"
    G = _checks.as_array(fn, "G", G)
    _checks.check_square(fn, "G", G)
    _checks.check_finite(fn, "G", G)
    _checks.check_one_of(fn, "convention", convention, _CONVENTIONS)
    if convention == "sym":
        return (G + G.T) / 2
    cookbook = G + G.T - jnp.diag(jnp.diagonal(G))
    if convention == "cookbook":
        return cookbook
    return _vech(cookbook)
