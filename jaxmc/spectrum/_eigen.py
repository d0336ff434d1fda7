"""Extreme eigenpairs of symmetric operators: thick-restart Lanczos, power iteration.

:func:`eigenvalues` runs Lanczos with full reorthogonalisation on a basis of
``m`` vectors, restarted (Wu & Simon's thick restart, a Krylov-Schur variant for
symmetric operators) while the ``k`` wanted Ritz pairs have residuals
``||A y - theta y||`` above ``tol * ||A||``. Everything runs inside
``jax.lax.while_loop`` / ``fori_loop``, so the whole solve compiles to one XLA
program (for operators that stream data from Python, the same loops run on the
host). :func:`power_iteration` with deflation is the textbook baseline.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmc import _checks
from jaxmc.spectrum import _loops

__all__ = ["EigenResult", "eigenvalues", "power_iteration"]

_WHICH = ("largest", "smallest", "both", "largest_magnitude")


class EigenResult(NamedTuple):
    """Eigenpairs of a symmetric operator and how well they are resolved.

    Attributes:
      values: the eigenvalues, shape ``(k,)`` (``(2k,)`` for ``which="both"``:
        the ``k`` largest in decreasing order, then the ``k`` smallest in
        increasing order).
      vectors: the unit eigenvectors, as ``op.unravel`` returns them with a
        leading axis of the same length as ``values`` (a ``(k, n)`` array for a
        matrix operator, a parameter pytree with leading axis for Hessians).
      residuals: ``||A v - lambda v||`` for each pair, computed with explicit
        matvecs, shape like ``values``.
      converged: ``residuals <= tol * ||A||`` (``||A||`` estimated by the
        largest Ritz value in magnitude), bools shaped like ``values``.
      num_matvecs: the number of matvecs used (an int array).
    """

    values: jax.Array
    vectors: Any
    residuals: jax.Array
    converged: jax.Array
    num_matvecs: jax.Array

    def __repr__(self) -> str:
        if not _checks.is_concrete(self.values):
            return f"EigenResult(values={self.values}, ...)"
        vals = np.array2string(np.asarray(self.values), precision=6)
        return (
            f"EigenResult(values={vals}, "
            f"max_residual={float(jnp.max(self.residuals)):.2e}, "
            f"converged={int(jnp.sum(self.converged))}/{self.converged.size}, "
            f"num_matvecs={int(self.num_matvecs)})"
        )


def _rank(x: jax.Array) -> jax.Array:
    return jnp.argsort(jnp.argsort(x))


def _priority(theta: jax.Array, which: str) -> jax.Array:
    """Lower is more wanted; ``which="both"`` interleaves the two ends."""
    if which == "largest":
        return _rank(-theta)
    if which == "smallest":
        return _rank(theta)
    if which == "largest_magnitude":
        return _rank(-jnp.abs(theta))
    return jnp.minimum(2 * _rank(-theta), 2 * _rank(theta) + 1)


def _select(theta: jax.Array, which: str, k: int) -> jax.Array:
    """Indices of the k wanted Ritz values, in the order they are reported."""
    if which == "largest":
        return jnp.argsort(-theta)[:k]
    if which == "smallest":
        return jnp.argsort(theta)[:k]
    if which == "largest_magnitude":
        return jnp.argsort(-jnp.abs(theta))[:k]
    return jnp.concatenate([jnp.argsort(-theta)[:k], jnp.argsort(theta)[:k]])


def _orthogonalise(V: jax.Array, w: jax.Array, mask: jax.Array):
    """Two passes of classical Gram-Schmidt against the rows of V in mask."""
    h = (V @ w) * mask
    w = w - h @ V
    h2 = (V @ w) * mask
    return w - h2 @ V, h + h2


def _lanczos(matvec, v0, key, *, k, which, tol, m, p, max_matvecs):
    (n,) = v0.shape
    dtype = v0.dtype
    eps = jnp.finfo(dtype).eps
    tiny = jnp.finfo(dtype).tiny
    rows = jnp.arange(m + 1)

    def extend(V, T, beta, anorm, j0, cycle):
        def step(j, carry):
            V, T, beta, anorm = carry
            w = matvec(V[j])
            wnorm = jnp.linalg.norm(w)
            anorm = jnp.maximum(anorm, wnorm)
            mask = (rows <= j).astype(dtype)
            w, h = _orthogonalise(V, w, mask)
            col = h[:m] * mask[:m]
            T = T.at[:, j].set(col).at[j, :].set(col)
            beta = jnp.linalg.norm(w)
            broke = beta <= 100 * eps * np.sqrt(m) * anorm

            def fresh(_):
                r = jax.random.normal(
                    jax.random.fold_in(jax.random.fold_in(key, cycle), j), (n,), dtype
                )
                return _orthogonalise(V, r, mask)[0]

            w = jax.lax.cond(broke, fresh, lambda _: w, None)
            beta = jnp.where(broke, jnp.zeros_like(beta), beta)
            V = V.at[j + 1].set(w / jnp.maximum(jnp.linalg.norm(w), tiny))
            return V, T, beta, anorm

        return jax.lax.fori_loop(j0, m, step, (V, T, beta, anorm))

    def residual_estimates(T, beta):
        theta, S = jnp.linalg.eigh(T)
        idx = _select(theta, which, k)
        res = jnp.abs(beta * S[m - 1, idx])
        scale = jnp.maximum(jnp.max(jnp.abs(theta)), tiny)
        return theta, S, res, scale

    V = jnp.zeros((m + 1, n), dtype).at[0].set(v0 / jnp.linalg.norm(v0))
    T = jnp.zeros((m, m), dtype)
    zero = jnp.zeros((), dtype)
    V, T, beta, anorm = extend(V, T, zero, zero, 0, 0)
    state = (V, T, beta, anorm, jnp.asarray(m), jnp.asarray(1))

    def cond(state):
        V, T, beta, anorm, nmv, cycle = state
        _, _, res, scale = residual_estimates(T, beta)
        unconverged = jnp.any(res > tol * scale)
        return unconverged & (nmv + (m - p) <= max_matvecs) & (m < n)

    def body(state):
        V, T, beta, anorm, nmv, cycle = state
        theta, S, _, _ = residual_estimates(T, beta)
        keep = jnp.argsort(_priority(theta, which))[:p]
        Vk = S[:, keep].T @ V[:m]
        V = jnp.zeros_like(V).at[:p].set(Vk).at[p].set(V[m])
        T = jnp.zeros_like(T).at[jnp.arange(p), jnp.arange(p)].set(theta[keep])
        V, T, beta, anorm = extend(V, T, beta, anorm, p, cycle)
        return V, T, beta, anorm, nmv + (m - p), cycle + 1

    V, T, beta, anorm, nmv, _ = jax.lax.while_loop(cond, body, state)
    theta, S, _, scale = residual_estimates(T, beta)
    idx = _select(theta, which, k)
    X = S[:, idx].T @ V[:m]
    values = theta[idx]
    residuals = _explicit_residuals(matvec, values, X)
    return values, X, residuals, residuals <= tol * scale, nmv + idx.size


def _explicit_residuals(matvec, values, X):
    AX = jax.lax.map(matvec, X)
    return jnp.linalg.norm(AX - values[:, None] * X, axis=1)


def _default_tol(dtype) -> float:
    return float(np.sqrt(np.finfo(dtype).eps))


def eigenvalues(
    op: Any,
    /,
    k: int = 5,
    *,
    which: str = "largest",
    key: jax.Array,
    tol: float | None = None,
    max_matvecs: int | None = None,
    krylov_dim: int | None = None,
    init: Any = None,
) -> EigenResult:
    r"""The ``k`` extreme eigenpairs of a symmetric operator, by thick-restart Lanczos.

    Finds ``A v_i = lambda_i v_i`` for the ``k`` largest (``which="largest"``),
    smallest (most negative, ``"smallest"``), largest in magnitude
    (``"largest_magnitude"``) eigenvalues, or the ``k`` largest and the ``k``
    smallest together (``"both"``). Lanczos with full reorthogonalisation
    builds an orthonormal basis of ``krylov_dim`` vectors; the Ritz pairs of
    the projected matrix approximate eigenpairs with residual
    ``||A y - theta y|| = |beta_m s_m|``. While a wanted pair has a residual
    above ``tol * ||A||`` (and the matvec budget allows), the basis is
    compressed to the best Ritz vectors and extended again (thick restart).

    Eigenvalue errors are about ``residual^2 / gap`` for well-separated
    eigenvalues and at most ``residual``, so the default ``tol = sqrt(eps)``
    (1.5e-8 in float64, 3.5e-4 in float32) gives eigenvalues to about
    ``eps * ||A||``. In float32 residuals stall near ``1e-6 * ||A||``: asking
    for a smaller ``tol`` there leaves ``converged`` False. Zero and repeated
    eigenvalues, rank-deficient operators and ``k`` above the rank are handled
    (invariant subspaces are continued with fresh random directions), never
    producing NaN.

    The whole solve runs in ``jax.lax`` loops and works under ``jax.jit``
    (with ``k``, ``which`` and the budgets static). The result is deterministic
    given ``key``, which draws the starting vector.

    Args:
      op: a :class:`LinearOperator` of size ``n``, symmetric.
      k: the number of eigenpairs, ``1 <= k <= n``.
      which: ``"largest"``, ``"smallest"``, ``"both"`` or ``"largest_magnitude"``.
      key: a PRNG key (``jax.random.key(seed)``).
      tol: the relative residual tolerance (default ``sqrt(eps)`` of the dtype).
      max_matvecs: the budget of matvecs (default ``30 * krylov_dim``); the
        last ``k`` (``2k`` for ``"both"``) are the explicit residual checks.
      krylov_dim: the basis size ``m`` (default ``max(2 k' + 1, k' + 24)``
        capped at ``n``, with ``k'`` the number of wanted pairs).
      init: a warm start: an earlier :class:`EigenResult` (of a nearby
        operator, e.g. the previous checkpoint's), or its vectors, as a flat
        ``(j, n)`` (or ``(n,)``) array or a pytree with a leading axis shaped
        like ``op.unravel``'s output. Lanczos starts from the normalised sum of
        these vectors (plus a ``1e-3`` random component drawn from ``key``),
        which holds the wanted eigenvectors of a nearby operator, so it
        converges in fewer matvecs. None (default): a random start.

    Returns:
      An :class:`EigenResult`; ``values`` has shape ``(k,)`` (``(2k,)`` for
      ``"both"``) in the operator's dtype.

    Raises:
      ValueError: if ``k > n`` or ``k < 1``, ``which`` is unknown, the budget is
        too small for the basis, or (eagerly) the matvec returns non-finite
        values (the message names the parameters).
      TypeError: if ``op`` is not an operator or ``key`` not a PRNG key.

    >>> import jax, jax.numpy as jnp
    >>> from jaxmc.spectrum import eigenvalues, matrix_operator
    >>> op = matrix_operator(jnp.diag(jnp.arange(10.0)))
    >>> res = eigenvalues(op, 3, key=jax.random.key(0))
    >>> res.values.round(6).tolist()
    [9.0, 8.0, 7.0]
    """
    fn = "jaxmc.spectrum.eigenvalues"
    _loops.check_operator(fn, op)
    key = _checks.check_key(fn, "key", key)
    static = eigen_options(
        fn, op.size, op.dtype, k, which, tol, max_matvecs, krylov_dim
    )
    init, init_form = _check_init(fn, op, init)
    values, vectors, residuals, converged, nmv, finite = _loops.call_compiled(
        _eigen_core, op, key, init, init_form=init_form, **static
    )
    _loops.raise_if_nonfinite(fn, op, key, finite)
    return EigenResult(
        values=values,
        vectors=vectors,
        residuals=residuals,
        converged=converged,
        num_matvecs=nmv,
    )


def eigen_options(
    fn: str,
    n: int,
    dtype: Any,
    k: Any,
    which: str,
    tol: Any,
    max_matvecs: Any,
    krylov_dim: Any,
) -> dict[str, Any]:
    """Checks the options of :func:`eigenvalues`; the static keywords of its core."""
    _checks.check_one_of(fn, "which", which, _WHICH)
    k = _checks.static_int(fn, "k", k, minimum=1)
    if k > n:
        msg = (
            f"{fn}: argument `k` must be at most the operator size {n}; got {k}. "
            f"For all eigenvalues of a small operator use "
            f"jnp.linalg.eigvalsh(op.to_dense())."
        )
        raise ValueError(msg)
    kw = min(2 * k, n) if which == "both" else k
    nout = 2 * k if which == "both" else k
    if krylov_dim is None:
        m = min(n, max(2 * kw + 1, kw + 24))
    else:
        m = _checks.static_int(fn, "krylov_dim", krylov_dim, minimum=1)
        if m > n or (m <= kw and m < n):
            msg = (
                f"{fn}: argument `krylov_dim` must be in ({kw}, {n}] (above the "
                f"number of wanted pairs, at most the size); got {m}."
            )
            raise ValueError(msg)
    if max_matvecs is None:
        max_matvecs = 30 * m
    else:
        max_matvecs = _checks.static_int(fn, "max_matvecs", max_matvecs, minimum=1)
        if max_matvecs < m + nout:
            msg = (
                f"{fn}: argument `max_matvecs` must be at least krylov_dim + "
                f"{nout} = {m + nout} (one Lanczos basis and the residual checks); "
                f"got {max_matvecs}."
            )
            raise ValueError(msg)
    tol = _default_tol(dtype) if tol is None else float(tol)
    p = min(m - 1, kw + (m - kw) // 2)
    return dict(
        k=k,
        which=which,
        tol=tol,
        m=m,
        p=p,
        max_matvecs=max_matvecs - nout,
        n=n,
        dtype=jnp.dtype(dtype),
    )


def _check_init(fn: str, op: Any, init: Any) -> tuple[Any, str]:
    """``init`` as the core takes it, and its form: none, flat or tree."""
    if init is None:
        return None, "none"
    if isinstance(init, EigenResult):
        init = init.vectors
    n = op.size
    if isinstance(init, jax.Array | np.ndarray) and init.shape[-1:] == (n,):
        if init.ndim in (1, 2):
            init = jnp.asarray(init)
            return (init[None] if init.ndim == 1 else init), "flat"
    try:
        shapes = jax.eval_shape(jax.vmap(op.ravel), init)
    except Exception as err:  # noqa: BLE001 - re-raised with context
        msg = (
            f"{fn}: argument `init` must be an EigenResult, a flat array of shape "
            f"(n,) or (j, n) with n = {n}, or a pytree of vectors with a leading "
            f"axis shaped like `op.unravel`'s output; got "
            f"{_checks.describe(init)} ({type(err).__name__}: {err})."
        )
        raise ValueError(msg) from None
    if shapes.ndim != 2 or shapes.shape[1] != n:
        msg = (
            f"{fn}: argument `init` must flatten to (j, {n}) vectors; got "
            f"shape {shapes.shape}."
        )
        raise ValueError(msg)
    return init, "tree"


def _start_vector(factory, dynamic, key, init, init_form, n, dtype):
    """A random start vector, or the (normalised) sum of the ``init`` vectors.

    A warm start mixes in a random component of relative size ``1e-3`` so that
    the Krylov space does not close on the span of ``init`` when it is an exact
    invariant subspace.
    """
    v0 = jax.random.normal(key, (n,), dtype)
    if init_form == "none":
        return v0
    if init_form == "flat":
        X = init.astype(dtype)
    else:
        X = jax.vmap(lambda t: factory.ravel(dynamic, t))(init).astype(dtype)
    tiny = jnp.finfo(dtype).tiny
    X = X / jnp.maximum(jnp.linalg.norm(X, axis=1, keepdims=True), tiny)
    w = jnp.sum(X, axis=0)
    w = w / jnp.maximum(jnp.linalg.norm(w), tiny)
    return w + 1e-3 * v0 / jnp.linalg.norm(v0)


def _eigen_core(factory, dynamic, key, init, *, init_form, n, dtype, **options):
    matvec = factory.prepare(dynamic)
    k_start, k_fresh = jax.random.split(key)
    v0 = _start_vector(factory, dynamic, k_start, init, init_form, n, dtype)
    values, X, residuals, converged, nmv = _lanczos(matvec, v0, k_fresh, **options)
    vectors = jax.vmap(lambda x: factory.unravel(dynamic, x))(X)
    finite = _loops.all_finite(values, residuals)
    return values, vectors, residuals, converged, nmv, finite


def power_iteration(
    op: Any,
    /,
    k: int = 1,
    *,
    key: jax.Array,
    tol: float = 1e-3,
    max_iters: int = 100,
) -> EigenResult:
    r"""The ``k`` largest-magnitude eigenpairs by power iteration with deflation.

    The textbook baseline (what PyHessian does): for ``i = 1..k``, iterate
    ``v <- A_i v / ||A_i v||`` with the deflated operator
    ``A_i = A - sum_{j<i} lambda_j u_j u_j^T``, estimating ``lambda = v^T A_i v``,
    until its relative change falls below ``tol`` or ``max_iters`` matvecs.
    Convergence is linear with rate ``|lambda_{i+1} / lambda_i|``: slow for
    close eigenvalues, and the relative-change test stops long before the
    eigenvector is accurate. Prefer :func:`eigenvalues`.

    Args:
      op: a :class:`LinearOperator` of size ``n``, symmetric.
      k: the number of eigenpairs, ``1 <= k <= n``.
      key: a PRNG key for the starting vectors.
      tol: the relative-change stopping tolerance (PyHessian's default 1e-3).
      max_iters: the most iterations per eigenpair.

    Returns:
      An :class:`EigenResult` with ``(k,)`` values in the order found (by
      decreasing magnitude when converged); ``converged`` reports whether the
      relative-change test was met, ``residuals`` the explicit
      ``||A v - lambda v||``.

    Raises:
      ValueError: if ``k`` is outside ``[1, n]`` or ``max_iters < 1``.
      TypeError: if ``op`` is not an operator or ``key`` not a PRNG key.

    >>> import jax, jax.numpy as jnp
    >>> from jaxmc.spectrum import matrix_operator, power_iteration
    >>> op = matrix_operator(jnp.diag(jnp.array([1.0, -2.0, 10.0])))
    >>> res = power_iteration(op, 1, key=jax.random.key(0), tol=1e-10)
    >>> round(float(res.values[0]), 4)
    10.0
    """
    fn = "jaxmc.spectrum.power_iteration"
    _loops.check_operator(fn, op)
    key = _checks.check_key(fn, "key", key)
    n = op.size
    k = _checks.static_int(fn, "k", k, minimum=1)
    if k > n:
        msg = f"{fn}: argument `k` must be at most the operator size {n}; got {k}."
        raise ValueError(msg)
    max_iters = _checks.static_int(fn, "max_iters", max_iters, minimum=1)
    lams, U, residuals, converged, total, finite = _loops.call_compiled(
        _power_core,
        op,
        key,
        k=k,
        n=n,
        dtype=op.dtype,
        tol=float(tol),
        max_iters=max_iters,
    )
    _loops.raise_if_nonfinite(fn, op, key, finite)
    return EigenResult(
        values=lams,
        vectors=U,
        residuals=residuals,
        converged=converged,
        num_matvecs=total,
    )


def _power_core(factory, dynamic, key, *, k, n, dtype, tol, max_iters):
    matvec = factory.prepare(dynamic)
    tiny = jnp.finfo(dtype).tiny
    U = jnp.zeros((k, n), dtype)
    lams = jnp.zeros((k,), dtype)
    conv = []
    total = jnp.asarray(0)
    for i, ki in enumerate(jax.random.split(key, k)):
        v = jax.random.normal(ki, (n,), dtype)
        v = v / jnp.linalg.norm(v)

        def apply(v, U=U, lams=lams):
            return matvec(v) - (lams * (U @ v)) @ U

        def cond(s):
            _, lam, lam_old, it = s
            change = jnp.abs(lam - lam_old) / jnp.maximum(jnp.abs(lam), tiny)
            return (it < max_iters) & ((it < 2) | (change > tol))

        def body(s, apply=apply):
            v, lam, _, it = s
            w = apply(v)
            lam_new = v @ w
            v = w / jnp.maximum(jnp.linalg.norm(w), tiny)
            return v, lam_new, lam, it + 1

        zero = jnp.zeros((), dtype)
        v, lam, lam_old, it = jax.lax.while_loop(
            cond, body, (v, zero, zero, jnp.asarray(0))
        )
        change = jnp.abs(lam - lam_old) / jnp.maximum(jnp.abs(lam), tiny)
        conv.append(change <= tol)
        total = total + it
        U = U.at[i].set(v)
        lams = lams.at[i].set(lam)
    residuals = _explicit_residuals(matvec, lams, U)
    vectors = jax.vmap(lambda x: factory.unravel(dynamic, x))(U)
    finite = _loops.all_finite(lams, residuals)
    return lams, vectors, residuals, jnp.stack(conv), total + k, finite
