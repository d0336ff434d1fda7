"""Benchmark: top-5 eigenvalues and an SLQ density at 10^5 .. 10^7 parameters.

Tanh MLPs 32-w-w-10 (float32, 32 examples) with widths for about 10^5, 10^6
and 10^7 parameters. Each size runs in a fresh process (so the process
high-water mark is its own): ``eigenvalues(op, 5, krylov_dim=20,
max_matvecs=80)`` and ``spectral_density(op, num_runs=1, lanczos_steps=20)``,
compiled and run once each (the workflow a researcher runs; the
eigensolver again on a fresh operator, compiled, for the warm time), with the time,
the matvecs, the peak resident memory (``ru_maxrss``), XLA's buffer sizes of
the compiled programs (``memory_analysis``: temporaries + outputs) and the
stated bound (``jaxmc.spectrum._budget``, plus params and data), and the time
per matvec per parameter.

``--mesh`` instead runs a 10^5-parameter model on 8 simulated CPU devices
(2 data x 4 model, every weight split over "model") against one device: the
eigensolver's XLA buffers per device and the time.

Run: PYTHONPATH=. python benchmarks/spectrum_scale.py [--widths 296 980 3140]
     PYTHONPATH=. python benchmarks/spectrum_scale.py --mesh
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

M, STEPS, BUDGET = 20, 20, 80


def _xla_bytes(core, op, key, names, *args, **static):
    from jaxmc.spectrum import _loops

    layout = op.vector_sharding
    lowered = _loops._jitted(core, names).lower(
        op.factory, op.dynamic, key, *args, _layout=layout, _bar=None, **static
    )
    ma = lowered.compile().memory_analysis()
    return ma.temp_size_in_bytes + ma.output_size_in_bytes


def _eig_bytes(op, key):
    from jaxmc.spectrum import _eigen

    static = _eigen.eigen_options("b", op.size, op.dtype, 5, "largest", None, BUDGET, M)
    names = tuple(sorted(["init_form", "check_multiplicity", *static]))
    return _xla_bytes(
        _eigen._eigen_core,
        op,
        key,
        names,
        None,
        init_form="none",
        check_multiplicity=None,
        **static,
    )


def worker(width: int) -> dict:
    import jax
    from spectrum_hvp import mlp

    from jaxmc.spectrum import _budget, eigenvalues, hessian_operator, spectral_density

    loss, params, data = mlp(width, 32)
    op = hessian_operator(loss, params, data)
    key = jax.random.key(0)
    t0 = time.perf_counter()
    res = jax.block_until_ready(
        eigenvalues(op, 5, key=key, krylov_dim=M, max_matvecs=BUDGET)
    )
    t_eig = time.perf_counter() - t0
    t0 = time.perf_counter()  # warm: the compiled program, a fresh operator
    op2 = hessian_operator(loss, params, data)
    res2 = jax.block_until_ready(
        eigenvalues(op2, 5, key=key, krylov_dim=M, max_matvecs=BUDGET)
    )
    t_warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    dens = jax.block_until_ready(
        spectral_density(op, key=key, num_runs=1, lanczos_steps=STEPS, grid=200)
    )
    t_slq = time.perf_counter() - t0
    vb = _budget.vector_bytes(op)
    stats = jax.devices()[0].memory_stats() or {}
    base = sum(x.nbytes for x in jax.tree.leaves((params, data)))
    return {
        "P": op.size,
        "eig_s": t_eig,
        "eig_mv": int(res.num_matvecs),
        "warm_s": t_warm,
        "warm_mv": int(res2.num_matvecs),
        "conv": int(res.converged.sum()),
        "top": float(res.values[0]),
        "slq_s": t_slq,
        "slq_mv": STEPS,
        "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "xla_peak": stats.get("peak_bytes_in_use"),
        "xla_eig": _eig_bytes(op, key),
        "bound_eig": _budget.lanczos_vectors(M, 5) * vb + base,
        "bound_slq": _budget.slq_vectors(STEPS, 1) * vb + base,
        "finite": bool(jax.numpy.isfinite(dens.density).all()),
    }


def mesh_worker() -> dict:
    import jax
    import numpy as np
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P
    from spectrum_hvp import mlp

    from jaxmc.spectrum import eigenvalues, hessian_operator

    loss, params, data = mlp(296, 32)
    mesh = Mesh(np.array(jax.devices()).reshape(2, 4), ("data", "model"))
    sp = [
        {
            "w": jax.device_put(layer["w"], NamedSharding(mesh, P("model"))),
            "b": jax.device_put(layer["b"], NamedSharding(mesh, P())),
        }
        for layer in params
    ]
    sd = jax.device_put(data, NamedSharding(mesh, P("data")))
    out = {}
    key = jax.random.key(0)
    for name, p, d in [("one device", params, data), ("2x4 mesh", sp, sd)]:
        op = hessian_operator(loss, p, d)

        def run(op=op):
            return eigenvalues(op, 5, key=key, krylov_dim=M, max_matvecs=BUDGET)

        t0 = time.perf_counter()
        res = jax.block_until_ready(run())
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        jax.block_until_ready(run())
        warm = time.perf_counter() - t0
        leaf = max(jax.tree.leaves(res.vectors), key=lambda x: x.size)
        out[name] = {
            "P": op.size,
            "xla_eig": _eig_bytes(op, key),
            "first_s": first,
            "warm_s": warm,
            "shard": leaf.addressable_shards[0].data.size / leaf.size,
            "top": float(res.values[0]),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[296, 980, 3140])
    parser.add_argument("--worker", type=int, default=None)
    parser.add_argument("--mesh", action="store_true")
    parser.add_argument("--mesh-worker", action="store_true")
    args = parser.parse_args()
    if args.worker is not None:
        print(json.dumps(worker(args.worker)))
        return
    if args.mesh_worker:
        print(json.dumps(mesh_worker()))
        return
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([here, os.getcwd()]))
    if args.mesh:
        env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
        proc = subprocess.run(
            [sys.executable, __file__, "--mesh-worker"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        out = json.loads(proc.stdout.splitlines()[-1])
        print("Eigensolver on 8 simulated CPU devices (2 data x 4 model) vs one")
        rows = [
            [
                k,
                f"{v['P']:,}",
                f"{v['xla_eig'] / 2**20:.1f}",
                f"{v['shard']:.2f}",
                f"{v['first_s']:.1f}",
                f"{v['warm_s']:.2f}",
            ]
            for k, v in out.items()
        ]
        _table(
            ["", "params", "XLA MiB / device", "eigvec shard", "1st s", "warm s"],
            rows,
        )
        return
    rows = []
    for w in args.widths:
        proc = subprocess.run(
            [sys.executable, __file__, "--worker", str(w)],
            env=env,
            capture_output=True,
            text=True,
        )
        if proc.returncode:
            print(proc.stderr[-3000:], file=sys.stderr)
            continue
        r = json.loads(proc.stdout.splitlines()[-1])
        per = r["eig_s"] / r["eig_mv"] / r["P"] * 1e9
        per_warm = r["warm_s"] / r["warm_mv"] / r["P"] * 1e9
        rows.append(
            [
                f"{r['P']:,}",
                f"{r['eig_s']:.1f} / {r['eig_mv']} ({r['conv']}/5)",
                f"{r['warm_s']:.2f}",
                f"{r['slq_s']:.1f} / {r['slq_mv']}",
                f"{r['rss'] / 2**30:.2f}",
                f"{r['xla_eig'] / 2**30:.2f} / {r['bound_eig'] / 2**30:.2f}",
                f"{per:.1f} / {per_warm:.1f}",
            ]
        )
        print(rows[-1], flush=True)
    _table(
        [
            "params",
            "top-5: s / HVPs (conv.)",
            "top-5 warm s",
            "SLQ: s / HVPs",
            "peak RSS GiB",
            "XLA eig GiB / bound",
            "ns / HVP / param: first / warm",
        ],
        rows,
    )


def _table(headers, rows):
    print("| " + " | ".join(headers) + " |")
    print("|" + "|".join("---" for _ in headers) + "|")
    for r in rows:
        print("| " + " | ".join(str(c) for c in r) + " |")


if __name__ == "__main__":
    main()
