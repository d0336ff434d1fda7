"""``jaxmc plot``: redraw the figures of a saved spectrum result.

``jaxmc plot results.json --out fig.png`` reads a file written by ``jaxmc
spectrum --out`` (or by ``save`` on any result) with
:func:`jaxmc.spectrum.load` and draws what it holds: the eigenvalue density
with its band and outliers, the per-layer bars, or the eigenvalues, one panel
each.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from jaxmc.cli import _problem
from jaxmc.cli._problem import UsageError

HELP = "Redraw the spectrum figures from a results file (jaxmc spectrum --out)."

_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the results file and the figure's path."""
    parser.add_argument("results", help="a results .json file")
    parser.add_argument(
        "--out", required=True, metavar="FIG", help="the figure to write (.png, ...)"
    )


def _panels(data: Any) -> tuple[list[tuple[str, Any]], str]:
    """(kind, result) for each drawable part, and a title."""
    from jaxmc.spectrum import (
        EigenResult,
        KPMDensity,
        LayerSpectra,
        SpectralDensity,
    )

    title = ""
    items: list[tuple[str, Any]] = []
    parts = data.values() if isinstance(data, dict) else [data]
    if isinstance(data, dict) and isinstance(data.get("problem"), dict):
        prob = data["problem"]
        title = f"{prob.get('operator', '')} of {prob.get('description', '')}"
    for part in parts:
        if isinstance(part, (SpectralDensity, KPMDensity)):
            items.append(("density", part))
        elif isinstance(part, LayerSpectra):
            items.append(("layers", part))
    if not any(kind == "density" for kind, _ in items):
        items += [("eigen", p) for p in parts if isinstance(p, EigenResult)]
    return items, title


def run(args: argparse.Namespace) -> int:
    """Draws the figure; returns 0, or 2 with a one-line error on bad input."""
    try:
        _run(args)
    except (UsageError, ValueError, TypeError, OSError) as err:
        print(f"jaxmc plot: error: {_problem.one_line(err)}", file=sys.stderr)
        return 2
    return 0


def _run(args: argparse.Namespace) -> None:
    from jaxmc import spectrum

    _problem.check_writable("--out", args.out, _SUFFIXES)
    data = spectrum.load(args.results)
    items, title = _panels(data)
    if not items:
        msg = (
            f"{args.results} holds no density, layer table or eigenvalues to draw "
            f"(it holds a {type(data).__name__})"
        )
        raise UsageError(msg)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, len(items), figsize=(6.4 * len(items), 4.0), layout="constrained"
    )
    axes = [axes] if len(items) == 1 else list(axes)
    for ax, (kind, res) in zip(axes, items, strict=True):
        if kind == "density":
            spectrum.plot_density(res, ax=ax)
            ax.set_title("eigenvalue density")
        elif kind == "layers":
            spectrum.plot_layer_spectra(res, ax=ax)
            ax.set_title("per-layer spectra")
        else:
            spectrum.plot_eigenvalues(res, ax=ax)
            ax.set_title("eigenvalues")
    if title:
        fig.suptitle(title[:120], fontsize="medium")
    fig.savefig(args.out, dpi=120)
    plt.close(fig)
    print(f"{args.results} -> {args.out} ({', '.join(k for k, _ in items)})")
