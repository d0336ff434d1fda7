r"""The Jacobian of a model's outputs in its parameters, as a rectangular operator.

For data ``x_1, ..., x_N`` and ``f(theta, x_n)`` with ``C`` outputs per
example (any output shape, flattened in C order), the Jacobian

.. math::
    J = \begin{bmatrix} \partial_\theta f(\theta, x_1) \\ \vdots \\
        \partial_\theta f(\theta, x_N) \end{bmatrix} \in \mathbb{R}^{NC \times P}

is applied without being formed. Both maps come from one static
:class:`JacobianFactory` (see ``jaxmc.spectrum._operator``), so fresh operators
of the same shapes reuse the compiled programs. For in-memory data,
``prepare`` takes the model's ``jax.linearize`` over the data set once (a
``lax.map`` over the batches when ``batch_size`` is set): ``J v`` replays its
linear part and ``J^T u`` its ``jax.linear_transpose``, so within one solve
(``singular_values``, ``gram()`` in an algorithm, ``to_dense``) each product
is one linear pass and the forward pass runs once. ``J^T J`` is the
Gauss-Newton matrix of the summed squared error ``sum_n ||f(theta, x_n) -
y_n||^2 / 2``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmc import _checks, _xla
from jaxmc.spectrum import _params
from jaxmc.spectrum._algebra import RectangularOperator
from jaxmc.spectrum._hessian import (
    _STREAMS,
    _Data,
    _eval_on_first,
    _flatten,
    _fold_batches,
    _leading_size,
    _merge,
    _Params,
    _source,
    _strided_batches,
)
from jaxmc.spectrum._operator import MatvecFactory

__all__ = ["jacobian_operator"]


@dataclasses.dataclass(frozen=True)
class JacobianFactory(MatvecFactory):
    """The static half of ``J v`` (or of ``J^T u``) for a Jacobian operator.

    The dynamic half is ``(params, data)`` for in-memory data and ``(params,
    handle)`` for streamed data (a handle into ``_hessian._STREAMS``).

    Attributes:
      model_fn: the model ``model_fn(params, batch) -> outputs``.
      mask: one bool per parameter leaf, True where selected (the columns).
      kind: ``"single"``, ``"memory"`` (batched in a ``lax`` loop) or
        ``"stream"`` (host-side loop).
      batch_size: the batch size of in-memory batching.
      num_examples: ``N``.
      per_example: ``C``, the outputs per example.
      out_dtype: the dtype of the model's outputs (of ``J v``).
      linearize: for in-memory data, store the linearisation in ``prepare``.
      transpose: False for ``v -> J v``, True for ``u -> J^T u``.
    """

    model_fn: Callable
    mask: tuple[bool, ...]
    kind: str
    batch_size: int | None
    num_examples: int
    per_example: int
    out_dtype: str
    linearize: bool
    transpose: bool

    def prepare(self, dynamic: Any) -> Callable[[jax.Array], jax.Array]:
        params, source = dynamic
        if self.kind == "stream":
            return self._host_map(params, source)
        jvp, vjp = self.maps(params, source)
        return vjp if self.transpose else jvp

    def prepare_pair(self, other: MatvecFactory, dynamic: Any) -> Any:
        """``(this map, its transpose)`` from one linearisation, for a Gram matrix.

        ``other`` must be this factory's transpose, built with the same dynamic
        arrays (as ``jacobian_operator`` does); returns None otherwise, and
        for streamed data.
        """
        flipped = dataclasses.replace(self, transpose=not self.transpose)
        if other != flipped or self.kind == "stream":
            return None
        jvp, vjp = self.maps(*dynamic)
        return (vjp, jvp) if self.transpose else (jvp, vjp)

    def outputs(self, params: Any, theta: jax.Array, batch: Any) -> jax.Array:
        """The model's outputs on one batch, the selected leaves set to ``theta``."""
        _, unravel = _flatten(self.mask, params)
        return self.model_fn(_merge(self.mask, params, unravel(theta)), batch)

    def maps(
        self, params: Any, data: Any
    ) -> tuple[Callable[[jax.Array], jax.Array], Callable[[jax.Array], jax.Array]]:
        """``(v -> J v, u -> J^T u)`` over in-memory data.

        With ``linearize``, the forward pass runs here, once, and both maps
        replay only its linear part; otherwise each product recomputes it, one
        batch at a time.
        """
        theta = _flatten(self.mask, params)[0]

        def on(t, batch):
            return self.outputs(params, t, batch).reshape(-1)

        if self.kind == "single":
            rows = functools.partial(on, batch=data)
        else:
            # The batches of _fold_batches, so that sharded data stay
            # data-parallel; the rows are put back in data order.
            bs = self.batch_size
            num_full, batch, last = _strided_batches(data, bs)

            def rows(t):
                def one(i):
                    return on(t, batch(i)).reshape(bs, -1)

                out = jax.lax.map(one, jnp.arange(num_full))  # (num_full, bs, C)
                out = jnp.swapaxes(out, 0, 1).reshape(-1)
                return out if last is None else jnp.concatenate([out, on(t, last)])

        out_dtype = jnp.dtype(self.out_dtype)
        if self.linearize:
            jvp = jax.linearize(rows, theta)[1]
            transposed = jax.linear_transpose(jvp, theta)
            return jvp, lambda u: transposed(u.astype(out_dtype))[0]

        def jvp(v):
            return jax.jvp(rows, (theta,), (v,))[1]

        if self.kind == "single":

            def vjp(u):
                return jax.vjp(rows, theta)[1](u.astype(out_dtype))[0]

            return jvp, vjp

        def vjp(u):
            # one batch's forward pass and residuals at a time
            per_ex = u.astype(out_dtype).reshape(self.num_examples, -1)

            def product(batch_u):
                batch, ub = batch_u
                return jax.vjp(lambda t: on(t, batch), theta)[1](ub.reshape(-1))[0]

            acc, tail = _fold_batches(
                (data, per_ex), self.batch_size, product, jnp.zeros_like(theta)
            )
            return acc if tail is None else acc + tail

        return jvp, vjp

    def _host_map(self, params: Any, handle: Any) -> Callable[[jax.Array], jax.Array]:
        """The streamed map: a ``pure_callback`` running the loop on the host."""
        theta = jax.eval_shape(lambda p: _flatten(self.mask, p)[0], params)
        if self.transpose:
            out = jax.ShapeDtypeStruct(theta.shape, theta.dtype)
        else:
            rows = self.num_examples * self.per_example
            out = jax.ShapeDtypeStruct((rows,), jnp.dtype(self.out_dtype))

        def call(v, dyn):
            return np.asarray(self._stream(dyn, v), dtype=out.dtype)

        def apply(v: jax.Array) -> jax.Array:
            return jax.pure_callback(
                call, out, v, (params, handle), vmap_method="sequential"
            )

        return apply

    def _stream(self, dynamic: Any, v: np.ndarray) -> np.ndarray:
        """The host-side loop over the streamed batches."""
        params, handle = dynamic
        dm = _STREAMS[int(handle)]
        what = "rmatvec" if self.transpose else "matvec"
        parts, acc, start = [], None, 0
        for batch in dm.factory():
            m = _leading_size(dm.fn, "data", batch) * self.per_example
            _params.check_nesting(dm.fn, _params.mesh_of(batch))
            if self.transpose and start + m <= v.shape[0]:
                p, w = _params.replicate_like(batch, (params, v[start : start + m]))
                out = np.asarray(_stream_vjp(self, p, batch, w))
                acc = out if acc is None else acc + out
            elif not self.transpose:
                p, w = _params.replicate_like(batch, (params, v))
                parts.append(np.asarray(_stream_jvp(self, p, batch, w)))
            start += m
        rows = self.num_examples * self.per_example
        if start != rows:
            msg = (
                f"JacobianOperator.{what}: the streamed `data` yielded "
                f"{start // self.per_example} examples, but "
                f"{self.num_examples} when the operator was built; the loader "
                f"must yield the same examples on every pass."
            )
            raise ValueError(msg)
        return acc if self.transpose else np.concatenate(parts)


@functools.partial(_xla.jit, static_argnums=0)
def _stream_jvp(factory: JacobianFactory, params, batch, v):
    """One streamed batch's rows of ``J v``: compiled once per factory and shape."""
    theta = _flatten(factory.mask, params)[0]
    rows = functools.partial(factory.outputs, params, batch=batch)
    return jax.jvp(rows, (theta,), (v,))[1].reshape(-1)


@functools.partial(_xla.jit, static_argnums=0)
def _stream_vjp(factory: JacobianFactory, params, batch, u):
    """One streamed batch's part of ``J^T u``: compiled once per factory and shape."""
    theta = _flatten(factory.mask, params)[0]
    out, vjp = jax.vjp(functools.partial(factory.outputs, params, batch=batch), theta)
    return vjp(u.reshape(out.shape).astype(out.dtype))[0]


def jacobian_operator(
    model_fn: Callable[[Any, Any], Any],
    params: Any,
    data: Any,
    *,
    batch_size: int | None = None,
    param_filter: Any = None,
    linearize: bool = True,
) -> RectangularOperator:
    r"""The output-parameter Jacobian of a model over a data set, matrix-free.

    Args:
      model_fn: ``model_fn(params, batch) -> outputs``, one array with a
        leading example axis (``(n, C)``, ``(n,)`` or ``(n, ...)``).
      params: the parameter pytree.
      data: as in :func:`hessian_operator` (in memory, batched or streamed).
      batch_size: as in :func:`hessian_operator`.
      param_filter: as in :func:`hessian_operator` (the columns kept).
      linearize: for in-memory data, take the model's linearisation over the
        data set once per solve and replay only its linear part in each
        product (the default): the residuals of every batch (about the
        model's activations on all ``N`` examples) are then held during the
        solve. False recomputes the forward pass in every product, one batch
        at a time, holding one batch's. Streamed data always recompute.

    Returns:
      A :class:`RectangularOperator` of shape ``(N C, P)``: ``matvec(v)``
      ``(P,) -> (N C,)`` stacks the examples' outputs in data order,
      ``rmatvec(u)`` ``(N C,) -> (P,)``, ``gram()`` is ``J^T J`` and
      ``singular_values(k, key=...)`` the top singular values. Operators of
      the same model, options and shapes share their compiled programs.

    Raises:
      ValueError: if ``model_fn`` fails on the first batch or does not return
        one array with a leading example axis; if streamed ``data`` is used
        with traced ``params`` (inside ``jax.jit``).
      TypeError: as :func:`hessian_operator`.

    >>> import jax.numpy as jnp
    >>> from jaxmc.spectrum import jacobian_operator
    >>> J = jacobian_operator(lambda w, x: x @ w, jnp.zeros(2), jnp.eye(2) * 3.0)
    >>> J.shape, J.to_dense().tolist()
    ((2, 2), [[3.0, 0.0], [0.0, 3.0]])
    """
    fn = "jaxmc.spectrum.jacobian_operator"
    _checks.check_callable(fn, "model_fn", model_fn)
    pm = _Params(fn, params, param_filter)
    dm = _Data(fn, data, batch_size)

    out = _eval_on_first(fn, "model_fn", model_fn, pm.tree, dm.first)
    n_first = _leading_size(fn, "data", dm.first)
    if not hasattr(out, "shape") or len(out.shape) < 1 or out.shape[0] != n_first:
        msg = (
            f"{fn}: `model_fn` must return one array with a leading example axis "
            f"of size {n_first}; got {_checks.describe(out)}."
        )
        raise ValueError(msg)
    if dm.kind == "stream":
        N = sum(_leading_size(fn, "data", b) for b in dm.factory())
    else:
        N = dm.size
    per_example = math.prod(out.shape[1:])
    factory = JacobianFactory(
        model_fn=model_fn,
        mask=pm.mask,
        kind=dm.kind,
        batch_size=dm.batch_size,
        num_examples=N,
        per_example=per_example,
        out_dtype=jnp.dtype(out.dtype).name,
        linearize=bool(linearize),
        transpose=False,
    )
    dynamic = (pm.tree, _source(pm, dm))
    op = RectangularOperator(
        jax.tree_util.Partial(factory, dynamic),
        jax.tree_util.Partial(dataclasses.replace(factory, transpose=True), dynamic),
        shape=(N * per_example, pm.size),
        dtype=pm.dtype,
        name="JacobianOperator",
        traceable=dm.kind != "stream",
    )
    op.ravel = lambda tree: _flatten(pm.mask, tree)[0]
    return op
