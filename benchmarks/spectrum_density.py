"""Benchmark: jaxmc's SLQ spectral density against PyHessian's, and its scaling.

1. Time and accuracy. A tanh MLP (cross-entropy, 10 classes) small enough for
   its exact Hessian spectrum (dense eigh in float64). Both libraries run SLQ
   with the same budget (10 Rademacher runs x 80 Lanczos steps, float32, full
   data batch, same weights and data): jaxmc's ``spectral_density`` (jit) and
   PyHessian's ``hessian.density`` (PyTorch on the CPU). Accuracy is the
   Wasserstein-1 distance to the exact eigenvalue distribution, relative to the
   spectral width, for the raw quadrature measures (nodes and weights averaged
   over runs) and for the densities smoothed with the same Gaussian (sigma = 1%
   of the width). PyHessian calls ``torch.eig``, removed from PyTorch; it is
   patched here (not in PyHessian) with ``torch.linalg.eigh`` on the symmetric
   tridiagonal.
2. Scaling: the time of ``spectral_density`` for MLPs of 1e4 to 1e6
   parameters.

Run: python benchmarks/spectrum_density.py [--skip-pyhessian] [--scaling ...]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from _timing import machine, median_time, print_table

from jaxmc.spectrum import hessian_operator, spectral_density

jax.config.update("jax_enable_x64", True)  # for the exact reference only


def make_problem(d, h, c, n, seed=0, dtype=jnp.float32):
    ks = jax.random.split(jax.random.key(seed), 5)
    params = [
        {
            "w": jax.random.normal(ks[0], (d, h), dtype) / d**0.5,
            "b": jnp.zeros(h, dtype),
        },
        {
            "w": jax.random.normal(ks[1], (h, c), dtype) / h**0.5,
            "b": jnp.zeros(c, dtype),
        },
    ]
    X = jax.random.normal(ks[2], (n, d), dtype)
    y = jax.random.randint(ks[3], (n,), 0, c)
    return params, (X, y)


def loss_fn(params, batch):
    X, y = batch
    z = jnp.tanh(X @ params[0]["w"] + params[0]["b"][None, :])
    z = z @ params[1]["w"] + params[1]["b"][None, :]
    picked = jnp.take_along_axis(z, y[:, None], axis=1)[:, 0]
    return jnp.mean(jax.nn.logsumexp(z, axis=1) - picked)


def w1_measure(nodes, weights, evals):
    """W1 between a weighted discrete measure and the uniform one on evals."""
    nodes, weights = np.ravel(nodes), np.ravel(weights) / np.sum(weights)
    pts = np.sort(np.concatenate([nodes, evals]))
    order = np.argsort(nodes)
    cdf_q = np.cumsum(weights[order])
    idx_q = np.searchsorted(nodes[order], pts[:-1], side="right")
    fq = np.where(idx_q > 0, cdf_q[np.maximum(idx_q - 1, 0)], 0.0)
    fe = np.searchsorted(np.sort(evals), pts[:-1], side="right") / evals.size
    return float(np.sum(np.abs(fq - fe) * np.diff(pts)))


def w1_density(grid, density, evals):
    cdf = np.concatenate(
        [[0.0], np.cumsum((density[1:] + density[:-1]) / 2 * np.diff(grid))]
    )
    exact = np.searchsorted(np.sort(evals), grid, side="right") / evals.size
    return float(np.trapezoid(np.abs(cdf - exact), grid))


def smooth(grid, nodes, weights, sigma):
    z = (grid[:, None] - np.ravel(nodes)[None, :]) / sigma
    w = np.ravel(weights) / np.sum(weights)
    return (np.exp(-0.5 * z**2) / (sigma * np.sqrt(2 * np.pi))) @ w


def pyhessian_density(params, data, runs, steps, repeats):
    import torch
    from pyhessian import hessian

    def eig_patch(T, eigenvectors=True):
        vals, vecs = torch.linalg.eigh(T)
        return torch.stack([vals, torch.zeros_like(vals)], dim=1), vecs

    torch.eig = eig_patch  # removed from PyTorch; PyHessian still calls it
    d, h = params[0]["w"].shape
    c = params[1]["w"].shape[1]
    model = torch.nn.Sequential(
        torch.nn.Linear(d, h), torch.nn.Tanh(), torch.nn.Linear(h, c)
    )
    with torch.no_grad():
        for layer, p in zip((model[0], model[2]), params, strict=True):
            layer.weight.copy_(torch.from_numpy(np.asarray(p["w"]).T.copy()))
            layer.bias.copy_(torch.from_numpy(np.asarray(p["b"]).copy()))
    X = torch.from_numpy(np.asarray(data[0]).copy())
    y = torch.from_numpy(np.asarray(data[1]).astype(np.int64))
    torch.manual_seed(0)
    times, out = [], None
    for _ in range(repeats):
        model.zero_grad()
        t0 = time.perf_counter()
        hc = hessian(model, torch.nn.CrossEntropyLoss(), data=(X, y), cuda=False)
        out = hc.density(iter=steps, n_v=runs)
        times.append(time.perf_counter() - t0)
    nodes, weights = (np.asarray(a, dtype=np.float64) for a in out)
    return float(np.median(times)), nodes, weights


def accuracy_table(args):
    d, h, c, n = 16, 48, 10, 512
    params, data = make_problem(d, h, c, n)
    op = hessian_operator(loss_fn, params, data)
    p64 = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), params)
    data64 = (data[0].astype(jnp.float64), data[1])
    H = hessian_operator(loss_fn, p64, data64).to_dense(chunk_size=128)
    evals = np.linalg.eigvalsh(np.asarray(H))
    width = evals[-1] - evals[0]
    sigma = 0.01 * width
    grid = np.linspace(evals[0] - 0.1 * width, evals[-1] + 0.1 * width, 4000)
    print(
        f"problem: MLP {d}-{h}-{c} (tanh, cross-entropy), {n} examples, "
        f"{op.size} parameters; exact spectrum [{evals[0]:.4g}, {evals[-1]:.4g}]"
    )
    print(f"SLQ budget: {args.runs} runs x {args.steps} Lanczos steps, float32")

    def errors(res):
        nodes = np.asarray(res.nodes, np.float64)
        weights = np.asarray(res.weights, np.float64)
        q = w1_measure(nodes, weights, evals) / width
        s = w1_density(grid, smooth(grid, nodes, weights, sigma), evals) / width
        return q, s

    rows = []
    t_jax = None
    for runs in (args.runs, 10 * args.runs):
        f = jax.jit(
            lambda key, runs=runs: spectral_density(
                op, key=key, num_runs=runs, lanczos_steps=args.steps
            )
        )
        t = median_time(f, jax.random.key(0), repeats=args.repeats)
        t_jax = t if t_jax is None else t_jax
        # accuracy: mean over 5 keys (the estimate is random)
        errs = np.mean([errors(f(jax.random.key(s))) for s in range(5)], axis=0)
        rows.append(
            [
                f"jaxmc spectral_density, {runs} runs (5 keys)",
                f"{t:.3f}",
                f"{t / t_jax:.2f}x",
                f"{errs[0]:.2e}",
                f"{errs[1]:.2e}",
            ]
        )
    if not args.skip_pyhessian:
        t_ph, pn, pw = pyhessian_density(params, data, args.runs, args.steps, 3)
        rows.append(
            [
                f"PyHessian density, {args.runs} runs (1 seed)",
                f"{t_ph:.3f}",
                f"{t_ph / t_jax:.2f}x",
                f"{w1_measure(pn, pw, evals) / width:.2e}",
                f"{w1_density(grid, smooth(grid, pn, pw, sigma), evals) / width:.2e}",
            ]
        )
    print_table(
        [
            "method",
            "time (s)",
            "time / jaxmc",
            "W1 quadrature / width",
            "W1 smoothed / width",
        ],
        rows,
    )


def scaling_table(args):
    rows = []
    d, c, n = 64, 10, args.scaling_examples
    for target in args.scaling:
        h = max(1, round((target - c) / (d + 1 + c)))
        params, data = make_problem(d, h, c, n)
        op = hessian_operator(loss_fn, params, data)

        def run(key, op=op):
            return spectral_density(
                op,
                key=key,
                num_runs=args.scaling_runs,
                lanczos_steps=args.scaling_steps,
            )

        f = jax.jit(run)
        t0 = time.perf_counter()
        jax.block_until_ready(f(jax.random.key(0)))
        first = time.perf_counter() - t0
        t = median_time(f, jax.random.key(1), repeats=1, warmup=0)
        rows.append(
            [f"{op.size:,}", f"{first:.2f}", f"{t:.2f}", f"{t / op.size * 1e6:.2f}"]
        )
        print(f"  ... {op.size} parameters: {t:.2f} s", flush=True)
    print(
        f"scaling: MLP {d}-h-{c}, {n} examples, {args.scaling_runs} runs x "
        f"{args.scaling_steps} steps, float32"
    )
    print_table(["parameters", "first call (s)", "time (s)", "us / parameter"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--steps", type=int, default=80)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-pyhessian", action="store_true")
    parser.add_argument("--scaling", type=int, nargs="*", default=[10**4, 10**5, 10**6])
    parser.add_argument("--scaling-examples", type=int, default=256)
    parser.add_argument("--scaling-runs", type=int, default=2)
    parser.add_argument("--scaling-steps", type=int, default=80)
    args = parser.parse_args()
    print(machine())
    accuracy_table(args)
    if args.scaling:
        scaling_table(args)


if __name__ == "__main__":
    main()
