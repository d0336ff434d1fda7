"""Argument checks at jaxmc's public boundary, built on chex.

Every check takes the public function's name (``fn``, e.g. ``"jaxmc.vec.unvec"``)
and the argument's name, and raises a ``ValueError`` (wrong shape, size or value)
or ``TypeError`` (wrong kind or dtype) whose message names both, says what was
expected and what was given. Shape checks are static: they read ``.shape`` and
``.dtype``, so they cost nothing under ``jax.jit`` and ``jax.vmap``.

The chex assertion does the checking; the message is ours, so users never see a
bare ``AssertionError`` or an XLA trace.
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Iterable, Sequence
from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np


def _shape_str(shape: Sequence[Any]) -> str:
    return (
        "("
        + ", ".join("*" if d is None else str(d) for d in shape)
        + (",)" if len(shape) == 1 else ")")
    )


def as_array(fn: str, name: str, x: Any) -> jax.Array:
    """Converts ``x`` to a JAX array, or raises a TypeError naming ``fn``."""
    if isinstance(x, jax.Array):
        return x
    try:
        return jnp.asarray(x)
    except (TypeError, ValueError) as err:
        msg = (
            f"{fn}: argument `{name}` must be an array (or array-like); "
            f"got {type(x).__name__}."
        )
        raise TypeError(msg) from err


def check_rank(fn: str, name: str, x: Any, rank: int | set[int]) -> None:
    """Raises ValueError unless ``x.ndim`` is ``rank`` (or one of a set of ranks)."""
    try:
        chex.assert_rank(x, rank)
    except AssertionError:
        expected = (
            f"rank {rank}"
            if isinstance(rank, int)
            else "rank " + " or ".join(str(r) for r in sorted(rank))
        )
        msg = (
            f"{fn}: argument `{name}` must have {expected}; got rank {np.ndim(x)} "
            f"with shape {_shape_str(np.shape(x))}."
        )
        raise ValueError(msg) from None


def check_shape(fn: str, name: str, x: Any, shape: Sequence[int | None]) -> None:
    """Raises ValueError unless ``x.shape`` matches ``shape`` (None is a wildcard)."""
    try:
        chex.assert_shape(x, tuple(shape))
    except AssertionError:
        msg = (
            f"{fn}: argument `{name}` must have shape {_shape_str(shape)}; "
            f"got shape {_shape_str(np.shape(x))}."
        )
        raise ValueError(msg) from None


def check_square(fn: str, name: str, x: Any) -> None:
    """Raises ValueError unless ``x`` is a square matrix."""
    check_rank(fn, name, x, 2)
    try:
        chex.assert_axis_dimension(x, 0, np.shape(x)[1])
    except AssertionError:
        msg = (
            f"{fn}: argument `{name}` must be a square matrix; "
            f"got shape {_shape_str(np.shape(x))}."
        )
        raise ValueError(msg) from None


def check_equal_shapes(fn: str, names: Sequence[str], xs: Sequence[Any]) -> None:
    """Raises ValueError unless all ``xs`` have the same shape."""
    try:
        chex.assert_equal_shape(list(xs))
    except AssertionError:
        given = ", ".join(
            f"`{n}` {_shape_str(np.shape(x))}" for n, x in zip(names, xs, strict=True)
        )
        msg = f"{fn}: arguments must have equal shapes; got {given}."
        raise ValueError(msg) from None


def check_floating(fn: str, name: str, x: Any) -> None:
    """Raises TypeError unless ``x`` has a floating (real) dtype."""
    try:
        chex.assert_type(x, float)
    except AssertionError:
        msg = (
            f"{fn}: argument `{name}` must have a floating dtype (real: "
            f"float16, bfloat16, float32 or float64); got {jnp.result_type(x)}."
        )
        raise TypeError(msg) from None


def check_inexact(fn: str, name: str, x: Any) -> None:
    """Raises TypeError unless ``x`` has a floating or complex dtype."""
    if not jnp.issubdtype(jnp.result_type(x), jnp.inexact):
        msg = (
            f"{fn}: argument `{name}` must have a floating or complex dtype; "
            f"got {jnp.result_type(x)}."
        )
        raise TypeError(msg)


def static_int(fn: str, name: str, n: Any, *, minimum: int = 0) -> int:
    """Returns ``n`` as a Python int, or raises for tracers, non-ints, small values.

    Sizes that determine output shapes must be static: under ``jax.jit`` pass them
    through ``static_argnums`` or a closure.
    """
    if isinstance(n, jax.core.Tracer):
        msg = (
            f"{fn}: argument `{name}` must be a static Python int because it sets "
            f"an output shape; got a traced value. Under jax.jit, mark it static "
            f"(static_argnums / static_argnames) or close over it."
        )
        raise TypeError(msg)
    if isinstance(n, bool) or not isinstance(n, int | np.integer):
        try:
            n = operator.index(n)
        except TypeError:
            msg = (
                f"{fn}: argument `{name}` must be an int; got {type(n).__name__} {n!r}."
            )
            raise TypeError(msg) from None
    n = int(n)
    if n < minimum:
        msg = f"{fn}: argument `{name}` must be an int >= {minimum}; got {n}."
        raise ValueError(msg)
    return n


def real_number(
    fn: str,
    name: str,
    value: Any,
    *,
    positive: bool = False,
    minimum: float | None = None,
) -> float:
    """Returns ``value`` as a finite Python float, or raises naming ``fn``.

    Accepts Python and NumPy real scalars (``np.float32(1e-3)``, ``np.int64``)
    and 0-d concrete arrays; rejects booleans, strings, traced values, NaN and
    infinities, and values below ``minimum`` (or ``<= 0`` with ``positive``).
    """
    if isinstance(value, np.ndarray | jax.Array) and np.ndim(value) == 0:
        if not isinstance(value, jax.core.Tracer) and np.issubdtype(
            np.asarray(value).dtype, np.number
        ):
            value = np.asarray(value).item()
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        expected = "a positive float" if positive else "a finite float"
        if minimum is not None and not positive:
            expected = f"a finite float >= {minimum:g}"
        msg = (
            f"{fn}: argument `{name}` must be {expected}; got "
            f"{type(value).__name__} {value!r}."
        )
        raise TypeError(msg)
    out = float(value)
    if not math.isfinite(out):
        msg = f"{fn}: argument `{name}` must be finite; got {value!r}."
        raise ValueError(msg)
    if positive and not out > 0:
        msg = f"{fn}: argument `{name}` must be a positive float; got {value!r}."
        raise ValueError(msg)
    if minimum is not None and out < minimum:
        msg = f"{fn}: argument `{name}` must be a finite float >= {minimum:g}; got "
        msg += f"{value!r}."
        raise ValueError(msg)
    return out


def static_shape(fn: str, name: str, shape: Any) -> tuple[int, ...]:
    """Returns ``shape`` as a tuple of non-negative ints, or raises."""
    if isinstance(shape, int | np.integer) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, Iterable) or isinstance(shape, str):
        msg = (
            f"{fn}: argument `{name}` must be a tuple of ints; "
            f"got {type(shape).__name__} {shape!r}."
        )
        raise TypeError(msg)
    return tuple(static_int(fn, f"{name}[{i}]", d) for i, d in enumerate(shape))


def check_one_of(fn: str, name: str, value: Any, options: Iterable[Any]) -> None:
    """Raises ValueError unless ``value`` is one of ``options``."""
    options = tuple(options)
    if value not in options:
        valid = ", ".join(repr(o) for o in options)
        msg = f"{fn}: argument `{name}` must be one of {valid}; got {value!r}."
        raise ValueError(msg)


def check_callable(fn: str, name: str, f: Any) -> None:
    """Raises TypeError unless ``f`` is callable."""
    if not callable(f):
        msg = f"{fn}: argument `{name}` must be callable; got {type(f).__name__}."
        raise TypeError(msg)


def check_key(fn: str, name: str, key: Any) -> jax.Array:
    """Returns a PRNG key array, or raises TypeError for anything else.

    Accepts new-style typed keys (``jax.random.key``) and legacy uint32 keys of
    shape ``(2,)`` (``jax.random.PRNGKey``).
    """
    if isinstance(key, jax.Array | np.ndarray):
        dtype = key.dtype
        if jnp.issubdtype(dtype, jax.dtypes.prng_key) and key.shape == ():
            return key
        if dtype == jnp.uint32 and key.shape == (2,):
            return key
        given = f"an array of dtype {dtype} and shape {_shape_str(key.shape)}"
    else:
        given = f"{type(key).__name__} {key!r}"
    msg = (
        f"{fn}: argument `{name}` must be a PRNG key from jax.random.key(seed) or "
        f"jax.random.PRNGKey(seed); got {given}."
    )
    raise TypeError(msg)


def is_concrete(x: Any) -> bool:
    """True when ``x`` holds concrete values (not a tracer under jit/vmap/grad)."""
    return not any(
        isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(x)
    )


def check_finite(fn: str, name: str, x: Any) -> None:
    """Raises ValueError if concrete ``x`` holds NaN or inf; a no-op under tracing.

    Value checks cannot run inside traced code without a host callback, so this
    only fires on concrete inputs (eager calls), where it says where the first
    non-finite entry is.
    """
    if not is_concrete(x):
        return
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.inexact):
        return
    bad = ~np.isfinite(arr)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        msg = (
            f"{fn}: argument `{name}` must be finite; got {int(bad.sum())} "
            f"non-finite entr{'y' if bad.sum() == 1 else 'ies'}, the first at "
            f"index {where} ({arr[where]})."
        )
        raise ValueError(msg)


def describe(x: Any) -> str:
    """A short description of an array-like or pytree for error messages."""
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return f"array of shape {_shape_str(x.shape)} and dtype {x.dtype}"
    return type(x).__name__
