"""Timing jacfwd against jacrev over input sizes, and plotting the crossover.

Shared by the ``jaxmc cost --plot`` command, the example and the benchmark.
"""

from __future__ import annotations

import math
import statistics
import time
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


def median_call(compiled: Any, args: Sequence[Any], repeats: int) -> float:
    """Median wall time of ``compiled(*args)`` after one warm-up call."""
    jax.block_until_ready(compiled(*args))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def crossover(
    f: Callable[..., Any],
    make_args: Callable[[int], Sequence[Any]],
    sizes: Sequence[int],
    *,
    argnums: int = 0,
    repeats: int = 5,
) -> list[CrossoverPoint]:
    """Times jacfwd and jacrev of ``f`` on ``make_args(s)`` for each size ``s``."""
    from jaxmc.cost import choose_mode

    points = []
    for s in sizes:
        args = list(make_args(s))
        x = args[argnums]
        out = jax.eval_shape(f, *args)
        n_in, n_out = int(x.size), math.prod(out.shape)
        times = []
        for jac in (jax.jacfwd, jax.jacrev):
            compiled, _ = compile_abstract(jac(f, argnums=argnums), args)
            leaves = [a for a in jax.tree_util.tree_leaves(args) if hasattr(a, "shape")]
            times.append(median_call(compiled, leaves, repeats))
        auto = choose_mode(f, *args, argnums=argnums)
        points.append(CrossoverPoint(n_in, n_out, times[0], times[1], auto))
    return points


def plot_crossover(points: Sequence[CrossoverPoint], path: str, title: str) -> None:
    """Draws jacfwd and jacrev time against input size into ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = [p.n_in for p in points]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.loglog(n, [p.t_forward * 1e3 for p in points], "o-", label="jacfwd (forward)")
    ax.loglog(n, [p.t_reverse * 1e3 for p in points], "s-", label="jacrev (reverse)")
    outs = sorted({p.n_out for p in points})
    if len(outs) == 1:
        ax.axvline(outs[0], color="gray", ls=":", label=f"n = m = {outs[0]}")
    ax.set_xlabel("input size n")
    ax.set_ylabel("time (ms)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
