"""Benchmark: curvature matvecs, jaxmc vs curvlinops, relative to a gradient.

Tanh MLPs ``features -> hidden -> hidden -> classes`` of a few widths, one
batch of ``N`` examples, float32 on CPU, the same weights and data in JAX and
PyTorch. For each operator: the median wall time of one matvec ``op @ v``
(jaxmc: ``op.matvec(v)``, compiled, as a user calls it; curvlinops:
``op @ v``), and that time divided by the same library's gradient of the
mean cross-entropy over the batch (jaxmc: ``jax.jit(jax.grad(loss))``; torch:
``loss.backward()``). Pairs:

* Hessian: ``hessian_operator`` / ``HessianLinearOperator``.
* GGN: ``ggn_operator`` / ``GGNLinearOperator``.
* Fisher: ``fisher_operator`` (exact; equals the GGN) / ``GGNLinearOperator``
  (curvlinops has no separate exact Fisher).
* MC Fisher, 1 sample: ``fisher_operator(mc_samples=1)`` /
  ``FisherMCLinearOperator``.
* Empirical Fisher: ``empirical_fisher_operator`` / ``EFLinearOperator``.
* K-FAC (exact "type-2" labels, weight and bias in one block):
  ``kfac_operator`` / ``KFACLinearOperator(fisher_type="type-2",
  separate_weight_and_bias=False)``; construction time reported apart.
* Jacobian: ``jacobian_operator`` / ``JacobianLinearOperator``; its
  transpose ``J^T u``: ``rmatvec`` / ``JacobianLinearOperator.adjoint()``.

curvlinops is installed by hand (``pip install --no-deps
curvlinops-for-pytorch einops einconv backpack-for-pytorch linear_operator``),
never as a dependency.

Run: PYTHONPATH=. python benchmarks/curvature_matvec.py (the README's table:
``--widths 64 128 --threads 1``; on a busy 2-core machine torch with 2 threads
took 100-200x longer per gradient than with 1, so its times are not comparable).
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from _mlp import model, xent
from _timing import machine, median_time, print_table

from jaxmc.spectrum import (
    empirical_fisher_operator,
    fisher_operator,
    ggn_operator,
    hessian_operator,
    jacobian_operator,
    kfac_operator,
)


def torch_median(f, repeats=7, warmup=2):
    for _ in range(warmup):
        f()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--examples", type=int, default=512)
    parser.add_argument("--widths", type=int, nargs="+", default=[64, 256, 512])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import curvlinops as cl
    import torch

    torch.set_num_threads(args.threads)
    print(machine(), f"| torch {torch.__version__}, {args.threads} threads")

    rows = []
    for width in args.widths:
        rows += run_width(width, args, cl, torch)
    print_table(
        [
            "MLP",
            "operator",
            "jaxmc ms",
            "jaxmc / grad",
            "curvlinops ms",
            "curvlinops / grad",
            "curvlinops / jaxmc",
        ],
        rows,
    )


def run_width(width, args, cl, torch):
    """The table rows of one MLP width."""
    rows = []
    sizes = [args.features, width, width, args.classes]
    rng = np.random.default_rng(0)
    W = [
        (rng.standard_normal((a, b)) / np.sqrt(a)).astype(np.float32)
        for a, b in zip(sizes, sizes[1:], strict=False)
    ]
    B = [(0.1 * rng.standard_normal(b)).astype(np.float32) for b in sizes[1:]]
    y = rng.integers(0, args.classes, args.examples)
    X = rng.standard_normal((args.examples, args.features)).astype(np.float32)

    # --- JAX -------------------------------------------------------------
    params = [
        {"w": jnp.asarray(w), "b": jnp.asarray(b)} for w, b in zip(W, B, strict=True)
    ]
    data = (jnp.asarray(X), jnp.asarray(y))

    def loss(p, batch):
        return xent(model(p, batch), batch)

    P = sum(x.size for x in jax.tree_util.tree_leaves(params))
    grad = jax.jit(jax.grad(loss))
    t_grad = median_time(grad, params, data)
    v = jnp.asarray(rng.standard_normal(P).astype(np.float32))
    t0 = time.perf_counter()
    kfac = jax.block_until_ready(kfac_operator(model, params, data).eigenvalues())
    t_kfac_build = time.perf_counter() - t0
    jax_ops = {
        "Hessian": hessian_operator(loss, params, data),
        "GGN": ggn_operator(model, xent, params, data),
        "Fisher": fisher_operator(model, params, data),
        "MC Fisher (1)": fisher_operator(
            model, params, data, mc_samples=1, key=jax.random.key(0)
        ),
        "Empirical Fisher": empirical_fisher_operator(loss, params, data),
        "K-FAC": kfac_operator(model, params, data),
    }
    del kfac
    jac = jacobian_operator(model, params, data)
    t_jax = {name: median_time(op.matvec, v) for name, op in jax_ops.items()}
    t_jax["Jacobian"] = median_time(jac.matvec, v)
    u = jnp.asarray(rng.standard_normal(jac.shape[0]).astype(np.float32))
    t_jax["Jacobian^T"] = median_time(jac.rmatvec, u)

    # --- PyTorch / curvlinops ----------------------------------------------
    layers = []
    for i, (w, b) in enumerate(zip(W, B, strict=True)):
        lin = torch.nn.Linear(w.shape[0], w.shape[1])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w.T.copy()))
            lin.bias.copy_(torch.from_numpy(b))
        layers.append(lin)
        if i < len(W) - 1:
            layers.append(torch.nn.Tanh())
    net = torch.nn.Sequential(*layers)
    tparams = [p for p in net.parameters() if p.requires_grad]
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    tdata = [(Xt, yt)]
    ce = torch.nn.CrossEntropyLoss()

    def tgrad():
        net.zero_grad()
        ce(net(Xt), yt).backward()

    t_tgrad = torch_median(tgrad)
    common = {"progressbar": False, "check_deterministic": False}
    t0 = time.perf_counter()
    tk = cl.KFACLinearOperator(
        net,
        ce,
        tparams,
        tdata,
        fisher_type="type-2",
        separate_weight_and_bias=False,
        **common,
    )
    t_tkfac_build = time.perf_counter() - t0
    tjac = cl.JacobianLinearOperator(net, tparams, tdata, **common)
    torch_ops = {
        "Hessian": cl.HessianLinearOperator(net, ce, tparams, tdata, **common),
        "GGN": cl.GGNLinearOperator(net, ce, tparams, tdata, **common),
        "Fisher": cl.GGNLinearOperator(net, ce, tparams, tdata, **common),
        "MC Fisher (1)": cl.FisherMCLinearOperator(
            net, ce, tparams, tdata, mc_samples=1, **common
        ),
        "Empirical Fisher": cl.EFLinearOperator(net, ce, tparams, tdata, **common),
        "K-FAC": tk,
        "Jacobian": tjac,
    }
    vt = torch.from_numpy(np.array(v))
    t_torch = {
        name: torch_median(lambda op=op, vt=vt: op @ vt)
        for name, op in torch_ops.items()
    }
    tjac_t, ut = tjac.adjoint(), torch.from_numpy(np.array(u))
    t_torch["Jacobian^T"] = torch_median(lambda: tjac_t @ ut)

    for name in t_torch:
        rows.append(
            [
                f"{width}x{width} (P={P})",
                name,
                f"{1e3 * t_jax[name]:.2f}",
                f"{t_jax[name] / t_grad:.1f}",
                f"{1e3 * t_torch[name]:.2f}",
                f"{t_torch[name] / t_tgrad:.1f}",
                f"{t_torch[name] / t_jax[name]:.1f}x",
            ]
        )
    rows.append(
        [
            f"{width}x{width} (P={P})",
            "K-FAC build (+ all eigenvalues for jaxmc)",
            f"{1e3 * t_kfac_build:.0f}",
            "",
            f"{1e3 * t_tkfac_build:.0f}",
            "",
            "",
        ]
    )
    print(
        f"width {width}: gradient jax {1e3 * t_grad:.2f} ms, "
        f"torch {1e3 * t_tgrad:.2f} ms"
    )
    return rows


if __name__ == "__main__":
    main()
