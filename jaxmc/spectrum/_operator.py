"""The linear-operator abstraction shared by every spectrum algorithm.

A :class:`LinearOperator` is a symmetric linear map on ``R^n`` given by its
matrix-vector product on flat vectors of shape ``(n,)``. Operators built from
model parameters (Hessians, Gauss-Newton matrices) also know how to ravel and
unravel parameter pytrees, so ``matvec`` accepts either form and returns the same
form it was given.

Compile once: a static factory and a dynamic pytree
---------------------------------------------------
Every operator is two things:

* ``op.factory``, a ``MatvecFactory``: a *static*, hashable description
  of how the matvec is computed (the loss function, the HVP mode, the batch
  size, which parameters are selected, ...). Equal options give an equal
  factory (the classes here are frozen dataclasses, compared field by field;
  functions compare by identity, so pass the same ``loss_fn`` object each time).
* ``op.dynamic``, a pytree of arrays: what changes from one operator to the next
  (the parameters, the data, a matrix).

Every algorithm (:func:`~jaxmc.spectrum.eigenvalues`, ``trace``, ``diagonal``,
the densities, ...) is a ``jax.jit``-compiled core taking ``(factory,
dynamic, key, ...)`` with ``factory`` static: its cache key is the factory plus
the structure, shapes, dtypes and shardings of ``dynamic`` and the static
options. Inside the program, the core calls ``factory.prepare(dynamic)`` once,
before its loop, to get the matvec; that is where a Hessian operator takes its
``jax.linearize``. So a fresh operator at new parameters (a new checkpoint) or
new data of the same shapes compiles nothing.

Writing a new operator
~~~~~~~~~~~~~~~~~~~~~~
Subclass ``MatvecFactory`` as a ``@dataclasses.dataclass(frozen=True)``
whose fields are the static options (hashable: functions, ints, strings,
tuples), implement ``prepare(dynamic) -> matvec`` with traceable JAX code
(``matvec`` maps ``(n,) -> (n,)``), and, for pytree-valued operators,
``ravel(dynamic, tree)`` and ``unravel(dynamic, v)``. Then build the operator
with :meth:`LinearOperator.from_factory`::

    @dataclasses.dataclass(frozen=True)
    class FisherFactory(MatvecFactory):
        model_fn: Callable

        def prepare(self, dynamic):
            params, data = dynamic
            ...  # linearise here: it runs once per solve, inside the program
            return lambda v: ...

    op = LinearOperator.from_factory(
        FisherFactory(model_fn), (params, data), size=n, dtype=dtype
    )

Keep arrays out of the factory (they would be baked into the program as
constants, and a new array would recompile): put them in ``dynamic``. A
matvec that must run on the host (streaming batches from Python) calls
:func:`host_matvec` inside ``prepare`` (a ``jax.pure_callback``) and builds
the operator with ``traceable=False``: outside any transform the algorithms
then run their traced program from the host (``_hosted``), the stretches
between matvecs compiled once each and the matvec called while no program
runs; under ``jax.jit`` the program compiles whole, the matvec inside it.

A :class:`LinearOperator` built from a plain function (``LinearOperator(f,
size=n, dtype=...)``) gets a factory that holds the function itself: it
compiles once per function object. A ``jax.tree_util.Partial`` is split into
its function (static) and its arguments (dynamic).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmc import _checks, _memory, _xla
from jaxmc._bounded import BoundedDict
from jaxmc.spectrum import _hosted, _sharding

__all__ = ["LinearOperator", "matrix_operator"]


def _identity(x: Any) -> Any:
    return x


class MatvecFactory:
    """The static half of an operator: how to compute its matvec.

    Subclasses are frozen dataclasses (hashable, compared by their fields), so
    that the compiled programs of the algorithms, keyed on the factory, are
    reused by every operator with equal options. See the module docstring.
    """

    # True where the constructor has checked what the matvec is built from,
    # so that it maps (n,) to (n,) floating by construction: the algorithms
    # then skip the abstract check of the matvec (``check_output``, a trace
    # of it) and run it only to explain a failure (``_loops.call_compiled``).
    _output_by_construction = False

    def prepare(self, dynamic: Any) -> Callable[[jax.Array], jax.Array]:
        """Returns the matvec ``(n,) -> (n,)`` given the dynamic arrays.

        Called under tracing, once per solve, before the algorithm's loop:
        precompute here what every matvec shares (a linearisation).
        """
        raise NotImplementedError

    def ravel(self, dynamic: Any, tree: Any) -> jax.Array:
        """Flattens a pytree shaped like the operator's domain to ``(n,)``."""
        del dynamic
        return tree

    def unravel(self, dynamic: Any, v: jax.Array) -> Any:
        """The inverse of :meth:`ravel`."""
        del dynamic
        return v

    def __call__(self, dynamic: Any, v: jax.Array) -> jax.Array:
        """One matvec, compiled once per factory and shapes."""
        return _apply(self, dynamic, v, None)


def _apply(
    factory: MatvecFactory, dynamic: Any, v: jax.Array, host: bool | None = False
) -> jax.Array:
    """One matvec, run from the host when it calls the host.

    ``host``: True when the matvec calls the host, None to find out from its
    program.
    """
    call = _now if host is False else _hosted.call
    return call(_apply_jit, factory, _sharding.keep_data_sharding(dynamic), v)


def _now(jitted: Callable, *args: Any, **kwargs: Any) -> Any:
    return jitted(*args, **kwargs)


@functools.partial(_xla.jit, static_argnums=0)
def _apply_jit(factory: MatvecFactory, dynamic: Any, v: jax.Array) -> jax.Array:
    return factory.prepare(dynamic)(v)


@functools.partial(
    _xla.jit, static_argnums=0, static_argnames=("n", "dtype", "chunk_size")
)
def _dense_jit(factory: MatvecFactory, dynamic: Any, *, n, dtype, chunk_size):
    mv = factory.prepare(dynamic)
    eye = jnp.eye(n, dtype=dtype)
    return jax.lax.map(mv, eye, batch_size=chunk_size).T


def host_matvec(
    fn: Callable[[Any, np.ndarray], Any], dynamic: Any, *, arrays: bool = False
) -> Callable[[jax.Array], jax.Array]:
    """A traceable matvec that calls ``fn(dynamic, v)`` on the host.

    ``fn`` receives NumPy arrays (``dynamic``'s leaves and ``v``) and may run any
    Python (a loop over batches calling compiled functions); its result is
    cast to ``v``'s dtype. Under ``vmap`` it is called once per vector.

    Args:
      fn: ``fn(dynamic, v) -> (n,)``, run on the host.
      dynamic: a pytree of arrays passed to ``fn``.
      arrays: ``fn`` also accepts JAX arrays: a solve run from the host
        (``_hosted``) then passes them as they are, with no copy to NumPy
        and back.

    Returns:
      A matvec ``(n,) -> (n,)`` usable inside ``jax.jit`` and ``lax`` loops.
    """

    def call(v, dyn):
        out = fn(dyn, v)
        if arrays and isinstance(v, jax.Array) and _one_device(out):
            # a solve run from the host: the product stays on its device, so
            # the host does not wait for it before dispatching what follows
            return out.astype(v.dtype)
        return np.asarray(out, dtype=v.dtype)

    call.takes_arrays = arrays

    def matvec(v: jax.Array) -> jax.Array:
        out = jax.ShapeDtypeStruct(v.shape, v.dtype)
        return jax.pure_callback(call, out, v, dynamic, vmap_method="sequential")

    return matvec


def _one_device(x: Any) -> bool:
    """``x`` is a JAX array on a single device."""
    return isinstance(x, jax.Array) and len(x.sharding.device_set) == 1


@dataclasses.dataclass(frozen=True)
class FunctionFactory(MatvecFactory):
    """The factory of an operator given by a function (static by identity).

    Attributes:
      fn: the matvec; called as ``fn(*args, v)`` with ``args`` from the dynamic
        pytree (the arguments of a ``Partial``, or none).
      ravel_fn: flattens pytrees (identity for flat operators).
      unravel_fn: its inverse.
      host: True when ``fn`` must run on the host (not traceable).
    """

    fn: Callable
    ravel_fn: Callable = _identity
    unravel_fn: Callable = _identity
    host: bool = False

    def prepare(self, dynamic: Any) -> Callable[[jax.Array], jax.Array]:
        args, kwargs = dynamic
        if self.host:
            return host_matvec(lambda d, v: self.fn(*d[0], v, **d[1]), dynamic)
        return lambda v: self.fn(*args, v, **kwargs)

    def ravel(self, dynamic: Any, tree: Any) -> jax.Array:
        return self.ravel_fn(tree)

    def unravel(self, dynamic: Any, v: jax.Array) -> Any:
        return self.unravel_fn(v)


class LinearOperator:
    r"""A symmetric linear operator on ``R^n``, given by its matvec.

    Args:
      flat_matvec: a function ``(n,) -> (n,)``, linear and symmetric, traceable
        by JAX (it is called under ``jax.jit``, ``jax.vmap`` and ``lax`` loops).
        A ``jax.tree_util.Partial`` is split into its function (static) and
        its arguments (passed to the compiled programs), so operators that
        differ only in those arguments share the programs.
      size: ``n``, the dimension.
      dtype: the dtype of vectors the operator acts on.
      ravel: maps a pytree (e.g. parameters) to a flat ``(n,)`` vector.
      unravel: the inverse of ``ravel``.
      name: a label used in ``repr`` and in reports.
      traceable: False when ``flat_matvec`` runs a host-side Python loop (over
        batches streamed from an iterable); the algorithms then call it
        through ``jax.pure_callback``, and their loops still compile. True by
        default.

    Attributes:
      flat_matvec: the matvec on flat vectors.
      size: ``n``.
      dtype: the operator's dtype.
      shape: ``(n, n)``.
      factory: the static ``MatvecFactory`` the algorithms compile on.
      dynamic: the pytree of arrays passed to the compiled programs.
      vector_sharding: how the algorithms shard their vectors (set by
        ``hessian_operator``/``ggn_operator`` from sharded parameters, see
        ``jaxmc.spectrum._sharding``); None: no constraint.
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
        self.size = _checks.static_int(fn, "size", size, minimum=1)
        self.dtype = jnp.dtype(dtype)
        self.name = name
        self.traceable = bool(traceable)
        ravel = _identity if ravel is None else ravel
        unravel = _identity if unravel is None else unravel
        if isinstance(flat_matvec, jax.tree_util.Partial):
            func, dynamic = flat_matvec.func, (flat_matvec.args, flat_matvec.keywords)
        else:
            func, dynamic = flat_matvec, ((), {})
        self.factory: MatvecFactory = FunctionFactory(
            func, ravel, unravel, host=not self.traceable
        )
        self.dynamic: Any = dynamic
        self.flat_matvec = flat_matvec
        self.ravel = ravel
        self.unravel = unravel
        self.vector_sharding = None

    @classmethod
    def from_factory(
        cls,
        factory: MatvecFactory,
        dynamic: Any,
        /,
        *,
        size: int,
        dtype: Any,
        name: str = "LinearOperator",
        traceable: bool = True,
    ) -> LinearOperator:
        """Builds an operator from a static factory and its dynamic arrays.

        Args:
          factory: a hashable ``MatvecFactory`` (see the module docstring).
          dynamic: a pytree of arrays, the factory's input.
          size: ``n``.
          dtype: the dtype of the flat vectors.
          name: a label for ``repr``.
          traceable: False when the matvec runs on the host (informative: the
            factory's ``prepare`` decides how it is called).

        Returns:
          A :class:`LinearOperator` whose ``flat_matvec`` is the
          ``jax.tree_util.Partial(factory, dynamic)`` (a pytree).
        """
        fn = "jaxmc.spectrum.LinearOperator.from_factory"
        if not isinstance(factory, MatvecFactory):
            msg = (
                f"{fn}: argument `factory` must be a MatvecFactory; got "
                f"{type(factory).__name__}."
            )
            raise TypeError(msg)
        op = cls.__new__(cls)
        op.size = _checks.static_int(fn, "size", size, minimum=1)
        op.dtype = jnp.dtype(dtype)
        op.name = name
        op.traceable = bool(traceable)
        op.factory = factory
        op.dynamic = dynamic
        op.flat_matvec = jax.tree_util.Partial(factory, dynamic)
        op.ravel = jax.tree_util.Partial(factory.ravel, dynamic)
        op.unravel = jax.tree_util.Partial(factory.unravel, dynamic)
        op.vector_sharding = None
        return op

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

        Raises:
          ValueError: if ``v`` is neither a flat ``(n,)`` vector nor a pytree
            with the structure and leaf shapes of ``unravel``'s output, or (the
            first time, checked abstractly with ``jax.eval_shape``) the matvec
            does not map ``(n,)`` to ``(n,)``.
        """
        check_output(f"{self.name}.matvec", self)
        if isinstance(v, jax.Array | np.ndarray) and v.shape == (self.size,):
            v = jnp.asarray(v, dtype=self.dtype)
            return _apply(self.factory, self.dynamic, v, not self.traceable)
        _check_domain(f"{self.name}.matvec", self, v)
        flat = _apply(self.factory, self.dynamic, self.ravel(v), not self.traceable)
        return self.unravel(flat)

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
        check_output(fn, self)
        if chunk_size is not None:
            chunk_size = _checks.static_int(fn, "chunk_size", chunk_size, minimum=1)
        itemsize = jnp.dtype(self.dtype).itemsize
        _memory.check_fits(
            fn,
            f"the dense ({n}, {n}) matrix (and its transpose)",
            2 * n * n * itemsize,
            "Use the operator matrix-free (its matvec, or jaxmc.spectrum's "
            "eigenvalues / trace / spectral_density) instead of to_dense.",
        )
        if chunk_size is None:
            _memory.check_fits(
                fn,
                f"the dense ({n}, {n}) matrix with all {n} matvecs at once",
                3 * n * n * itemsize,
                "Pass chunk_size= to compute the columns a block at a time.",
            )

        call = _now if self.traceable else _hosted.call
        return call(
            _dense_jit,
            self.factory,
            _sharding.keep_data_sharding(self.dynamic),
            n=n,
            dtype=self.dtype,
            chunk_size=min(chunk_size or n, n),
        )

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


def _domain(op: LinearOperator) -> Any:
    """The shapes and dtypes of the pytree ``op.unravel`` returns (cached)."""
    if getattr(op, "_domain_shapes", None) is None:
        flat = jax.ShapeDtypeStruct((op.size,), op.dtype)
        op._domain_shapes = jax.eval_shape(op.unravel, flat)
    return op._domain_shapes


def _check_domain(fn: str, op: LinearOperator, v: Any) -> None:
    """Raises ValueError unless ``v`` has the structure and shapes of the domain."""
    expected = _domain(op)
    leaves, treedef = jax.tree_util.tree_flatten(v)
    want_leaves, want_def = jax.tree_util.tree_flatten(expected)
    shapes = [np.shape(x) for x in leaves]
    if treedef == want_def and shapes == [x.shape for x in want_leaves]:
        return
    if len(want_leaves) == 1 and want_leaves[0].shape == (op.size,):
        want = f"a flat vector of shape ({op.size},)"
    else:
        tree = jax.tree_util.tree_map(lambda x: x.shape, expected)
        want = (
            f"a flat vector of shape ({op.size},) or a pytree of arrays with the "
            f"structure and shapes {tree}"
        )
    if len(leaves) == 1 and treedef == jax.tree_util.tree_structure(0):
        given = f"an array of shape {shapes[0]}"
    else:
        given = f"{type(v).__name__} {jax.tree_util.tree_map(np.shape, v)}"
    msg = f"{fn}: argument `v` must be {want}; got {given}."
    raise ValueError(msg)


def check_output(fn: str, op: LinearOperator) -> None:
    """Checks once per operator, abstractly, that the matvec maps (n,) to (n,).

    Runs ``jax.eval_shape`` on ``factory.prepare(dynamic)(v)`` (no FLOPs) the
    first time an operator reaches a public function; raises ValueError naming
    the shape the matvec returned, or the error it raised.
    """
    if getattr(op, "_output_checked", False):
        return
    # A fresh operator with the same factory and the same abstract arrays
    # (a new checkpoint along training) was checked already: tracing its
    # matvec again (a Hessian's linearisation) would cost more than its solve.
    sig = abstract_key(op, op.dynamic)
    if sig in _OUTPUT_OK:
        return
    n = op.size
    flat = jax.ShapeDtypeStruct((n,), op.dtype)
    try:
        out = jax.eval_shape(lambda d, v: op.factory.prepare(d)(v), op.dynamic, flat)
    except Exception as err:  # noqa: BLE001 - re-raised with context
        msg = (
            f"{fn}: calling the operator's matvec on a vector of shape ({n},) and "
            f"dtype {op.dtype} failed; it raised {type(err).__name__}: {err}"
        )
        raise ValueError(msg) from err
    if not hasattr(out, "shape") or out.shape != (n,):
        msg = (
            f"{fn}: the operator's matvec must map a vector of shape ({n},) to a "
            f"vector of shape ({n},) (its `size`); it returned "
            f"{_checks.describe(out)}. Check `size` and the matvec."
        )
        raise ValueError(msg)
    if not jnp.issubdtype(out.dtype, jnp.floating):
        msg = (
            f"{fn}: the operator's matvec must return floating values; it "
            f"returned dtype {out.dtype}."
        )
        raise TypeError(msg)
    op._output_checked = True
    _OUTPUT_OK.add(sig)


class CheckedSignatures:
    """Abstract signatures that passed a check, at most ``limit`` (oldest out).

    A check that depends only on an operator's factory and the shapes of its
    arrays (as the compiled programs are keyed) runs once per signature, not
    once per fresh operator. ``None`` (no signature) is never held.
    """

    def __init__(self, limit: int = 512):
        self._keys: dict[Any, None] = BoundedDict(limit)

    def __contains__(self, key: Any) -> bool:
        return key is not None and key in self._keys

    def add(self, key: Any) -> None:
        if key is not None:
            self._keys[key] = None


_OUTPUT_OK = CheckedSignatures()


def abstract_tree(tree: Any) -> Any:
    """``tree``'s structure and its leaves' shapes, dtypes and weak types, or None.

    None when a leaf has no shape and dtype (a Python number, an object).
    With the x64 flag, which can change what a function returns for the same
    inputs. What an abstract check (``jax.eval_shape``) of ``tree`` depends on.
    """
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    avals = []
    for x in leaves:
        if not (hasattr(x, "shape") and hasattr(x, "dtype")):
            return None
        avals.append((tuple(x.shape), x.dtype, getattr(x, "weak_type", False)))
    return treedef, tuple(avals), bool(jax.config.jax_enable_x64)


def abstract_key(op: LinearOperator, tree: Any) -> Any:
    """``(factory, size, dtype, abstract_tree(tree))``, or None.

    None when a leaf of ``tree`` is not an array or the factory is not
    hashable (such checks then run every time).
    """
    sig = abstract_tree(tree)
    if sig is None:
        return None
    key = (op.factory, op.size, str(op.dtype), sig)
    try:
        hash(key)
    except TypeError:
        return None
    return key


@dataclasses.dataclass(frozen=True)
class _MatmulFactory(MatvecFactory):
    """``v -> M @ v`` with ``M`` the dynamic array."""

    def prepare(self, dynamic: Any) -> Callable[[jax.Array], jax.Array]:
        return lambda v: dynamic @ v


def matrix_operator(M: jax.Array, /) -> LinearOperator:
    """Wraps a symmetric dense matrix as a :class:`LinearOperator`.

    On concrete (not traced) matrices two value checks run: symmetry,
    ``max|M - M^T| <= sqrt(eps) * max|M|`` (the relative tolerance of the
    dtype: 1.5e-8 in float64, 3.5e-4 in float32), which the spectrum
    algorithms assume; and no subnormal nonzero entries (``0 < |M_ij| <
    finfo.tiny``), which XLA on CPU flushes to zero, so that products with
    them would be silently wrong. Under ``jax.jit`` neither runs (pass
    ``check_symmetric=True`` to the algorithms for a randomized test).
    Operators from matrices of the same shape and dtype share the
    algorithms' compiled programs.

    Args:
      M: a square matrix of shape ``(n, n)``.

    Returns:
      The operator ``v -> M @ v`` of size ``n`` and dtype ``M.dtype``.

    Raises:
      ValueError: if ``M`` is not square, or (concrete ``M``) not symmetric
        or holds subnormal entries. TypeError: if it is not
        floating.
    """
    fn = "jaxmc.spectrum.matrix_operator"
    M = _checks.as_array(fn, "M", M)
    _checks.check_square(fn, "M", M)
    _checks.check_floating(fn, "M", M)
    if M.shape[0] == 0:
        msg = f"{fn}: argument `M` must not be empty; got shape (0, 0)."
        raise ValueError(msg)
    if _checks.is_concrete(M):
        _check_matrix_values(fn, np.asarray(M))
    return LinearOperator.from_factory(
        _MatmulFactory(), M, size=M.shape[0], dtype=M.dtype, name="MatrixOperator"
    )


def _check_matrix_values(fn: str, M: np.ndarray) -> None:
    """No subnormal entries, symmetric to ``sqrt(eps)`` relative.

    Non-finite entries pass here: the algorithms raise on them, naming where.
    """
    info = jnp.finfo(M.dtype)
    mag = np.abs(M)
    sub = (mag > 0) & (mag < info.tiny)
    if sub.any():
        where = tuple(int(i) for i in np.argwhere(sub)[0])
        msg = (
            f"{fn}: argument `M` holds {int(sub.sum())} subnormal entries (nonzero "
            f"but below {M.dtype}'s smallest normal number {info.tiny:.3g}), the "
            f"first at index {where} ({M[where]:.3g}); XLA on CPU flushes them to "
            f"zero, so products with M would be wrong. Rescale M (e.g. M / "
            f"max|M|, then multiply the eigenvalues back) or use float64."
        )
        raise ValueError(msg)
    finite = np.isfinite(M) & np.isfinite(M.T)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.where(finite, np.abs(M - M.T), 0.0)
    scale = float(np.where(finite, mag, 0.0).max())
    asym = float(diff.max())
    tol = float(np.sqrt(info.eps))
    if asym > tol * scale:
        where = tuple(int(i) for i in np.unravel_index(np.argmax(diff), M.shape))
        msg = (
            f"{fn}: argument `M` must be symmetric: max|M - M^T| = {asym:.3g} is "
            f"{asym / scale:.2g} * max|M| (tolerance sqrt(eps) = {tol:.1e} for "
            f"{M.dtype}), the largest at index {where}. The spectrum algorithms "
            f"assume a symmetric operator; pass (M + M.T) / 2."
        )
        raise ValueError(msg)
