"""Benchmark: the closed-form Hessian from jaxmc.symbolic.derive against jax.hessian.

Three objectives of x in R^n, each derived once symbolically (and verified
against autodiff at small random sizes), then compiled:

- quadratic form    f(x) = x'*A*x                         H = A + A'
- least squares     f(x) = norm2(A*x - b)^2               H = 2*A'*A
- logistic loss     f(w) = sum(log(1 + exp(X*w))) - y'*X*w H = X'*diag(s.*(1 - s))*X

with A, X of shape (n, n). jax.hessian (forward-over-reverse) pushes n tangents
through the gradient; the closed form evaluates the Hessian expression directly.

Hessians with respect to a matrix X of shape (n, k) (``--cols k``, default 3),
derived with ``layout="vec"`` as Kronecker forms, against jax.hessian (whose
(n, k, n, k) result is then reshaped to the same (nk, nk) vec layout, not timed):

- trace form        f(X) = tr(X'*A*X)                      H = kron(eye, A + A')
- least squares     f(X) = norm2(A*X - B)^2                H = 2*kron(eye, A'*A)

Run: python benchmarks/symbolic_hessian.py [--sizes 100 250 500 1000 2000 4000]
     [--matrix-sizes 100 250 500 1000 2000] [--cols 3]
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
from _timing import machine, median_time, print_table

from jaxmc.symbolic import derive

CASES = {
    "x'Ax": ("x'*A*x", "x"),
    "||Ax - b||^2": ("norm2(A*x - b)^2", "x"),
    "logistic": ("sum(log(1 + exp(X*w))) - y'*X*w", "w"),
}


MATRIX_CASES = {
    "tr(X'AX)": "tr(X'*A*X)",
    "||AX - B||^2": "norm2(A*X - B)^2",
}


def matrix_reference(name, args):
    """The matrix objective as plain JAX, for jax.hessian."""
    A = args["A"]
    if name == "tr(X'AX)":
        return lambda X: jnp.trace(X.T @ A @ X)
    B = args["B"]
    return lambda X: jnp.sum((A @ X - B) ** 2)


def matrix_rows(sizes, k, dtype, repeats):
    """Timings of the Kronecker-form Hessians by a matrix against jax.hessian."""
    derived = {
        name: derive(text, wrt="X", hessian=True, layout="vec")
        for name, text in MATRIX_CASES.items()
    }
    rows = []
    for name, d in derived.items():
        for n in sizes:
            keys = jax.random.split(jax.random.key(n), 3)
            vals = {
                "A": jax.random.normal(keys[0], (n, n), dtype) / jnp.sqrt(n),
                "X": jax.random.normal(keys[1], (n, k), dtype),
                "B": jax.random.normal(keys[2], (n, k), dtype),
            }
            inputs = [vals[a] for a in d.args]
            ref = jax.jit(jax.hessian(matrix_reference(name, vals)))
            reps = repeats if n <= 1000 else 2
            t_sym = median_time(d.fn, *inputs, repeats=reps, warmup=1)
            t_ref = median_time(ref, vals["X"], repeats=reps, warmup=1)
            H = d.fn(*inputs)
            R = ref(vals["X"]).transpose(1, 0, 3, 2).reshape(n * k, n * k)
            err = float(jnp.max(jnp.abs(H - R)) / jnp.max(jnp.abs(R)))
            rows.append(
                [
                    name,
                    f"({n}, {k})",
                    f"{t_sym * 1e3:.2f}",
                    f"{t_ref * 1e3:.2f}",
                    f"{t_ref / t_sym:.1f}x",
                    f"{err:.1e}",
                ]
            )
            print(*rows[-1], flush=True)
    return derived, rows


def reference(name, args):
    """The objective as plain JAX, for jax.hessian."""
    if name == "x'Ax":
        A = args["A"]
        return lambda x: x @ A @ x
    if name == "||Ax - b||^2":
        A, b = args["A"], args["b"]
        return lambda x: jnp.sum((A @ x - b) ** 2)
    X, y = args["X"], args["y"]
    return lambda w: jnp.sum(jnp.log1p(jnp.exp(X @ w))) - y @ (X @ w)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[100, 250, 500, 1000, 2000, 4000]
    )
    parser.add_argument(
        "--matrix-sizes", type=int, nargs="+", default=[100, 250, 500, 1000, 2000]
    )
    parser.add_argument("--cols", type=int, default=3, help="k: X is (n, k)")
    parser.add_argument(
        "--only", choices=["vector", "matrix"], default=None, help="one part only"
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = parser.parse_args()
    if args.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    dtype = jnp.dtype(args.dtype)

    if args.only != "vector":
        mderived, mrows = matrix_rows(args.matrix_sizes, args.cols, dtype, args.repeats)
        print()
        print(
            f"Kronecker-form Hessian by a matrix (jaxmc.symbolic, layout='vec') vs "
            f"jax.hessian, {dtype}, median of {args.repeats} (2 for n > 1000); "
            f"{machine()}"
        )
        for name, d in mderived.items():
            print(f"  {name}: H = {d.text}")
        print()
        print_table(
            ["objective", "X", "closed form (ms)", "jax.hessian (ms)", "speed-up",
             "rel. diff"],
            mrows,
        )  # fmt: skip
        if args.only == "matrix":
            return
    derived = {
        name: derive(text, wrt=v, hessian=True) for name, (text, v) in CASES.items()
    }
    rows = []
    for name, d in derived.items():
        for n in args.sizes:
            keys = jax.random.split(jax.random.key(n), 3)
            vals = {
                "A": jax.random.normal(keys[0], (n, n), dtype) / jnp.sqrt(n),
                "X": jax.random.normal(keys[0], (n, n), dtype) / jnp.sqrt(n),
                "x": jax.random.normal(keys[1], (n,), dtype),
                "w": jax.random.normal(keys[1], (n,), dtype),
                "b": jax.random.normal(keys[2], (n,), dtype),
                "y": (jax.random.uniform(keys[2], (n,)) < 0.5).astype(dtype),
            }
            inputs = [vals[a] for a in d.args]
            var = vals[CASES[name][1]]
            ref = jax.jit(jax.hessian(reference(name, vals)))
            repeats = args.repeats if n <= 1000 else 2
            t_sym = median_time(d.fn, *inputs, repeats=repeats, warmup=1)
            t_ref = median_time(ref, var, repeats=repeats, warmup=1)
            H, R = d.fn(*inputs), ref(var)
            err = float(jnp.max(jnp.abs(H - R)) / jnp.max(jnp.abs(R)))
            rows.append(
                [
                    name,
                    n,
                    f"{t_sym * 1e3:.2f}",
                    f"{t_ref * 1e3:.2f}",
                    f"{t_ref / t_sym:.1f}x",
                    f"{err:.1e}",
                ]
            )
            print(*rows[-1], flush=True)
    print()
    print(
        f"closed-form Hessian (jaxmc.symbolic) vs jax.hessian, {dtype}, "
        f"median of {args.repeats} (2 for n > 1000); {machine()}"
    )
    for name, d in derived.items():
        print(f"  {name}: H = {d.text}")
    print()
    print_table(
        [
            "objective",
            "n",
            "closed form (ms)",
            "jax.hessian (ms)",
            "speed-up",
            "rel. diff",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
