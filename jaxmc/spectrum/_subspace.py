r"""How much of the gradient lies in the top eigenspace of a curvature operator.

Gur-Ari, Roberts & Dyer (2018), "Gradient descent happens in a tiny
subspace", measure

.. math::
    f_k = \frac{\|P_k g\|^2}{\|g\|^2}, \qquad P_k = V_k V_k^\top,

with ``V_k`` the top-``k`` eigenvectors of the Hessian: after a short
transient, ``f_k`` is close to 1 for ``k`` the number of classes.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from jaxmc import _checks
from jaxmc.spectrum import _loops
from jaxmc.spectrum._eigen import EigenResult, eigenvalues

__all__ = ["SubspaceFraction", "gradient_subspace_fraction"]


@dataclasses.dataclass(frozen=True)
class SubspaceFraction:
    """The fraction of a gradient in a top-``k`` eigenspace, overall and per layer.

    Attributes:
      fraction: ``||P_k g||^2 / ||g||^2`` for the whole operator, ``()``.
      eigenvalues: the top-``k`` eigenvalues used, ``(k,)``.
      per_layer: a dict from the block's name to the fraction of that block's
        gradient in the top-``k`` eigenspace of that block's diagonal block
        (``k`` capped at the block's size); empty when not asked for.
    """

    fraction: jax.Array
    eigenvalues: jax.Array
    per_layer: dict[str, jax.Array]

    def __repr__(self) -> str:
        if not _checks.is_concrete(self.fraction):
            return "SubspaceFraction(...)"
        layers = ", ".join(f"{k}: {float(v):.3f}" for k, v in self.per_layer.items())
        return f"SubspaceFraction(fraction={float(self.fraction):.4f}" + (
            f", per_layer={{{layers}}})" if layers else ")"
        )


def _fraction(vectors_flat: jax.Array, g: jax.Array) -> jax.Array:
    coeff = vectors_flat @ g
    denom = jnp.vdot(g, g)
    return jnp.where(
        denom > 0, jnp.vdot(coeff, coeff) / jnp.where(denom > 0, denom, 1), 0
    )


def gradient_subspace_fraction(
    op: Any,
    grad: Any,
    /,
    k: int = 10,
    *,
    key: jax.Array,
    per_layer: bool = True,
    eig: EigenResult | None = None,
    tol: float | None = None,
) -> SubspaceFraction:
    r"""The fraction of the gradient in the top-``k`` eigenspace (Gur-Ari et al. 2018).

    Overall, ``||V_k^T g||^2 / ||g||^2`` with ``V_k`` the top-``k``
    eigenvectors of ``op`` (by :func:`eigenvalues`, or from ``eig``). Per
    layer (``per_layer=True``), for each block of parameters (weights and
    biases of a layer together, grouped by key path as in
    :func:`layer_spectra`): the fraction of that block's gradient in the
    top-``k`` eigenspace of the operator's diagonal block for it.

    Args:
      op: a symmetric :class:`LinearOperator` over parameters (a Hessian, a
        GGN, a Fisher, K-FAC).
      grad: the gradient, flat ``(n,)`` or a pytree like the parameters.
      k: the subspace dimension.
      key: a PRNG key for Lanczos.
      per_layer: also compute the per-block fractions.
      eig: top eigenpairs already computed for ``op`` (their ``k`` is used
        and no new Lanczos run is made for the whole operator).
      tol: Lanczos's tolerance (default ``sqrt(eps)``).

    Returns:
      A :class:`SubspaceFraction`.

    Raises:
      TypeError: for a non-operator, a bad key, or a gradient of the wrong
        form.
      ValueError: for ``k`` out of ``[1, n]``.
    """
    fn = "jaxmc.spectrum.gradient_subspace_fraction"
    op = _loops.check_operator(fn, op)
    key = _checks.check_key(fn, "key", key)
    k = _checks.static_int(fn, "k", k, minimum=1)
    if k > op.size:
        msg = (
            f"{fn}: argument `k` must be at most the operator size {op.size}; got {k}."
        )
        raise ValueError(msg)
    if isinstance(grad, jax.Array | jnp.ndarray) and jnp.shape(grad) == (op.size,):
        g = jnp.asarray(grad, op.dtype)
    else:
        try:
            g = op.ravel(grad)
        except Exception as err:  # noqa: BLE001 - re-raised with context
            msg = (
                f"{fn}: argument `grad` must be a flat ({op.size},) vector or a "
                f"pytree like the operator's parameters; got "
                f"{_checks.describe(grad)} ({type(err).__name__}: {err})."
            )
            raise TypeError(msg) from None
        if jnp.shape(g) != (op.size,):
            msg = (
                f"{fn}: argument `grad` flattens to shape {jnp.shape(g)}; "
                f"expected ({op.size},)."
            )
            raise ValueError(msg)
    key_all, key_layers = jax.random.split(key)
    if eig is None:
        eig = eigenvalues(op, k, key=key_all, tol=tol)
    V = jax.vmap(op.ravel)(eig.vectors)
    total = _fraction(V, g)
    layers: dict[str, jax.Array] = {}
    if per_layer:
        from jaxmc.spectrum._algebra import resolve_indices
        from jaxmc.spectrum._layers import _auto_blocks

        template = op.unravel(jnp.zeros((op.size,), op.dtype))
        blocks = _auto_blocks(template)
        keys = jax.random.split(key_layers, len(blocks))
        for (name, select), bkey in zip(blocks.items(), keys, strict=True):
            try:
                idx = resolve_indices(fn, "blocks", op, select)
            except ValueError:  # a block outside the operator (param_filter)
                continue
            sub = op.block(idx)
            kb = min(k, sub.size)
            if sub.size <= max(2 * kb, 16):
                vals, vecs = jnp.linalg.eigh(sub.to_dense())
                Vb = vecs[:, ::-1][:, :kb].T
            else:
                Vb = eigenvalues(sub, kb, key=bkey, tol=tol).vectors
            layers[name] = _fraction(Vb, g[idx])
    return SubspaceFraction(total, eig.values, layers)
