"""Benchmark: top-5 Hessian eigenvalues along an SGD trajectory, jaxmc vs PyHessian.

The workflow a researcher runs: train the MLP of ``spectrum_pyhessian.py``
(20 features, tanh hidden layers 32-32, 4 classes, 1024 examples, 1,860
parameters) with full-batch SGD and, at each of 20 checkpoints, build a *fresh*
operator at the new weights and ask for the top-5 eigenvalues (float32, both
libraries, same weights and data). Reported:

* the total wall time of the 20 checkpoints in a cold process (jaxmc: a fresh
  Python process, every compilation included; imports excluded), with JAX's
  persistent compilation cache off, and warm (second process, same cache
  directory, switched on by hand with ``jax_compilation_cache_dir``);
* the median time per checkpoint after the first;
* matvecs per checkpoint, with and without warm starts (``init=`` the previous
  checkpoint's result);
* the largest relative error of the top-5 against the dense float64 Hessian.

Then the XLA programs compiled and their compile time for the first call of
each algorithm, in a fresh process, before (``--before`` a checkout of the
previous version, default /work/main) and after; and a streamed operator (4
host-side batches) against the same data in memory with ``batch_size`` 256.

Run: PYTHONPATH=. python benchmarks/spectrum_tracking.py [--before /work/main]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from _mlp import classification_problem, count_pyhessian_hvps, loss, torch_mlp

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
SIZES = [20, 32, 32, 4]
EXAMPLES = 1024
CHECKPOINTS = 20
STEPS_BETWEEN = 25
LR = 0.2


def problem():
    """Initial weights and the data, in NumPy (float64)."""
    W, B, X, y = classification_problem(SIZES, EXAMPLES)
    return [(w, b) for w, b in zip(W, B, strict=True)], X, y


# ------------------------------------------------------------------ workers


def worker_track(path: str, warm: bool, cache: str | None) -> dict:
    """The tracking loop in this (fresh) process; returns its figures."""
    import jax

    if cache:
        jax.config.update("jax_compilation_cache_dir", cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    import jax.numpy as jnp
    from _timing import compile_counter

    from jaxmc.spectrum import eigenvalues, hessian_operator

    rec = compile_counter()
    z = np.load(path)
    data = (jnp.asarray(z["X"], jnp.float32), jnp.asarray(z["y"]))
    ckpts = [
        [
            (
                jnp.asarray(z[f"w{c}_{i}"], jnp.float32),
                jnp.asarray(z[f"b{c}_{i}"], jnp.float32),
            )
            for i in range(len(SIZES) - 1)
        ]
        for c in range(CHECKPOINTS)
    ]
    key = jax.random.key(0)
    times, matvecs, values = [], [], []
    prev = None
    t_all = time.perf_counter()
    for params in ckpts:
        t0 = time.perf_counter()
        op = hessian_operator(loss, params, data)
        res = eigenvalues(op, 5, key=key, init=prev if warm else None)
        values.append(np.asarray(res.values, np.float64).tolist())
        times.append(time.perf_counter() - t0)
        matvecs.append(int(res.num_matvecs))
        prev = res
    total = time.perf_counter() - t_all
    return {
        "total": total,
        "times": times,
        "matvecs": matvecs,
        "values": values,
        "programs": len(rec),
        "compile_s": sum(rec),
    }


def worker_first_call(alg: str) -> dict:
    """Programs compiled and compile time of the first call of ``alg``."""
    import jax
    import jax.numpy as jnp

    import jaxmc.spectrum as S

    params, X, y = problem()
    params = [
        (jnp.asarray(w, jnp.float32), jnp.asarray(b, jnp.float32)) for w, b in params
    ]
    data = (jnp.asarray(X, jnp.float32), jnp.asarray(y))
    key = jax.random.key(0)
    op = S.hessian_operator(loss, params, data)
    jax.block_until_ready(op.dynamic if hasattr(op, "dynamic") else op.size)
    calls = {
        "eigenvalues(k=5)": lambda: S.eigenvalues(op, 5, key=key).values,
        "power_iteration(k=1)": lambda: S.power_iteration(op, 1, key=key).values,
        "trace(hutch++)": lambda: S.trace(op, key=key).estimate,
        "diagonal": lambda: jax.tree_util.tree_leaves(S.diagonal(op, key=key).estimate),
        "spectral_density": lambda: S.spectral_density(op, key=key).density,
        "kpm_density": lambda: S.kpm_density(op, key=key).density,
    }
    from _timing import compile_counter

    rec = compile_counter()
    t0 = time.perf_counter()
    jax.block_until_ready(calls[alg]())
    wall = time.perf_counter() - t0
    return {"programs": len(rec), "compile_s": sum(rec), "wall": wall}


def worker_stream(path: str) -> dict:
    """Top-5 on 4 streamed batches vs the same data in memory, batch_size 256."""
    import jax
    import jax.numpy as jnp

    from jaxmc.spectrum import eigenvalues, hessian_operator

    z = np.load(path)
    data = (jnp.asarray(z["X"], jnp.float32), jnp.asarray(z["y"]))
    params = [
        (jnp.asarray(z[f"w0_{i}"], jnp.float32), jnp.asarray(z[f"b0_{i}"], jnp.float32))
        for i in range(len(SIZES) - 1)
    ]
    bs = 256
    batches = [
        jax.tree_util.tree_map(lambda x, s=s: x[s : s + bs], data)
        for s in range(0, EXAMPLES, bs)
    ]
    key = jax.random.key(0)
    out = {}
    makers = {
        "in memory, batch_size=256": lambda: hessian_operator(
            loss, params, data, batch_size=bs
        ),
        "streamed, 4 batches of 256": lambda: hessian_operator(
            loss, params, lambda: batches, progress=False
        ),
    }
    for make in makers.values():  # warm-up: compile
        jax.block_until_ready(eigenvalues(make(), 5, key=key).values)
    # interleaved, so that both see the same machine load; median of 15
    ts: dict[str, list[float]] = {name: [] for name in makers}
    for _ in range(15):
        for name, make in makers.items():
            t0 = time.perf_counter()
            res = eigenvalues(make(), 5, key=key)
            jax.block_until_ready(res.values)
            ts[name].append(time.perf_counter() - t0)
            out[name] = {"matvecs": int(res.num_matvecs)}
    for name, times in ts.items():
        out[name]["time"] = statistics.median(times)
    return out


def worker_sharpness(path: str) -> dict:
    """In-step sharpness along the trajectory: cost per step and error."""
    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    from jaxmc.spectrum import sharpness_tracker

    jax.config.update("jax_enable_x64", True)
    z = np.load(path)
    data = (jnp.asarray(z["X"]), jnp.asarray(z["y"]))
    params = [
        (jnp.asarray(z[f"w0_{i}"], jnp.float64), jnp.asarray(z[f"b0_{i}"], jnp.float64))
        for i in range(len(SIZES) - 1)
    ]
    tracker = sharpness_tracker(loss, num_matvecs=5)

    @jax.jit
    def plain_step(p):
        g = jax.grad(loss)(p, data)
        return jax.tree_util.tree_map(lambda a, d: a - LR * d, p, g)

    @jax.jit
    def tracked_step(p, state):
        _, g, state = tracker.value_grad_and_update(state, p, data)
        return jax.tree_util.tree_map(lambda a, d: a - LR * d, p, g), state

    state = tracker.init(params, key=jax.random.key(0))
    jax.block_until_ready(plain_step(params))
    jax.block_until_ready(tracked_step(params, state))
    reps = 50
    t0 = time.perf_counter()
    p = params
    for _ in range(reps):
        p = plain_step(p)
    jax.block_until_ready(p)
    t_plain = (time.perf_counter() - t0) / reps
    t0 = time.perf_counter()
    p, s = params, state
    for _ in range(reps):
        p, s = tracked_step(p, s)
    jax.block_until_ready(p)
    t_tracked = (time.perf_counter() - t0) / reps

    # Error along the SGD trajectory (full batch), against the dense Hessian.
    flat0, unravel = ravel_pytree(params)
    dense_top = jax.jit(
        lambda f: jnp.linalg.eigvalsh(jax.hessian(lambda q: loss(unravel(q), data))(f))[
            -1
        ]
    )
    errs, p, s = [], params, state
    for step in range(CHECKPOINTS * STEPS_BETWEEN):
        p_next, s = tracked_step(p, s)
        if step % STEPS_BETWEEN == STEPS_BETWEEN - 1 or step < 3:
            exact = float(dense_top(ravel_pytree(p)[0]))
            errs.append((step, abs(float(s.value) - exact) / abs(exact)))
        p = p_next
    return {
        "plain_ms": t_plain * 1e3,
        "tracked_ms": t_tracked * 1e3,
        "errors": errs,
    }


def cli_runs(root: pathlib.Path) -> list[float]:
    """Wall time of two ``jaxmc spectrum`` runs sharing a fresh cache directory."""
    cache = tempfile.mkdtemp()
    env = dict(os.environ, PYTHONPATH=str(root), JAXMC_CACHE_DIR=cache)
    env.pop("JAXMC_NO_CACHE", None)
    env.pop("XLA_FLAGS", None)
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "jaxmc", "spectrum"],
            env=env,
            capture_output=True,
            text=True,
            cwd=root,
        )
        times.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-3000:])
    return times


# ------------------------------------------------------------------ driver


def run_worker(args: list[str], root: pathlib.Path = ROOT) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), str(HERE)]))
    env.pop("XLA_FLAGS", None)
    proc = subprocess.run(
        [sys.executable, str(HERE / "spectrum_tracking.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=root,
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def trajectory(path: str) -> list:
    """Full-batch SGD in float64; saves 20 checkpoints and the data to ``path``."""
    import jax
    import jax.numpy as jnp

    params, X, y = problem()
    data = (jnp.asarray(X), jnp.asarray(y))
    params = [(jnp.asarray(w), jnp.asarray(b)) for w, b in params]
    grad = jax.jit(jax.grad(loss))
    ckpts, save = [], {"X": X, "y": y}
    for c in range(CHECKPOINTS):
        ckpts.append(params)
        for i, (w, b) in enumerate(params):
            save[f"w{c}_{i}"] = np.asarray(w, np.float32)
            save[f"b{c}_{i}"] = np.asarray(b, np.float32)
        for _ in range(STEPS_BETWEEN):
            g = grad(params, data)
            params = jax.tree_util.tree_map(lambda p, d: p - LR * d, params, g)
    np.savez(path, **save)
    return save


def exact_top5(save: dict, every: int) -> dict[int, np.ndarray]:
    """Top-5 of the dense float64 Hessian at every ``every``-th checkpoint."""
    import jax.numpy as jnp

    from jaxmc.spectrum import hessian_operator

    data = (jnp.asarray(save["X"]), jnp.asarray(save["y"]))
    out = {}
    for c in sorted({*range(0, CHECKPOINTS, every), CHECKPOINTS - 1}):
        params = [
            (
                jnp.asarray(save[f"w{c}_{i}"], jnp.float64),
                jnp.asarray(save[f"b{c}_{i}"], jnp.float64),
            )
            for i in range(len(SIZES) - 1)
        ]
        H = hessian_operator(loss, params, data).to_dense(chunk_size=128)
        out[c] = np.linalg.eigvalsh(np.asarray(H))[::-1][:5]
        print(f"exact top-5 at checkpoint {c}", flush=True)
    return out


def pyhessian_track(save: dict, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    torch.eig = lambda T, eigenvectors=True: torch.linalg.eigh(T)
    from pyhessian import hessian as PyHessian

    count = count_pyhessian_hvps()
    inputs = torch.tensor(save["X"], dtype=torch.float32)
    targets = torch.tensor(save["y"])
    crit = torch.nn.CrossEntropyLoss()
    torch.manual_seed(0)
    times, matvecs, values = [], [], []
    t_all = time.perf_counter()
    for c in range(CHECKPOINTS):
        t0 = time.perf_counter()
        layers = range(len(SIZES) - 1)
        W = [save[f"w{c}_{i}"] for i in layers]
        model = torch_mlp(W, [save[f"b{c}_{i}"] for i in layers])
        count[0] = 0
        h = PyHessian(model, crit, data=(inputs, targets), cuda=False)
        vals, _ = h.eigenvalues(top_n=5)
        times.append(time.perf_counter() - t0)
        matvecs.append(count[0])
        values.append(sorted(vals, reverse=True))
    return {
        "total": time.perf_counter() - t_all,
        "times": times,
        "matvecs": matvecs,
        "values": values,
    }


def rel_err(values: list, exact: dict) -> list[float]:
    return [
        float(np.max(np.abs(np.sort(values[c])[::-1] - e)) / abs(e[0]))
        for c, e in exact.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="/work/main")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker", default=None)
    parser.add_argument("--path", default=None)
    parser.add_argument("--cache", default=None)
    parser.add_argument("--alg", default=None)
    parser.add_argument(
        "--exact-every",
        type=int,
        default=1,
        help="dense float64 reference at every k-th checkpoint (and the last)",
    )
    args = parser.parse_args()

    if args.worker == "track":
        print(json.dumps(worker_track(args.path, False, args.cache)))
        return
    if args.worker == "track-warm":
        print(json.dumps(worker_track(args.path, True, args.cache)))
        return
    if args.worker == "first":
        print(json.dumps(worker_first_call(args.alg)))
        return
    if args.worker == "stream":
        print(json.dumps(worker_stream(args.path)))
        return
    if args.worker == "sharpness":
        print(json.dumps(worker_sharpness(args.path)))
        return

    import jax

    jax.config.update("jax_enable_x64", True)
    from _timing import machine, print_table

    tmp = tempfile.mkdtemp()
    path = os.path.join(tmp, "traj.npz")
    save = trajectory(path)
    exact = exact_top5(save, args.exact_every)
    print(f"Machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    first, last = exact[0][0], exact[CHECKPOINTS - 1][0]
    print(f"top eigenvalue along the trajectory: {first:.3f} -> {last:.3f}")

    runs = {}
    cache = os.path.join(tmp, "cache")
    runs["jaxmc, cold process"] = run_worker(["--worker", "track", "--path", path])
    runs["jaxmc, warm starts, cold process"] = run_worker(
        ["--worker", "track-warm", "--path", path]
    )
    run_worker(["--worker", "track-warm", "--path", path, "--cache", cache])
    runs["jaxmc, persistent cache warm"] = run_worker(
        ["--worker", "track", "--path", path, "--cache", cache]
    )
    runs["jaxmc, warm starts, persistent cache warm"] = run_worker(
        ["--worker", "track-warm", "--path", path, "--cache", cache]
    )
    print("jaxmc workers done", flush=True)
    runs["PyHessian"] = pyhessian_track(save, args.threads)
    pyh_total = runs["PyHessian"]["total"]
    pyh_per = statistics.median(runs["PyHessian"]["times"][1:])
    rows = []
    for name, r in runs.items():
        per = statistics.median(r["times"][1:])
        errs = rel_err(r["values"], exact)
        mv = r["matvecs"]
        rows.append(
            [
                name,
                f"{r['total']:.2f}",
                f"{r['total'] / pyh_total:.2f}x",
                f"{per * 1e3:.0f}",
                f"{per / pyh_per:.2f}x",
                f"{mv[0]} / {statistics.median(mv[1:]):.0f}",
                f"{max(errs):.1e}",
                str(r.get("programs", "-")),
            ]
        )
    print(
        f"\n{CHECKPOINTS} checkpoints, fresh operator each, top-5 eigenvalues (float32)"
    )
    print_table(
        [
            "workflow",
            "total s",
            "vs PyHessian",
            "per ckpt ms (after 1st)",
            "vs PyHessian",
            "matvecs 1st / median",
            "max rel. error",
            "XLA programs",
        ],
        rows,
    )

    rows = []
    for alg in [
        "eigenvalues(k=5)",
        "power_iteration(k=1)",
        "trace(hutch++)",
        "diagonal",
        "spectral_density",
        "kpm_density",
    ]:
        row = [alg]
        for root in (pathlib.Path(args.before), ROOT):
            r = run_worker(["--worker", "first", "--alg", alg], root=root)
            row += [str(r["programs"]), f"{r['compile_s']:.2f}"]
        rows.append(row)
        print(row, flush=True)
    print("\nFirst call on a fresh operator, fresh process (programs, compile s)")
    print_table(
        [
            "call",
            "before: programs",
            "before: compile s",
            "after: programs",
            "after: compile s",
        ],
        rows,
    )

    r = run_worker(["--worker", "stream", "--path", path])
    mem = r["in memory, batch_size=256"]["time"]
    rows = [
        [name, f"{v['time']:.3f}", f"{v['time'] / mem:.2f}x", v["matvecs"]]
        for name, v in r.items()
    ]
    print(
        "\nStreamed vs in-memory batches, top-5, fresh operator, after warm-up, "
        "median of 15 interleaved runs"
    )
    print_table(["data", "time s", "vs in memory", "matvecs"], rows)

    r = run_worker(["--worker", "sharpness", "--path", path])
    print(
        "\nIn-step sharpness (sharpness_tracker, 5 HVPs a step, full-batch SGD, "
        "float64), jitted training step after warm-up"
    )
    print_table(
        ["step", "ms", "vs gradient step"],
        [
            ["gradient step", f"{r['plain_ms']:.2f}", "1.00x"],
            [
                "gradient step + sharpness",
                f"{r['tracked_ms']:.2f}",
                f"{r['tracked_ms'] / r['plain_ms']:.2f}x",
            ],
        ],
    )
    errs = r["errors"]
    print(
        "relative error against the dense top eigenvalue: "
        + ", ".join(f"step {s}: {e:.1e}" for s, e in errs[:3])
        + f"; max over {len(errs)} points {max(e for _, e in errs):.1e}, "
        f"at the last {errs[-1][1]:.1e}"
    )

    first, second = cli_runs(ROOT)
    print(
        f"\n`jaxmc spectrum` (fresh process each, shared fresh cache directory): "
        f"first run {first:.2f} s, second run {second:.2f} s"
    )


if __name__ == "__main__":
    main()
