"""Benchmark: kron_matvec(A, B, v) against materialising jnp.kron(A, B) @ v.

For square n x n factors, (A kron B) v costs O(n^4) time and memory when the
Kronecker product is formed, and O(n^3) through vec(B X A^T). The ratio of the two
times should grow roughly like n.

Run: python benchmarks/kron_matvec.py [--sizes 16 32 64 128 192 256]
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
from _timing import machine, median_time, print_table

from jaxmc import kron_matvec


def available_bytes() -> int:
    """Physical memory available now (Linux), or 8 GiB if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 * 2**30


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[16, 32, 64, 128, 192, 256]
    )
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = parser.parse_args()
    if args.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    dtype = jnp.dtype(args.dtype)

    fast = jax.jit(kron_matvec)
    dense = jax.jit(lambda A, B, v: jnp.kron(A, B) @ v)
    rows = []
    for n in args.sizes:
        kA, kB, kv = jax.random.split(jax.random.key(n), 3)
        A = jax.random.normal(kA, (n, n), dtype)
        B = jax.random.normal(kB, (n, n), dtype)
        v = jax.random.normal(kv, (n * n,), dtype)
        t_fast = median_time(fast, A, B, v, repeats=args.repeats)
        need = n**4 * dtype.itemsize
        if need > 0.5 * available_bytes():
            rows.append(
                [
                    n,
                    f"{t_fast * 1e3:.3f}",
                    f"skipped (needs {need / 2**30:.0f} GiB)",
                    "-",
                    "-",
                ]
            )
            continue
        t_dense = median_time(dense, A, B, v, repeats=max(3, args.repeats // 2))
        err = float(
            jnp.max(jnp.abs(fast(A, B, v) - dense(A, B, v)))
            / jnp.max(jnp.abs(dense(A, B, v)))
        )
        rows.append(
            [
                n,
                f"{t_fast * 1e3:.3f}",
                f"{t_dense * 1e3:.3f}",
                f"{t_dense / t_fast:.1f}x",
                f"{err:.1e}",
            ]
        )
        del A, B, v
    print(
        f"kron_matvec vs jnp.kron(A, B) @ v, {dtype}, "
        f"median of {args.repeats}; {machine()}"
    )
    print_table(
        ["n", "kron_matvec (ms)", "kron @ v (ms)", "speed-up", "rel. diff"], rows
    )


if __name__ == "__main__":
    main()
