"""Figures for spectra: densities with bands and outliers, eigenvalues, layers.

matplotlib (the ``plot`` extra: ``pip install jaxmc[plot]``) is imported inside
each function, so ``jaxmc.spectrum`` imports without it. Each function draws on
``ax`` (a new figure from ``matplotlib.pyplot`` when None, at the rcParams'
size) and returns the axes; save with ``ax.figure.savefig("out.png")``. Colours,
fonts and line widths are matplotlib's (the current style and colour cycle), so
the figures follow ``plt.style.use(...)`` and ``rcParams`` like any other.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

__all__ = ["plot_density", "plot_eigenvalues", "plot_layer_spectra"]

# On a logarithmic axis, density values below this fraction of the peak are left
# out (the curve leaves the axes) instead of being drawn at a floor.
_LOG_RANGE = 1e-8
# Outliers closer than this fraction of the x range share a cluster; their stems
# get staggered heights so that each marker and label stays visible.
_CLUSTER = 0.03


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
        _, ax = plt.subplots(layout="constrained")
    return ax


def _stem_heights(xs: np.ndarray, x_range: float) -> np.ndarray:
    """Heights (axes fraction) for outlier stems, staggered within clusters."""
    order = np.argsort(xs)
    heights = np.empty(xs.shape)
    level, prev = 0, None
    for i in order:
        close = prev is not None and xs[i] - prev < _CLUSTER * x_range
        level = level + 1 if close else 0
        heights[i] = 0.08 + 0.07 * (level % 5)
        prev = xs[i]
    return heights


def plot_density(
    result: Any,
    ax: Any = None,
    log: bool = True,
    *,
    label: str | None = None,
    color: str | None = None,
    title: str | None = None,
) -> Any:
    """Plots a spectral density with its confidence band and outlier stems.

    Args:
      result: a :class:`SpectralDensity` or :class:`KPMDensity` (anything with
        ``grid``, ``density``, ``lower``, ``upper`` and ``outliers``).
      ax: the matplotlib axes to draw on; None for a new figure.
      log: a logarithmic density axis (the bulk and its tails both show). The
        axis spans 8 decades below the peak; where the density falls below,
        the curve leaves the axes (no floor line is drawn).
      label: the legend label of the density curve (default ``"density"``).
      color: its colour (matplotlib's next colour when None); the band and the
        outlier stems share it.
      title: an optional axes title.

    Returns:
      The matplotlib axes. Outliers (from ``deflate``) are point masses, drawn
      as a labelled rug: a short stem at each eigenvalue, rising from the x
      axis to a dot labelled with its rank (1 = largest). Stems closer than 3%
      of the x range get staggered heights, so close outliers stay
      distinguishable. The x range includes every outlier (narrow it with
      ``ax.set_xlim`` to look at the bulk alone). The legend lists the curve,
      the band and the number of outliers.

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
    peak = max(float(np.nanmax(upper)), float(np.nanmax(dens)), 1e-300)
    if log:
        bottom = peak * _LOG_RANGE
        shown = np.where(dens >= bottom, dens, np.nan)
        band = upper >= bottom
        lower = np.maximum(lower, bottom)
    else:
        shown, band = dens, np.ones(dens.shape, bool)
    (line,) = ax.plot(grid, shown, color=color, label=label or "density")
    c = line.get_color()
    ax.fill_between(
        grid, lower, upper, where=band, color=c, alpha=0.25, lw=0, label="band"
    )
    outliers = np.asarray(getattr(result, "outliers", np.zeros(0)), dtype=float)
    outliers = outliers[np.isfinite(outliers)]
    if log:
        ax.set_yscale("log")
        ax.set_ylim(bottom, peak * 3.0)
    if outliers.size:
        import matplotlib.transforms as mtransforms

        x_lo = min(float(grid.min()), float(outliers.min()))
        x_hi = max(float(grid.max()), float(outliers.max()))
        # Include the outliers in the x limits (the stems use axes y units).
        ax.update_datalim([[x_lo, peak], [x_hi, peak]], updatey=False)
        ax.autoscale_view(scaley=False)
        trans = mtransforms.blended_transform_factory(ax.transData, ax.transAxes)
        heights = _stem_heights(outliers, x_hi - x_lo)
        ax.vlines(
            outliers,
            0.0,
            heights,
            transform=trans,
            color=c,
            lw=1.0,
            label=f"{outliers.size} outlier{'s' if outliers.size > 1 else ''}",
        )
        ax.plot(outliers, heights, "o", color=c, ms=4, transform=trans)
        for rank, (x, h) in enumerate(zip(outliers, heights, strict=True), 1):
            ax.annotate(
                str(rank),
                (x, h),
                xycoords=trans,
                xytext=(3, 2),
                textcoords="offset points",
                fontsize="x-small",
                color=c,
            )
    ax.set_xlabel("eigenvalue")
    ax.set_ylabel("density")
    if title is not None:
        ax.set_title(title)
    ax.legend(loc="best")
    return ax


def _infer_which(vals: np.ndarray) -> str:
    """The ``which`` of an EigenResult from the order of its values."""
    d = np.diff(vals)
    if vals.size >= 4 and vals.size % 2 == 0:
        k = vals.size // 2
        top, bottom = vals[:k], vals[k:]
        if (
            np.all(np.diff(top) <= 0)
            and np.all(np.diff(bottom) >= 0)
            and bottom[-1] < top[-1]
            and not np.all(d <= 0)
        ):
            return "both"
    if vals.size >= 2 and np.all(d > 0):
        return "smallest"
    if vals.size >= 2 and not np.all(d <= 0):
        return "largest_magnitude"
    return "largest"


def _vector_size(values: Any) -> int | None:
    """The operator's size from an EigenResult's vectors (leading axis = pairs)."""
    vectors = getattr(values, "vectors", None)
    if vectors is None:
        return None
    try:
        import jax

        leaves = jax.tree_util.tree_leaves(vectors)
        count = int(np.shape(leaves[0])[0])
        return sum(int(np.size(x)) for x in leaves) // max(count, 1)
    except (IndexError, TypeError, ValueError):
        return None


def plot_eigenvalues(
    values: Any,
    ax: Any = None,
    *,
    reference: Any = None,
    label: str | None = None,
    which: str | None = None,
    size: int | None = None,
    title: str | None = None,
) -> Any:
    """Plots eigenvalues against their rank (1 = the largest, ``n`` the smallest).

    Each value is placed at its rank in the whole spectrum of the ``n x n``
    operator: the ``k`` largest at ranks ``1..k``, the ``k`` smallest at
    ``n-k+1..n`` (so a ``which="both"`` result shows both ends where they
    belong).

    Args:
      values: an array of eigenvalues, or a result with a ``values`` attribute
        (the output of ``jaxmc.spectrum.eigenvalues``).
      ax: the matplotlib axes; None for a new figure.
      reference: optional exact eigenvalues (all ``n`` of them), drawn as a line
        at their ranks to compare with.
      label: the legend label of ``values``.
      which: which end(s) the values come from, as in ``eigenvalues``:
        ``"largest"``, ``"smallest"``, ``"both"`` (the ``k`` largest in
        decreasing order, then the ``k`` smallest in increasing order) or
        ``"largest_magnitude"`` (positive values ranked from the top, negative
        ones from the bottom). None: ``"largest"`` for an array; for a result,
        read from the order of its values (pass it when ``k = 1``, where a
        ``"both"`` result looks like a ``"largest"`` one).
      size: ``n``, needed to rank the smallest eigenvalues; None to read it from
        the result's vectors or from ``reference``.
      title: an optional axes title.

    Returns:
      The matplotlib axes (rank on x, eigenvalue on y, a line at 0).

    Raises:
      ValueError: if ``values`` is not one-dimensional, ``which`` is unknown, or
        the smallest eigenvalues are to be ranked and ``n`` is unknown.
    """
    fn = "jaxmc.spectrum.plot_eigenvalues"
    vals = np.asarray(getattr(values, "values", values), dtype=float)
    if vals.ndim != 1:
        msg = (
            f"{fn}: argument `values` must be one-dimensional; got shape {vals.shape}."
        )
        raise ValueError(msg)
    options = ("largest", "smallest", "both", "largest_magnitude")
    if which is None:
        which = _infer_which(vals) if hasattr(values, "values") else "largest"
    elif which not in options:
        msg = f"{fn}: argument `which` must be one of {options}; got {which!r}."
        raise ValueError(msg)
    if which == "largest":
        top, bottom = vals, vals[:0]
    elif which == "smallest":
        top, bottom = vals[:0], vals
    elif which == "both":
        top, bottom = vals[: vals.size // 2], vals[vals.size // 2 :]
    else:
        top, bottom = vals[vals >= 0], vals[vals < 0]
    ref = None
    if reference is not None:
        ref = np.sort(np.asarray(reference, dtype=float).ravel())[::-1]
    n = size if size is not None else _vector_size(values)
    if n is None and ref is not None:
        n = ref.size
    if bottom.size and n is None:
        msg = (
            f"{fn}: ranking the smallest eigenvalues needs the operator's size; "
            f"pass size=n (or reference=all eigenvalues)."
        )
        raise ValueError(msg)
    ax = _axes(fn, ax)
    top = np.sort(top)[::-1]
    bottom = np.sort(bottom)[::-1]
    ranks = np.concatenate(
        [np.arange(1, top.size + 1), np.arange(n - bottom.size + 1, n + 1)]
        if bottom.size
        else [np.arange(1, top.size + 1)]
    )
    if ref is not None:
        ax.plot(np.arange(1, ref.size + 1), ref, "-", color="0.5", label="reference")
    ax.plot(ranks, np.concatenate([top, bottom]), "o", label=label or "eigenvalues")
    ax.axhline(0.0, color="k", lw=0.5)
    ax.set_xlabel("rank (1 = largest)")
    ax.set_ylabel("eigenvalue")
    if title is not None:
        ax.set_title(title)
    ax.legend(loc="best")
    return ax


_KEY = re.compile(r"\['([^']*)'\]|\[\"([^\"]*)\"\]|\[(\d+)\]|\.([A-Za-z_]\w*)")


def readable_names(names: list[str]) -> list[str]:
    """Key paths as short names: ``['params']['dense_0']`` -> ``dense_0``.

    Key-path strings (``jax.tree_util.keystr``) become ``/``-joined keys, a
    trailing ``.value`` (flax nnx) is dropped, and leading keys shared by every
    name (``params``) are left out. Other names are kept as they are.
    """
    parts = []
    for name in names:
        keys = [
            next(g for g in m.groups() if g is not None) for m in _KEY.finditer(name)
        ]
        if not keys or "".join(m.group(0) for m in _KEY.finditer(name)) != name:
            return list(names)
        if len(keys) > 1 and keys[-1] == "value":
            keys = keys[:-1]
        parts.append(keys)
    while all(len(p) > 1 for p in parts) and len({p[0] for p in parts}) == 1:
        parts = [p[1:] for p in parts]
    out = ["/".join(p) for p in parts]
    return out if len(set(out)) == len(out) else list(names)


def plot_layer_spectra(
    table: Any, ax: Any = None, *, log: bool = True, title: str | None = None
) -> Any:
    """Bar chart of the top eigenvalue and the trace of each parameter block.

    Args:
      table: a :class:`LayerSpectra` (from :func:`layer_spectra`).
      ax: the matplotlib axes; None for a new figure.
      log: a logarithmic y axis; when a value is not positive, a symmetric-log
        axis whose linear part reaches the smallest non-zero magnitude.
      title: an optional axes title.

    Returns:
      The matplotlib axes, two bars per block (the trace with its standard
      error as an error bar). Blocks are labelled with readable names
      (``dense_0`` for the key path ``['params']['dense_0']``) and their
      parameter counts.

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
    names = readable_names([str(r.name) for r in rows])
    sizes = [getattr(r, "size", None) for r in rows]
    top = np.array([float(np.asarray(r.top)[0]) for r in rows])
    trace = np.array([float(r.trace) for r in rows])
    err = np.array([float(r.trace_stderr) for r in rows])
    err = np.where(np.isfinite(err), err, 0.0)
    x = np.arange(len(rows))
    ax.bar(x - 0.2, top, width=0.4, label="top eigenvalue")
    ax.bar(x + 0.2, trace, width=0.4, yerr=err, capsize=3, label="trace")
    ticks = [
        f"{name}\n({size:,})" if isinstance(size, int) else name
        for name, size in zip(names, sizes, strict=True)
    ]
    long = max(len(t) for t in names) > 12 or len(rows) > 6
    ax.set_xticks(
        x, ticks, rotation=30 if long else 0, ha="right" if long else "center"
    )
    values = np.concatenate([top, trace])
    values = values[np.isfinite(values)]
    if log:
        if np.all(values > 0):
            ax.set_yscale("log")
        else:
            nonzero = np.abs(values[values != 0])
            linthresh = float(nonzero.min()) if nonzero.size else 1.0
            ax.set_yscale("symlog", linthresh=linthresh)
            ax.axhline(0.0, color="k", lw=0.5)
    tops = np.concatenate([values, (trace + err)[np.isfinite(trace + err)]])
    _headroom(ax, tops, log and bool(np.all(values > 0)))
    # The axes' width decides the label: the long one clips a one-column
    # (3.25 in) figure, where the tick labels already show the counts.
    width = ax.get_figure().get_size_inches()[0] * ax.get_position().width
    ax.set_xlabel(
        "parameter block (number of parameters)" if width >= 4.0 else "block (size)"
    )
    ax.set_ylabel("top eigenvalue, trace")
    if title is not None:
        ax.set_title(title)
    # One row above the tallest bar, inside the axes (a legend "best" placed
    # over the bars hid them).
    ax.legend(loc="upper center", ncols=2, fontsize="small", frameon=False)
    return ax


def _headroom(ax: Any, values: np.ndarray, log: bool) -> None:
    """Raises the top of the y axis so that a legend row fits above the bars."""
    if values.size == 0:
        return
    top = float(values.max())
    if log:
        bottom = float(values[values > 0].min())
        ax.set_ylim(top=top * max(top / bottom, 10.0) ** 0.45)
    elif top > 0:
        ax.set_ylim(top=top * 1.35)
