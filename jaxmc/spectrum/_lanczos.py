"""Lanczos tridiagonalisation with full reorthogonalisation, for quadrature.

Private helper of the density estimators. It differs from matfree's
``decomp.tridiag_sym`` in one respect that matters for spectral densities: it
detects an invariant Krylov subspace (an operator with few distinct eigenvalues,
the identity, a rank-deficient operator) and stops the recurrence there, so the
tridiagonal stays exact. matfree 0.6.3 normalises the round-off residual instead
and fills the rest of the tridiagonal with unrelated numbers.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from jaxmc.spectrum import _sharding


def orthogonalise(
    V: jax.Array, w: jax.Array, mask: jax.Array | None = None, restart=None
):
    """Two passes of classical Gram-Schmidt against the rows of V in mask.

    ``V`` is ``(r, n)``, ``w`` ``(n,)``, ``mask`` ``(r,)`` (ones and zeros;
    None for every row).

    Returns ``(w, h)``: ``w`` orthogonalised and ``h`` the coefficients
    removed (``V w`` for the rows in mask). The passes run in a loop, so the
    program holds one copy of the two products ``V w`` and ``h V``: on the
    CPU each matrix-vector product is code-generated as its own unrolled
    kernel (about 40 ms of compile time each), and the Lanczos loops call
    this from several places.

    ``restart=(broken, fresh)``: when ``broken(||w||)`` after the two passes,
    two more passes run on ``fresh()`` (the new direction after a Lanczos
    breakdown), whose coefficients are not added to ``h``. Then returns
    ``(w, h, broke)``. Without it, the loop has a fixed trip count (a GPU
    then need not read its condition back each pass); with it, the count
    depends on the data.
    """
    h0 = jnp.zeros(V.shape[:1], w.dtype)

    def one_pass(w, h):
        coef = V @ w if mask is None else (V @ w) * mask
        return w - coef @ V, h + coef

    if restart is None:  # a fixed trip count, which every backend can see
        return jax.lax.fori_loop(0, 2, lambda _, c: one_pass(*c), (w, h0))
    broken, fresh = restart

    def body(c):
        i, w, h, broke = c
        w, h_new = one_pass(w, h)
        h = jnp.where(i < 2, h_new, h)
        now = (i == 1) & broken(jnp.linalg.norm(w))
        w = jax.lax.cond(now, lambda _: fresh().astype(w.dtype), lambda _: w, None)
        return i + 1, w, h, broke | now

    def more(c):
        i, _, _, broke = c
        return (i < 2) | (broke & (i < 4))

    _, w, h, broke = jax.lax.while_loop(more, body, (0, w, h0, jnp.asarray(False)))
    return w, h, broke


def lanczos_tridiag(
    matvec: Callable[[jax.Array], jax.Array],
    v0: jax.Array,
    steps: int,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Runs ``steps`` Lanczos steps from ``v0`` with full reorthogonalisation.

    Args:
      matvec: a symmetric linear map ``(n,) -> (n,)``.
      v0: the starting vector ``(n,)`` (any norm, not zero).
      steps: the number of steps ``m <= n`` (static).

    Returns:
      ``(alpha, beta, Q)``: the diagonal ``(m,)`` of the tridiagonal
      ``T = Q^T A Q``, the norms ``beta`` ``(m,)`` of the successive residuals
      (``beta[:-1]`` is T's off-diagonal, ``beta[-1]`` the residual after the
      last step) and the basis ``Q`` of shape ``(m, n)`` (rows orthonormal).
      After a breakdown (an invariant subspace), the remaining rows of ``Q``
      and entries of ``alpha``/``beta`` are zero, so the extra Ritz values
      carry zero quadrature weight.
    """
    n = v0.shape[0]
    dtype = v0.dtype
    eps = jnp.finfo(dtype).eps
    Q = _sharding.constrain(jnp.zeros((steps, n), dtype))
    alpha = jnp.zeros((steps,), dtype)
    beta = jnp.zeros((steps,), dtype)
    q = v0 / jnp.linalg.norm(v0)

    def body(i, state):
        Q, alpha, beta, q, scale = state
        Q = _sharding.constrain(Q.at[i].set(q))
        w = matvec(q)
        a = jnp.vdot(q, w)
        # Full reorthogonalisation, twice (Gram-Schmidt "twice is enough").
        w = orthogonalise(Q, w)[0]
        b = jnp.linalg.norm(w)
        scale = jnp.maximum(scale, jnp.abs(a) + b)
        ok = b > 100.0 * eps * scale * jnp.sqrt(jnp.asarray(n, dtype))
        b = jnp.where(ok, b, 0.0)
        q = jnp.where(ok, w / jnp.where(ok, b, 1.0), 0.0)
        return Q, alpha.at[i].set(a), beta.at[i].set(b), q, scale

    init = (Q, alpha, beta, q, jnp.zeros((), dtype))
    Q, alpha, beta, _, _ = jax.lax.fori_loop(0, steps, body, init)
    return alpha, beta, Q


def tridiag_eigh(alpha: jax.Array, beta: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Eigen-decomposition of the symmetric tridiagonal ``(alpha, beta)``.

    Returns:
      ``(theta, U)``: the Ritz values ``(m,)`` in ascending order and the
      eigenvectors ``(m, m)`` (columns).
    """
    T = jnp.diag(alpha) + jnp.diag(beta, 1) + jnp.diag(beta, -1)
    return jnp.linalg.eigh(T)


def gauss_quadrature(alpha: jax.Array, beta: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Gauss quadrature nodes and weights of the tridiagonal (Golub-Welsch).

    Returns:
      ``(nodes, weights)``, each ``(m,)``: the Ritz values and the squared first
      components of the tridiagonal's eigenvectors (they sum to 1).
    """
    theta, U = tridiag_eigh(alpha, beta)
    return theta, U[0, :] ** 2
