"""Operator algebra: sums, scalings, damping, sub-blocks and rectangular maps.

Operators combine without forming matrices: ``op1 + op2``, ``c * op``,
``op.damped(lam)`` (``op + lam I``) and ``op.block(rows, cols)`` are
:class:`LinearOperator` objects again (or a :class:`RectangularOperator` for a
block between different parameter subsets). When the operands' matvecs are
``jax.tree_util.Partial`` pytrees, so is the result's, and the algorithms keep
passing it to their cached compiled programs as an argument.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmc import _checks, _xla
from jaxmc.spectrum import _hosted, _sharding
from jaxmc.spectrum._operator import LinearOperator, MatvecFactory

__all__ = ["RectangularOperator"]


def _wrap(f: Callable, *args: Any) -> Callable:
    """``v -> f(*args, v)``: a Partial when every callable arg is one."""
    if all(
        not callable(a) or isinstance(a, jax.tree_util.Partial)
        for a in jax.tree_util.tree_leaves(args, is_leaf=callable)
    ):
        return jax.tree_util.Partial(f, *args)

    def apply(v):
        return f(*args, v)

    return apply


# Composite factories: static halves made of the operands' factories (hashable,
# compared by value), dynamic halves made of the operands' dynamic pytrees, so
# sums, scalings, dampings and blocks of compile-once operators compile once.


@dataclasses.dataclass(frozen=True)
class _SumFactory(MatvecFactory):
    f1: MatvecFactory
    f2: MatvecFactory

    def prepare(self, dynamic: Any) -> Callable[[jax.Array], jax.Array]:
        m1, m2 = self.f1.prepare(dynamic[0]), self.f2.prepare(dynamic[1])
        return lambda v: m1(v) + m2(v)

    def ravel(self, dynamic: Any, tree: Any) -> jax.Array:
        return self.f1.ravel(dynamic[0], tree)

    def unravel(self, dynamic: Any, v: jax.Array) -> Any:
        return self.f1.unravel(dynamic[0], v)


@dataclasses.dataclass(frozen=True)
class _AffineFactory(MatvecFactory):
    """``v -> c A v + lam v``, with ``(A's dynamic, c, lam)`` dynamic."""

    f: MatvecFactory

    def prepare(self, dynamic: Any) -> Callable[[jax.Array], jax.Array]:
        d, c, lam = dynamic
        m = self.f.prepare(d)
        return lambda v: c * m(v) + lam * v

    def ravel(self, dynamic: Any, tree: Any) -> jax.Array:
        return self.f.ravel(dynamic[0], tree)

    def unravel(self, dynamic: Any, v: jax.Array) -> Any:
        return self.f.unravel(dynamic[0], v)


def _like(op: LinearOperator, factory: MatvecFactory, dynamic: Any, name: str):
    out = LinearOperator.from_factory(
        factory,
        dynamic,
        size=op.size,
        dtype=op.dtype,
        name=name,
        traceable=op.traceable,
    )
    if hasattr(op, "nonfinite_paths"):
        out.nonfinite_paths = op.nonfinite_paths
    return out


def add(op1: LinearOperator, op2: Any) -> LinearOperator:
    """``op1 + op2`` for two operators of the same size and dtype."""
    if not isinstance(op2, LinearOperator):
        return NotImplemented
    if op1.size != op2.size:
        msg = (
            f"LinearOperator.__add__: operators must have the same size; got "
            f"{op1.name} of size {op1.size} and {op2.name} of size {op2.size}."
        )
        raise ValueError(msg)
    if op1.dtype != op2.dtype:
        msg = (
            f"LinearOperator.__add__: operators must have the same dtype; got "
            f"{op1.dtype} and {op2.dtype}."
        )
        raise TypeError(msg)
    out = _like(
        op1,
        _SumFactory(op1.factory, op2.factory),
        (op1.dynamic, op2.dynamic),
        f"({op1.name} + {op2.name})",
    )
    out.traceable = op1.traceable and op2.traceable
    return out


def _scalar(fn: str, name: str, c: Any, dtype: Any) -> jax.Array:
    if isinstance(c, LinearOperator) or jnp.ndim(c) != 0:
        msg = (
            f"{fn}: argument `{name}` must be a real scalar; got {_checks.describe(c)}."
        )
        raise TypeError(msg)
    if jnp.issubdtype(jnp.result_type(c), jnp.complexfloating):
        msg = f"{fn}: argument `{name}` must be real; got {c!r}."
        raise TypeError(msg)
    return jnp.asarray(c, dtype)


def scale(op: LinearOperator, c: Any) -> LinearOperator:
    """``c * op`` for a real scalar ``c``."""
    if isinstance(c, LinearOperator):
        return NotImplemented
    c = _scalar("LinearOperator.__mul__", "c", c, op.dtype)
    zero = jnp.zeros((), op.dtype)
    return _like(
        op, _AffineFactory(op.factory), (op.dynamic, c, zero), f"c * {op.name}"
    )


def damped(op: LinearOperator, lam: Any) -> LinearOperator:
    """``op + lam I``."""
    lam = _scalar("LinearOperator.damped", "lam", lam, op.dtype)
    one = jnp.ones((), op.dtype)
    return _like(
        op, _AffineFactory(op.factory), (op.dynamic, one, lam), f"{op.name}.damped"
    )


# --- sub-blocks ---------------------------------------------------------------


def _leaf_indices(op: LinearOperator) -> list[tuple[str, Any, np.ndarray]]:
    """(key path, leaf, flat indices) for each leaf of the operator's pytree."""
    template = op.unravel(jnp.zeros((op.size,), op.dtype))
    paths_leaves = jax.tree_util.tree_leaves_with_path(template)
    treedef = jax.tree_util.tree_structure(template)
    out = []
    for i, (path, leaf) in enumerate(paths_leaves):
        probe = [
            jnp.ones_like(x) if j == i else jnp.zeros_like(x)
            for j, (_, x) in enumerate(paths_leaves)
        ]
        flat = np.asarray(op.ravel(jax.tree_util.tree_unflatten(treedef, probe)))
        out.append((jax.tree_util.keystr(path), leaf, np.flatnonzero(flat)))
    return out


def resolve_indices(fn: str, name: str, op: LinearOperator, sel: Any) -> np.ndarray:
    """Flat indices from an index array, a key-path predicate or a bool pytree."""
    if isinstance(sel, np.ndarray | jax.Array | list | tuple | range) and not (
        isinstance(sel, list | tuple)
        and sel
        and not isinstance(sel[0], int | np.integer)
    ):
        idx = np.asarray(sel)
        if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
            msg = (
                f"{fn}: argument `{name}` given as indices must be a 1-D integer "
                f"array; got {_checks.describe(idx)}."
            )
            raise TypeError(msg)
        if idx.size == 0 or idx.min() < 0 or idx.max() >= op.size:
            msg = (
                f"{fn}: argument `{name}` must hold indices in [0, {op.size}) and "
                f"not be empty; got {idx.size} indices"
                + (f" in [{idx.min()}, {idx.max()}]." if idx.size else ".")
            )
            raise ValueError(msg)
        return idx.astype(np.int64)
    leaves = _leaf_indices(op)
    if callable(sel):
        template = op.unravel(jnp.zeros((op.size,), op.dtype))
        chosen = [
            bool(sel(path, leaf))
            for path, leaf in jax.tree_util.tree_leaves_with_path(template)
        ]
    else:
        template = op.unravel(jnp.zeros((op.size,), op.dtype))
        try:
            tree = jax.tree_util.tree_map(lambda _, m: bool(m), template, sel)
        except (ValueError, TypeError):
            msg = (
                f"{fn}: argument `{name}` must be flat indices, a callable "
                f"(key_path, leaf) -> bool, or a pytree of bools shaped like the "
                f"parameters; got {type(sel).__name__}."
            )
            raise TypeError(msg) from None
        chosen = jax.tree_util.tree_leaves(tree)
    idx = np.concatenate(
        [ix for (_, _, ix), c in zip(leaves, chosen, strict=True) if c] or [[]]
    ).astype(np.int64)
    if idx.size == 0:
        msg = f"{fn}: argument `{name}` selects no parameters of the operator."
        raise ValueError(msg)
    return idx


@dataclasses.dataclass(frozen=True)
class _BlockFactory(MatvecFactory):
    """``v -> (A P_cols^T v)[rows]`` with ``(A's dynamic, rows, cols)`` dynamic."""

    f: MatvecFactory
    n: int

    def prepare(self, dynamic: Any) -> Callable[[jax.Array], jax.Array]:
        d, rows, cols = dynamic
        m = self.f.prepare(d)

        def apply(v):
            return m(jnp.zeros((self.n,), v.dtype).at[cols].set(v))[rows]

        return apply


def block(op: LinearOperator, rows: Any, cols: Any = None):
    """The sub-block ``op[rows, cols]``; see :meth:`LinearOperator.block`."""
    fn = f"{op.name}.block"
    r = resolve_indices(fn, "rows", op, rows)
    c = r if cols is None else resolve_indices(fn, "cols", op, cols)
    factory = _BlockFactory(op.factory, op.size)
    rj, cj = jnp.asarray(r), jnp.asarray(c)
    if r.shape == c.shape and np.array_equal(r, c):
        return LinearOperator.from_factory(
            factory,
            (op.dynamic, rj, rj),
            size=int(r.size),
            dtype=op.dtype,
            name=f"{op.name}[block]",
            traceable=op.traceable,
        )
    # Symmetric op: the transpose of op[r, c] is op[c, r].
    return RectangularOperator(
        jax.tree_util.Partial(factory, (op.dynamic, rj, cj)),
        jax.tree_util.Partial(factory, (op.dynamic, cj, rj)),
        shape=(int(r.size), int(c.size)),
        dtype=op.dtype,
        name=f"{op.name}[rows, cols]",
        traceable=op.traceable,
    )


# --- rectangular operators ----------------------------------------------------


def _gram_apply(mv, rmv, v):
    return rmv(mv(v))


def _factory_of(f: Callable) -> tuple[MatvecFactory, Any] | None:
    """``(factory, dynamic)`` of a map given as ``Partial(factory, dynamic)``."""
    if (
        isinstance(f, jax.tree_util.Partial)
        and isinstance(f.func, MatvecFactory)
        and len(f.args) == 1
        and not f.keywords
    ):
        return f.func, f.args[0]
    return None


@dataclasses.dataclass(frozen=True)
class _GramFactory(MatvecFactory):
    """``v -> A^T (A v)`` with ``(A's dynamic, A^T's dynamic)`` dynamic.

    Both factories prepare once per solve (a Jacobian stores its
    linearisation there), then each matvec is the two products. A factory
    with a ``prepare_pair(other, dynamic)`` method that returns ``(A, A^T)``
    for its transpose's factory ``other`` prepares both from one setup (one
    linearisation, one forward pass).
    """

    fa: MatvecFactory
    ft: MatvecFactory

    def prepare(self, dynamic: Any) -> Callable[[jax.Array], jax.Array]:
        pair = getattr(self.fa, "prepare_pair", None)
        maps = pair(self.ft, dynamic[0]) if pair is not None else None
        if maps is None:
            maps = self.fa.prepare(dynamic[0]), self.ft.prepare(dynamic[1])
        a, t = maps
        return lambda v: t(a(v))


@functools.partial(_xla.jit, static_argnums=0, static_argnames=("n", "dtype"))
def _rect_dense_jit(factory: MatvecFactory, dynamic: Any, *, n: int, dtype: Any):
    mv = factory.prepare(dynamic)
    return jax.lax.map(mv, jnp.eye(n, dtype=dtype)).T


class RectangularOperator:
    r"""A linear map ``R^n -> R^m`` given by its matvec and its transpose's.

    Returned by :func:`jacobian_operator` and by ``op.block(rows, cols)`` for
    blocks between different parameter subsets.

    Args:
      flat_matvec: ``(n,) -> (m,)``, linear and traceable by JAX.
      flat_rmatvec: ``(m,) -> (n,)``, its transpose.
      shape: ``(m, n)``.
      dtype: the dtype of vectors it acts on.
      name: a label for ``repr``.
      traceable: False when the maps run host-side loops over streamed data.

    Attributes:
      shape: ``(m, n)``; ``dtype``; ``flat_matvec``, ``flat_rmatvec``.
    """

    def __init__(
        self,
        flat_matvec: Callable[[jax.Array], jax.Array],
        flat_rmatvec: Callable[[jax.Array], jax.Array],
        *,
        shape: tuple[int, int],
        dtype: Any,
        name: str = "RectangularOperator",
        traceable: bool = True,
    ):
        fn = "jaxmc.spectrum.RectangularOperator"
        _checks.check_callable(fn, "flat_matvec", flat_matvec)
        _checks.check_callable(fn, "flat_rmatvec", flat_rmatvec)
        self.flat_matvec = flat_matvec
        self.flat_rmatvec = flat_rmatvec
        self.shape = tuple(_checks.static_shape(fn, "shape", shape))
        self.dtype = jnp.dtype(dtype)
        self.name = name
        self.traceable = bool(traceable)

    def _check(self, fn: str, name: str, v: Any, n: int) -> jax.Array:
        v = _checks.as_array(fn, name, v)
        _checks.check_shape(fn, name, v, (n,))
        return v.astype(self.dtype)

    def matvec(self, v: jax.Array) -> jax.Array:
        """``A v``.

        Args:
          v: a vector of shape ``(n,)``.

        Returns:
          ``A v``, shape ``(m,)``.
        """
        return self.flat_matvec(
            self._check(f"{self.name}.matvec", "v", v, self.shape[1])
        )

    def rmatvec(self, u: jax.Array) -> jax.Array:
        """``A^T u``.

        Args:
          u: a vector of shape ``(m,)``.

        Returns:
          ``A^T u``, shape ``(n,)``.
        """
        return self.flat_rmatvec(
            self._check(f"{self.name}.rmatvec", "u", u, self.shape[0])
        )

    def __matmul__(self, v: Any) -> jax.Array:
        return self.matvec(v)

    @property
    def T(self) -> RectangularOperator:  # noqa: N802 - the mathematical name
        """The transpose ``A^T``, a map ``R^m -> R^n``."""
        return RectangularOperator(
            self.flat_rmatvec,
            self.flat_matvec,
            shape=(self.shape[1], self.shape[0]),
            dtype=self.dtype,
            name=f"{self.name}.T",
            traceable=self.traceable,
        )

    def gram(self) -> LinearOperator:
        """``A^T A`` as a symmetric :class:`LinearOperator` of size ``n``.

        Returns:
          The operator ``v -> A^T (A v)``. When both maps are
          ``Partial(factory, dynamic)`` (a Jacobian operator, a block), it is
          built from their factories: it compiles once per factory and shapes,
          and prepares both maps once per solve.
        """
        pa, pt = _factory_of(self.flat_matvec), _factory_of(self.flat_rmatvec)
        if pa is not None and pt is not None:
            return LinearOperator.from_factory(
                _GramFactory(pa[0], pt[0]),
                (pa[1], pt[1]),
                size=self.shape[1],
                dtype=self.dtype,
                name=f"{self.name}^T {self.name}",
                traceable=self.traceable,
            )
        return LinearOperator(
            _wrap(_gram_apply, self.flat_matvec, self.flat_rmatvec),
            size=self.shape[1],
            dtype=self.dtype,
            name=f"{self.name}^T {self.name}",
            traceable=self.traceable,
        )

    def singular_values(
        self, k: int = 5, *, key: jax.Array, tol: float | None = None
    ) -> jax.Array:
        """The ``k`` largest singular values, by Lanczos on the smaller Gram matrix.

        ``sigma_i = sqrt(lambda_i(A^T A))`` (or of ``A A^T`` when ``m < n``),
        from :func:`eigenvalues`; accurate to about ``tol * sigma_1^2 /
        sigma_i`` (small singular values lose precision when squared).

        Args:
          k: how many (at most ``min(m, n)``).
          key: a PRNG key for Lanczos's start vector.
          tol: Lanczos's relative residual tolerance (default ``sqrt(eps)``).

        Returns:
          The singular values ``(k,)`` in decreasing order.
        """
        from jaxmc.spectrum._eigen import eigenvalues

        fn = f"{self.name}.singular_values"
        k = _checks.static_int(fn, "k", k, minimum=1)
        if k > min(self.shape):
            msg = (
                f"{fn}: argument `k` must be at most min(m, n) = {min(self.shape)}; "
                f"got {k}."
            )
            raise ValueError(msg)
        gram = self.gram() if self.shape[1] <= self.shape[0] else self.T.gram()
        res = eigenvalues(gram, k, key=key, tol=tol)
        return jnp.sqrt(jnp.maximum(res.values, 0))

    def to_dense(self) -> jax.Array:
        """The dense ``(m, n)`` matrix (small operators only).

        Returns:
          The matrix, built from ``n`` matvecs (after one ``prepare`` when the
          matvec is a ``Partial(factory, dynamic)``).
        """
        pa = _factory_of(self.flat_matvec)
        if pa is not None:
            dynamic = _sharding.keep_data_sharding(pa[1])
            n = self.shape[1]
            return _hosted.call(_rect_dense_jit, pa[0], dynamic, n=n, dtype=self.dtype)
        eye = jnp.eye(self.shape[1], dtype=self.dtype)
        if self.traceable:
            return jax.lax.map(self.flat_matvec, eye).T
        return jnp.stack([self.flat_matvec(e) for e in eye]).T

    def to_lineax(self) -> Any:
        """This operator as a ``lineax.FunctionLinearOperator``.

        Returns:
          A lineax operator on flat ``(n,)`` vectors (``pip install lineax``).
        """
        import lineax as lx

        return lx.FunctionLinearOperator(
            self.flat_matvec, jax.ShapeDtypeStruct((self.shape[1],), self.dtype)
        )

    def __repr__(self) -> str:
        return f"{self.name}(shape={self.shape}, dtype={self.dtype})"


def to_lineax(op: LinearOperator, positive_semidefinite: bool = False) -> Any:
    """``op`` as a symmetric ``lineax.FunctionLinearOperator``."""
    import lineax as lx

    tags = [lx.symmetric_tag]
    if positive_semidefinite:
        tags.append(lx.positive_semidefinite_tag)
    return lx.FunctionLinearOperator(
        op.flat_matvec, jax.ShapeDtypeStruct((op.size,), op.dtype), tags=tags
    )


# 16-bit operators: LAPACK has no float16/bfloat16 kernels, and 16-bit Krylov
# bases, probes and running sums lose their digits at once. The algorithms that
# need more see such an operator through `in_float32`.


@dataclasses.dataclass(frozen=True)
class _Float32Factory(MatvecFactory):
    """``v -> float32(A v16)``: a 16-bit operator seen in float32.

    The matvec still runs in the operator's own dtype (``low``); vectors are
    cast to it on the way in and back to float32 on the way out. ``unravel``
    returns the operator's own pytree form and dtype.
    """

    f: MatvecFactory
    low: str

    def prepare(self, dynamic: Any) -> Callable[[jax.Array], jax.Array]:
        m = self.f.prepare(dynamic)
        return lambda v: m(v.astype(self.low)).astype(jnp.float32)

    def ravel(self, dynamic: Any, tree: Any) -> jax.Array:
        return self.f.ravel(dynamic, tree).astype(jnp.float32)

    def unravel(self, dynamic: Any, v: jax.Array) -> Any:
        return self.f.unravel(dynamic, v.astype(self.low))


def in_float32(op: LinearOperator) -> LinearOperator:
    """``op`` itself, or for a float16/bfloat16 ``op`` the same map in float32.

    Everything but the matvec (probes, Lanczos vectors, inner products, the
    small dense eigenproblems, running sums) then runs in float32, and values
    come back in float32; the matvec keeps the operator's 16-bit dtype.
    """
    if jnp.dtype(op.dtype).itemsize >= 4:
        return op
    out = LinearOperator.from_factory(
        _Float32Factory(op.factory, jnp.dtype(op.dtype).name),
        op.dynamic,
        size=op.size,
        dtype=jnp.float32,
        name=op.name,
        traceable=op.traceable,
    )
    out.vector_sharding = op.vector_sharding
    if hasattr(op, "nonfinite_paths"):
        out.nonfinite_paths = op.nonfinite_paths
    return out
