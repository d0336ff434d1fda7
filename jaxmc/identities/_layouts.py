"""Conversion of a closed form from its stated layout to JAX's native layout.

JAX's layout (``jax.jacfwd``) has shape ``out_shape + in_shape``. The catalog's
closed forms are stated in one of:

* ``"mixed"``: gradients shaped like the variable for scalar functions, and
  numerator-layout Jacobians ``(m, n)`` for vector-by-vector (for these
  combinations it coincides with JAX's layout);
* ``"numerator"`` / ``"denominator"``: for vector-by-vector Jacobians, ``(m, n)``
  and its transpose ``(n, m)``;
* ``"vec"`` (Magnus & Neudecker): ``d vec F / d (vec X)^T`` of shape
  ``(size F, size X)``, vec column-major;
* ``"jax"``: JAX's own.
"""

from __future__ import annotations

import math

import jax

__all__ = ["to_jax"]


def _vec_to_jax(J: jax.Array, in_shape, out_shape) -> jax.Array:
    """(size Y, size X) with column-major vec -> out_shape + in_shape."""
    ro, ri = tuple(reversed(out_shape)), tuple(reversed(in_shape))
    T = J.reshape(ro + ri)
    k, r = len(ro), len(ri)
    perm = tuple(reversed(range(k))) + tuple(k + j for j in reversed(range(r)))
    return T.transpose(perm)


def to_jax(J: jax.Array, *, in_shape, out_shape, layout: str) -> jax.Array:
    """Converts the derivative ``J`` from ``layout`` to JAX's layout."""
    in_shape, out_shape = tuple(in_shape), tuple(out_shape)
    if layout == "jax":
        return J
    if layout == "vec":
        return _vec_to_jax(J, in_shape, out_shape)
    if layout == "mixed":
        if len(out_shape) == 0 or len(in_shape) == 0:
            return J.reshape(out_shape + in_shape)
        if len(out_shape) == 1 and len(in_shape) == 1:
            return J
    if layout in ("numerator", "denominator") and len(out_shape) <= 1:
        if len(in_shape) <= 1:
            if layout == "numerator" or len(out_shape) + len(in_shape) < 2:
                return J.reshape(out_shape + in_shape)
            return J.T
    msg = (
        f"jaxmc.identities: layout {layout!r} is not defined here for a derivative "
        f"of shape {out_shape} by {in_shape}; use 'vec' or 'jax'."
    )
    raise ValueError(msg)


def size(shape) -> int:
    """Number of entries of an array of ``shape``."""
    return math.prod(shape)
