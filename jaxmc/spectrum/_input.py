"""The Hessian of a loss with respect to its inputs, as a matrix-free operator."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxmc import _checks
from jaxmc.spectrum._operator import LinearOperator, MatvecFactory

__all__ = ["input_hessian_operator"]


def input_hessian_operator(
    loss_fn: Callable[[Any, Any], jax.Array],
    params: Any,
    inputs: Any,
    /,
) -> LinearOperator:
    r"""The Hessian of ``loss_fn(params, x)`` in ``x`` at ``inputs``, matrix-free.

    .. math::
        H_x = \nabla^2_x \, \ell(\theta, x) \big|_{x = \text{inputs}},

    with ``theta = params`` held fixed. Each matvec is a jvp of the input
    gradient (forward-over-reverse). ``inputs`` is one example or a batch, as
    ``loss_fn`` takes it: for a batch and a loss that is the mean over examples
    that do not interact, ``H_x`` is block diagonal, one block per example,
    each ``1/B`` times that example's own input Hessian. Close over labels or
    other non-differentiated data in ``loss_fn`` (``lambda p, x: loss(p, (x,
    y))``); for one example of a batched model pass ``x[None]``.

    Args:
      loss_fn: ``loss_fn(params, inputs) -> scalar``.
      params: any pytree, held fixed.
      inputs: a floating array or pytree of floating arrays; vectors are flattened
        with ``jax.flatten_util.ravel_pytree`` (leaf order, row-major).

    Returns:
      A :class:`LinearOperator` of size ``inputs``' total number of entries and
      their dtype; ``matvec`` takes a flat vector or a pytree like ``inputs``.

    Raises:
      TypeError: if ``loss_fn`` is not callable or ``inputs`` is not floating.
      ValueError: if ``inputs`` is empty or ``loss_fn`` does not return a scalar.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxmc.spectrum import input_hessian_operator
      >>> loss = lambda w, x: jnp.sum(w * x**2)  # Hessian diag(2 w)
      >>> op = input_hessian_operator(loss, jnp.array([1.0, 3.0]), jnp.ones(2))
      >>> op.to_dense().tolist()
      [[2.0, 0.0], [0.0, 6.0]]
    """
    fn = "jaxmc.spectrum.input_hessian_operator"
    _checks.check_callable(fn, "loss_fn", loss_fn)
    leaves = jax.tree_util.tree_leaves(inputs)
    if not leaves:
        msg = f"{fn}: argument `inputs` must hold at least one array; got no leaves."
        raise ValueError(msg)
    for i, leaf in enumerate(leaves):
        leaf = _checks.as_array(fn, f"inputs (leaf {i})", leaf)
        _checks.check_floating(fn, f"inputs (leaf {i})", leaf)
    flat = jax.eval_shape(lambda x: ravel_pytree(x)[0], inputs)
    if flat.size == 0:
        msg = f"{fn}: argument `inputs` must not be empty; got 0 entries."
        raise ValueError(msg)

    out = jax.eval_shape(lambda x: loss_fn(params, x), inputs)
    if getattr(out, "shape", None) != ():
        msg = (
            f"{fn}: argument `loss_fn` must return a scalar; got "
            f"{_checks.describe(out)}."
        )
        raise ValueError(msg)
    # Array parameters travel as arguments of the compiled programs; any other
    # pytree is held (by identity) in the static factory.
    if all(
        isinstance(x, jax.Array | np.ndarray | np.generic | float | int)
        for x in jax.tree_util.tree_leaves(params)
    ):
        factory, dynamic = _InputHessianFactory(loss_fn), (params, inputs)
    else:
        factory, dynamic = _InputHessianFactory(loss_fn, _Held(params)), (None, inputs)
    return LinearOperator.from_factory(
        factory,
        dynamic,
        size=int(flat.size),
        dtype=flat.dtype,
        name="InputHessianOperator",
    )


@dataclasses.dataclass(frozen=True)
class _InputHessianFactory(MatvecFactory):
    """``v -> H_x v``; dynamic ``(params, inputs)``."""

    loss_fn: Callable
    held: Any = None

    def prepare(self, dynamic: Any) -> Callable[[jax.Array], jax.Array]:
        params, inputs = dynamic
        if self.held is not None:
            params = self.held.value
        flat, unravel = ravel_pytree(inputs)
        grad = jax.grad(lambda x: self.loss_fn(params, unravel(x)))
        lin = jax.linearize(grad, flat)[1]
        return lambda v: lin(v.astype(flat.dtype))

    def ravel(self, dynamic: Any, tree: Any) -> jax.Array:
        flat = ravel_pytree(dynamic[1])[0]
        return ravel_pytree(tree)[0].astype(flat.dtype)

    def unravel(self, dynamic: Any, v: jax.Array) -> Any:
        return ravel_pytree(dynamic[1])[1](v)


class _Held:
    """A static value compared by identity (non-array parameters)."""

    def __init__(self, value: Any):
        self.value = value
