"""The memory the spectrum algorithms keep, in vectors of ``n`` parameters.

Each algorithm keeps a number of length-``n`` vectors (``n`` the operator's
size, ``P`` parameters for a Hessian) in the operator's dtype; with
parameter-sharded vectors (:mod:`jaxmc.spectrum._sharding`) each device keeps
``1 / ways`` of each. The counts below are XLA's own buffer sizes
(``compiled.memory_analysis()``, temporaries plus outputs) of the compiled
programs on the CPU, measured at ``n = 3000`` in float64 for ``m`` of 16 to
48 and ``k`` of 5 and 10 (Lanczos: ``X``, ``A X`` and the picked Ritz
vectors make 3 per wanted pair) and rounded up for the small
``m x m`` arrays that count at small ``n``; the matvec's own workspace (for a
Hessian: the stored linearisation, about the activations of one batch) and
the operator's parameters and data come on top.

============================  ============================================
algorithm                     vectors of ``n`` kept at the peak
============================  ============================================
``eigenvalues`` (Lanczos)     ``2.5 m + 3 k + 3``, ``m = krylov_dim``
``spectral_density`` (SLQ)    ``3 s + 4 + (b - 1) (s / 2 + 2)``,
                              ``s = lanczos_steps``, ``b`` runs batched
Hutchinson ``trace`` /        ``2 m`` (the probes and their products,
``diagonal``                  ``m = num_matvecs``)
Hutch++ ``trace``             ``2 m``
============================  ============================================

The Lanczos count is about ``2.5 m`` rather than ``m``: the basis is the
carry of a ``while_loop`` (XLA keeps an input and an output copy), the restart
forms ``S^T V`` before overwriting ``V``, and the complement search (for
repeated eigenvalues) holds its own basis of ``m`` vectors.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from jaxmc import _checks, _memory

__all__: list[str] = []


def lanczos_vectors(m: int, k: int) -> int:
    """Vectors of ``n`` kept by ``eigenvalues`` with ``krylov_dim=m``."""
    return math.ceil(2.5 * m) + 3 * k + 3


def slq_vectors(steps: int, batch: int) -> int:
    """Vectors of ``n`` kept by SLQ with ``steps`` steps, ``batch`` runs at once."""
    return 3 * steps + 4 + (batch - 1) * math.ceil(steps / 2 + 2)


def vector_bytes(op) -> int:
    """Bytes of one length-``n`` vector of ``op`` on one device."""
    layout = getattr(op, "vector_sharding", None)
    ways = 1 if layout is None else layout.ways
    return math.ceil(op.size / ways) * op.dtype.itemsize


def check_limit(fn: str, memory_limit: Any) -> int | None:
    """``memory_limit`` as an int of bytes (None stays None); raises otherwise."""
    if memory_limit is None:
        return None
    if isinstance(memory_limit, bool | np.bool_) or not isinstance(
        memory_limit, int | float | np.integer | np.floating
    ):
        msg = (
            f"{fn}: argument `memory_limit` must be a number of bytes (an int, "
            f"e.g. 8 * 2**30) or None; got {_checks.describe(memory_limit)}."
        )
        raise TypeError(msg)
    if not np.isfinite(memory_limit) or memory_limit <= 0:
        msg = (
            f"{fn}: argument `memory_limit` must be a positive number of bytes; "
            f"got {memory_limit!r}."
        )
        raise ValueError(msg)
    return int(memory_limit)


def _limit(memory_limit: int | None) -> tuple[int | None, str]:
    if memory_limit is not None:
        return memory_limit, "memory_limit"
    return _memory.available_bytes(), "available memory"


def _raise(fn, what, needed, limit, source, remedy):
    msg = (
        f"{fn}: {what} needs {_memory.format_bytes(needed)} ({needed} bytes) per "
        f"device, above the {source} of {_memory.format_bytes(limit)} ({limit} "
        f"bytes). {remedy}"
    )
    raise _memory.InsufficientMemoryError(msg)


def fit_eigen(
    fn: str,
    op: Any,
    static: dict[str, Any],
    memory_limit: int | None,
    user_krylov: bool,
    rebuild: Callable[[int], dict[str, Any]],
) -> dict[str, Any]:
    """The options of ``eigenvalues`` with a ``krylov_dim`` that fits.

    Keeps ``static`` when its basis fits in ``memory_limit`` (or, without a
    limit, in the memory available); with a limit and no explicit
    ``krylov_dim`` picks the largest ``krylov_dim`` that fits (more restarts,
    the same accuracy test); otherwise raises before allocating.
    """
    m, k, which, n = static["m"], static["k"], static["which"], static["n"]
    nout = 2 * k if which == "both" else k
    kw = min(2 * k, n) if which == "both" else k
    vb = vector_bytes(op)

    def need(mm):
        return lanczos_vectors(mm, nout) * vb

    limit, source = _limit(memory_limit)
    if limit is None or need(m) <= limit:
        return static
    lowest = min(kw + 1, n)
    fits = [mm for mm in range(lowest, m + 1) if need(mm) <= limit]
    what = (
        f"the Lanczos basis (krylov_dim={m}: {lanczos_vectors(m, nout)} vectors of "
        f"n={n} {op.dtype})"
    )
    if memory_limit is None or user_krylov:
        if fits:
            remedy = (
                f"Lower krylov_dim to {max(fits)} (the largest that fits), or pass "
                f"memory_limit= to have it chosen."
            )
        else:
            remedy = _no_fit_remedy(need(lowest), lowest)
        _raise(fn, what, need(m), limit, source, remedy)
    if not fits:
        remedy = _no_fit_remedy(need(lowest), lowest)
        _raise(fn, what, need(lowest), limit, source, remedy)
    return rebuild(max(fits))


def _no_fit_remedy(needed: int, lowest: int) -> str:
    return (
        f"Even the smallest basis (krylov_dim={lowest}) needs "
        f"{_memory.format_bytes(needed)}: ask for fewer eigenvalues (k), use "
        f"float32, or shard the parameters over more devices (a NamedSharding "
        f"over a model axis splits every vector)."
    )


def fit_slq(
    fn: str,
    op: Any,
    steps: int,
    batch: int,
    memory_limit: int | None,
    extra: int = 0,
) -> tuple[int, int]:
    """``(lanczos_steps, runs batched)`` for SLQ that fit; raises if none can.

    With a limit, first runs one probe at a time (no accuracy cost), then
    lowers ``lanczos_steps`` (fewer exact moments: a blurrier density, see the
    README) with a warning. Without a limit, checks the memory available.
    ``extra`` vectors (a deflation basis) are counted too.
    """
    vb = vector_bytes(op)

    def need(s, b):
        return (slq_vectors(s, b) + extra) * vb

    limit, source = _limit(memory_limit)
    if limit is None or need(steps, batch) <= limit:
        return steps, batch
    what = (
        f"stochastic Lanczos quadrature (lanczos_steps={steps}, {batch} runs at "
        f"once: {slq_vectors(steps, batch) + extra} vectors of n={op.size} "
        f"{op.dtype})"
    )
    if need(steps, 1) <= limit:
        return steps, 1
    fits = [s for s in range(1, steps + 1) if need(s, 1) <= limit]
    if memory_limit is None or not fits:
        remedy = (
            f"Lower lanczos_steps to {max(fits)} or pass memory_limit= to have it "
            f"chosen."
            if fits
            else _no_fit_remedy(need(1, 1), 1).replace("krylov_dim", "lanczos_steps")
        )
        _raise(fn, what, need(steps, batch), limit, source, remedy)
    s = max(fits)
    warnings.warn(
        f"{fn}: memory_limit={memory_limit} fits {s} Lanczos steps per run, not "
        f"{steps}; the density resolves fewer moments (2 * {s}) and is smoother.",
        stacklevel=3,
    )
    return s, 1
