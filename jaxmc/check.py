r"""Finite-difference derivatives and gradient checks with a reliable verdict.

:func:`numerical_gradient` and :func:`numerical_jacobian` approximate
derivatives by central differences, entry by entry:

    ``d f / d x_i ~ (f(x + h_i e_i) - f(x - h_i e_i)) / (2 h_i)``,

with ``h_i = eps * max(|x_i|, s)``, ``s = min(1, max_j |x_j|)`` (``s = 1`` at
``x = 0``): relative to ``|x_i|``, with an absolute floor from the variable's
own size (the classic ``max(1, |x_i|)`` for variables of order one, and tiny
steps for a tiny variable), and by default ``eps = u^(1/3)`` for the unit
roundoff ``u`` of ``x``'s dtype (``finfo.eps``): the step that balances the
truncation error ``O(h^2)`` against the rounding error ``O(u / h)``. A step
that would vanish (``eps`` below 4 ulps, or a subnormal step) is rejected with
a ``ValueError`` naming the smallest safe ``eps``, rather than giving 0/0. They work
on arrays and pytrees, evaluate ``f`` at all ``2 N`` points with ``jax.vmap``
(in chunks), and work under ``jax.jit``.

:func:`check_gradient` and :func:`check_jacobian` compare an analytic
derivative (by default JAX's own) with a finite-difference reference and return
a :class:`CheckReport`. They are built to give a *reliable verdict in float32*:
a correct float32 gradient passes and a gradient wrong by 1% in one entry
fails. ``jax.test_util.check_grads`` uses a fixed step of 1e-4 and compares one
random directional derivative, so float32 rounding (about 1e-3 relative at
that step) hides small errors and a wrong entry can cancel in the projection.
Here the reference is made accurate, and its error is estimated, entry by
entry:

1. **Precision**: ``f`` is evaluated at ``x`` promoted to float64, inside a
   scoped ``jax.enable_x64`` (so this works whether or not x64 is switched on
   globally; pass ``promote=False`` for a function that cannot run in
   float64). The float32 analytic derivative is then compared with a
   reference accurate to ~1e-10. Without it, float32 differences are limited
   by the rounding noise of ``f`` (about ``u |f| / h``): a function with a
   large constant offset, or an ill-conditioned one, may not resolve a 1%
   error, and the report says so.
2. **Richardson extrapolation**: central differences at steps ``h`` and
   ``2 h`` give ``D(h)`` and ``D(2h)``; the reference is
   ``R = (4 D(h) - D(2h)) / 3`` (truncation error ``O(h^4)``) with
   ``h_i = eps max(|x_i|, s)``, ``eps = u^(1/3)`` for the unit roundoff ``u``
   of the evaluation dtype (or the ``eps=`` given). Entries whose estimate
   (below) is coarse go down a ladder of steps ``h/4, h/16, ...`` (a
   singularity close to ``x``, as in ``log det`` of a near-singular matrix,
   needs a step much smaller than ``|x_i|``) until rounding takes over, and
   each keeps its best step. (``u^(1/5)`` would minimise the error of ``R`` itself,
   but the error *estimate* below is of order ``h^2``; the smaller step keeps
   the estimate, and so the tolerance, tight: ~1e-5 relative in float32.)
3. **Error estimate**: ``fd_err_i = |D(h) - D(2h)| / 3 + 2 (u F_i + n_f) / h_i``,
   the observed truncation error of the lower-order estimate ``D(h)`` (a
   conservative bound for ``R``; it also picks up rounding noise) plus the
   rounding error of the differences (``F_i`` the largest ``|f|`` seen at the
   points of entry ``i``, ``u`` the unit roundoff of ``f``'s output dtype,
   ``n_f`` the noise of ``f`` itself under 4-ulp changes of ``x``); on the
   ladder, also the disagreement with the neighbouring steps' ``R``. This
   estimate assumes the steps lie within the range of ``f``'s Taylor series;
   where a singularity is closer to ``x`` than the step (``log det`` at a
   matrix of condition number 1e12), ``D(h)`` and ``D(2h)`` can agree and
   both be wrong by orders of magnitude. A level whose even part
   ``T(a) = f(x+a) + f(x-a) - 2 f(x)`` does not grow like ``a^2`` (or a
   higher power) from ``a`` to ``2a``, and whose odd part does not vouch for
   itself, has *no* estimate (infinite error): the entry goes further down
   the ladder, and if no step qualifies, its reference is unknown (NaN in
   the report) and the verdict cannot be ``"passed"``.

An entry passes when ``|g_i - R_i| <= atol + rtol |R_i| + 3 fd_err_i``. The
default ``rtol`` depends on the dtype of the analytic derivative (1e-7 for
float64, 1e-3 for float32, 3e-2 for 16-bit floats), and the default
``atol`` is per entry: for a derivative below float64 it is ten times the
rounding noise that JAX's own derivative of ``f`` shows in that entry
(``|D_32 - D_64|``, computed at ``x`` in both precisions) plus
``4 u max_j |R_j|``, so near-zero entries may carry the rounding of the terms
that cancel in them and no more. A 1% error is then caught in any entry whose
own rounding is below 0.1% of it, small entries of a mixed-scale gradient
included; the floor ``4 u max|R|`` sets the detection limit: a 1% error is
caught in float32 in entries down to about ``5e-5 max|g|`` (tested at
``1e-4``), and goes unseen below. In float64, ``atol = 10 n_i + 0.1 rtol
max_j |R_j|`` with ``n_i`` the spread of JAX's derivative under 4-ulp changes
of ``x`` (large where ``f`` is ill-conditioned); where ``f`` cannot be
differentiated by JAX, ``atol = 0.1 rtol max_j |R_j|``. In float64 an error of
~1e-6 relative is caught at well-conditioned points.

**Verdicts.** ``"failed"`` when an entry is out of tolerance; ``"passed"``
only when, in addition, the reference is resolved from zero somewhere (some
``|R_i|`` above its allowed error), so that a zero derivative or the
candidate's negative would have failed, and every entry has a reference
(none is left unknown by the Taylor-range test above); otherwise
``"inconclusive"``, with
the reason and a remedy that leaves out what was already in effect (float64,
``promote=True``, another point, ``eps=``). ``CheckReport.passed`` is True
only for ``"passed"``.

**Dtypes.** ``x`` may be float16, bfloat16, float32 or float64. The reference
is computed in float64 (``promote=True``) or in ``x``'s dtype; a 16-bit
derivative is checked with ``rtol = 3e-2``. :func:`numerical_gradient` works
in ``x``'s dtype (about 1e-2 relative in 16 bits).

**Memory.** The perturbed points are built from their indices a chunk at a
time (never an ``N x N`` matrix of steps), so 10^5 variables need only the
``N x M`` values; where those cannot fit, a ``MemoryError`` (also a
``ValueError``) says so before anything is allocated.

The check functions are host-side tools: they need concrete values, run
eagerly (``f`` is still vmapped over the perturbed points), raise a clear error
when called under ``jax.jit``, and raise ``ValueError`` where a value is not
finite, naming the entry.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmc import _checks, _memory

__all__ = [
    "CheckReport",
    "check_gradient",
    "check_jacobian",
    "numerical_gradient",
    "numerical_jacobian",
]

# Errors raised when f needs concrete values and cannot be vmapped.
_TRACING_ERRORS = (
    jax.errors.ConcretizationTypeError,
    jax.errors.TracerArrayConversionError,
    jax.errors.TracerBoolConversionError,
    jax.errors.TracerIntegerConversionError,
)
_CHUNK_ENTRIES = 1 << 22  # entries of perturbed points evaluated per vmap call
_SAFETY = 3.0  # multiplies the finite-difference error estimate in the verdict
_LEVELS = 16  # steps h, h/4, ..., h/4^15 at most, for entries that need them


# ------------------------------------------------------------------ flattening


@dataclasses.dataclass(frozen=True)
class _Flat:
    """A pytree of arrays flattened to one vector (C order within each leaf)."""

    treedef: Any
    shapes: tuple[tuple[int, ...], ...]
    dtypes: tuple[Any, ...]
    paths: tuple[str, ...]

    @property
    def sizes(self) -> list[int]:
        return [math.prod(s) for s in self.shapes]

    @property
    def size(self) -> int:
        return sum(self.sizes)

    def ravel(self, tree: Any, dtype: Any) -> jax.Array:
        leaves = jax.tree_util.tree_leaves(tree)
        if not leaves:
            return jnp.zeros((0,), dtype=dtype)
        return jnp.concatenate([jnp.ravel(leaf).astype(dtype) for leaf in leaves])

    def unravel(self, v: jax.Array) -> Any:
        """Splits the vector ``v`` back into leaves (keeping v's dtype)."""
        leaves, start = [], 0
        for shape, size in zip(self.shapes, self.sizes, strict=True):
            leaves.append(jnp.reshape(v[start : start + size], shape))
            start += size
        return jax.tree_util.tree_unflatten(self.treedef, leaves)

    def locate(self, k: int) -> tuple[str, tuple[int, ...]]:
        """The leaf path and index within the leaf of flat entry ``k``."""
        start = 0
        for path, shape, size in zip(self.paths, self.shapes, self.sizes, strict=True):
            if k < start + size:
                index = np.unravel_index(k - start, shape) if shape else ()
                return path, tuple(int(i) for i in index)
            start += size
        raise IndexError(k)  # pragma: no cover


def _flatten_variable(fn: str, x: Any) -> tuple[Any, _Flat]:
    x = jax.tree_util.tree_map(lambda leaf: _checks.as_array(fn, "x", leaf), x)
    with_paths, treedef = jax.tree_util.tree_flatten_with_path(x)
    if not with_paths or all(math.prod(leaf.shape) == 0 for _, leaf in with_paths):
        msg = (
            f"{fn}: argument `x` must hold at least one entry; got "
            f"{'an empty pytree' if not with_paths else 'only empty arrays'}."
        )
        raise ValueError(msg)
    for _, leaf in with_paths:
        _checks.check_floating(fn, "x", leaf)
    paths = tuple(jax.tree_util.keystr(p) for p, _ in with_paths)
    leaves = [leaf for _, leaf in with_paths]
    flat = _Flat(
        treedef=treedef,
        shapes=tuple(tuple(leaf.shape) for leaf in leaves),
        dtypes=tuple(leaf.dtype for leaf in leaves),
        paths=paths,
    )
    return x, flat


def _where(flat: _Flat, k: int) -> str:
    path, index = flat.locate(k)
    return f"x{path}[{', '.join(str(i) for i in index)}]" if index else f"x{path}"


def _default_eps(dtype: Any, power: float) -> float:
    return float(jnp.finfo(dtype).eps) ** power


def _check_eps(fn: str, eps: Any) -> float | None:
    """``eps`` as a float (numpy scalars accepted), or None; raises if invalid."""
    if eps is None:
        return None
    return _checks.real_number(fn, "eps", eps, positive=True)


def _check_steps(fn: str, flat: _Flat, x_flat: Any, h: Any, eps: float) -> None:
    """Raises when a step vanishes or underflows at ``x``'s scale in its dtype.

    A step below a few ulps of ``x_i`` rounds away (``x_i + h == x_i``, so the
    difference quotient is 0/0 = NaN); a subnormal step loses its digits.
    """
    if not _checks.is_concrete(h):
        return
    dtype = x_flat.dtype
    info = jnp.finfo(dtype)
    h = np.asarray(h, dtype=np.float64)
    bad = ~(h >= float(info.tiny))
    if not bad.any():
        return
    k = int(np.argmax(bad))
    smallest = 4 * float(info.eps)
    msg = (
        f"{fn}: argument `eps`={eps:.3g} gives a step that vanishes at x's scale "
        f"in {jnp.dtype(dtype).name}: for the entry {_where(flat, k)} "
        f"(x = {float(np.asarray(x_flat)[k]):.3g}) the step x_i + h - x_i is "
        f"{h[k]:.3g}, below the smallest normal number {float(info.tiny):.3g}, so "
        f"the differences would be 0/0. Pass eps >= {smallest:.3g} (4 ulps; the "
        f"default is {_default_eps(dtype, 1 / 3):.3g})"
        + (", or use float64 for x" if info.bits < 64 else "")
        + "."
    )
    raise ValueError(msg)


# ------------------------------------------------------------------ evaluation


def _flat_function(f: Callable, flat: _Flat) -> Callable:
    def f_flat(v: jax.Array) -> jax.Array:
        return jnp.ravel(jnp.asarray(f(flat.unravel(v))))

    return f_flat


def _output_struct(fn: str, f: Callable, x: Any, *, scalar: bool) -> Any:
    # Eagerly, call f (it may need concrete values); under tracing, trace it.
    out = f(x) if _checks.is_concrete(x) else jax.eval_shape(f, x)
    if not (hasattr(out, "shape") and hasattr(out, "dtype")):
        what = "a scalar" if scalar else "an array"
        msg = (
            f"{fn}: argument `f` must return {what}; got a "
            f"{type(out).__name__} pytree. Check each output separately."
        )
        raise TypeError(msg)
    if scalar and out.shape != ():
        msg = (
            f"{fn}: argument `f` must return a scalar (shape ()) for a gradient; "
            f"got shape {tuple(out.shape)}. Use check_jacobian / "
            f"numerical_jacobian for array-valued f."
        )
        raise ValueError(msg)
    if not jnp.issubdtype(out.dtype, jnp.floating):
        msg = f"{fn}: argument `f` must return real floating values; got {out.dtype}."
        raise TypeError(msg)
    return out


def _scale(x_flat: jax.Array) -> jax.Array:
    """Per-entry step scale ``max(|x_i|, s)``, ``s = min(1, max_j |x_j|)`` (1 at 0).

    Relative to ``|x_i|`` (so tiny variables get tiny steps), with an absolute
    floor from the variable's own size: ``1`` for variables of order one or
    more (the classic ``max(1, |x_i|)``), ``max_j |x_j|`` for a tiny variable.
    """
    a = jnp.abs(x_flat)
    top = jnp.max(a)
    floor = jnp.where(top > 0, jnp.minimum(top, 1.0), 1.0).astype(a.dtype)
    return jnp.maximum(a, floor)


def _steps(x_flat: jax.Array, eps: float) -> jax.Array:
    """Steps h_i = eps max(|x_i|, s), rounded so that x_i + h_i - x_i == h_i."""
    h = (eps * _scale(x_flat)).astype(x_flat.dtype)
    return (x_flat + h) - x_flat


def _shifted(
    f_flat: Callable, x_flat: jax.Array, index: Any, shift: jax.Array
) -> jax.Array:
    """Values of f at ``x + shift_r e_{index_r}`` for each r: (R, M), in chunks.

    The perturbed points are made from their indices a chunk at a time, so the
    ``N x N`` matrix of steps is never formed. Falls back to an eager loop when
    f needs concrete values (eager calls only).
    """
    n = x_flat.shape[0]
    n_rows = int(np.shape(index)[0])
    rows = max(1, _CHUNK_ENTRIES // max(n, 1))
    index = jnp.asarray(index)

    def one(i: jax.Array, d: jax.Array) -> jax.Array:
        return f_flat(x_flat.at[i].add(d))

    batched = jax.vmap(one)  # eager vmap: op-by-op on the whole batch, no
    try:  # compilation (a fresh jit per call would cost ~0.1 s to compile)
        parts = [
            batched(index[i : i + rows], shift[i : i + rows])
            for i in range(0, n_rows, rows)
        ]
    except _TRACING_ERRORS:
        if not _checks.is_concrete(x_flat):
            raise
        parts = [jnp.stack([one(i, d) for i, d in zip(index, shift, strict=True)])]
    return jnp.concatenate(parts, axis=0)


def _central(
    f_flat: Callable, x_flat: jax.Array, steps: list[jax.Array], index: Any = None
) -> list[tuple[jax.Array, jax.Array]]:
    """The values of f at x +- h_r e_{index_r} for each step h: (R, M) pairs.

    ``index`` (default: every entry) lists the entries perturbed; all points go
    through one chunked, vmapped evaluation.
    """
    if index is None:
        index = np.arange(x_flat.shape[0])
    r = int(np.shape(index)[0])
    idx = np.concatenate([np.asarray(index)] * (2 * len(steps)))
    shift = jnp.concatenate([s for h in steps for s in (h, -h)])
    values = _shifted(f_flat, x_flat, idx, shift)
    blocks = [values[i * r : (i + 1) * r] for i in range(2 * len(steps))]
    return [(blocks[2 * j], blocks[2 * j + 1]) for j in range(len(steps))]


def _raise_non_finite(fn: str, flat: _Flat, values: Any, h: Any, what: str) -> None:
    """For concrete values (N, M) at perturbed points, raise at the first NaN/inf."""
    if not _checks.is_concrete(values):
        return
    bad = ~np.isfinite(np.asarray(values))
    if bad.any():
        k = int(np.argwhere(bad)[0][0])
        msg = (
            f"{fn}: f is not finite at the finite-difference point {what} for the "
            f"entry {_where(flat, k)} (step h = {float(np.asarray(h)[k]):.3g}): the "
            f"step leaves f's domain or f overflows there. Pass a smaller `eps`."
        )
        raise ValueError(msg)


def _check_concrete(fn: str, x: Any) -> None:
    if not _checks.is_concrete(x):
        msg = (
            f"{fn} is a host-side tool that needs concrete values: call it "
            f"eagerly, outside jax.jit / jax.vmap / jax.grad."
        )
        raise TypeError(msg)


def _check_f_finite(fn: str, out: Any) -> None:
    if not _checks.is_concrete(out) or isinstance(out, jax.ShapeDtypeStruct):
        return
    value = np.asarray(out)
    bad = ~np.isfinite(value)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0]) if value.ndim else ""
        msg = (
            f"{fn}: f(x) is not finite"
            + (f" (entry {where} = {value[where]})" if value.ndim else f" ({value})")
            + "; finite differences need a point where f is finite."
        )
        raise ValueError(msg)


def _check_inputs(fn: str, f: Callable, x: Any, eps: Any, *, scalar: bool) -> tuple:
    _checks.check_callable(fn, "f", f)
    _check_eps(fn, eps)
    x, flat = _flatten_variable(fn, x)
    for leaf in jax.tree_util.tree_leaves(x):
        _checks.check_finite(fn, "x", leaf)
    out = _output_struct(fn, f, x, scalar=scalar)
    _check_f_finite(fn, out)
    return x, flat, out


def _check_relative_step(fn: str, eps: float | None, dtype: Any) -> None:
    """Raises when ``eps`` is below 4 ulps in ``dtype``: the step would vanish."""
    if eps is None:
        return
    u = float(jnp.finfo(dtype).eps)
    if eps < 4 * u:
        msg = (
            f"{fn}: argument `eps`={eps:.3g} is below 4 ulps of "
            f"{jnp.dtype(dtype).name} ({4 * u:.3g}): the step x_i + h - x_i would "
            f"vanish at x's scale and the differences would be 0/0. Pass eps >= "
            f"{4 * u:.3g} (the default is {_default_eps(dtype, 1 / 3):.3g})"
            + (", or use float64 for x" if jnp.finfo(dtype).bits < 64 else "")
            + "."
        )
        raise ValueError(msg)


def _check_memory(fn: str, n: int, m: int, copies: int, itemsize: int) -> None:
    """Raises before the (N, M) value blocks of the differences cannot fit."""
    chunk = min(n * n, _CHUNK_ENTRIES) * itemsize * 4
    needed = copies * n * m * itemsize + chunk
    _memory.check_fits(
        fn,
        f"finite differences of {m} output(s) in {n} variables ({copies} blocks "
        f"of f's values)",
        needed,
        "Differentiate fewer variables at a time (a sub-pytree of x, closing "
        "over the rest) or fewer outputs.",
    )


def _numerical(fn: str, f: Callable, x: Any, eps: Any, *, scalar: bool) -> Any:
    eps = _check_eps(fn, eps)
    x, flat, out = _check_inputs(fn, f, x, eps, scalar=scalar)
    dtype = jnp.result_type(*flat.dtypes)
    _check_relative_step(fn, eps, dtype)
    out_dtype = jnp.dtype(out.dtype)
    _check_memory(fn, flat.size, math.prod(out.shape), 3, out_dtype.itemsize)
    x_flat = flat.ravel(x, dtype)
    eps = _default_eps(dtype, 1 / 3) if eps is None else eps
    h = _steps(x_flat, eps)
    _check_steps(fn, flat, x_flat, h, eps)
    f_flat = _flat_function(f, flat)
    ((plus, minus),) = _central(f_flat, x_flat, [h])
    _raise_non_finite(fn, flat, plus, h, "x + h e_i")
    _raise_non_finite(fn, flat, minus, h, "x - h e_i")
    D = ((plus - minus) / (2 * h[:, None]).astype(plus.dtype)).T  # (M, N)
    out_shape = tuple(out.shape)
    leaves, start = [], 0  # jacfwd layout: leaves of shape out_shape + leaf shape
    for shape, size, ldtype in zip(flat.shapes, flat.sizes, flat.dtypes, strict=True):
        block = D[:, start : start + size].reshape(out_shape + shape)
        leaves.append(block.astype(jnp.result_type(ldtype, out.dtype)))
        start += size
    return jax.tree_util.tree_unflatten(flat.treedef, leaves)


def numerical_gradient(f: Callable, x: Any, /, *, eps: float | None = None) -> Any:
    r"""The gradient of a scalar ``f`` at ``x`` by central differences.

    ``g_i = (f(x + h_i e_i) - f(x - h_i e_i)) / (2 h_i)`` with
    ``h_i = eps max(|x_i|, s)``, ``s = min(1, max|x|)`` (rounded so that
    ``x_i + h_i`` is exact),
    evaluated in ``x``'s dtype. Truncation error ``O(h^2)``, rounding error
    ``O(u |f| / h)``: about ``u^(2/3)`` relative at the default step
    (~1e-5 in float32, ~1e-11 in float64). For a checked, more accurate
    reference use :func:`check_gradient`.

    Args:
      f: a function of ``x`` returning a real scalar.
      x: the point, a real floating array or pytree of arrays.
      eps: the relative step; default ``finfo(x.dtype).eps ** (1/3)``.

    Returns:
      The gradient, of the structure and shapes of ``x`` (dtype: ``x``'s
      promoted with ``f``'s). Costs ``2 N`` evaluations of ``f`` (``N`` the
      number of entries of ``x``), vmapped. Works under ``jax.jit`` (close over
      ``f``).

    Raises:
      TypeError: if ``f`` is not callable, ``x`` is not real floating, or ``f``
        does not return an array.
      ValueError: if ``f`` does not return a scalar, ``eps`` is not positive
        or below 4 ulps of ``x``'s dtype (the step would vanish), or (eagerly)
        a step underflows, or ``x``, ``f(x)`` or ``f`` at a perturbed point is
        not finite (the message names the entry).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxmc import numerical_gradient
      >>> g = numerical_gradient(lambda x: jnp.sum(x**2), jnp.array([1.0, -2.0]))
      >>> [round(float(v), 3) for v in g]
      [2.0, -4.0]
    """
    return _numerical("jaxmc.numerical_gradient", f, x, eps, scalar=True)


def numerical_jacobian(f: Callable, x: Any, /, *, eps: float | None = None) -> Any:
    r"""The Jacobian of an array-valued ``f`` at ``x`` by central differences.

    The same differences as :func:`numerical_gradient`, applied to every
    output entry at once.

    Args:
      f: a function of ``x`` returning a real floating array of any shape.
      x: the point, a real floating array or pytree of arrays.
      eps: the relative step; default ``finfo(x.dtype).eps ** (1/3)``.

    Returns:
      The Jacobian in ``jax.jacfwd``'s layout: for an array ``x``, shape
      ``f(x).shape + x.shape``; for a pytree ``x``, the pytree of ``x`` with
      leaves of shape ``f(x).shape + leaf.shape``. Works under ``jax.jit``.

    Raises:
      TypeError: if ``f`` is not callable, returns a pytree rather than an
        array, or ``x`` is not real floating.
      ValueError: if ``eps`` is not positive or below 4 ulps of ``x``'s dtype,
        or (eagerly) a step underflows or a value is not finite (the message
        names the entry).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxmc import numerical_jacobian
      >>> J = numerical_jacobian(lambda x: 3.0 * x, jnp.array([1.0, 2.0]))
      >>> [[round(float(v), 3) for v in row] for row in J]
      [[3.0, 0.0], [0.0, 3.0]]
    """
    return _numerical("jaxmc.numerical_jacobian", f, x, eps, scalar=False)


# ------------------------------------------------------------------ checking


@dataclasses.dataclass(frozen=True)
class CheckReport:
    r"""The result of :func:`check_gradient` or :func:`check_jacobian`.

    Attributes:
      kind: ``"gradient"`` or ``"jacobian"``.
      passed: True when every entry is within tolerance and the check could
        tell the derivative from zero (``verdict == "passed"``).
      max_abs_error: ``max_i |g_i - r_i|``.
      max_rel_error: ``max_i |g_i - r_i| / max(|g_i|, |r_i|)`` (0 where both
        vanish).
      worst_index: the index of the worst entry (largest error relative to its
        allowed error) in the derivative's layout: ``out_index + in_index`` for
        a Jacobian; ``()`` for a scalar.
      worst_leaf: the key path of the worst entry's leaf for a pytree ``x``
        (``""`` for an array).
      n_failed: how many entries exceed their allowed error.
      error: the absolute errors ``|g - r|``, as NumPy arrays in the
        derivative's layout (the variable's shape for a gradient).
      allowed: the allowed error per entry, same layout.
      analytic: the derivative checked, same layout (NumPy).
      numerical: the finite-difference reference, same layout (NumPy); NaN
        where it is unknown (no step within the range of f's Taylor series;
        ``error`` is then NaN and ``allowed`` infinite there).
      fd_error: the largest estimated error of the reference (over the
        entries where it is known).
      resolution: ``3 fd_error / max |r|``, roughly the smallest relative error
        the reference can resolve; ``__str__`` warns when it exceeds ``rtol``.
      rtol: the relative tolerance used.
      atol: the absolute tolerance used (the largest, when it is per entry).
      method: how the reference was computed.
      verdict: ``"passed"``, ``"failed"`` or ``"inconclusive"``. Inconclusive
        means the candidate is within tolerance but the reference is nowhere
        resolved from zero, so a zero derivative (or the candidate's negative)
        would pass too, or that some entry has no reference: the check could
        not have seen the difference, and ``passed`` is False.
      reason: why the verdict is inconclusive (``""`` otherwise).
      remedy: what to try for an inconclusive verdict (``""`` otherwise),
        leaving out what was already in effect.
      promote: whether the reference was evaluated in float64.
      dtype: the dtype of the derivative checked.
    """

    kind: str
    passed: bool
    max_abs_error: float
    max_rel_error: float
    worst_index: tuple[int, ...]
    worst_leaf: str
    n_failed: int
    error: Any
    allowed: Any
    analytic: Any
    numerical: Any
    fd_error: float
    resolution: float
    rtol: float
    atol: float
    method: str
    verdict: str = "passed"
    reason: str = ""
    remedy: str = ""
    promote: bool = True
    dtype: str = "float64"

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return (
            f"CheckReport(kind={self.kind!r}, passed={self.passed}, "
            f"verdict={self.verdict!r}, "
            f"max_abs_error={self.max_abs_error:.3g}, "
            f"max_rel_error={self.max_rel_error:.3g}, "
            f"worst={self.worst_leaf}{list(self.worst_index)}, "
            f"n_failed={self.n_failed})"
        )

    def _entries(self) -> list[tuple[str, float, float, float, float]]:
        rows = []
        pairs = [("", self.analytic, self.numerical, self.error, self.allowed)]
        if not isinstance(self.error, np.ndarray):
            flat = [
                jax.tree_util.tree_flatten_with_path(t)[0]
                for t in (self.analytic, self.numerical, self.error, self.allowed)
            ]
            pairs = [
                (jax.tree_util.keystr(p), a, n, e, w)
                for (p, a), (_, n), (_, e), (_, w) in zip(*flat, strict=True)
            ]
        for path, a, n, e, w in pairs:
            with np.errstate(invalid="ignore"):  # unknown entries: NaN / inf
                ratio = np.asarray(e) / np.maximum(np.asarray(w), np.finfo(float).tiny)
            ratio = np.nan_to_num(ratio, nan=0.0)
            for index in np.ndindex(np.shape(e)):
                rows.append(
                    (
                        float(ratio[index]),
                        f"{path}[{', '.join(map(str, index))}]",
                        float(a[index]),
                        float(n[index]),
                        float(e[index]),
                        float(w[index]),
                    )
                )
        rows.sort(key=lambda r: -r[0])
        return [r[1:] for r in rows]

    def __str__(self) -> str:
        verdict = self.verdict.upper()
        lines = [
            f"{self.kind} check {verdict}: {self.n_failed} entr"
            f"{'y' if self.n_failed == 1 else 'ies'} out of tolerance",
            f"  max abs error  {self.max_abs_error:.3e}   "
            f"(worst entry {self.worst_leaf}{list(self.worst_index)})",
            f"  max rel error  {self.max_rel_error:.3e}",
            f"  allowed        atol + rtol*|ref| + {_SAFETY:g}*fd_err with "
            f"rtol={self.rtol:.1e}, atol={self.atol:.1e}, fd_err<={self.fd_error:.1e}",
            f"  reference      {self.method}",
        ]
        if self.verdict == "inconclusive":
            lines.append(f"  why            {self.reason}")
            lines.append(f"  try            {self.remedy}")
        elif self.resolution > self.rtol:
            tips = (
                "use promote=True (float64) if f allows it"
                if not self.promote
                else "check at another point or give eps= (the reference is "
                "already in float64)"
            )
            lines.append(
                f"  note           the reference resolves errors only down to about "
                f"{self.resolution:.1e} relative (> rtol): smaller errors go unseen; "
                + tips
            )
        lines += [
            "",
            f"  {'entry':<18}{'analytic':>14}{'numerical':>14}{'abs err':>11}"
            f"{'allowed':>11}",
        ]
        for name, a, n, e, w in self._entries()[:5]:
            flag = "  <- fails" if e > w else ""
            lines.append(f"  {name:<18}{a:>14.6g}{n:>14.6g}{e:>11.2e}{w:>11.2e}{flag}")
        return "\n".join(lines)


def _default_rtol(dtype: Any) -> float:
    bits = jnp.finfo(dtype).bits
    return {64: 1e-7, 32: 1e-3}.get(bits, 3e-2)


def _x64_context() -> Any:
    """A context in which float64 arrays exist, whatever jax_enable_x64 says."""
    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(True)
    from jax.experimental import enable_x64  # older JAX

    return enable_x64()


def _richardson(
    fn: str,
    f: Callable,
    x: Any,
    flat: _Flat,
    promote: bool,
    eps: float | None,
    want: float,
) -> tuple[np.ndarray, np.ndarray, str, float]:
    """The reference (M, N), its error estimate (M, N), the method, max |f| seen."""
    if not isinstance(promote, bool):
        msg = f"{fn}: argument `promote` must be True or False; got {promote!r}."
        raise TypeError(msg)
    if not promote:
        dtype = jnp.result_type(*flat.dtypes)
        _check_relative_step(fn, eps, dtype)
        return _richardson_in(fn, f, x, flat, dtype, eps, want)
    with _x64_context():
        _check_relative_step(fn, eps, jnp.float64)
        return _richardson_in(fn, f, x, flat, jnp.float64, eps, want)


def _padded_size(r: int, n: int) -> int:
    """Rows to evaluate for ``r`` active entries: all ``n`` when small, else 2^k.

    A few fixed sizes keep the eager evaluation from compiling anew per level.
    """
    if n <= 1024:
        return n
    return min(n, 1 << max(r - 1, 0).bit_length())


def _evaluation_noise(f_flat: Callable, x_flat: jax.Array, f0: np.ndarray):
    """The rounding noise of evaluating f near x, per output, as an (M,) array.

    ``|f(x + d) + f(x - d) - 2 f(x)| / 2`` for two random perturbations ``d``
    of 4 ulps per entry: the symmetric sum cancels the true first-order change,
    and what is left is how much rounding the inputs moves f (much more than
    ``u |f|`` where f is ill-conditioned, e.g. ``log det`` near a singular X).
    """
    rng = np.random.default_rng(0)
    u = float(jnp.finfo(x_flat.dtype).eps)
    signs = rng.choice([-4.0 * u, 4.0 * u], size=(2, x_flat.shape[0]))
    d = (x_flat[None, :] * (1 + jnp.asarray(signs, x_flat.dtype))) - x_flat[None, :]
    points = jnp.concatenate([x_flat[None, :] + d, x_flat[None, :] - d])
    try:
        values = np.asarray(jax.vmap(f_flat)(points), dtype=np.float64)
    except _TRACING_ERRORS:
        values = np.stack([np.asarray(f_flat(p), dtype=np.float64) for p in points])
    with np.errstate(all="ignore"):
        spread = np.abs(values[:2] + values[2:] - 2 * f0[None, :]) / 2
    spread = np.where(np.isfinite(spread), spread, 0.0)
    return np.max(spread, axis=0)[None, :]


def _outside_taylor(
    vals: list[np.ndarray],
    f0: np.ndarray,
    d1: np.ndarray,
    d2: np.ndarray,
    rnd: np.ndarray,
    a: np.ndarray,
) -> np.ndarray:
    """Where the steps ``a``, ``2a`` lie beyond the range of f's Taylor series.

    Richardson's estimate ``|D(a) - D(2a)| / 3`` assumes
    ``D(a) = f' + c a^2 + O(a^4)``. Where a singularity is closer to ``x``
    than the step (``log det`` or an inverse at a near-singular matrix), both
    differences can be far from ``f'`` yet close to each other, and the
    estimate is then wildly optimistic. The sign, from values already at hand:

    * the even part ``T(a) = f(x+a) + f(x-a) - 2 f(x)`` grows too slowly:
      within Taylor's range ``T(a) = c_2 a^2 + c_4 a^4 + ...``, so
      ``T(2a) / T(a)`` is 4 (or 16 where ``f'' = 0``, and more); beyond a
      singularity ``f`` flattens out (``T`` grows like ``log a``, ``a`` or
      not at all: ratios near 1 or 2) or ``T`` changes sign;
    * and the odd part does not vouch for itself: it is within its rounding,
      or ``D(a)`` and ``D(2a)`` differ by more than a quarter (they follow
      ``1/a`` or ``1/a^2`` there, not ``f' + c a^2``).

    Differences within their rounding (``rnd`` per value of ``f``) do not
    count.
    """
    r_t = 4 * rnd  # rounding of one even part
    with np.errstate(all="ignore"):
        t1 = vals[0] + vals[1] - 2 * f0[None, :]
        t2 = vals[2] + vals[3] - 2 * f0[None, :]
        small = np.minimum(np.abs(t1), np.abs(t2)) <= r_t
        same_sign = (t1 * t2 > 0) | small
        grows = np.abs(t2) + r_t >= 2.5 * (np.abs(t1) - r_t)
        informative = np.maximum(np.abs(t1), np.abs(t2)) > 4 * r_t
        even_bad = informative & ~(same_sign & grows)
        big = np.maximum(np.abs(d1), np.abs(d2))
        odd_ok = (np.abs(d1 - d2) <= 0.25 * big) & (big > 6 * rnd / a[:, None])
    return even_bad & ~odd_ok


def _richardson_in(
    fn: str,
    f: Callable,
    x: Any,
    flat: _Flat,
    dtype: Any,
    eps: float | None,
    want: float,
) -> tuple[np.ndarray, np.ndarray, str, float]:
    """Richardson differences on a ladder of steps ``h, h/4, h/16, ...``.

    Level ``k`` takes central differences ``D(a)``, ``D(2a)`` at ``a = h/4^k``
    and gives ``R = D(a) + (D(a) - D(2a))/3`` with the error estimate
    ``|D(a) - D(2a)|/3 + 2 (u F + tiny)/a`` (truncation plus rounding, ``F``
    the largest ``|f|`` seen). Every entry starts at level 0; entries whose
    estimate is above ``want |R|`` go down the ladder (a singularity close to
    ``x`` needs a smaller step) while the rounding term of the next level stays
    below the best estimate so far; each entry keeps its best level.
    """
    x_dtype = jnp.result_type(*flat.dtypes)
    x_flat = flat.ravel(x, dtype)
    n = x_flat.shape[0]
    f_flat = _flat_function(f, flat)
    eps0 = _default_eps(dtype, 1 / 3) if eps is None else eps
    h0 = np.asarray(_steps(x_flat, eps0), dtype=np.float64)
    _check_steps(fn, flat, x_flat, h0, eps0)
    y0 = jnp.ravel(jnp.asarray(f_flat(x_flat)))
    f0 = np.asarray(y0, dtype=np.float64)
    out_info = jnp.finfo(y0.dtype)
    u, tiny = float(out_info.eps), float(out_info.tiny)
    noise = _evaluation_noise(f_flat, x_flat, f0)
    m = f0.shape[0]
    best_R = np.zeros((n, m))
    best_E = np.full((n, m), np.inf)
    prev_R = np.full((n, m), np.nan)  # R at the previous level, per entry
    worse = np.zeros((n, m), dtype=int)  # levels in a row worse than 2x the best
    best_level = np.zeros((n, m), dtype=int)
    prev_pre = np.ones((n, m), dtype=bool)  # previous level outside Taylor's range
    seen = np.zeros((n, m), dtype=bool)  # f finite at some level
    first_bad: tuple[int, float, str] | None = None
    f_max = float(np.max(np.abs(f0), initial=0.0))
    active = np.arange(n)
    deepest = 0
    x_np = np.asarray(x_flat, dtype=np.float64)
    x_host = np.asarray(x_flat)
    for level in range(_LEVELS):
        if active.size == 0:
            break
        # Exactly representable steps, in NumPy (eager JAX ops on the varying
        # number of active entries would compile anew at every level).
        xa = x_host[active]
        a = (xa + (h0[active] / 4.0**level).astype(x_host.dtype)) - xa
        a_np = a.astype(np.float64)
        usable = a_np >= tiny
        if not usable.all():
            active, a, a_np = active[usable], a[usable], a_np[usable]
            if active.size == 0:
                break
        r = active.size
        rows = _padded_size(r, n)
        pad = np.concatenate([active, np.full(rows - r, active[0])])
        a_pad = jnp.asarray(np.concatenate([a, np.full(rows - r, a[0])]))
        (p1, m1), (p2, m2) = _central(f_flat, x_flat, [a_pad, 2 * a_pad], pad)
        vals = [np.asarray(v[:r], dtype=np.float64) for v in (p1, m1, p2, m2)]
        finite = np.all([np.isfinite(v) for v in vals], axis=0)  # (R, M)
        if level == 0 and not finite.all():
            r = int(np.argwhere(~finite)[0][0])
            first_bad = (int(active[r]), float(a_np[r]), "x +- h e_i or x +- 2h e_i")
        with np.errstate(all="ignore"):
            d1 = (vals[0] - vals[1]) / (2 * a_np[:, None])
            d2 = (vals[2] - vals[3]) / (4 * a_np[:, None])
            F = np.maximum(
                np.maximum(np.abs(vals[0]), np.abs(vals[1])),
                np.maximum(np.abs(vals[2]), np.abs(vals[3])),
            )
            F = np.maximum(F, np.abs(f0)[None, :])
            R = d1 + (d1 - d2) / 3
            rnd = u * F + noise + tiny  # rounding of one value of f
            E = np.abs(d1 - d2) / 3 + 2 * rnd / a_np[:, None]
            pre = _outside_taylor(vals, f0, d1, d2, rnd, a_np)
            if level > 0:  # consistency with the previous level (Ridders)
                step = np.abs(R - prev_R[active])
                ok = np.isfinite(step) & ~prev_pre[active]
                step = np.where(ok, step, 0.0)
                E = np.maximum(E, step)
                # The previous level's estimate, if it is the best, is only as
                # good as its agreement with this one.
                was = best_level[active] == level - 1
                best_E[active] = np.where(
                    was & finite, np.maximum(best_E[active], step), best_E[active]
                )
        # A step beyond the range of f's Taylor expansion (a singularity
        # closer than the step) gives no error estimate at all: unknown.
        E = np.where(finite & ~pre, E, np.inf)
        seen[active] |= finite
        prev_pre[active] = pre | ~finite
        last = ~np.isfinite(best_E[active]) & finite  # keep some value
        best_R[active] = np.where(last, R, best_R[active])
        prev_R[active] = np.where(finite, R, np.nan)
        if np.isfinite(F).any():
            f_max = max(f_max, float(np.max(np.where(finite, F, 0.0))))
        better = E < best_E[active]
        # Worse than twice the best once the best is accurate: rounding has
        # taken over (earlier, growth is the pre-asymptotic approach).
        settled = best_E[active] <= 0.01 * np.abs(best_R[active])
        grew = ~better & (E > 2 * best_E[active]) & settled
        worse[active] = np.where(grew, worse[active] + 1, 0)
        best_R[active] = np.where(better, R, best_R[active])
        best_E[active] = np.where(better, E, best_E[active])
        best_level[active] = np.where(better, level, best_level[active])
        deepest = level if better.any() and level > 0 else deepest
        # Go deeper where the estimate is coarse and rounding still allows it.
        Eb, Rb = best_E[active], np.abs(best_R[active])
        coarse = ~(Eb <= want * Rb)
        next_rounding = (
            2 * (u * np.where(finite, F, 0.0) + noise + tiny) / (a_np[:, None] / 4)
        )
        hopeful = (next_rounding < Eb) & (worse[active] < 2)
        room = (a_np / 4) >= 4 * np.spacing(np.abs(x_np[active]))
        active = active[(coarse & hopeful).any(axis=1) & room]
    if not seen.all():
        k = int(np.argwhere(~seen)[0][0])
        msg = (
            f"{fn}: f is not finite at the finite-difference points x +- h e_i "
            f"for the entry {_where(flat, k)} at every step tried (h from "
            f"{h0[k]:.3g} down): the steps leave f's domain or f overflows there. "
            f"Pass a smaller `eps`, or check at another point."
        )
        if first_bad is not None and first_bad[0] == k:
            msg += f" (first non-finite at h = {first_bad[1]:.3g})"
        raise ValueError(msg)
    method = (
        f"central differences at h and 2h with Richardson extrapolation, "
        f"h = {eps0:.1e}*max(|x_i|, s), s = min(1, max|x|), "
        f"f evaluated in {jnp.dtype(dtype).name}"
        + (f" (x is {jnp.dtype(x_dtype).name})" if dtype != x_dtype else "")
        + (f"; steps refined down to h/4^{deepest} where needed" if deepest else "")
    )
    return best_R.T, best_E.T, method, f_max


def _analytic_flat(
    fn: str, name: str, value: Any, flat: _Flat, out_shape: tuple[int, ...]
) -> np.ndarray:
    """The user's derivative (in jacfwd layout) as a (M, N) NumPy array."""
    leaves = jax.tree_util.tree_leaves(value)
    structure_ok = jax.tree_util.tree_structure(value) == flat.treedef
    expected = [out_shape + s for s in flat.shapes]
    given = [tuple(np.shape(leaf)) for leaf in leaves]
    if not structure_ok or given != expected:
        msg = (
            f"{fn}: argument `{name}` must give the derivative in jax.jacfwd's "
            f"layout, of shape(s) {expected}; got {given}."
        )
        raise ValueError(msg)
    m = math.prod(out_shape)
    blocks = []
    for leaf, size in zip(leaves, flat.sizes, strict=True):
        arr = np.asarray(leaf)
        if not jnp.issubdtype(arr.dtype, jnp.floating):
            msg = f"{fn}: argument `{name}` must be real floating; got {arr.dtype}."
            raise TypeError(msg)
        blocks.append(arr.reshape(m, size))
    A = np.concatenate(blocks, axis=1)
    bad = ~np.isfinite(A.astype(np.float64))
    if bad.any():
        i, k = (int(v) for v in np.argwhere(bad)[0])
        out_index = np.unravel_index(i, out_shape) if out_shape else ()
        msg = (
            f"{fn}: the analytic derivative (`{name}`) is not finite at output "
            f"{tuple(int(v) for v in out_index)}, entry {_where(flat, k)}: "
            f"{A[i, k]}."
        )
        raise ValueError(msg)
    return A


def _rounding_noise(
    f: Callable,
    x: Any,
    flat: _Flat,
    scalar: bool,
    out_shape: tuple[int, ...],
    bits: int,
) -> np.ndarray | None:
    """Per-entry rounding noise of the derivative in its own precision.

    Below float64, ``|D_x - D_64|``: JAX's derivative of ``f`` at ``x`` against
    the same derivative with ``x`` in float64. In float64, where nothing more
    precise is at hand, the spread of JAX's derivative under perturbations of
    ``x`` by 4 ulps (what rounding the inputs alone does to it; large where
    ``f`` is ill-conditioned). An (M, N) array, or ``None`` when ``f`` cannot
    be differentiated by JAX this way.
    """
    derivative = jax.grad if scalar else jax.jacfwd

    def to64(a: Any) -> Any:
        a = jnp.asarray(a)
        return a.astype(jnp.float64) if jnp.issubdtype(a.dtype, jnp.floating) else a

    fn = "jaxmc.check"
    try:
        with _x64_context():
            if bits < 64:
                low = _analytic_flat(fn, "d", derivative(f)(x), flat, out_shape)
                high = _analytic_flat(
                    fn, "d", derivative(f)(jax.tree.map(to64, x)), flat, out_shape
                )
                return np.abs(low.astype(np.float64) - high.astype(np.float64))
            x64 = jax.tree.map(to64, x)
            base = _analytic_flat(fn, "d", derivative(f)(x64), flat, out_shape)
            rng = np.random.default_rng(0)
            spread = np.zeros(base.shape)
            for _ in range(2):

                def nudge(leaf: Any) -> Any:
                    signs = rng.choice([-4.0, 4.0], size=np.shape(leaf))
                    return leaf * (1 + signs * float(jnp.finfo(jnp.float64).eps))

                moved = derivative(f)(jax.tree.map(nudge, x64))
                other = _analytic_flat(fn, "d", moved, flat, out_shape)
                spread = np.maximum(spread, np.abs(other - base))
            return spread
    except Exception:  # noqa: BLE001 - any failure means: no estimate
        return None


def _verdict(
    analytic: np.ndarray,
    reference: np.ndarray,
    error: np.ndarray,
    allowed: np.ndarray,
    f_max: float,
) -> str:
    """``"passed"``, ``"failed"`` or ``"inconclusive"``.

    Inconclusive when the candidate passes but so would a zero derivative (and
    so, then, its negative): the reference is nowhere resolved from zero; or
    when some entry has no reference at all (``allowed`` infinite: no step
    came within the range of f's Taylor series there). A zero candidate
    against an exactly zero reference from an ``f`` that is not identically
    zero passes: the check would have seen any larger derivative.
    """
    if (error > allowed).any():
        return "failed"
    if not np.isfinite(allowed).all():
        return "inconclusive"
    if (np.abs(reference) > allowed).any():
        return "passed"
    exact_zero = not analytic.any() and not reference.any() and f_max > 0
    return "passed" if exact_zero else "inconclusive"


def _advice(
    verdict: str,
    a_bits: int,
    promote: bool,
    eps: float | None,
    noise_max: float,
    fd_max: float,
    biggest: float,
    unresolved: str = "",
) -> tuple[str, str]:
    """(reason, remedy) for an inconclusive verdict, matching what was tried.

    ``unresolved`` names the entries that have no reference (empty if none).
    """
    if verdict != "inconclusive":
        return "", ""
    why = []
    if unresolved:
        why.append(
            f"at {unresolved} no step down to the smallest tried came within "
            f"the range of f's Taylor series (the differences at h and 2h do "
            f"not behave like a smooth f: a singularity or kink closer to x than "
            f"the step, or f's rounding), so there is no reference"
        )
    elif noise_max > 0 and noise_max >= _SAFETY * fd_max:
        why.append(
            f"the derivative's own rounding in its dtype (up to {noise_max:.2g}) "
            f"exceeds the reference's size (max {biggest:.2g})"
        )
    else:
        why.append(
            f"the reference's estimated error (up to {fd_max:.2g}) exceeds its "
            f"size (max {biggest:.2g})"
        )
    reason = (
        "the finite-difference reference cannot tell the derivative from zero "
        "or from its negative: " + "; ".join(why)
    )
    if unresolved:
        reason = "the finite-difference reference is unknown in places: " + why[0]
    remedy = []
    if a_bits < 64:
        remedy.append("check in float64 (cast x to float64)")
    if not promote:
        remedy.append("promote=True (reference in float64)")
    remedy.append("check at another point x, away from singularities")
    if eps is None:
        remedy.append("give eps= to set the first step (it was chosen by default)")
    else:
        remedy.append(f"try another eps= than {eps:.3g}")
    return reason, "; ".join(remedy)


def _check(
    fn: str,
    kind: str,
    f: Callable,
    x: Any,
    derivative: Any,
    rtol: Any,
    atol: Any,
    promote: bool,
    eps: Any = None,
) -> CheckReport:
    scalar = kind == "gradient"
    _checks.check_callable(fn, "f", f)
    _check_concrete(fn, x)
    eps = _check_eps(fn, eps)
    x, flat, out = _check_inputs(fn, f, x, None, scalar=scalar)
    if rtol is not None:
        rtol = _checks.real_number(fn, "rtol", rtol, minimum=0)
    if atol is not None:
        atol = _checks.real_number(fn, "atol", atol, minimum=0)
    name = "grad" if scalar else "jac"
    out_shape = tuple(out.shape)
    _check_memory(fn, flat.size, math.prod(out_shape), 16, 8)
    if derivative is None:
        derivative = (jax.grad if scalar else jax.jacfwd)(f)
    value = derivative(x) if callable(derivative) else derivative
    analytic = _analytic_flat(fn, name, value, flat, out_shape)
    a_dtype = jnp.result_type(*[jnp.asarray(v).dtype for v in jax.tree.leaves(value)])
    a_info = jnp.finfo(a_dtype)
    rtol = _default_rtol(a_dtype) if rtol is None else rtol
    want = 0.01 * max(rtol, float(a_info.eps))
    reference, estimate, method, f_max = _richardson(fn, f, x, flat, promote, eps, want)
    reference = np.asarray(reference, dtype=np.float64)
    estimate = np.asarray(estimate, dtype=np.float64)

    # Entries without a reference (infinite estimate) do not set the scale,
    # and are reported as NaN (unknown).
    known = np.isfinite(estimate)
    reference = np.where(known, reference, np.nan)
    biggest = float(np.max(np.abs(reference[known]), initial=0.0))
    fd_known = float(np.max(estimate[known], initial=0.0))
    noise = None
    if atol is None:
        noise = _rounding_noise(f, x, flat, scalar, out_shape, a_info.bits)
    u, tiny = float(a_info.eps), float(a_info.tiny)
    if atol is not None:
        atol = float(atol)
    elif noise is not None and a_info.bits < 64:
        # Each entry may carry ten times the rounding that JAX's own derivative
        # shows there in this precision, and a floor of a few ulps of the largest.
        atol = 10 * noise + 4 * u * biggest + tiny
    elif noise is not None:
        atol = 10 * noise + 0.1 * rtol * biggest + tiny
    else:
        atol = 0.1 * rtol * biggest + tiny
    analytic64 = analytic.astype(np.float64)
    error = np.abs(analytic64 - reference)
    ref_abs = np.where(known, np.abs(reference), 0.0)
    allowed = atol + rtol * ref_abs + _SAFETY * estimate  # inf where unknown
    denom = np.maximum(np.abs(analytic64), np.abs(reference))
    rel = np.divide(error, denom, out=np.zeros_like(error), where=denom > 0)
    failed = error > allowed
    verdict = _verdict(analytic64, reference, error, allowed, f_max)
    error_known = np.where(known, error, 0.0)
    noise_max = 10 * float(np.max(noise, initial=0.0)) if noise is not None else 0.0
    missing = np.unique(np.argwhere(~known)[:, 1])
    unresolved = ", ".join(_where(flat, int(k)) for k in missing[:3]) + (
        f" and {len(missing) - 3} more entries" if len(missing) > 3 else ""
    )
    reason, remedy = _advice(
        verdict,
        a_info.bits,
        promote,
        eps,
        noise_max,
        _SAFETY * fd_known,
        biggest,
        unresolved,
    )
    ratio = error_known / np.maximum(allowed, np.finfo(np.float64).tiny)
    i, k = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
    path, in_index = flat.locate(int(k))
    out_index = np.unravel_index(int(i), out_shape) if out_shape else ()
    worst_index = tuple(int(v) for v in out_index) + in_index

    def layout(A: np.ndarray) -> Any:
        leaves, start = [], 0
        for shape, size in zip(flat.shapes, flat.sizes, strict=True):
            leaves.append(A[:, start : start + size].reshape(out_shape + shape))
            start += size
        return jax.tree_util.tree_unflatten(flat.treedef, leaves)

    return CheckReport(
        kind=kind,
        passed=verdict == "passed",
        max_abs_error=float(error_known.max(initial=0.0)),
        max_rel_error=float(rel.max(initial=0.0)),
        worst_index=worst_index,
        worst_leaf=path,
        n_failed=int(failed.sum()),
        error=layout(error),
        allowed=layout(allowed),
        analytic=layout(analytic),
        numerical=layout(reference),
        fd_error=fd_known,
        resolution=_SAFETY * fd_known / max(biggest, float(np.finfo(np.float64).tiny)),
        rtol=rtol,
        atol=float(np.max(atol)),
        method=method,
        verdict=verdict,
        reason=reason,
        remedy=remedy,
        promote=promote,
        dtype=jnp.dtype(a_dtype).name,
    )


def check_gradient(
    f: Callable,
    x: Any,
    /,
    grad: Any = None,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    promote: bool = True,
    eps: float | None = None,
) -> CheckReport:
    r"""Checks a gradient against finite differences and returns a report.

    Compares ``g = grad(x)`` with the Richardson-extrapolated central
    differences of ``f`` (see the module docstring for the reference, its error
    estimate and the tolerance). Entry ``i`` passes when
    ``|g_i - r_i| <= atol + rtol |r_i| + 3 fd_err_i``.

    Args:
      f: a function of ``x`` returning a real scalar.
      x: the point, a real floating array or pytree of arrays (concrete).
      grad: the gradient to check: a function of ``x`` returning a pytree like
        ``x``, or that pytree itself; None (default) checks ``jax.grad(f)``.
      rtol: relative tolerance; default by the gradient's dtype (1e-7 float64,
        1e-3 float32, 3e-2 16-bit).
      atol: absolute tolerance; default per entry (module docstring): ten
        times the entry's float32 rounding noise plus ``4 u max |r|`` below
        float64, ``0.1 rtol max |r|`` in float64.
      promote: evaluate ``f`` in float64 for the reference (default True,
        whether or not ``jax_enable_x64`` is on: a scoped ``jax.enable_x64``
        is used). Pass False for a function that cannot run in float64; the
        reference is then computed in ``x``'s dtype, and in float32 the
        report says when it is too coarse to resolve small errors.
      eps: the first relative step of the reference (default
        ``u^(1/3)`` of the evaluation dtype); entries whose differences
        disagree go on to steps 4, 16, ... times smaller.

    Returns:
      A :class:`CheckReport` (truthy when passed); ``print`` it for a table
      of the worst entries. Runs eagerly: ``f`` and ``grad`` are called on
      concrete values (``f`` vmapped over ``4 N`` points).

    Raises:
      TypeError: if called under a JAX transformation, ``f`` is not callable
        or ``x`` is not real floating.
      ValueError: if ``f`` is not scalar-valued, ``grad`` has the wrong shape,
        a tolerance is negative, or ``x``, ``f(x)``, ``f`` near ``x`` or the
        gradient is not finite (the message names the entry).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxmc import check_gradient
      >>> f = lambda x: jnp.sum(jnp.sin(x))
      >>> bool(check_gradient(f, jnp.array([0.5, 1.0]), jnp.cos).passed)
      True
      >>> bool(check_gradient(f, jnp.array([0.5, 1.0]), jnp.sin).passed)
      False
    """
    return _check(
        "jaxmc.check_gradient", "gradient", f, x, grad, rtol, atol, promote, eps
    )


def check_jacobian(
    f: Callable,
    x: Any,
    /,
    jac: Any = None,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    promote: bool = True,
    eps: float | None = None,
) -> CheckReport:
    r"""Checks a Jacobian against finite differences and returns a report.

    As :func:`check_gradient`, for an array-valued ``f``: every output entry's
    gradient is checked, with the tolerance scale taken over the whole
    Jacobian.

    Args:
      f: a function of ``x`` returning a real floating array.
      x: the point, a real floating array or pytree of arrays (concrete).
      jac: the Jacobian to check, in ``jax.jacfwd``'s layout (leaves of shape
        ``f(x).shape + leaf.shape``): a function of ``x`` or its value; None
        (default) checks ``jax.jacfwd(f)``.
      rtol: relative tolerance; default by the Jacobian's dtype.
      atol: absolute tolerance; default per entry (module docstring): ten
        times the entry's float32 rounding noise plus ``4 u max |r|`` below
        float64, ``0.1 rtol max |r|`` in float64.
      promote: evaluate ``f`` in float64 for the reference (default True,
        whether or not ``jax_enable_x64`` is on: a scoped ``jax.enable_x64``
        is used). Pass False for a function that cannot run in float64; the
        reference is then computed in ``x``'s dtype, and in float32 the
        report says when it is too coarse to resolve small errors.
      eps: the first relative step of the reference, as in
        :func:`check_gradient`.

    Returns:
      A :class:`CheckReport`; ``worst_index`` is ``out_index + in_index``.

    Raises:
      TypeError: if called under a JAX transformation, ``f`` is not callable
        or returns a pytree, or ``x`` is not real floating.
      ValueError: if ``jac`` has the wrong shape, a tolerance is negative, or
        a value is not finite (the message names the entry).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxmc import check_jacobian
      >>> A = jnp.array([[1.0, 2.0], [3.0, 4.0]])
      >>> bool(check_jacobian(lambda x: A @ x, jnp.ones(2), A).passed)
      True
      >>> bool(check_jacobian(lambda x: A @ x, jnp.ones(2), A.T).passed)
      False
    """
    return _check(
        "jaxmc.check_jacobian", "jacobian", f, x, jac, rtol, atol, promote, eps
    )
