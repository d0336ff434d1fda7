"""Benchmark: Hessian-vector product time over gradient time on MLPs.

For tanh MLPs of a few widths on one batch, times (jit, warm-up, median):
the gradient, and one HVP of hessian_operator in four forms: fwd-rev (a jvp
of the gradient, forward pass recomputed; the default), fwd-rev from a stored
linearisation (linearize=True), rev-rev (a vjp of the gradient) and rev-rev
from a stored vjp. Goal: HVP <= 2.5x gradient.

Run: PYTHONPATH=. python benchmarks/spectrum_hvp.py [--widths 64 256 512]
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
from _timing import machine, median_time, print_table

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[64, 256, 512])
    parser.add_argument("--examples", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    rows = []
    for width in args.widths:
        loss, params, data = mlp(width, args.examples)
        grad = jax.jit(jax.grad(loss))
        t_grad = median_time(grad, params, data, repeats=args.repeats)
        ops = {
            "fwd-rev": hessian_operator(loss, params, data),
            "fwd-rev, linearised": hessian_operator(loss, params, data, linearize=True),
            "rev-rev": hessian_operator(loss, params, data, hvp="rev-rev"),
            "rev-rev, stored vjp": hessian_operator(
                loss, params, data, hvp="rev-rev", linearize=True
            ),
        }
        n = ops["fwd-rev"].size
        v = jax.random.normal(jax.random.key(1), (n,))
        row = [f"{n:,}", f"{t_grad * 1e3:.2f}"]
        apply = jax.jit(lambda f, v: f(v))
        for op in ops.values():
            t = median_time(apply, op.flat_matvec, v, repeats=args.repeats)
            row.append(f"{t * 1e3:.2f} ({t / t_grad:.2f}x)")
        rows.append(row)
    print(
        f"HVP / gradient time, tanh MLP 32-w-w-10, {args.examples} examples, "
        f"float32, median of {args.repeats}; {machine()}"
    )
    print_table(
        ["params", "grad (ms)"] + [f"{k} ms (ratio)" for k in ops],
        rows,
    )


if __name__ == "__main__":
    main()
