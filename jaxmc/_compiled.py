"""Best-effort readings of XLA's compiled cost and memory analyses.

``jax.jit(g).lower(...).compile()`` exposes ``cost_analysis()`` (FLOPs, bytes
accessed) and ``memory_analysis()`` (argument, output, temporary buffer sizes).
Both are best-effort: depending on the JAX version and the backend they may be
missing, raise, return ``None``, return ``-1`` for unknown figures, or return a
list of dicts (one per program). Every reader here returns ``None`` for a figure
it cannot get and never raises.

Note that XLA counts the body of a loop (``lax.map``, ``lax.scan``, a
``while_loop``) once, not once per iteration: FLOPs of looped programs are per
iteration. Memory figures do not have that problem.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import numpy as np


class Analysis(NamedTuple):
    """What XLA says about one compiled program; ``None`` where it says nothing.

    ``peak_bytes`` is arguments + outputs + temporaries - aliased buffers, the
    device memory the program holds at once (XLA's own ``peak_memory_in_bytes``
    leaves out temporaries on some backends).
    """

    flops: float | None
    bytes_accessed: float | None
    temp_bytes: int | None
    peak_bytes: int | None
    compile_s: float


def _number(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    if not np.isfinite(value) or value < 0:
        return None
    return value


def cost_figures(compiled: Any) -> tuple[float | None, float | None]:
    """(FLOPs, bytes accessed) from ``compiled.cost_analysis()``, or Nones."""
    try:
        cost = compiled.cost_analysis()
    except Exception:  # any backend failure means "unknown"
        return None, None
    if isinstance(cost, list | tuple):
        dicts = [c for c in cost if isinstance(c, dict)]
        if not dicts:
            return None, None
        totals = []
        for key in ("flops", "bytes accessed"):
            vals = [_number(d.get(key)) for d in dicts]
            totals.append(None if any(v is None for v in vals) else sum(vals))
        return totals[0], totals[1]
    if not isinstance(cost, dict):
        return None, None
    return _number(cost.get("flops")), _number(cost.get("bytes accessed"))


def memory_figures(compiled: Any) -> tuple[int | None, int | None]:
    """(temporary bytes, peak bytes) from ``compiled.memory_analysis()``, or Nones."""
    try:
        mem = compiled.memory_analysis()
    except Exception:  # any backend failure means "unknown"
        return None, None
    if isinstance(mem, list | tuple):
        mem = mem[0] if len(mem) == 1 else None
    if mem is None:
        return None, None

    def field(name: str) -> float | None:
        return _number(getattr(mem, name, None))

    temp = field("temp_size_in_bytes")
    parts = [
        field("argument_size_in_bytes"),
        field("output_size_in_bytes"),
        temp,
    ]
    if temp is None:
        return None, None
    alias = field("alias_size_in_bytes") or 0.0
    peak = None if any(p is None for p in parts) else sum(parts) - alias
    return int(temp), None if peak is None else int(peak)


def abstract(x: Any) -> Any:
    """A ``ShapeDtypeStruct`` for an array (or tracer); other values unchanged."""
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return jax.ShapeDtypeStruct(np.shape(x), x.dtype)
    return x


def compile_abstract(g: Callable[..., Any], args: Sequence[Any]) -> tuple[Any, float]:
    """Compiles ``g`` for the shapes and dtypes of ``args``; (compiled, seconds).

    Array leaves of ``args`` become abstract inputs; any other leaf (a Python
    scalar, a string) is closed over as a constant.
    """
    leaves, treedef = jax.tree_util.tree_flatten(list(args))
    is_array = [hasattr(leaf, "shape") and hasattr(leaf, "dtype") for leaf in leaves]
    static = [None if a else leaf for a, leaf in zip(is_array, leaves, strict=True)]

    def wrapped(*array_leaves: Any) -> Any:
        it = iter(array_leaves)
        full = [next(it) if a else s for a, s in zip(is_array, static, strict=True)]
        return g(*jax.tree_util.tree_unflatten(treedef, full))

    specs = [abstract(leaf) for leaf, a in zip(leaves, is_array, strict=True) if a]
    t0 = time.perf_counter()
    compiled = jax.jit(wrapped).lower(*specs).compile()
    return compiled, time.perf_counter() - t0


def analyse(g: Callable[..., Any], args: Sequence[Any]) -> Analysis:
    """Compiles ``g`` for ``args`` and reads XLA's analyses (best-effort)."""
    compiled, seconds = compile_abstract(g, args)
    flops, nbytes = cost_figures(compiled)
    temp, peak = memory_figures(compiled)
    return Analysis(flops, nbytes, temp, peak, seconds)
