"""Loops that run in ``jax.lax`` for traceable operators, in Python otherwise.

An operator whose matvec streams batches from a Python iterable cannot be
called inside ``jax.lax`` loops; the algorithms then run the same loop bodies
from Python (the arithmetic around the matvec stays in JAX).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jaxmc import _checks
from jaxmc.spectrum._operator import LinearOperator


def while_loop(
    cond: Callable[[Any], Any], body: Callable[[Any], Any], init: Any, traced: bool
) -> Any:
    """``jax.lax.while_loop`` when ``traced``, a Python while loop otherwise."""
    if traced:
        return jax.lax.while_loop(cond, body, init)
    state = init
    while bool(cond(state)):
        state = body(state)
    return state


def fori_loop(
    lower: int, upper: int, body: Callable[[int, Any], Any], init: Any, traced: bool
) -> Any:
    """``jax.lax.fori_loop`` when ``traced``, a Python for loop otherwise."""
    if traced:
        return jax.lax.fori_loop(lower, upper, body, init)
    state = init
    for i in range(lower, upper):
        state = body(i, state)
    return state


def scan(f: Callable, init: Any, length: int, traced: bool) -> Any:
    """``jax.lax.scan`` over ``length`` steps without inputs, or a Python loop."""
    if traced:
        return jax.lax.scan(f, init, None, length=length)
    carry, ys = init, []
    for _ in range(length):
        carry, y = f(carry, None)
        ys.append(y)
    if not ys:
        shape = jax.eval_shape(lambda c: f(c, None)[1], init)
        return carry, jnp.zeros((0, *shape.shape), shape.dtype)
    return carry, jnp.stack(ys)


def map_keys(f: Callable, keys: jax.Array, batch_size: int, traced: bool) -> Any:
    """``jax.lax.map(f, keys, batch_size=...)``, or a Python loop."""
    if traced:
        return jax.lax.map(f, keys, batch_size=batch_size)
    outs = [f(k) for k in keys]
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *outs)


def map_rows(f: Callable[[jax.Array], jax.Array], X: jax.Array, traced: bool):
    """``f`` applied to each row of ``X`` (sequentially, to bound memory)."""
    if traced:
        return jax.lax.map(f, X)
    return jnp.stack([f(x) for x in X])


def call_compiled(core: Callable, op: Any, *args: Any, **static: Any) -> Any:
    """``core(op.flat_matvec, *args, **static)``, compiled once per signature.

    When the matvec is a ``jax.tree_util.Partial`` (a pytree, e.g. from
    :func:`matrix_operator` or a linearised Hessian), it is passed to a cached
    ``jax.jit`` as an argument, so repeated calls with operators of the same
    shape reuse the compiled program. Other matvecs are closed over (traced
    into the caller's jit, or run eagerly for host-side operators).
    """
    if op.traceable and isinstance(op.flat_matvec, jax.tree_util.Partial):
        return _jitted(core, tuple(sorted(static)))(op.flat_matvec, *args, **static)
    return core(op.flat_matvec, *args, **static)


_JIT_CACHE: dict[Any, Callable] = {}


def _jitted(core: Callable, static_names: tuple[str, ...]) -> Callable:
    key = (core, static_names)
    if key not in _JIT_CACHE:
        _JIT_CACHE[key] = jax.jit(core, static_argnames=static_names)
    return _JIT_CACHE[key]


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


def raise_if_nonfinite(fn: str, op: Any, key: jax.Array, *results: Any) -> None:
    """On concrete non-finite results, raises a ValueError saying where."""
    if not _checks.is_concrete(results):
        return
    if all(bool(jnp.all(jnp.isfinite(r))) for r in results):
        return
    v = jax.random.normal(key, (op.size,), op.dtype)
    w = op.flat_matvec(v)
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
