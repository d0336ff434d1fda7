"""Benchmark: Hessian-vector product time over gradient time on MLPs.

For tanh MLPs of a few widths on one batch, times (jit, warm-up, median):
the gradient, and one HVP of hessian_operator in four forms: fwd-rev from a
stored linearisation (the default), fwd-rev recomputing the forward pass (a jvp
of the gradient, linearize=False), rev-rev (a vjp of the gradient) and rev-rev
from a stored vjp. Goal: HVP <= 2.5x gradient. The data are passed as
arguments (closed-over data would let XLA constant-fold the forward pass).
Times are the minimum over repeats (robust to other load on a shared
machine), with the median beside it.

Run: PYTHONPATH=. python benchmarks/spectrum_hvp.py [--widths 64 256 512]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time

import jax
import jax.numpy as jnp
from _timing import machine, print_table

from jaxmc.spectrum import hessian_operator


def mlp(width: int, examples: int, depth: int = 3, features: int = 32, classes=10):
    keys = jax.random.split(jax.random.key(width), depth + 3)
    sizes = [features] + [width] * (depth - 1) + [classes]
    params = [
        {
            "w": jax.random.normal(keys[i], (sizes[i], sizes[i + 1])) / sizes[i] ** 0.5,
            "b": jnp.zeros(sizes[i + 1]),
        }
        for i in range(depth)
    ]
    X = jax.random.normal(keys[-1], (examples, features))
    y = jax.random.randint(keys[-2], (examples,), 0, classes)

    def loss(params, batch):
        x, labels = batch
        for layer in params[:-1]:
            x = jnp.tanh(x @ layer["w"] + layer["b"])
        logits = x @ params[-1]["w"] + params[-1]["b"]
        picked = jnp.take_along_axis(logits, labels[:, None], axis=1)[:, 0]
        return jnp.mean(jax.nn.logsumexp(logits, axis=1) - picked)

    return loss, params, (X, y)


def interleaved(fs: dict, repeats: int) -> dict:
    """Min and median wall time of each zero-argument f, measured round-robin.

    Interleaving the candidates makes their ratios robust to changes in the
    load of a shared machine during the run.
    """
    for f in fs.values():
        jax.block_until_ready(f())
        jax.block_until_ready(f())
    times = {k: [] for k in fs}
    for _ in range(repeats):
        for k, f in fs.items():
            t0 = time.perf_counter()
            jax.block_until_ready(f())
            times[k].append(time.perf_counter() - t0)
    return {k: (min(t), statistics.median(t)) for k, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[64, 256, 512])
    parser.add_argument("--examples", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=25)
    args = parser.parse_args()
    rows = []
    for width in args.widths:
        loss, params, data = mlp(width, args.examples)
        grad = jax.jit(jax.grad(loss))
        ops = {
            "fwd-rev, linearised": hessian_operator(loss, params, data),
            "fwd-rev": hessian_operator(loss, params, data, linearize=False),
            "rev-rev": hessian_operator(
                loss, params, data, hvp="rev-rev", linearize=False
            ),
            "rev-rev, stored vjp": hessian_operator(
                loss, params, data, hvp="rev-rev", linearize=True
            ),
        }
        n = ops["fwd-rev, linearised"].size
        v = jax.random.normal(jax.random.key(1), (n,))
        apply = jax.jit(lambda f, v: f(v))
        fs = {"grad": functools.partial(grad, params, data)}
        for name, op in ops.items():
            fs[name] = functools.partial(apply, op.flat_matvec, v)
        t = interleaved(fs, args.repeats)
        g_min, g_med = t.pop("grad")
        row = [f"{n:,}", f"{g_min * 1e3:.2f} / {g_med * 1e3:.2f}"]
        for t_min, t_med in t.values():
            row.append(
                f"{t_min * 1e3:.2f} ({t_min / g_min:.2f}x) / {t_med / g_med:.2f}x"
            )
        rows.append(row)
    print(
        f"HVP / gradient time, tanh MLP 32-w-w-10, {args.examples} examples, "
        f"float32, min (ratio) / median ratio of {args.repeats}; {machine()}"
    )
    print_table(
        ["params", "grad ms (min / median)"] + [f"{k}" for k in ops],
        rows,
    )


if __name__ == "__main__":
    main()
