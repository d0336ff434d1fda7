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
import numpy as np

from jaxmc import _checks, _xla
from jaxmc.spectrum import _hosted, _progress, _sharding
from jaxmc.spectrum._operator import LinearOperator, check_output


def call_compiled(core: Callable, op: Any, *args: Any, **static: Any) -> Any:
    """``core(op.factory, op.dynamic, *args, **static)``, compiled once per key.

    The program is keyed on ``core``, the factory (static), the structure,
    shapes, dtypes and shardings of ``op.dynamic`` and ``args``, and the static
    keyword options, never on the operator object: a fresh operator with the
    same factory and shapes reuses it.
    """
    layout = getattr(op, "vector_sharding", None)
    jitted = _jitted(core, tuple(sorted(static)))
    dynamic = _sharding.keep_data_sharding(op.dynamic)
    # a streamed operator with progress on shows one bar for the whole solve
    bar = _ALGORITHMS.get(core.__name__, "solve") if _progress.wants_bar(op) else None
    call = (op.factory, dynamic, *args)
    options = dict(_layout=layout, _bar=bar, **static)
    try:
        if getattr(op, "traceable", True):
            return jitted(*call, **options)
        # a host-side matvec (streamed data): its program runs from the host
        return _hosted.call(jitted, *call, **options)
    except Exception:
        # the matvec's own check, left to this point for an operator whose
        # output holds by construction (check_operator), says so clearly if
        # it is the matvec that failed; else the error stands
        source = getattr(op, "source", op)  # the operator behind a solve's parts
        if isinstance(source, LinearOperator):
            name = _ALGORITHMS.get(core.__name__, "solve")
            check_output(f"jaxmc.spectrum.{name}", source)
        raise


_JIT_CACHE: dict[Any, Callable] = {}
# the public algorithm each core runs: its progress bar and its errors
_ALGORITHMS = {
    "_eigen_core": "eigenvalues",
    "_eigen_resume_core": "eigenvalues",
    "_power_core": "power_iteration",
    "_slq_core": "spectral_density",
    "_kpm_core": "kpm_density",
    "_trace_core": "trace",
    "_diagonal_core": "diagonal",
    "_logdet_core": "logdet",
}


def _jitted(core: Callable, static_names: tuple[str, ...]) -> Callable:
    key = (core, static_names)
    if key not in _JIT_CACHE:

        def traced(factory, dynamic, *args, _layout, _bar, **static):
            # The vector layout (parameter sharding) is static: the vectors
            # the core creates are constrained to it while it is traced.
            # So is the progress bar's name (None: no bar), a function of the
            # factory: an equal factory compiles nothing new.
            with _sharding.use(_layout), _progress.solving(_bar):
                out = core(factory, dynamic, *args, **static)
                _progress.close_bar(out)
            return out

        _JIT_CACHE[key] = _xla.jit(
            traced,
            static_argnums=0,
            static_argnames=(*static_names, "_layout", "_bar"),
            persist=True,
        )
    return _JIT_CACHE[key]


def all_finite(*xs: Any) -> jax.Array:
    """A traced bool: every leaf of ``xs`` is finite."""
    leaves = jax.tree_util.tree_leaves(xs)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def check_operator(fn: str, op: Any, *, compiled: bool = False) -> LinearOperator:
    """Returns ``op``, or raises TypeError unless it is a real LinearOperator.

    Also checks, abstractly, that the matvec maps ``(n,)`` to ``(n,)``
    (:func:`check_output`). With ``compiled`` (the caller runs the operator
    through :func:`call_compiled`), an operator whose output holds by
    construction (a Hessian or GGN) skips that check, which would trace its
    matvec once more than the solve does; :func:`call_compiled` runs it if
    the solve fails.
    """
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
    trusted = getattr(op.factory, "_output_by_construction", False)
    if not (compiled and trusted and getattr(op, "traceable", True)):
        check_output(fn, op)
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


def check_bool(fn: str, name: str, value: Any) -> bool:
    """Returns ``value`` if it is a bool (numpy bools too), else raises TypeError."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    msg = (
        f"{fn}: argument `{name}` must be True or False; got {_checks.describe(value)}."
    )
    raise TypeError(msg)


def check_tol(fn: str, name: str, tol: Any, *, upper: float = 1.0) -> float:
    """Returns ``tol`` as a float in ``(0, upper)``; raises for anything else.

    Python and numpy real scalars (and 0-d concrete arrays) are accepted;
    strings, bools, NaN, infinities, zero and negative values are not.
    """
    if isinstance(tol, bool | np.bool_) or isinstance(tol, str | bytes):
        msg = (
            f"{fn}: argument `{name}` must be a positive real number; got "
            f"{_checks.describe(tol)}."
        )
        raise TypeError(msg)
    try:
        value = float(tol)
    except (TypeError, ValueError):
        msg = (
            f"{fn}: argument `{name}` must be a positive real number; got "
            f"{_checks.describe(tol)}."
        )
        raise TypeError(msg) from None
    if not np.isfinite(value) or not 0 < value < upper:
        msg = (
            f"{fn}: argument `{name}` must be a finite number in (0, {upper:g}); "
            f"got {value!r}."
        )
        raise ValueError(msg)
    return value


def check_symmetric(fn: str, op: Any, key: jax.Array, *, pairs: int = 2) -> None:
    """Raises ValueError when ``u'Av`` and ``v'Au`` differ beyond ``sqrt(eps)``.

    A randomized test on ``pairs`` random pairs (``2 * pairs`` matvecs); it
    runs only on concrete values (eagerly).
    """
    dtype = jnp.dtype(op.dtype)
    U = jax.random.normal(jax.random.fold_in(key, 104729), (2 * pairs, op.size), dtype)
    AU = jnp.stack([op.flat_matvec(u) for u in U])
    if not _checks.is_concrete(AU):
        return
    lhs = jnp.sum(U[1::2] * AU[::2], axis=1)  # v'Au
    rhs = jnp.sum(U[::2] * AU[1::2], axis=1)  # u'Av
    scale = jnp.max(jnp.linalg.norm(AU, axis=1) * jnp.linalg.norm(U, axis=1))
    rel = float(jnp.max(jnp.abs(lhs - rhs)) / jnp.maximum(scale, jnp.finfo(dtype).tiny))
    if rel > float(np.sqrt(jnp.finfo(dtype).eps)):
        msg = (
            f"{fn}: argument `op` is not symmetric: |u'Av - v'Au| = {rel:.1e} * "
            f"||A|| ||u|| ||v|| on random vectors (tolerance sqrt(eps) = "
            f"{np.sqrt(jnp.finfo(dtype).eps):.1e}); eigenvalues, trace and "
            f"densities assume a symmetric operator. Symmetrise it, e.g. "
            f"matrix_operator((M + M.T) / 2)."
        )
        raise ValueError(msg)
