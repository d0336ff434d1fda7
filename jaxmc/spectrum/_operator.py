"""The linear-operator abstraction shared by every spectrum algorithm.

A :class:`LinearOperator` is a symmetric linear map on ``R^n`` given by its
matrix-vector product on flat vectors of shape ``(n,)``. Operators built from
model parameters (Hessians, Gauss-Newton matrices) also know how to ravel and
unravel parameter pytrees, so ``matvec`` accepts either form and returns the same
form it was given.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmc import _checks

__all__ = ["LinearOperator", "matrix_operator"]


def _identity(x: Any) -> Any:
    return x


class LinearOperator:
    r"""A symmetric linear operator on ``R^n``, given by its matvec.

    Args:
      flat_matvec: a function ``(n,) -> (n,)``, linear and symmetric, traceable
        by JAX (it is called under ``jax.jit``, ``jax.vmap`` and ``lax`` loops).
      size: ``n``, the dimension.
      dtype: the dtype of vectors the operator acts on.
      ravel: maps a pytree (e.g. parameters) to a flat ``(n,)`` vector.
      unravel: the inverse of ``ravel``.
      name: a label used in ``repr`` and in reports.
      traceable: False when ``flat_matvec`` runs a host-side Python loop (over
        batches streamed from an iterable); the algorithms then drive their
        iterations from Python instead of ``jax.lax`` loops. True by default.

    Attributes:
      flat_matvec: the matvec on flat vectors.
      size: ``n``.
      dtype: the operator's dtype.
      shape: ``(n, n)``.
    """

    def __init__(
        self,
        flat_matvec: Callable[[jax.Array], jax.Array],
        *,
        size: int,
        dtype: Any,
        ravel: Callable[[Any], jax.Array] | None = None,
        unravel: Callable[[jax.Array], Any] | None = None,
        name: str = "LinearOperator",
        traceable: bool = True,
    ):
        fn = "jaxmc.spectrum.LinearOperator"
        _checks.check_callable(fn, "flat_matvec", flat_matvec)
        self.flat_matvec = flat_matvec
        self.size = _checks.static_int(fn, "size", size, minimum=1)
        self.dtype = jnp.dtype(dtype)
        self.ravel = _identity if ravel is None else ravel
        self.unravel = _identity if unravel is None else unravel
        self.name = name
        self.traceable = bool(traceable)

    @property
    def shape(self) -> tuple[int, int]:
        """``(n, n)``."""
        return (self.size, self.size)

    def matvec(self, v: Any) -> Any:
        """Applies the operator to a flat vector ``(n,)`` or to a pytree.

        Args:
          v: a flat vector of shape ``(n,)``, or a pytree shaped like the one
            ``unravel`` returns (the parameters, for Hessian operators).

        Returns:
          The product, in the same form as ``v``.
        """
        if isinstance(v, jax.Array | np.ndarray) and v.shape == (self.size,):
            return self.flat_matvec(jnp.asarray(v, dtype=self.dtype))
        return self.unravel(self.flat_matvec(self.ravel(v)))

    def __matmul__(self, v: Any) -> Any:
        return self.matvec(v)

    def to_dense(self, chunk_size: int | None = None) -> jax.Array:
        """Builds the dense ``(n, n)`` matrix, ``chunk_size`` columns at a time.

        Only for small operators: the result holds ``n^2`` numbers. Columns are
        computed with ``jax.lax.map(..., batch_size=chunk_size)``, so at most
        ``chunk_size`` matvecs are in flight at once (all at once when None).

        Args:
          chunk_size: the number of columns computed together.

        Returns:
          The matrix of shape ``(n, n)``.
        """
        fn = f"{self.name}.to_dense"
        n = self.size
        if chunk_size is not None:
            chunk_size = _checks.static_int(fn, "chunk_size", chunk_size, minimum=1)
        eye = jnp.eye(n, dtype=self.dtype)
        if not self.traceable:
            step = chunk_size or n
            blocks = [
                jax.vmap(self.flat_matvec)(eye[i : i + step]) for i in range(0, n, step)
            ]
            return jnp.concatenate(blocks, axis=0).T
        cols = jax.lax.map(self.flat_matvec, eye, batch_size=chunk_size or n)
        return cols.T

    def __repr__(self) -> str:
        return f"{self.name}(size={self.size}, dtype={self.dtype})"

    # --- algebra (jaxmc.spectrum._algebra) ---------------------------------

    def __add__(self, other: Any) -> LinearOperator:
        """``op1 + op2``: the sum of two operators of the same size and dtype."""
        from jaxmc.spectrum import _algebra

        return _algebra.add(self, other)

    def __mul__(self, c: Any) -> LinearOperator:
        """``op * c``: the operator scaled by a real scalar."""
        from jaxmc.spectrum import _algebra

        return _algebra.scale(self, c)

    __rmul__ = __mul__

    def __neg__(self) -> LinearOperator:
        return self * -1.0

    def __sub__(self, other: Any) -> LinearOperator:
        return self + (-other) if isinstance(other, LinearOperator) else NotImplemented

    def damped(self, lam: float) -> LinearOperator:
        """``op + lam I``: the operator with ``lam`` added to every eigenvalue.

        Args:
          lam: a real scalar (a traced value works under ``jax.jit``).

        Returns:
          A :class:`LinearOperator` with the same size, dtype and pytree form.
        """
        from jaxmc.spectrum import _algebra

        return _algebra.damped(self, lam)

    def block(self, rows: Any, cols: Any = None) -> Any:
        """The sub-block ``A[rows, cols]`` between two parameter subsets.

        Args:
          rows: the rows, as a 1-D integer array of flat indices, a callable
            ``(key_path, leaf) -> bool`` or a pytree of bools shaped like the
            operator's parameters (as ``param_filter``).
          cols: the columns, in the same forms; None for ``rows`` (a diagonal
            block).

        Returns:
          A symmetric :class:`LinearOperator` on the ``rows`` subset when
          ``cols`` is None or equal to ``rows``; otherwise a
          :class:`RectangularOperator` of shape ``(len(rows), len(cols))``,
          e.g. a cross-layer block, with ``rmatvec`` its transpose.
        """
        from jaxmc.spectrum import _algebra

        return _algebra.block(self, rows, cols)

    def to_lineax(self, *, positive_semidefinite: bool = False) -> Any:
        """This operator as a ``lineax.FunctionLinearOperator`` on flat vectors.

        Tagged symmetric (and positive semi-definite when asked), so that
        ``lineax.linear_solve(op.to_lineax(...), b, lineax.CG(...))`` and
        optimistix accept it.

        Args:
          positive_semidefinite: also tag it positive semi-definite (needed
            by ``lineax.CG``); you vouch for it.

        Returns:
          The lineax operator (lineax is an optional dependency).
        """
        from jaxmc.spectrum import _algebra

        return _algebra.to_lineax(self, positive_semidefinite)


def matrix_operator(M: jax.Array, /) -> LinearOperator:
    """Wraps a symmetric dense matrix as a :class:`LinearOperator`.

    Symmetry is not checked (it is a value check); the spectrum algorithms assume
    it.

    Args:
      M: a square matrix of shape ``(n, n)``.

    Returns:
      The operator ``v -> M @ v`` of size ``n`` and dtype ``M.dtype``.

    Raises:
      ValueError: if ``M`` is not square. TypeError: if it is not floating.
    """
    fn = "jaxmc.spectrum.matrix_operator"
    M = _checks.as_array(fn, "M", M)
    _checks.check_square(fn, "M", M)
    _checks.check_floating(fn, "M", M)
    # A Partial (a pytree holding M) lets the algorithms reuse their compiled
    # programs across matrices of the same shape and dtype.
    return LinearOperator(
        jax.tree_util.Partial(_matmul, M),
        size=M.shape[0],
        dtype=M.dtype,
        name="MatrixOperator",
    )


def _matmul(M: jax.Array, v: jax.Array) -> jax.Array:
    return M @ v
