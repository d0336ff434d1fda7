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
from collections.abc import Callable, Iterable, Sequence
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


_ARRAY_KINDS = "a jax.Array, a numpy array, a Python number or a nested list of numbers"


def as_array(fn: str, name: str, x: Any) -> jax.Array:
    """Converts ``x`` to a JAX array, or raises a TypeError naming ``fn``."""
    if isinstance(x, jax.Array):
        return x
    try:
        return jnp.asarray(x)
    except (TypeError, ValueError) as err:
        hint = (
            " For a pytree of arrays (a dict, a list of arrays), pass one array "
            "(jax.flatten_util.ravel_pytree flattens a pytree)."
            if isinstance(x, dict | list | tuple)
            else ""
        )
        msg = (
            f"{fn}: argument `{name}` must be an array ({_ARRAY_KINDS}); "
            f"got {type(x).__name__}.{hint}"
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


# The policy of check_floating: any real floating dtype JAX has.
_FLOATS = "float16, bfloat16, float32 or float64"


def check_floating(fn: str, name: str, x: Any) -> None:
    """Raises TypeError unless ``x`` has a floating (real) dtype."""
    try:
        chex.assert_type(x, float)
    except AssertionError:
        msg = (
            f"{fn}: argument `{name}` must have a floating dtype "
            f"({_FLOATS}); got {jnp.result_type(x)}."
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
    if isinstance(n, bool | np.bool_):
        msg = (
            f"{fn}: argument `{name}` must be an int, not a bool; got {n!r}. "
            f"(True and False are not sizes or counts.)"
        )
        raise TypeError(msg)
    if not isinstance(n, int | np.integer):
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


def check_bool(fn: str, name: str, value: Any) -> bool:
    """Returns ``value`` as a bool; raises TypeError for anything but True/False.

    Options that switch something on or off take booleans only: a string such as
    ``"no"`` is truthy and would silently mean yes.
    """
    if isinstance(value, bool | np.bool_):
        return bool(value)
    msg = f"{fn}: argument `{name}` must be True or False; got {value!r}."
    raise TypeError(msg)


def check_number(
    fn: str,
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    strict: bool = False,
) -> float:
    """Returns a real option (a tolerance, a scale) as a Python float, or raises.

    Accepts Python and numpy ints and floats and concrete 0-d real arrays; rejects
    bools, strings, complex numbers, traced values, NaN and infinity (TypeError
    for the kind, ValueError for the value). ``minimum`` is a lower bound,
    exclusive when ``strict``.
    """
    if isinstance(value, jax.core.Tracer):
        msg = (
            f"{fn}: argument `{name}` must be a concrete number (a Python or "
            f"numpy float); got a traced value. Under jax.jit, close over it or "
            f"mark it static."
        )
        raise TypeError(msg)
    kind_ok = isinstance(value, int | float | np.integer | np.floating) or (
        isinstance(value, jax.Array | np.ndarray)
        and value.shape == ()
        and (
            jnp.issubdtype(value.dtype, jnp.floating)
            or jnp.issubdtype(value.dtype, jnp.integer)
        )
    )
    if isinstance(value, bool | np.bool_) or not kind_ok:
        msg = (
            f"{fn}: argument `{name}` must be a real number (e.g. 1e-6); got "
            f"{type(value).__name__} {value!r}."
        )
        raise TypeError(msg)
    number = float(value)
    if not np.isfinite(number):
        msg = f"{fn}: argument `{name}` must be finite; got {number}."
        raise ValueError(msg)
    if minimum is not None and (number <= minimum if strict else number < minimum):
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        msg = f"{fn}: argument `{name}` must be {bound}; got {number:g}."
        raise ValueError(msg)
    return number


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float | complex | np.generic) and not isinstance(
        x, np.ndarray
    )


def _is_number_sequence(x: Any) -> bool:
    """A plain (nested) list or tuple of Python or numpy numbers, e.g. [1.0, 2.0]."""
    if type(x) not in (list, tuple):
        return False
    leaves = jax.tree_util.tree_leaves(x)
    return bool(leaves) and all(_is_number(leaf) for leaf in leaves)


def as_variable(fn: str, name: str, x: Any) -> Any:
    """The argument to differentiate, as a pytree of real floating arrays.

    A Python number or a plain (nested) list of numbers becomes one array, like
    ``jnp.asarray`` makes it; a pytree (dict, list or tuple of arrays, ...) keeps
    its structure with every leaf made an array. Raises TypeError for leaves that
    are not arrays or not real floating (naming the leaf), and ValueError for an
    argument with no entries at all (nothing to differentiate).
    """
    if _is_number_sequence(x):
        try:
            x = jnp.asarray(x)
        except (TypeError, ValueError) as err:
            msg = (
                f"{fn}: argument `{name}` is a list of numbers that does not form "
                f"an array (ragged nesting?); got {x!r:.80}."
            )
            raise ValueError(msg) from err
    pairs, treedef = jax.tree_util.tree_flatten_with_path(x)
    if not pairs:
        msg = (
            f"{fn}: argument `{name}` must hold arrays to differentiate "
            f"({_ARRAY_KINDS}, or a pytree of arrays); got {type(x).__name__} "
            f"{x!r:.80} with none."
        )
        raise ValueError(msg)
    leaves = []
    for path, leaf in pairs:
        where = name + jax.tree_util.keystr(path)
        if not (isinstance(leaf, jax.Array | np.ndarray) or _is_number(leaf)):
            msg = (
                f"{fn}: argument `{where}` must be an array ({_ARRAY_KINDS}) or a "
                f"pytree of them; got {type(leaf).__name__} {leaf!r:.60}."
            )
            raise TypeError(msg)
        leaf = as_array(fn, where, leaf)
        check_floating(fn, where, leaf)
        leaves.append(leaf)
    if sum(leaf.size for leaf in leaves) == 0:
        shapes = ", ".join(_shape_str(leaf.shape) for leaf in leaves)
        msg = (
            f"{fn}: argument `{name}` has no entries (shape {shapes}), so there is "
            f"nothing to differentiate; pass a non-empty array."
        )
        raise ValueError(msg)
    return jax.tree_util.tree_unflatten(treedef, leaves)


def check_nonempty(fn: str, name: str, x: Any) -> None:
    """Raises ValueError if the array ``x`` has no entries (a dimension of size 0)."""
    if math.prod(np.shape(x)) == 0:
        msg = (
            f"{fn}: argument `{name}` has no entries (shape "
            f"{_shape_str(np.shape(x))}), so there is nothing to differentiate; "
            f"pass a non-empty array."
        )
        raise ValueError(msg)


class _NotAnArray(Exception):
    """Raised inside a traced call when the user's function returns a non-array."""

    def __init__(self, value: Any):
        super().__init__(type(value).__name__)
        self.value = value


def _describe_args(args: Sequence[Any], kwargs: dict[str, Any]) -> str:
    parts = [
        describe(a) if hasattr(a, "shape") else f"a {type(a).__name__}" for a in args
    ]
    parts += [f"{k}={type(v).__name__}" for k, v in kwargs.items()]
    return "(" + ", ".join(parts) + ")"


def eval_user(
    fn: str,
    name: str,
    f: Callable[..., Any],
    args: Sequence[Any],
    kwargs: dict[str, Any] | None = None,
) -> Any:
    """``jax.eval_shape(f, *args, **kwargs)`` with the user's errors explained.

    If ``f`` raises, the error is re-raised as a ValueError that names ``fn``,
    the function argument ``name`` and the argument shapes, and quotes the
    original error ("calling `f` on (...) failed; it raised ..."). If ``f``
    returns something that is not an array or a pytree of arrays (a string, say),
    a TypeError says what it returned. Costs one trace, no FLOPs.
    """
    kwargs = {} if kwargs is None else kwargs

    def checked(*a: Any, **k: Any) -> Any:
        out = f(*a, **k)
        for leaf in jax.tree_util.tree_leaves(out):
            if not (isinstance(leaf, jax.Array | np.ndarray) or _is_number(leaf)):
                raise _NotAnArray(leaf)
        return out

    try:
        return jax.eval_shape(checked, *args, **kwargs)
    except _NotAnArray as err:
        msg = (
            f"{fn}: argument `{name}` must return an array; it returned "
            f"{type(err.value).__name__} {err.value!r:.60}."
        )
        raise TypeError(msg) from None
    except Exception as err:  # noqa: BLE001 - re-raised with context
        msg = (
            f"{fn}: calling `{name}` on {_describe_args(args, kwargs)} failed; "
            f"check that `{name}` accepts arguments of these shapes and dtypes. "
            f"It raised {type(err).__name__}: {err}"
        )
        raise ValueError(msg) from err
