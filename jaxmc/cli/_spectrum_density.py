"""The density and per-layer part of ``jaxmc spectrum`` (``--plot``, ``--layers``).

``jaxmc spectrum`` (jaxmc/cli/spectrum.py) builds the problem and calls
:func:`add_arguments` on its parser and :func:`report` after its own output;
``--out`` also computes the density, so that ``jaxmc plot`` can redraw it.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds ``--plot``, ``--layers`` and the density options."""
    group = parser.add_argument_group("spectral density and per-layer spectra")
    group.add_argument(
        "--plot",
        metavar="PNG",
        default=None,
        help="write the eigenvalue density (SLQ, with band and outliers) to PNG",
    )
    group.add_argument(
        "--layers",
        action="store_true",
        help="print the per-layer table: top eigenvalue and trace of each block",
    )
    group.add_argument(
        "--deflate",
        type=int,
        default=3,
        metavar="K",
        help="outliers taken out of the density (default 3)",
    )
    group.add_argument(
        "--density-runs",
        type=int,
        default=10,
        metavar="R",
        help="SLQ runs (random probes) for the density (default 10; 0: no "
        "density in --out)",
    )
    group.add_argument(
        "--density-steps",
        type=int,
        default=80,
        metavar="M",
        help="Lanczos steps per SLQ run (default 80)",
    )


def wants_report(args: argparse.Namespace) -> bool:
    """True when ``--plot``, ``--layers`` or ``--out`` was given."""
    return bool(
        getattr(args, "plot", None)
        or getattr(args, "layers", False)
        or getattr(args, "out", None)
    )


def report(
    args: argparse.Namespace,
    *,
    op: Any,
    loss_fn: Any,
    params: Any,
    data: Any,
    key: Any,
    kind: str = "Hessian",
    progress: Callable[[str], None] = lambda text: None,
    timings: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Computes the density (for ``--plot`` or ``--out``) and the layer table.

    Writes the density figure for ``--plot`` and prints the per-layer table for
    ``--layers``.

    Args:
      args: the parsed command line (with the options of :func:`add_arguments`).
      op: the curvature operator of the problem.
      loss_fn: ``loss_fn(params, batch)``, the problem's mean loss.
      params: the parameters (a pytree).
      data: the data set.
      key: a PRNG key.
      kind: ``"Hessian"`` or ``"GGN"``, for the titles.
      progress: called with one line at the start and end of each phase.
      timings: phase name -> seconds, filled in.

    Returns:
      ``{"density": SpectralDensity}`` and/or ``{"layers": LayerSpectra}``, as
      computed.
    """
    import jax

    from jaxmc import spectrum

    timings = {} if timings is None else timings
    out: dict[str, Any] = {}
    density = args.plot or (getattr(args, "out", None) and args.density_runs > 0)
    # split only when used: an eager split is a program to look up on every run
    wanted = density or args.layers
    key_density, key_layers = jax.random.split(key) if wanted else (None, None)
    if density:
        t0 = time.perf_counter()
        deflate = max(0, min(args.deflate, op.size - 1))
        steps = min(args.density_steps, op.size)
        progress(
            f"density: SLQ, {args.density_runs} runs x {steps} Lanczos steps, "
            f"{deflate} outliers deflated ..."
        )
        res = spectrum.spectral_density(
            op,
            key=key_density,
            num_runs=args.density_runs,
            lanczos_steps=steps,
            deflate=deflate,
        )
        jax.block_until_ready(res)
        elapsed = time.perf_counter() - t0
        timings["density"] = elapsed
        progress(f"density: done ({elapsed:.2f} s)")
        out["density"] = res
        target = ""
        if args.plot:
            title = f"{kind} eigenvalue density ({op.size} parameters)"
            write_density_plot(res, args.plot, title=title, runs=args.density_runs)
            target = f" -> {args.plot}"
        outs = ", ".join(f"{float(x):.4g}" for x in res.outliers)
        print(
            f"density: {args.density_runs} SLQ runs x {res.nodes.shape[1]} Lanczos "
            f"steps, sigma {float(res.sigma):.3g}, outliers [{outs}] "
            f"({elapsed:.2f} s){target}"
        )
    if args.layers:
        t0 = time.perf_counter()
        progress("layers: top eigenvalue, trace and density of each block ...")
        table = spectrum.layer_spectra(
            loss_fn,
            params,
            data,
            key=key_layers,
            k=1,
            num_runs=args.density_runs,
            lanczos_steps=args.density_steps,
        )
        elapsed = time.perf_counter() - t0
        timings["layers"] = elapsed
        progress(f"layers: {len(table)} blocks ({elapsed:.2f} s)")
        note = " (Hessian blocks)" if kind != "Hessian" else ""
        print(f"per-layer spectra{note} ({elapsed:.2f} s):")
        print(table)
        out["layers"] = table
    return out


def write_density_plot(res: Any, path: str, *, title: str, runs: int) -> None:
    """Draws a density (with its band and outliers) and saves it to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jaxmc import spectrum

    ax = spectrum.plot_density(res, label=f"SLQ, {runs} runs")
    ax.set_title(title)
    ax.figure.savefig(path, dpi=120)
    plt.close(ax.figure)
