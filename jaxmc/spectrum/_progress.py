"""Solve-level progress bars for operators that stream their data.

A streamed operator (``hessian_operator(..., data=loader, progress=True)``)
runs each matvec as a host loop over the batches. Outside an algorithm, one
matvec shows one tqdm bar over the batches. Inside an algorithm, a solve of
66 matvecs would flash 66 such bars; instead the solve shows one bar:

* the matvecs done, counted by the host loop itself (``matvec_done``), out of
  the algorithm's budget when it has one (``max_matvecs`` of
  :func:`~jaxmc.spectrum.eigenvalues`);
* the current relative residual of the wanted eigenpairs, reported from the
  restart loop of the compiled solve through ``jax.debug.callback``.

How it is wired, so that it works under ``jax.jit`` without new programs:
``call_compiled`` traces the core inside :func:`solving` when the operator
streams with progress on (a static fact of its factory, so the compiled
program is keyed as before). The factory's ``prepare`` then routes its
dynamic handle through :func:`open_bar`, a ``jax.pure_callback`` that opens
the bar on the host and returns the handle, so it runs before the first
matvec (a data dependency); :func:`report` adds a ``jax.debug.callback`` in
the restart loop; and :func:`close_bar` closes the bar after the outputs
exist. The host state is one bar per process (solves run one at a time).
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from typing import Any

import jax
import numpy as np

__all__: list[str] = []

_SOLVING: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "jaxmc_progress_solving", default=None
)
_LOCK = threading.Lock()
_BAR: Any = None


@contextlib.contextmanager
def solving(desc: str | None):
    """While tracing a solve's core: ``desc`` names its bar (None: no bar)."""
    token = _SOLVING.set(desc)
    try:
        yield
    finally:
        _SOLVING.reset(token)


def current() -> str | None:
    """The bar's name while a progress solve is traced, else None."""
    return _SOLVING.get()


def wants_bar(op: Any) -> bool:
    """Whether ``op`` streams its data with ``progress=True``."""
    factory = getattr(op, "factory", None)
    return bool(getattr(factory, "progress", False)) and (
        getattr(factory, "kind", None) == "stream"
    )


def _open(desc: str, handle: np.ndarray) -> np.ndarray:
    global _BAR
    from tqdm.auto import tqdm

    with _LOCK:
        if _BAR is None:
            _BAR = tqdm(desc=desc, unit="matvec", leave=True)
    return np.asarray(handle)


def open_bar(handle: jax.Array) -> jax.Array:
    """``handle``, after opening the solve's bar on the host (traced).

    A no-op outside :func:`solving`. Routing the handle through the callback
    makes every streamed matvec wait for the bar to exist.
    """
    desc = current()
    if desc is None:
        return handle
    out = jax.ShapeDtypeStruct(handle.shape, handle.dtype)
    return jax.pure_callback(
        lambda h: _open(desc, h), out, handle, vmap_method="sequential"
    )


def active() -> bool:
    """Whether a solve's bar is open (host side)."""
    return _BAR is not None


def matvec_done() -> bool:
    """Counts one matvec on the open bar; False when no bar is open."""
    with _LOCK:
        if _BAR is None:
            return False
        _BAR.update(1)
        return True


def _report(done: Any, budget: Any, residual: Any) -> None:
    with _LOCK:
        if _BAR is None:
            return
        budget = int(budget)
        if budget > 0 and _BAR.total != budget:
            _BAR.total = budget
        _BAR.set_postfix(residual=f"{float(residual):.2e}", refresh=True)


def report(done: jax.Array, budget: Any, residual: jax.Array) -> None:
    """Shows the residual (and the budget) on the solve's bar (traced).

    A no-op outside :func:`solving`.
    """
    if current() is None:
        return
    jax.debug.callback(_report, done, budget, residual)


def _close(*_: Any) -> None:
    global _BAR
    with _LOCK:
        bar, _BAR = _BAR, None
    if bar is not None:
        bar.refresh()
        bar.close()


def close_bar(outputs: Any) -> None:
    """Closes the solve's bar once ``outputs`` are computed (traced)."""
    if current() is None:
        return
    leaves = [x for x in jax.tree_util.tree_leaves(outputs) if hasattr(x, "dtype")]
    jax.debug.callback(_close, leaves[:1])
