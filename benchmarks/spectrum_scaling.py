"""Benchmark: time of the top-5 Hessian eigenvalues against the parameter count.

Tanh MLPs 64-w-w-10 with widths chosen for about 10^4 .. 10^6 parameters, on a
fixed batch of examples, float32. Each HVP costs O(P) (a few passes through
the network) and each Lanczos step O(m P) for reorthogonalisation, so at a
fixed number of matvecs the time should grow linearly in P. Reports the time
of one warm call of ``eigenvalues(op, 5)`` (compiled), the matvecs it used and
the time per matvec.

Run: PYTHONPATH=. python benchmarks/spectrum_scaling.py [--examples 256]
"""

from __future__ import annotations

import argparse
import time

import jax
from _timing import machine, print_table
from spectrum_hvp import mlp

from jaxmc.spectrum import eigenvalues, hessian_operator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[64, 200, 480, 980])
    parser.add_argument("--examples", type=int, default=256)
    parser.add_argument("--max-matvecs", type=int, default=120)
    args = parser.parse_args()
    rows = []
    base = None
    for width in args.widths:
        loss, params, data = mlp(width, args.examples, features=64)
        op = hessian_operator(loss, params, data)
        key = jax.random.key(0)

        def top5(op=op, key=key):
            # A fixed budget so the time reflects the cost per matvec.
            return eigenvalues(op, 5, key=key, max_matvecs=args.max_matvecs)

        jax.block_until_ready(top5())
        t0 = time.perf_counter()
        res = jax.block_until_ready(top5())
        t = time.perf_counter() - t0
        nmv = int(res.num_matvecs)
        per = t / nmv / op.size * 1e9
        base = base or per
        rows.append(
            [
                f"{op.size:,}",
                nmv,
                f"{t:.2f}",
                f"{t / nmv * 1e3:.1f}",
                f"{per:.2f} ({per / base:.2f})",
                f"{int(res.converged.sum())}/5",
            ]
        )
        print(rows[-1], flush=True)
        del op, res
    print(
        f"Top-5 eigenvalues vs parameter count, tanh MLP 64-w-w-10, "
        f"{args.examples} examples, float32, at most {args.max_matvecs} matvecs; "
        f"{machine()}"
    )
    print_table(
        ["params", "HVPs", "time (s)", "ms / HVP", "ns / HVP / param (rel.)", "conv."],
        rows,
    )


if __name__ == "__main__":
    main()
