"""Figures for spectra: densities with bands and outliers, eigenvalues, layers.

matplotlib (the ``plot`` extra: ``pip install jaxmc[plot]``) is imported inside
each function, so ``jaxmc.spectrum`` imports without it. Each function draws on
``ax`` (a new figure from ``matplotlib.pyplot`` when None) and returns the axes;
save with ``ax.figure.savefig("out.png")``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["plot_density", "plot_eigenvalues", "plot_layer_spectra"]


def _axes(fn: str, ax: Any) -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:  # pragma: no cover - depends on the environment
        msg = (
            f"{fn} needs matplotlib: install the plot extra "
            f"(pip install 'jaxmc[plot]')."
        )
        raise ImportError(msg) from err
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.0), layout="constrained")
    return ax


def plot_density(
    result: Any,
    ax: Any = None,
    log: bool = True,
    *,
    label: str | None = None,
    color: str | None = None,
) -> Any:
    """Plots a spectral density with its confidence band and outlier markers.

    Args:
      result: a :class:`SpectralDensity` or :class:`KPMDensity` (anything with
        ``grid``, ``density``, ``lower``, ``upper`` and ``outliers``).
      ax: the matplotlib axes to draw on; None for a new figure.
      log: a logarithmic density axis (the bulk and its tails both show);
        values below ``1e-8`` of the peak are clipped to it.
      label: the legend label of the density curve.
      color: its colour (matplotlib's next colour when None).

    Returns:
      The matplotlib axes. Outliers (from ``deflate``) are drawn as vertical
      dashed lines with triangle markers and listed in the legend.

    Raises:
      TypeError: if ``result`` lacks the density fields.
    """
    fn = "jaxmc.spectrum.plot_density"
    fields = ("grid", "density", "lower", "upper")
    if not all(hasattr(result, f) for f in fields):
        msg = (
            f"{fn}: argument `result` must be a SpectralDensity or KPMDensity "
            f"(with grid, density, lower, upper); got {type(result).__name__}."
        )
        raise TypeError(msg)
    ax = _axes(fn, ax)
    grid = np.asarray(result.grid, dtype=float)
    dens = np.asarray(result.density, dtype=float)
    lower = np.asarray(result.lower, dtype=float)
    upper = np.asarray(result.upper, dtype=float)
    if log:
        floor = max(float(np.max(dens)), 1e-300) * 1e-8
        dens, lower, upper = (np.maximum(a, floor) for a in (dens, lower, upper))
    (line,) = ax.plot(grid, dens, color=color, lw=1.5, label=label or "density")
    ax.fill_between(
        grid, lower, upper, color=line.get_color(), alpha=0.25, lw=0, label="band"
    )
    outliers = np.asarray(getattr(result, "outliers", np.zeros(0)), dtype=float)
    if outliers.size:
        for i, x in enumerate(outliers):
            ax.axvline(
                x,
                color="C3",
                ls="--",
                lw=1.0,
                label=f"{outliers.size} outlier(s)" if i == 0 else None,
            )
        ax.plot(
            outliers,
            np.full(outliers.shape, float(np.max(dens))),
            "v",
            color="C3",
            ms=7,
        )
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("eigenvalue")
    ax.set_ylabel("density")
    ax.legend(loc="best", fontsize="small")
    return ax


def plot_eigenvalues(
    values: Any,
    ax: Any = None,
    *,
    reference: Any = None,
    label: str | None = None,
) -> Any:
    """Plots eigenvalues against their rank, largest first.

    Args:
      values: an array of eigenvalues, or a result with a ``values`` attribute
        (the output of ``jaxmc.spectrum.eigenvalues``).
      ax: the matplotlib axes; None for a new figure.
      reference: optional exact eigenvalues, drawn as a line to compare with.
      label: the legend label of ``values``.

    Returns:
      The matplotlib axes (rank on x, eigenvalue on y, a line at 0).

    Raises:
      ValueError: if ``values`` is not one-dimensional.
    """
    fn = "jaxmc.spectrum.plot_eigenvalues"
    vals = np.asarray(getattr(values, "values", values), dtype=float)
    if vals.ndim != 1:
        msg = (
            f"{fn}: argument `values` must be one-dimensional; got shape {vals.shape}."
        )
        raise ValueError(msg)
    ax = _axes(fn, ax)
    vals = np.sort(vals)[::-1]
    if reference is not None:
        ref = np.sort(np.asarray(reference, dtype=float).ravel())[::-1]
        ax.plot(np.arange(1, ref.size + 1), ref, "-", color="0.5", label="reference")
    ax.plot(np.arange(1, vals.size + 1), vals, "o", ms=4, label=label or "eigenvalues")
    ax.axhline(0.0, color="k", lw=0.5)
    ax.set_xlabel("rank")
    ax.set_ylabel("eigenvalue")
    ax.legend(loc="best", fontsize="small")
    return ax


def plot_layer_spectra(table: Any, ax: Any = None, *, log: bool = True) -> Any:
    """Bar chart of the top eigenvalue and the trace of each parameter block.

    Args:
      table: a :class:`LayerSpectra` (from :func:`layer_spectra`).
      ax: the matplotlib axes; None for a new figure.
      log: a logarithmic y axis (symmetric-log when a value is not positive).

    Returns:
      The matplotlib axes, two bars per block (the trace with its standard
      error as an error bar).

    Raises:
      TypeError: if ``table`` is not a LayerSpectra-like sequence of rows.
    """
    fn = "jaxmc.spectrum.plot_layer_spectra"
    rows = list(getattr(table, "layers", ()))
    if not rows or not all(hasattr(r, "top") and hasattr(r, "trace") for r in rows):
        msg = (
            f"{fn}: argument `table` must be a non-empty LayerSpectra from "
            f"jaxmc.spectrum.layer_spectra; got {type(table).__name__}."
        )
        raise TypeError(msg)
    ax = _axes(fn, ax)
    names = [r.name for r in rows]
    top = np.array([float(np.asarray(r.top)[0]) for r in rows])
    trace = np.array([float(r.trace) for r in rows])
    err = np.array([float(r.trace_stderr) for r in rows])
    x = np.arange(len(rows))
    ax.bar(x - 0.2, top, width=0.4, label="top eigenvalue")
    ax.bar(x + 0.2, trace, width=0.4, yerr=err, capsize=3, label="trace")
    ax.set_xticks(x, names, rotation=30, ha="right", fontsize="small")
    if log:
        if np.all(top > 0) and np.all(trace > 0):
            ax.set_yscale("log")
        else:
            ax.set_yscale("symlog")
    ax.set_ylabel("value")
    ax.legend(loc="best", fontsize="small")
    return ax
