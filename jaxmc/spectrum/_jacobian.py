r"""The Jacobian of a model's outputs in its parameters, as a rectangular operator.

For data ``x_1, ..., x_N`` and ``f(theta, x_n)`` with ``C`` outputs per
example (any output shape, flattened in C order), the Jacobian

.. math::
    J = \begin{bmatrix} \partial_\theta f(\theta, x_1) \\ \vdots \\
        \partial_\theta f(\theta, x_N) \end{bmatrix} \in \mathbb{R}^{NC \times P}

is applied without being formed: ``J v`` is a ``jax.jvp`` of the model per
batch, ``J^T u`` a ``jax.vjp``. ``J^T J`` is the Gauss-Newton matrix of the
summed squared error ``sum_n ||f(theta, x_n) - y_n||^2 / 2``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmc import _checks
from jaxmc.spectrum._algebra import RectangularOperator
from jaxmc.spectrum._hessian import (
    _Data,
    _eval_on_first,
    _flatten,
    _leading_size,
    _merge,
    _Params,
)

__all__ = ["jacobian_operator"]


def _jvp_rows(model_flat, theta, batch, v):
    out = jax.jvp(lambda t: model_flat(t, batch), (theta,), (v,))[1]
    return out.reshape(-1)


def _vjp_rows(model_flat, theta, batch, u):
    out, vjp = jax.vjp(lambda t: model_flat(t, batch), theta)
    return vjp(u.reshape(out.shape).astype(out.dtype))[0]


def jacobian_operator(
    model_fn: Callable[[Any, Any], Any],
    params: Any,
    data: Any,
    *,
    batch_size: int | None = None,
    param_filter: Any = None,
) -> RectangularOperator:
    r"""The output-parameter Jacobian of a model over a data set, matrix-free.

    Args:
      model_fn: ``model_fn(params, batch) -> outputs``, one array with a
        leading example axis (``(n, C)``, ``(n,)`` or ``(n, ...)``).
      params: the parameter pytree.
      data: as in :func:`hessian_operator` (in memory, batched or streamed).
      batch_size: as in :func:`hessian_operator`.
      param_filter: as in :func:`hessian_operator` (the columns kept).

    Returns:
      A :class:`RectangularOperator` of shape ``(N C, P)``: ``matvec(v)``
      ``(P,) -> (N C,)`` stacks the examples' outputs in data order,
      ``rmatvec(u)`` ``(N C,) -> (P,)``, ``gram()`` is ``J^T J`` and
      ``singular_values(k, key=...)`` the top singular values.

    Raises:
      ValueError: if ``model_fn`` fails on the first batch or does not return
        one array with a leading example axis.
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

    theta, unravel_selected = _flatten(pm.mask, pm.tree)

    def model_flat(theta, batch):
        return model_fn(_merge(pm.mask, pm.tree, unravel_selected(theta)), batch)

    out = _eval_on_first(fn, "model_fn", model_flat, theta, dm.first)
    n_first = int(np.shape(jax.tree_util.tree_leaves(dm.first)[0])[0])
    if not hasattr(out, "shape") or len(out.shape) < 1 or out.shape[0] != n_first:
        msg = (
            f"{fn}: `model_fn` must return one array with a leading example axis "
            f"of size {n_first}; got {_checks.describe(out)}."
        )
        raise ValueError(msg)
    per_example = int(jnp.prod(jnp.asarray(out.shape[1:], int))) if out.ndim > 1 else 1
    jvp_rows = functools.partial(_jvp_rows, model_flat)
    vjp_rows = functools.partial(_vjp_rows, model_flat)

    if dm.kind == "single":
        N = dm.size
        data_ = dm.data
        mv = jax.tree_util.Partial(jvp_rows, theta, data_)
        rmv = jax.tree_util.Partial(vjp_rows, theta, data_)
        traceable = True
    elif dm.kind == "memory":
        N, bs = dm.size, dm.batch_size
        nfull, rest = divmod(N, bs)
        head = jax.tree_util.tree_map(
            lambda x: x[: nfull * bs].reshape(nfull, bs, *x.shape[1:]), dm.data
        )
        tail = (
            jax.tree_util.tree_map(lambda x: x[nfull * bs :], dm.data) if rest else None
        )

        def mv(v):
            rows = jax.lax.map(lambda b: jvp_rows(theta, b, v), head).reshape(-1)
            if tail is not None:
                rows = jnp.concatenate([rows, jvp_rows(theta, tail, v)])
            return rows

        def rmv(u):
            uh = u[: nfull * bs * per_example].reshape(nfull, -1)

            def body(acc, xs):
                b, ub = xs
                return acc + vjp_rows(theta, b, ub), None

            acc = jax.lax.scan(body, jnp.zeros_like(theta), (head, uh))[0]
            if tail is not None:
                acc = acc + vjp_rows(theta, tail, u[nfull * bs * per_example :])
            return acc

        traceable = True
    else:
        jvp_jit = jax.jit(jvp_rows)
        vjp_jit = jax.jit(vjp_rows)
        sizes = [_leading_size(fn, "data", b) for b in dm.factory()]
        N = sum(sizes)

        def mv(v):
            return jnp.concatenate([jvp_jit(theta, b, v) for b in dm.factory()])

        def rmv(u):
            acc, start = jnp.zeros_like(theta), 0
            for b in dm.factory():
                m = _leading_size(fn, "data", b) * per_example
                acc = acc + vjp_jit(theta, b, u[start : start + m])
                start += m
            return acc

        traceable = False
    op = RectangularOperator(
        mv,
        rmv,
        shape=(N * per_example, theta.size),
        dtype=theta.dtype,
        name="JacobianOperator",
        traceable=traceable,
    )
    op.ravel = lambda tree: _flatten(pm.mask, tree)[0]
    return op
