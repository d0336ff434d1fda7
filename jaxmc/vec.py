r"""Vectorisation and Kronecker algebra, in the conventions of Magnus & Neudecker.

Conventions (used throughout jaxmc):

* ``vec(X)`` stacks the columns of an ``(m, n)`` matrix into a vector of length
  ``m n`` (column-major, Fortran order): ``vec(X)[j m + i] = X[i, j]``. Pass
  ``order="C"`` to stack rows instead (row-major, NumPy's ``ravel``).
* ``vech(S)`` stacks the lower triangle of a square ``(n, n)`` matrix column by
  column, diagonal included, into a vector of length ``n (n + 1) / 2``.
* ``K_mn`` (the commutation matrix) satisfies ``K_mn vec(A) = vec(A^T)`` for
  ``A`` of shape ``(m, n)``; ``D_n`` (duplication) satisfies
  ``D_n vech(S) = vec(S)`` for symmetric ``S``; ``L_n`` (elimination) satisfies
  ``L_n vec(A) = vech(A)`` for any square ``A``.
* The Kronecker product obeys ``vec(A X B) = (B^T kron A) vec(X)``, which is how
  :func:`kron_matvec` applies ``A kron B`` without forming it.

The matrix builders take static sizes (Python ints) and a ``dtype``; under
``jax.jit`` close over the sizes or mark them static. Array functions are pure
and work under ``jax.jit`` and ``jax.vmap``.

References:
  J. R. Magnus and H. Neudecker, *Matrix Differential Calculus with
  Applications in Statistics and Econometrics*, 3rd ed., Wiley, 2019, ch. 2-3.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmc import _checks, _memory

__all__ = [
    "commutation_matrix",
    "commute",
    "duplication_matrix",
    "elimination_matrix",
    "kron_matvec",
    "unvec",
    "unvech",
    "vec",
    "vech",
]

_ORDERS = ("F", "C")


def _default_dtype(dtype: Any) -> Any:
    """The requested dtype, or JAX's default float dtype (float64 under x64)."""
    return jnp.result_type(float) if dtype is None else dtype


def _vech_index(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the lower triangle of an n x n matrix.

    Column by column: the k-th entry of vech(S) is S[rows[k], cols[k]].
    """
    upper_rows, upper_cols = np.triu_indices(n)
    return upper_cols, upper_rows


def _triangular_root(length: int) -> int | None:
    """The n with n (n + 1) / 2 == length, or None if length is not triangular."""
    n = (math.isqrt(8 * length + 1) - 1) // 2
    return n if n * (n + 1) // 2 == length else None


def vec(X: jax.Array, /, order: str = "F") -> jax.Array:
    r"""Stacks the columns of a matrix into a vector: ``vec(X)[j m + i] = X[i, j]``.

    Args:
      X: a matrix of shape ``(m, n)``, or a vector of shape ``(n,)`` (returned
        unchanged, since a column vector is its own vec).
      order: ``"F"`` (default) stacks columns, the Magnus & Neudecker convention;
        ``"C"`` stacks rows (NumPy's ``ravel``).

    Returns:
      The vector of shape ``(m n,)``, with the dtype of ``X``.

    Raises:
      ValueError: if ``X`` is not rank 1 or 2, or ``order`` is unknown.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxmc import vec
      >>> vec(jnp.array([[1, 2], [3, 4]])).tolist()
      [1, 3, 2, 4]
      >>> vec(jnp.array([[1, 2], [3, 4]]), order="C").tolist()
      [1, 2, 3, 4]
    """
    fn = "jaxmc.vec"
    X = _checks.as_array(fn, "X", X)
    _checks.check_rank(fn, "X", X, {1, 2})
    _checks.check_one_of(fn, "order", order, _ORDERS)
    if X.ndim == 1:
        return X
    return (X.T if order == "F" else X).reshape(-1)


def unvec(v: jax.Array, /, shape: tuple[int, ...], order: str = "F") -> jax.Array:
    r"""Inverts :func:`vec`: reshapes a vector into a matrix, filling columns first.

    ``unvec(vec(X), X.shape) == X`` holds bitwise (it is a pure reshape).

    Args:
      v: a vector of shape ``(m n,)``.
      shape: the target shape ``(m, n)`` (or ``(n,)``), static ints.
      order: ``"F"`` (default) fills columns first; ``"C"`` fills rows first.

    Returns:
      The matrix of shape ``shape``, with the dtype of ``v``.

    Raises:
      ValueError: if ``v`` is not a vector, ``shape`` has a negative entry or
        is not rank 1 or 2, or its size differs from ``len(v)``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxmc import unvec
      >>> unvec(jnp.array([1, 3, 2, 4]), (2, 2)).tolist()
      [[1, 2], [3, 4]]
    """
    fn = "jaxmc.unvec"
    v = _checks.as_array(fn, "v", v)
    _checks.check_rank(fn, "v", v, 1)
    _checks.check_one_of(fn, "order", order, _ORDERS)
    shape = _checks.static_shape(fn, "shape", shape)
    if len(shape) not in (1, 2):
        msg = (
            f"{fn}: argument `shape` must have 1 or 2 entries (a vector or a "
            f"matrix); got {shape}."
        )
        raise ValueError(msg)
    if math.prod(shape) != v.shape[0]:
        msg = (
            f"{fn}: argument `shape` {shape} holds {math.prod(shape)} entries but "
            f"`v` has length {v.shape[0]}."
        )
        raise ValueError(msg)
    if len(shape) == 1 or order == "C":
        return v.reshape(shape)
    return v.reshape(shape[::-1]).T


def vech(S: jax.Array, /) -> jax.Array:
    r"""Stacks the lower triangle of a square matrix, column by column.

    ``vech(S)[k] = S[i, j]`` for the ``k``-th pair ``i >= j`` in column-major
    order. The strict upper triangle is ignored (``S`` need not be symmetric);
    for symmetric ``S``, ``D_n vech(S) = vec(S)`` (:func:`duplication_matrix`).

    Args:
      S: a square matrix of shape ``(n, n)``.

    Returns:
      The vector of shape ``(n (n + 1) / 2,)``, with the dtype of ``S``.

    Raises:
      ValueError: if ``S`` is not a square matrix.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxmc import vech
      >>> vech(jnp.array([[1, 2], [3, 4]])).tolist()
      [1, 3, 4]
    """
    fn = "jaxmc.vech"
    S = _checks.as_array(fn, "S", S)
    _checks.check_square(fn, "S", S)
    rows, cols = _vech_index(S.shape[0])
    return S[rows, cols]


def unvech(v: jax.Array, /) -> jax.Array:
    r"""Inverts :func:`vech`: builds the symmetric matrix whose lower triangle is v.

    The size ``n`` is inferred from ``len(v) = n (n + 1) / 2``.

    Args:
      v: a vector of triangular length ``n (n + 1) / 2``.

    Returns:
      The symmetric matrix ``S`` of shape ``(n, n)`` with ``vech(S) = v``.

    Raises:
      ValueError: if ``v`` is not a vector or its length is not triangular.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxmc import unvech
      >>> unvech(jnp.array([1, 3, 4])).tolist()
      [[1, 3], [3, 4]]
    """
    fn = "jaxmc.unvech"
    v = _checks.as_array(fn, "v", v)
    _checks.check_rank(fn, "v", v, 1)
    n = _triangular_root(v.shape[0])
    if n is None:
        k = (math.isqrt(8 * v.shape[0] + 1) - 1) // 2
        below = k * (k + 1) // 2
        above = (k + 1) * (k + 2) // 2
        msg = (
            f"{fn}: argument `v` must have a triangular length n(n+1)/2 "
            f"(1, 3, 6, 10, ...); got length {v.shape[0]}, between {below} "
            f"(n={k}) and {above} (n={k + 1})."
        )
        raise ValueError(msg)
    rows, cols = _vech_index(n)
    S = jnp.zeros((n, n), dtype=v.dtype)
    return S.at[rows, cols].set(v).at[cols, rows].set(v)


def _check_dense_fits(
    fn: str, what: str, rows: int, cols: int, dtype: Any, instead: str
) -> None:
    """Raises before a dense (rows, cols) matrix and its host copy cannot fit."""
    itemsize = jnp.dtype(_default_dtype(dtype)).itemsize
    needed = rows * cols * (itemsize + 1)  # the int8 host array, then the result
    _memory.check_fits(
        fn,
        f"{what} of shape ({rows}, {cols}) (an int8 host array, then the result)",
        needed,
        f"Apply it without forming it: jaxmc.{instead} does so in O({rows}) memory.",
    )


def _permutation_matrix(perm: np.ndarray, dtype: Any) -> jax.Array:
    """The matrix P with (P v)[i] = v[perm[i]]."""
    size = perm.shape[0]
    P = np.zeros((size, size), dtype=np.int8)
    P[np.arange(size), perm] = 1
    return jnp.asarray(P, dtype=_default_dtype(dtype))


def _commutation_perm(m: int, n: int) -> np.ndarray:
    """The perm with vec(A^T)[k] = vec(A)[perm[k]] for A of shape (m, n)."""
    return np.arange(m * n).reshape(n, m).T.reshape(-1)


def commutation_matrix(m: int, n: int, *, dtype: Any = None) -> jax.Array:
    r"""The commutation matrix ``K_mn``: ``K_mn vec(A) = vec(A^T)`` for ``A`` (m, n).

    ``K_mn`` is a permutation matrix, so ``K_mn^T = K_mn^{-1} = K_nm``. It also
    swaps Kronecker factors: ``K_pm (A kron B) K_nq = B kron A`` for ``A`` (m, n)
    and ``B`` (p, q). Use :func:`commute` to apply it without building it.

    Args:
      m: rows of ``A`` (static int >= 0).
      n: columns of ``A`` (static int >= 0).
      dtype: the dtype of the result (default: JAX's default float).

    Returns:
      The matrix of shape ``(m n, m n)``.

    Raises:
      ValueError: for negative sizes. TypeError: for non-int or traced sizes.

    Example:
      >>> from jaxmc import commutation_matrix
      >>> commutation_matrix(2, 1, dtype=int).tolist()
      [[1, 0], [0, 1]]
      >>> commutation_matrix(1, 2, dtype=int).tolist()
      [[1, 0], [0, 1]]
    """
    fn = "jaxmc.commutation_matrix"
    m = _checks.static_int(fn, "m", m)
    n = _checks.static_int(fn, "n", n)
    _check_dense_fits(fn, "the commutation matrix", m * n, m * n, dtype, "commute")
    return _permutation_matrix(_commutation_perm(m, n), dtype)


def duplication_matrix(n: int, *, dtype: Any = None) -> jax.Array:
    r"""The duplication matrix ``D_n``: ``D_n vech(S) = vec(S)`` for symmetric ``S``.

    ``D_n`` has full column rank; its Moore-Penrose inverse
    ``(D_n^T D_n)^{-1} D_n^T`` maps ``vec(S)`` back to ``vech(S)``.

    Args:
      n: the size of ``S`` (static int >= 0).
      dtype: the dtype of the result (default: JAX's default float).

    Returns:
      The matrix of shape ``(n^2, n (n + 1) / 2)``.

    Raises:
      ValueError: for a negative size. TypeError: for a non-int or traced size.

    Example:
      >>> from jaxmc import duplication_matrix
      >>> duplication_matrix(2, dtype=int).tolist()
      [[1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 0, 1]]
    """
    fn = "jaxmc.duplication_matrix"
    n = _checks.static_int(fn, "n", n)
    _check_dense_fits(
        fn, "the duplication matrix", n * n, n * (n + 1) // 2, dtype, "unvech"
    )
    rows, cols = _vech_index(n)
    position = np.zeros((n, n), dtype=np.int64)
    position[rows, cols] = np.arange(rows.shape[0])
    position[cols, rows] = np.arange(rows.shape[0])
    D = np.zeros((n * n, rows.shape[0]), dtype=np.int8)
    D[np.arange(n * n), position.T.reshape(-1)] = 1
    return jnp.asarray(D, dtype=_default_dtype(dtype))


def elimination_matrix(n: int, *, dtype: Any = None) -> jax.Array:
    r"""The elimination matrix ``L_n``: ``L_n vec(A) = vech(A)`` for square ``A``.

    ``L_n D_n = I`` (:func:`duplication_matrix`).

    Args:
      n: the size of ``A`` (static int >= 0).
      dtype: the dtype of the result (default: JAX's default float).

    Returns:
      The matrix of shape ``(n (n + 1) / 2, n^2)``.

    Raises:
      ValueError: for a negative size. TypeError: for a non-int or traced size.

    Example:
      >>> from jaxmc import elimination_matrix
      >>> elimination_matrix(2, dtype=int).tolist()
      [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]]
    """
    fn = "jaxmc.elimination_matrix"
    n = _checks.static_int(fn, "n", n)
    rows, cols = _vech_index(n)
    L = np.zeros((rows.shape[0], n * n), dtype=np.int8)
    L[np.arange(rows.shape[0]), cols * n + rows] = 1
    return jnp.asarray(L, dtype=_default_dtype(dtype))


def kron_matvec(A: jax.Array, B: jax.Array, v: jax.Array, /) -> jax.Array:
    r"""Computes ``(A kron B) v`` without forming the Kronecker product.

    Uses ``(A kron B) vec(X) = vec(B X A^T)`` with ``X = unvec(v, (s, q))``: two
    matrix products, ``O(pqs + prs)`` work and no ``(pr, qs)`` intermediate, where
    ``jnp.kron(A, B) @ v`` costs ``O(pqrs)`` work and memory.

    Args:
      A: a matrix of shape ``(p, q)``.
      B: a matrix of shape ``(r, s)``.
      v: a vector of shape ``(q s,)``.

    Returns:
      The vector ``(A kron B) v`` of shape ``(p r,)``.

    Raises:
      ValueError: if ``A`` or ``B`` is not a matrix, ``v`` is not a vector, or
        ``len(v) != q s``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxmc import kron_matvec
      >>> A = jnp.array([[1, 2], [3, 4]]); B = jnp.array([[0, 1], [1, 0]])
      >>> v = jnp.array([1, 2, 3, 4])
      >>> kron_matvec(A, B, v).tolist() == (jnp.kron(A, B) @ v).tolist()
      True
    """
    fn = "jaxmc.kron_matvec"
    A = _checks.as_array(fn, "A", A)
    B = _checks.as_array(fn, "B", B)
    v = _checks.as_array(fn, "v", v)
    _checks.check_rank(fn, "A", A, 2)
    _checks.check_rank(fn, "B", B, 2)
    _checks.check_rank(fn, "v", v, 1)
    q, s = A.shape[1], B.shape[1]
    if v.shape[0] != q * s:
        msg = (
            f"{fn}: argument `v` must have length q*s = {q}*{s} = {q * s} for `A` "
            f"of shape {A.shape} and `B` of shape {B.shape}; got length "
            f"{v.shape[0]}."
        )
        raise ValueError(msg)
    X = v.reshape(q, s).T  # unvec(v, (s, q))
    return (B @ X @ A.T).T.reshape(-1)  # vec(B X A^T), of length p r


def commute(v: jax.Array, /, m: int, n: int) -> jax.Array:
    r"""Applies the commutation matrix ``K_mn`` to ``v`` as a permutation.

    ``commute(vec(A), m, n) = vec(A^T)`` for ``A`` of shape ``(m, n)``, and
    ``commute(v, m, n) == commutation_matrix(m, n) @ v`` bitwise for finite ``v``.

    Args:
      v: a vector of shape ``(m n,)``.
      m: rows of the matrix ``v`` vectorises (static int >= 0).
      n: its columns (static int >= 0).

    Returns:
      The permuted vector of shape ``(m n,)``.

    Raises:
      ValueError: if ``v`` is not a vector of length ``m n`` or a size is
        negative.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxmc import commute, vec
      >>> A = jnp.array([[1, 2, 3], [4, 5, 6]])
      >>> commute(vec(A), 2, 3).tolist() == vec(A.T).tolist()
      True
    """
    fn = "jaxmc.commute"
    v = _checks.as_array(fn, "v", v)
    _checks.check_rank(fn, "v", v, 1)
    m = _checks.static_int(fn, "m", m)
    n = _checks.static_int(fn, "n", n)
    if v.shape[0] != m * n:
        msg = (
            f"{fn}: argument `v` must have length m*n = {m}*{n} = {m * n}; "
            f"got length {v.shape[0]}."
        )
        raise ValueError(msg)
    return v.reshape(n, m).T.reshape(-1)
