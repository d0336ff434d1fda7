"""Benchmark: jaxmc's CPU compile options, compile time against run time.

jaxmc compiles its top-level programs on the CPU with LLVM optimisation level
1 when their array arguments hold at most ``jaxmc._xla.SMALL_ELEMENTS``
numbers, and with XLA's default level otherwise (``jaxmc/_xla.py``). This
script measures why: for problems of several sizes, the first
``eigenvalues(k=5)`` call's XLA compile time and the median time of a warm
solve, with level 1 forced and with XLA's default forced, each in a fresh
process, the two alternated round by round so that both see the same load.

Problems: tanh MLPs (Hessian of the cross-entropy, float32) from the tracking
benchmark's 1,860 parameters to 670,000, and dense symmetric float32 matrices
(``matrix_operator``; their matvec is a generated gemv).

Run: PYTHONPATH=. python benchmarks/compile_options.py [ROUNDS (default 3)]
"""

from __future__ import annotations

import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent

# name: (kind, sizes or n, examples, warm repeats)
PROBLEMS = {
    "MLP 20-32-32-4, 1,024 examples": ("mlp", [20, 32, 32, 4], 1024, 7),
    "MLP 64-128-128-10, 256 examples": ("mlp", [64, 128, 128, 10], 256, 7),
    "MLP 100-256-256-10, 1,024 examples": ("mlp", [100, 256, 256, 10], 1024, 5),
    "MLP 784-64-10, 1,024 examples": ("mlp", [784, 64, 10], 1024, 5),
    "MLP 784-512-512-10, 512 examples": ("mlp", [784, 512, 512, 10], 512, 3),
    "dense 256": ("dense", 256, 0, 7),
    "dense 1,024": ("dense", 1024, 0, 7),
    "dense 3,000": ("dense", 3000, 0, 5),
}


def worker(name: str, level: str) -> dict:
    """First-call compile time and warm solve time of one problem."""
    import jax
    import jax.numpy as jnp
    from _mlp import classification_problem, loss
    from _timing import compile_counter

    from jaxmc import _xla
    from jaxmc.spectrum import eigenvalues, hessian_operator, matrix_operator

    # force one arm for every size: level 1 always, or XLA's default always
    _xla.SMALL_ELEMENTS = sys.maxsize if level == "1" else -1
    kind, size, examples, repeats = PROBLEMS[name]
    key = jax.random.key(0)
    if kind == "mlp":
        W, B, X, y = classification_problem(size, examples)
        params = [
            (jnp.asarray(w, jnp.float32), jnp.asarray(b, jnp.float32))
            for w, b in zip(W, B, strict=True)
        ]
        data = (jnp.asarray(X, jnp.float32), jnp.asarray(y))
        make = lambda: hessian_operator(loss, params, data)  # noqa: E731
        numbers = sum(w.size + b.size for w, b in params) + X.size + y.size
    else:
        M = jax.random.normal(jax.random.key(1), (size, size), jnp.float32)
        M = (M + M.T) / 2
        make = lambda: matrix_operator(M)  # noqa: E731
        numbers = M.size
    jax.block_until_ready(make().size)
    rec = compile_counter()
    t0 = time.perf_counter()
    jax.block_until_ready(eigenvalues(make(), 5, key=key).values)
    first = time.perf_counter() - t0
    compile_s = sum(rec)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(eigenvalues(make(), 5, key=key).values)
        times.append(time.perf_counter() - t0)
    return {
        "numbers": numbers,
        "first": first,
        "compile": compile_s,
        "solve": statistics.median(times),
    }


def run_worker(name: str, level: str) -> dict:
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{HERE}")
    out = subprocess.run(
        [sys.executable, __file__, "--worker", name, level],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        print(json.dumps(worker(sys.argv[2], sys.argv[3])))
        return
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    from _timing import machine, print_table

    print(f"Machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    rows = []
    for name in PROBLEMS:
        got: dict[str, list[dict]] = {"1": [], "default": []}
        for _ in range(rounds):
            for level in got:
                got[level].append(run_worker(name, level))
        med = {
            level: {
                f: statistics.median(r[f] for r in runs) for f in ("compile", "solve")
            }
            for level, runs in got.items()
        }
        one, dflt = med["1"], med["default"]
        rows.append(
            [
                name,
                f"{got['1'][0]['numbers']:,}",
                f"{dflt['compile']:.2f}",
                f"{one['compile']:.2f}",
                f"{dflt['solve'] * 1e3:.1f}",
                f"{one['solve'] * 1e3:.1f}",
                f"{one['solve'] / dflt['solve']:.2f}x",
            ]
        )
        print(name, "done", flush=True)
    print(
        f"\nFirst eigenvalues(k=5): XLA compile s, and a warm solve (ms), "
        f"median of {rounds} fresh processes per arm"
    )
    print_table(
        [
            "problem",
            "numbers in arguments",
            "compile s, default",
            "compile s, level 1",
            "solve ms, default",
            "solve ms, level 1",
            "solve, level 1 / default",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
