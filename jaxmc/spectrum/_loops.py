"""How the spectrum algorithms call their compiled programs, and shared checks.

Every algorithm is a core ``core(factory, dynamic, *args, **static)`` compiled
by :func:`call_compiled` with the operator's factory static and its dynamic
pytree as an argument (see :mod:`jaxmc.spectrum._operator`); the core calls
``factory.prepare(dynamic)`` once to get the matvec. Host-side matvecs enter the
program as ``jax.pure_callback``, so the loops always run in ``jax.lax``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jaxmc import _checks
from jaxmc.spectrum._operator import LinearOperator


def call_compiled(core: Callable, op: Any, *args: Any, **static: Any) -> Any:
    """``core(op.factory, op.dynamic, *args, **static)``, compiled once per key.

    The program is keyed on ``core``, the factory (static), the structure,
    shapes, dtypes and shardings of ``op.dynamic`` and ``args``, and the static
    keyword options, never on the operator object: a fresh operator with the
    same factory and shapes reuses it.
    """
    return _jitted(core, tuple(sorted(static)))(op.factory, op.dynamic, *args, **static)


_JIT_CACHE: dict[Any, Callable] = {}


def _jitted(core: Callable, static_names: tuple[str, ...]) -> Callable:
    key = (core, static_names)
    if key not in _JIT_CACHE:
        _JIT_CACHE[key] = jax.jit(core, static_argnums=0, static_argnames=static_names)
    return _JIT_CACHE[key]


def all_finite(*xs: Any) -> jax.Array:
    """A traced bool: every leaf of ``xs`` is finite."""
    leaves = jax.tree_util.tree_leaves(xs)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def check_operator(fn: str, op: Any) -> LinearOperator:
    """Returns ``op``, or raises TypeError unless it is a real LinearOperator."""
    if not isinstance(op, LinearOperator):
        msg = (
            f"{fn}: argument `op` must be a jaxmc.spectrum.LinearOperator (from "
            f"hessian_operator, matrix_operator, ...); got {_checks.describe(op)}. "
            f"Wrap a dense symmetric matrix as jaxmc.spectrum.matrix_operator(M)."
        )
        raise TypeError(msg)
    if not jnp.issubdtype(op.dtype, jnp.floating):
        msg = f"{fn}: argument `op` must have a real floating dtype; got {op.dtype}."
        raise TypeError(msg)
    return op


def raise_if_nonfinite(fn: str, op: Any, key: jax.Array, finite: Any) -> None:
    """Raises a ValueError saying where, when a concrete ``finite`` is False.

    ``finite`` is the flag computed inside the algorithm's program
    (:func:`all_finite`); under tracing nothing is checked.
    """
    if not _checks.is_concrete(finite) or bool(finite):
        return
    v = jax.random.normal(key, (op.size,), op.dtype)
    w = op.matvec(v)
    bad = ~jnp.isfinite(w)
    if bool(jnp.any(bad)):
        paths = getattr(op, "nonfinite_paths", None)
        if paths is not None:
            where = "in the parameters " + ", ".join(paths(w))
        else:
            idx = [int(i) for i in jnp.flatnonzero(bad)[:5]]
            where = f"at entries {idx}{' ...' if int(bad.sum()) > 5 else ''}"
        msg = (
            f"{fn}: the operator's matvec returned non-finite values (NaN or inf) "
            f"{where}; check the loss and the parameters for overflow, log(0) or "
            f"division by zero."
        )
    else:
        msg = (
            f"{fn}: the results are non-finite (NaN or inf) although a random "
            f"matvec is finite; the operator may overflow on some vectors "
            f"(try float64 or rescale the loss)."
        )
    raise ValueError(msg)
