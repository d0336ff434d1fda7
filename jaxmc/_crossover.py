"""Timing jacfwd against jacrev over input sizes, and plotting the crossover.

Shared by the ``jaxmc cost --plot`` command, the example and the benchmark.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax

from jaxmc._compiled import compile_abstract


class CrossoverPoint(NamedTuple):
    """jacfwd and jacrev wall times (seconds) for one input size."""

    n_in: int
    n_out: int
    t_forward: float
    t_reverse: float
    auto: str


def crossover(
    f: Callable[..., Any],
    make_args: Callable[[int], Sequence[Any]],
    sizes: Sequence[int],
    *,
    argnums: int = 0,
    repeats: int = 5,
) -> list[CrossoverPoint]:
    """Times jacfwd and jacrev of ``f`` on ``make_args(s)`` for each size ``s``.

    The two are timed in alternating rounds (median of ``repeats``), so the
    load of a shared machine falls on both alike.
    """
    from jaxmc.cost import _paired_times, choose_mode

    points = []
    for s in sizes:
        args = list(make_args(s))
        x = args[argnums]
        out = jax.eval_shape(f, *args)
        n_in, n_out = int(x.size), math.prod(out.shape)
        compiled = [
            compile_abstract(jac(f, argnums=argnums), args)[0]
            for jac in (jax.jacfwd, jax.jacrev)
        ]
        leaves = [a for a in jax.tree_util.tree_leaves(args) if hasattr(a, "shape")]
        times = _paired_times(compiled, *leaves, rounds=repeats)
        auto = choose_mode(f, *args, argnums=argnums)
        points.append(CrossoverPoint(n_in, n_out, times[0], times[1], auto))
    return points


def plot_crossover(points: Sequence[CrossoverPoint], path: str, title: str) -> None:
    """Draws jacfwd and jacrev time against input size into ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    n = [p.n_in for p in points]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.loglog(n, [p.t_forward * 1e3 for p in points], "o-", label="jacfwd (forward)")
    ax.loglog(n, [p.t_reverse * 1e3 for p in points], "s-", label="jacrev (reverse)")
    outs = sorted({p.n_out for p in points})
    if len(outs) == 1:
        ax.axvline(outs[0], color="gray", ls=":", label=f"n = m = {outs[0]}")
    ax.set_xticks(n)
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("input size n")
    ax.set_ylabel("time (ms)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
