"""The density and per-layer part of ``jaxmc spectrum`` (``--plot``, ``--layers``).

``jaxmc spectrum`` (jaxmc/cli/spectrum.py) builds the problem and calls
:func:`add_arguments` on its parser and :func:`report` after its own output.
"""

from __future__ import annotations

import argparse
import time
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
        help="SLQ runs (random probes) for the density (default 10)",
    )
    group.add_argument(
        "--density-steps",
        type=int,
        default=80,
        metavar="M",
        help="Lanczos steps per SLQ run (default 80)",
    )


def wants_report(args: argparse.Namespace) -> bool:
    """True when ``--plot`` or ``--layers`` was given."""
    return bool(getattr(args, "plot", None) or getattr(args, "layers", False))


def report(
    args: argparse.Namespace,
    *,
    op: Any,
    loss_fn: Any,
    params: Any,
    data: Any,
    key: Any,
) -> int:
    """Writes the density figure and/or prints the per-layer table.

    Args:
      args: the parsed command line (with the options of :func:`add_arguments`).
      op: the Hessian operator of the problem.
      loss_fn: ``loss_fn(params, batch)``, the problem's mean loss.
      params: the parameters (a pytree).
      data: the data set.
      key: a PRNG key.

    Returns:
      0 on success.
    """
    import jax

    from jaxmc import spectrum

    key_density, key_layers = jax.random.split(key)
    if args.plot:
        t0 = time.perf_counter()
        deflate = max(0, min(args.deflate, op.size - 1))
        res = spectrum.spectral_density(
            op,
            key=key_density,
            num_runs=args.density_runs,
            lanczos_steps=args.density_steps,
            deflate=deflate,
        )
        jax.block_until_ready(res)
        elapsed = time.perf_counter() - t0
        import matplotlib

        matplotlib.use("Agg")
        ax = spectrum.plot_density(res, label=f"SLQ, {args.density_runs} runs")
        ax.set_title(f"Hessian eigenvalue density ({op.size} parameters)")
        ax.figure.savefig(args.plot, dpi=120)
        outs = ", ".join(f"{float(x):.4g}" for x in res.outliers)
        print(
            f"density: {args.density_runs} SLQ runs x {res.nodes.shape[1]} Lanczos "
            f"steps, sigma {float(res.sigma):.3g}, outliers [{outs}] "
            f"({elapsed:.2f} s) -> {args.plot}"
        )
    if args.layers:
        t0 = time.perf_counter()
        table = spectrum.layer_spectra(
            loss_fn,
            params,
            data,
            key=key_layers,
            k=1,
            num_runs=args.density_runs,
            lanczos_steps=args.density_steps,
        )
        print(f"per-layer spectra ({time.perf_counter() - t0:.2f} s):")
        print(table)
    return 0
