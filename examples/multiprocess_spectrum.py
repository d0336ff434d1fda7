"""Hessian eigenvalues and trace across processes with jax.distributed.

Each process holds its own part of the data set; jax.distributed joins the
processes into one runtime, jax.make_array_from_process_local_data makes one
global array sharded over every process's devices, and jaxmc's operators and
algorithms run on it unchanged: XLA reduces each Hessian-vector product over
the processes. The same code runs on a GPU or TPU cluster (one process per
host or per GPU, see the README's section on many processes).

Two ways to run it:

* ``python multiprocess_spectrum.py`` starts NUM_PROCESSES worker processes
  on this machine (JAX's CPU collectives over gloo, on 127.0.0.1), then checks
  their eigenvalues and trace against one process holding all the data.
* ``python multiprocess_spectrum.py --worker`` is what each process of a job
  runs: under SLURM or on a multi-host TPU, jax.distributed.initialize()
  finds the coordinator, process count and id by itself; elsewhere pass
  ``--coordinator HOST:PORT --num-processes N --process-id I``.

JAXMC_EXAMPLE_SMALL=1 runs a tiny version.
"""

import argparse
import json
import os
import socket
import subprocess
import sys

import numpy as np

SMALL = os.environ.get("JAXMC_EXAMPLE_SMALL") == "1"
N, D, H = (64, 3, 6) if SMALL else (4096, 16, 64)
NUM_PROCESSES = 2
K = 3


def make_problem():
    """The loss, the parameters and the whole data set (as numpy arrays)."""
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, D))
    y = np.sin(X[:, :1]) + 0.1 * rng.normal(size=(N, 1))
    k1, k2 = jax.random.split(jax.random.key(1))
    params = {
        "w1": jax.random.normal(k1, (D, H), jnp.float64) / D**0.5,
        "w2": jax.random.normal(k2, (H, 1), jnp.float64) / H**0.5,
    }

    def loss_fn(p, batch):
        Xb, yb = batch
        return 0.5 * jnp.mean((jnp.tanh(Xb @ p["w1"]) @ p["w2"] - yb) ** 2)

    return loss_fn, params, (X, y)


def analyse(loss_fn, params, data):
    """Top-K eigenvalues and a Hutch++ trace: the same calls on any layout."""
    import jax

    import jaxmc
    from jaxmc.spectrum import hessian_operator, trace

    op = hessian_operator(loss_fn, params, data, progress=False)
    res = jaxmc.eigenvalues(op, k=K, key=jax.random.key(0))
    tr = trace(op, key=jax.random.key(1), num_matvecs=30)
    return {
        "values": np.asarray(res.values).tolist(),
        "trace": float(tr.estimate),
        "size": op.size,
    }


def worker(args):
    """One process of a multi-process run: its share of the data, one result."""
    import jax

    jax.config.update("jax_enable_x64", True)
    if args.coordinator is None:
        jax.distributed.initialize()  # SLURM, multi-host TPU: found by JAX
    else:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(
            coordinator_address=args.coordinator,
            num_processes=args.num_processes,
            process_id=args.process_id,
            initialization_timeout=120,
        )
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    loss_fn, params, (X, y) = make_problem()
    pid, nproc = jax.process_index(), jax.process_count()
    lo, hi = pid * N // nproc, (pid + 1) * N // nproc  # this process's examples
    mesh = Mesh(np.array(jax.devices()), ("data",))
    rows = NamedSharding(mesh, P("data"))
    data = tuple(jax.make_array_from_process_local_data(rows, a[lo:hi]) for a in (X, y))
    params = jax.device_put(params, NamedSharding(mesh, P()))
    out = analyse(loss_fn, params, data)
    out.update(process=pid, processes=nproc, local_examples=hi - lo)
    print("RESULT " + json.dumps(out), flush=True)
    jax.distributed.shutdown()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(num_processes, timeout=300):
    """Starts the workers on 127.0.0.1 and returns their parsed results."""
    coordinator = f"127.0.0.1:{free_port()}"
    env = dict(os.environ, XLA_FLAGS="")  # one CPU device per process
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                os.path.abspath(__file__),
                "--worker",
                "--coordinator",
                coordinator,
                "--num-processes",
                str(num_processes),
                "--process-id",
                str(i),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(num_processes)
    ]
    results = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=timeout)
            if p.returncode != 0:
                raise RuntimeError(f"worker failed ({p.returncode}):\n{err[-3000:]}")
            line = [s for s in out.splitlines() if s.startswith("RESULT ")][-1]
            results.append(json.loads(line[len("RESULT ") :]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--coordinator", default=None)
    parser.add_argument("--num-processes", type=int, default=None)
    parser.add_argument("--process-id", type=int, default=None)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    import time

    import jax

    jax.config.update("jax_enable_x64", True)
    t0 = time.perf_counter()
    results = launch(NUM_PROCESSES)
    t_multi = time.perf_counter() - t0
    t0 = time.perf_counter()
    single = analyse(*make_problem())
    t_single = time.perf_counter() - t0
    print(
        f"MLP {D}-{H}-1 ({single['size']} parameters), {N} examples over "
        f"{NUM_PROCESSES} processes ({[r['local_examples'] for r in results]} each)"
    )
    for r in results:
        print(
            f"  process {r['process']}: top-{K} {r['values']}, trace {r['trace']:.6f}"
        )
    print(f"  one process:  top-{K} {single['values']}, trace {single['trace']:.6f}")
    for r in results:
        np.testing.assert_allclose(r["values"], single["values"], rtol=1e-10)
        np.testing.assert_allclose(r["trace"], single["trace"], rtol=1e-10)
    print(
        f"  the same to 1e-10; wall time {t_multi:.1f} s for {NUM_PROCESSES} "
        f"processes (start-up included), {t_single:.1f} s in this one"
    )


if __name__ == "__main__":
    main()
