"""Domains of the catalog's identities: samplers that draw valid inputs, and checks.

Every input of an identity lies in one named domain. :func:`sample` draws a
random array of a given shape and dtype in that domain from a PRNG key (pure and
``jax.vmap``-able, so a batch of trials compiles once); :func:`contains` checks
concretely that an array lies in it. The matrix samplers are constructive (no
rejection): singular values or eigenvalues are drawn in a fixed band, so every
draw is also well conditioned (condition number at most 4, or eigenvalue gaps
at least 1/2 where distinct eigenvalues are needed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["DOMAINS", "contains", "sample"]


def _orthogonal(key: jax.Array, n: int, dtype: Any) -> jax.Array:
    """A Haar-distributed orthogonal n x n matrix (QR with the sign fix)."""
    G = jax.random.normal(key, (n, n), dtype=dtype)
    Q, R = jnp.linalg.qr(G)
    signs = jnp.where(jnp.diagonal(R) < 0, -1.0, 1.0).astype(dtype)
    return Q * signs[None, :]


def _band(key: jax.Array, k: int, dtype: Any) -> jax.Array:
    """K values uniform in [1/2, 2]."""
    return jax.random.uniform(key, (k,), dtype=dtype, minval=0.5, maxval=2.0)


def _spaced(key: jax.Array, k: int, dtype: Any, start: float) -> jax.Array:
    """K increasing values from ``start`` with gaps uniform in [1/2, 1]."""
    gaps = jax.random.uniform(key, (k,), dtype=dtype, minval=0.5, maxval=1.0)
    return start + jnp.cumsum(gaps)


def _from_singular_values(key, shape, dtype, s_fn) -> jax.Array:
    """U diag(s) V^T with Haar U, V and singular values s = s_fn(key, min(m, n))."""
    m, n = shape
    k1, k2, k3 = jax.random.split(key, 3)
    k = min(m, n)
    U = _orthogonal(k1, m, dtype)[:, :k]
    V = _orthogonal(k2, n, dtype)[:, :k]
    s = s_fn(k3, k)
    return (U * s[None, :]) @ V.T


def _any(key, shape, dtype):
    return jax.random.normal(key, shape, dtype=dtype)


def _positive(key, shape, dtype):
    return jax.random.uniform(key, shape, dtype=dtype, minval=0.5, maxval=2.0)


def _nonzero(key, shape, dtype):
    k1, k2 = jax.random.split(key)
    g = jax.random.normal(k1, shape, dtype=dtype)
    radius = jax.random.uniform(k2, (), dtype=dtype, minval=0.5, maxval=2.0)
    return radius * g / jnp.sqrt(jnp.sum(g * g))


def _unit_interval(key, shape, dtype):
    return jax.random.uniform(key, shape, dtype=dtype, minval=0.05, maxval=0.95)


def _simplex(key, shape, dtype):
    return jax.nn.softmax(jax.random.normal(key, shape, dtype=dtype))


def _symmetric(key, shape, dtype):
    G = jax.random.normal(key, shape, dtype=dtype)
    return (G + G.T) / 2


def _spd(key, shape, dtype):
    k1, k2 = jax.random.split(key)
    Q = _orthogonal(k1, shape[0], dtype)
    lam = _band(k2, shape[0], dtype)
    return (Q * lam[None, :]) @ Q.T


def _small(key, shape, dtype):
    # Frobenius norm in [0.05, 0.25], so the spectral norm is at most 1/4: added
    # to an "invertible" matrix (singular values >= 1/2) it stays invertible.
    k1, k2 = jax.random.split(key)
    G = jax.random.normal(k1, shape, dtype=dtype)
    radius = jax.random.uniform(k2, (), dtype=dtype, minval=0.05, maxval=0.25)
    return radius * G / jnp.sqrt(jnp.sum(G * G))


def _positive_real(key, shape, dtype):
    # S + K: S symmetric positive definite (eigenvalues in [1/2, 2]) and K skew
    # with Frobenius norm in [1/2, 1]; not symmetric, and X^T A X is invertible
    # for every X of full column rank (its symmetric part X^T S X is SPD).
    k1, k2, k3 = jax.random.split(key, 3)
    G = jax.random.normal(k2, shape, dtype=dtype)
    K = (G - G.T) / 2
    radius = jax.random.uniform(k3, (), dtype=dtype, minval=0.5, maxval=1.0)
    return _spd(k1, shape, dtype) + radius * K / jnp.sqrt(jnp.sum(K * K))


def _symmetric_distinct(key, shape, dtype):
    k1, k2 = jax.random.split(key)
    Q = _orthogonal(k1, shape[0], dtype)
    lam = _spaced(k2, shape[0], dtype, start=-0.5 * shape[0])
    return (Q * lam[None, :]) @ Q.T


def _orthogonal_domain(key, shape, dtype):
    return _orthogonal(key, shape[0], dtype)


def _invertible(key, shape, dtype):
    k1, k2 = jax.random.split(key)
    X = _from_singular_values(k1, shape, dtype, lambda k, r: _band(k, r, dtype))
    # A random sign on the determinant: flip the first row half of the time.
    flip = jnp.where(jax.random.bernoulli(k2), -1.0, 1.0).astype(dtype)
    return X.at[0].multiply(flip)


def _full_column_rank(key, shape, dtype):
    return _from_singular_values(key, shape, dtype, lambda k, r: _band(k, r, dtype))


def _distinct_singular_values(key, shape, dtype):
    return _from_singular_values(
        key, shape, dtype, lambda k, r: _spaced(k, r, dtype, start=0.0)
    )


def _vech_spd(key, shape, dtype):
    (length,) = shape
    n = int((np.sqrt(8 * length + 1) - 1) // 2)
    S = _spd(key, (n, n), dtype)
    rows, cols = np.triu_indices(n)
    return S[cols, rows]


# ------------------------------------------------------------------ checks


def _unvech_np(v: np.ndarray) -> np.ndarray:
    n = int((np.sqrt(8 * len(v) + 1) - 1) // 2)
    S = np.zeros((n, n), dtype=v.dtype)
    rows, cols = np.triu_indices(n)
    S[cols, rows] = v
    S[rows, cols] = v
    return S


def _tol(x: np.ndarray) -> float:
    return 100 * float(jnp.finfo(x.dtype).eps) * max(1.0, float(np.max(np.abs(x))))


def _is_symmetric(X: np.ndarray) -> bool:
    return (
        X.ndim == 2 and X.shape[0] == X.shape[1] and np.allclose(X, X.T, atol=_tol(X))
    )


def _svals(X: np.ndarray) -> np.ndarray:
    return np.linalg.svd(X.astype(np.float64), compute_uv=False)


def _check_spd(X):
    return _is_symmetric(X) and np.linalg.eigvalsh(X.astype(np.float64)).min() > 0.1


def _check_small(X):
    return X.ndim == 2 and float(_svals(X).max()) <= 0.25 + _tol(X)


def _check_positive_real(X):
    if X.ndim != 2 or X.shape[0] != X.shape[1]:
        return False
    S = (X + X.T).astype(np.float64) / 2
    return np.linalg.eigvalsh(S).min() > 0.1 and not _is_symmetric(X)


def _check_symmetric_distinct(X):
    if not _is_symmetric(X):
        return False
    lam = np.linalg.eigvalsh(X.astype(np.float64))
    return len(lam) < 2 or np.diff(lam).min() > 0.25


def _check_orthogonal(Q):
    return (
        Q.ndim == 2
        and Q.shape[0] == Q.shape[1]
        and np.allclose(Q.T @ Q, np.eye(Q.shape[0]), atol=_tol(Q) * Q.shape[0])
    )


def _check_well_conditioned(X, square: bool):
    if X.ndim != 2 or (square and X.shape[0] != X.shape[1]):
        return False
    if not square and X.shape[0] < X.shape[1]:
        return False
    s = _svals(X)
    return s.min() > 0.25 and s.max() / s.min() < 8.0


def _check_distinct_svals(X):
    if X.ndim != 2:
        return False
    s = np.sort(_svals(X))
    return s.min() > 0.25 and (len(s) < 2 or np.diff(s).min() > 0.25)


# name -> (sampler, check, description)
DOMAINS: dict[str, tuple[Callable, Callable[[np.ndarray], bool], str]] = {
    "any": (_any, lambda x: bool(np.all(np.isfinite(x))), "any real array"),
    "positive": (_positive, lambda x: bool(np.all(x > 0)), "entries > 0"),
    "nonzero": (_nonzero, lambda x: float(np.linalg.norm(x)) > 0.25, "x != 0"),
    "unit_interval": (
        _unit_interval,
        lambda x: bool(np.all((x > 0) & (x < 1))),
        "entries in (0, 1)",
    ),
    "simplex": (
        _simplex,
        lambda x: bool(np.all(x > 0)) and abs(float(np.sum(x)) - 1) < _tol(x) * 10,
        "probability vector (entries > 0, sum 1)",
    ),
    "square": (
        _any,
        lambda X: X.ndim == 2 and X.shape[0] == X.shape[1],
        "square matrix",
    ),
    "small": (_small, _check_small, "spectral norm <= 1/4"),
    "symmetric": (_symmetric, _is_symmetric, "symmetric X = X^T"),
    "positive_real": (
        _positive_real,
        _check_positive_real,
        "not symmetric, symmetric part positive definite",
    ),
    "spd": (_spd, _check_spd, "symmetric positive definite"),
    "symmetric_distinct": (
        _symmetric_distinct,
        _check_symmetric_distinct,
        "symmetric with distinct eigenvalues",
    ),
    "orthogonal": (_orthogonal_domain, _check_orthogonal, "orthogonal Q^T Q = I"),
    "invertible": (
        _invertible,
        lambda X: _check_well_conditioned(X, square=True),
        "invertible (well conditioned)",
    ),
    "full_column_rank": (
        _full_column_rank,
        lambda X: _check_well_conditioned(X, square=False),
        "tall with full column rank",
    ),
    "distinct_singular_values": (
        _distinct_singular_values,
        _check_distinct_svals,
        "full rank with distinct singular values",
    ),
    "vech_spd": (
        _vech_spd,
        lambda v: v.ndim == 1 and _check_spd(_unvech_np(v)),
        "vech of a symmetric positive definite matrix",
    ),
}


def sample(domain: str, key: jax.Array, shape: tuple[int, ...], dtype: Any) -> Any:
    """Draws one array of ``shape`` and ``dtype`` in ``domain`` (pure, vmappable)."""
    return DOMAINS[domain][0](key, tuple(shape), dtype)


def contains(domain: str, x: Any) -> bool:
    """True when the concrete array ``x`` lies in ``domain`` (numerical check)."""
    return bool(DOMAINS[domain][1](np.asarray(x)))
