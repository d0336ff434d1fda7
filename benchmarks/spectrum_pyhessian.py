"""Benchmark: top-5 Hessian eigenvalues and trace, jaxmc vs PyHessian vs matfree.

One tanh MLP small enough for the exact spectrum (dense Hessian in float64),
the same weights and data in JAX and PyTorch (CPU, float32). Times are the
median wall time of 5 calls after the first (jaxmc and matfree: compiled; the
first call, compile included, is reported separately; PyHessian: one call);
errors are relative to the exact eigenvalues and trace.

* jaxmc: ``eigenvalues(op, 5)`` (thick-restart Lanczos, default tol) and
  ``trace(op, method="hutch++")``.
* PyHessian 0.1: ``hessian.eigenvalues(top_n=5)`` (power iteration with
  deflation, stopped at 1e-3 relative change) and ``hessian.trace()``
  (Hutchinson, stopped at 1e-3 relative change, at most 100 probes).
  Its ``density`` calls ``torch.eig``, removed from PyTorch; it is patched
  here to ``torch.linalg.eigh`` although this benchmark does not use it.
* matfree by hand: ``eig.eigh_partial(decomp.tridiag_sym(m))`` with a jvp of
  the gradient as matvec, ``m`` = the matvecs jaxmc used.

Run: PYTHONPATH=. python benchmarks/spectrum_pyhessian.py [--hidden 32 32]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from _mlp import classification_problem, count_pyhessian_hvps, loss, torch_mlp
from _timing import machine, median_time, print_table

from jaxmc.spectrum import eigenvalues, hessian_operator, trace


def wall(f, *args):
    t0 = time.perf_counter()
    out = jax.block_until_ready(f(*args))
    return out, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[32, 32])
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--classes", type=int, default=4)
    parser.add_argument("--examples", type=int, default=1024)
    parser.add_argument("--trace-matvecs", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    jax.config.update("jax_enable_x64", True)

    import torch

    torch.set_num_threads(args.threads)
    from pyhessian import hessian as PyHessian

    # PyHessian's density calls torch.eig (removed from PyTorch): patch it here.
    torch.eig = lambda T, eigenvectors=True: torch.linalg.eigh(T)

    sizes = [args.features, *args.hidden, args.classes]
    W, B, X, y = classification_problem(sizes, args.examples)

    def params_as(dtype):
        return [
            (jnp.asarray(w, dtype), jnp.asarray(b, dtype))
            for w, b in zip(W, B, strict=True)
        ]

    data64 = (jnp.asarray(X), jnp.asarray(y))
    data32 = (jnp.asarray(X, jnp.float32), jnp.asarray(y))
    op64 = hessian_operator(loss, params_as(jnp.float64), data64)
    n = op64.size
    exact = np.linalg.eigvalsh(np.asarray(op64.to_dense(chunk_size=256)))
    top_exact = exact[::-1][:5]
    tr_exact = float(exact.sum())

    def rel(vals):
        return float(
            np.max(np.abs(np.sort(np.asarray(vals))[::-1] - top_exact)) / top_exact[0]
        )

    rows_e, rows_t = [], []
    key = jax.random.key(0)
    for label, params, data in [
        ("float32", params_as(jnp.float32), data32),
        ("float64", params_as(jnp.float64), data64),
    ]:
        op = hessian_operator(loss, params, data)

        def top5(op=op):
            return eigenvalues(op, 5, key=key)

        res, t_cold = wall(top5)
        t_warm = median_time(top5, repeats=5, warmup=0)
        rows_e.append(
            [
                f"jaxmc eigenvalues ({label})",
                int(res.num_matvecs),
                f"{t_warm:.3f}",
                f"{t_cold:.2f}",
                f"{rel(res.values):.1e}",
            ]
        )
        if label == "float32":
            used = int(res.num_matvecs)

        def tr(op=op):
            return trace(op, method="hutch++", num_matvecs=args.trace_matvecs, key=key)

        est, t_cold = wall(tr)
        t_warm = median_time(tr, repeats=5, warmup=0)
        rows_t.append(
            [
                f"jaxmc hutch++ ({label})",
                est.num_matvecs,
                f"{t_warm:.3f}",
                f"{t_cold:.2f}",
                f"{abs(float(est.estimate) - tr_exact) / abs(tr_exact):.1e}",
                f"{float(est.std_error) / abs(tr_exact):.1e}",
            ]
        )

    # matfree by hand, float32, as many matvecs as jaxmc used.
    from matfree import decomp, eig

    theta32, unravel = jax.flatten_util.ravel_pytree(params_as(jnp.float32))
    grad = jax.grad(lambda t: loss(unravel(t), data32))
    m = min(used, n)
    solver = eig.eigh_partial(decomp.tridiag_sym(m))

    @jax.jit
    def matfree_top5(theta, v0):
        def hvp(v):
            return jax.jvp(grad, (theta,), (v,))[1]

        vals, _ = solver(hvp, v0)
        return jnp.sort(vals)[::-1][:5]

    v0 = jax.random.normal(key, (n,), jnp.float32)
    vals, t_cold = wall(matfree_top5, theta32, v0)
    t_warm = median_time(matfree_top5, theta32, v0, repeats=5, warmup=0)
    rows_e.append(
        [
            "matfree Lanczos by hand (float32)",
            m,
            f"{t_warm:.3f}",
            f"{t_cold:.2f}",
            f"{rel(vals):.1e}",
        ]
    )

    # PyHessian on the same weights and data.
    model = torch_mlp(W, B)
    inputs = torch.tensor(X, dtype=torch.float32)
    targets = torch.tensor(y)
    crit = torch.nn.CrossEntropyLoss()
    torch.manual_seed(0)
    h = PyHessian(model, crit, data=(inputs, targets), cuda=False)
    count = count_pyhessian_hvps()
    t0 = time.perf_counter()
    pvals, _ = h.eigenvalues(top_n=5)
    t_pyh = time.perf_counter() - t0
    iters, count[0] = count[0], 0
    rows_e.append(
        [
            "PyHessian power iteration (float32)",
            iters,
            f"{t_pyh:.3f}",
            "-",
            f"{rel(pvals):.1e}",
        ]
    )
    t0 = time.perf_counter()
    ptr = h.trace()
    t_pyh_tr = time.perf_counter() - t0
    rows_t.append(
        [
            "PyHessian Hutchinson (float32)",
            len(ptr),
            f"{t_pyh_tr:.3f}",
            "-",
            f"{abs(float(np.mean(ptr)) - tr_exact) / abs(tr_exact):.1e}",
            f"{float(np.std(ptr) / np.sqrt(len(ptr))) / abs(tr_exact):.1e}",
        ]
    )

    print(
        f"Top-5 Hessian eigenvalues, tanh MLP {'-'.join(map(str, sizes))} ({n:,} "
        f"parameters), {args.examples} examples; exact spectrum from the dense "
        f"float64 Hessian; PyTorch {torch.__version__} with {args.threads} threads; "
        f"{machine()}"
    )
    print_table(
        ["method", "HVPs", "time (s)", "first call (s)", "max rel. error"], rows_e
    )
    print()
    print_table(
        [
            "trace method",
            "HVPs",
            "time (s)",
            "first call (s)",
            "rel. error",
            "rel. s.e.",
        ],
        rows_t,
    )
    speed = t_pyh / float(rows_e[0][2])
    print(f"\njaxmc float32 top-5 is {speed:.1f}x faster than PyHessian (warm).")


if __name__ == "__main__":
    main()
