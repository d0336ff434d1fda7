"""Benchmark: K-FAC's whole exact spectrum against Lanczos on the exact GGN.

A tanh MLP classifier (README layout: a list of ``{"w", "b"}`` dicts), the
same weights and data throughout, float64.

* Time: ``kfac_operator(...)`` then ``.eigenvalues()`` (all ``P`` eigenvalues,
  from the eigendecompositions of the Kronecker factors) against
  ``eigenvalues(ggn_operator(...), k)`` (thick-restart Lanczos, the top ``k``
  only), each the workflow a researcher runs: a fresh operator, compilation
  included (the first call), and the median of 3 further calls.
* Distance: on an MLP small enough for the dense Fisher, the Wasserstein-1
  distance between the eigenvalue distributions of K-FAC and of the exact
  Fisher (= the GGN of the cross-entropy), ``mean |sorted(a) - sorted(b)|``,
  divided by the exact spectrum's width ``max - min``; also the top
  eigenvalue of each.

Run: PYTHONPATH=. python benchmarks/curvature_kfac.py
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from _mlp import model, xent
from _timing import machine, print_table

from jaxmc.spectrum import eigenvalues, ggn_operator, kfac_operator


def problem(sizes, examples, seed=0):
    rng = np.random.default_rng(seed)
    params = [
        {
            "w": jnp.asarray(rng.standard_normal((a, b)) / np.sqrt(a)),
            "b": jnp.asarray(0.1 * rng.standard_normal(b)),
        }
        for a, b in zip(sizes, sizes[1:], strict=False)
    ]
    classes = sizes[-1]
    centers = 1.5 * rng.standard_normal((classes, sizes[0]))
    y = rng.integers(0, classes, examples)
    X = centers[y] + rng.standard_normal((examples, sizes[0]))
    return params, (jnp.asarray(X), jnp.asarray(y))


def timed(f, repeats=3):
    t0 = time.perf_counter()
    out = jax.block_until_ready(f())
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(f())
        times.append(time.perf_counter() - t0)
    return out, first, float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=512)
    parser.add_argument("--k", type=int, default=20)
    args = parser.parse_args()
    jax.config.update("jax_enable_x64", True)
    print(machine())

    rows = []
    for hidden in ([32, 32], [64, 64], [128, 128]):
        sizes = [20, *hidden, 10]
        params, data = problem(sizes, args.examples)

        def kfac_spectrum(params=params, data=data):
            return kfac_operator(model, params, data).eigenvalues()

        def ggn_topk(params=params, data=data):
            op = ggn_operator(model, xent, params, data)
            return eigenvalues(op, args.k, key=jax.random.key(0)).values

        ev, k_first, k_med = timed(kfac_spectrum)
        top, g_first, g_med = timed(ggn_topk)
        rows.append(
            [
                str(sizes),
                ev.size,
                f"{k_first:.2f} / {k_med:.3f}",
                f"{g_first:.2f} / {g_med:.3f}",
                f"{g_med / k_med:.1f}x",
            ]
        )
    print(f"\nWhole K-FAC spectrum vs top-{args.k} Lanczos on the exact GGN")
    print("(seconds: first call incl. compile / median of 3 further calls)")
    print_table(
        [
            "MLP sizes",
            "P",
            "K-FAC all P eigenvalues",
            f"GGN top-{args.k} (Lanczos)",
            "GGN / K-FAC (median)",
        ],
        rows,
    )

    rows = []
    for hidden in ([8], [16, 16]):
        sizes = [6, *hidden, 4]
        params, data = problem(sizes, 256, seed=1)
        F = ggn_operator(model, xent, params, data).to_dense()
        exact = np.sort(np.linalg.eigvalsh(np.asarray(F)))
        kfac = np.sort(np.asarray(kfac_operator(model, params, data).eigenvalues()))
        width = exact[-1] - exact[0]
        w1 = float(np.mean(np.abs(exact - kfac)) / width)
        rows.append(
            [
                str(sizes),
                exact.size,
                f"{exact[-1]:.4g}",
                f"{kfac[-1]:.4g}",
                f"{w1:.4f}",
            ]
        )
    print("\nK-FAC vs the exact Fisher: Wasserstein-1 distance / spectral width")
    print_table(
        ["MLP sizes", "P", "Fisher top", "K-FAC top", "W1 / width"],
        rows,
    )


if __name__ == "__main__":
    main()
