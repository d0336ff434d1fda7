"""Top-5 Hessian eigenvalues on data sharded over a 4-device CPU mesh.

Compares, side by side in one run, the workflow a researcher runs (a fresh
operator, its first call compiles; then a second call at the same shapes):

* in memory on one device;
* in memory, sharded over the "data" axis (one batch);
* in memory, sharded, ``batch_size=N/4`` (a ``jax.lax`` loop over batches);
* streamed: a list of 4 batches, each a sharded array (the solve runs from
  the host, one pass over the batches per matvec);
* streamed, the same batches on one device.

Every variant returns the same eigenvalues (checked to 1e-8). "later call"
is the median of ROUNDS calls per variant, each on a fresh operator, the
variants interleaved round by round so that all see the same machine load.
Run from the repository root (it sets the device count itself, before JAX
starts):

    PYTHONPATH=. python benchmarks/spectrum_data_parallel.py [N] [ROUNDS]
"""

import os
import sys
import time

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import Mesh, NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from _timing import compile_counter, machine, print_table  # noqa: E402

from jaxmc.spectrum import eigenvalues, hessian_operator  # noqa: E402

jax.config.update("jax_enable_x64", True)
N = int(sys.argv[1]) if len(sys.argv) > 1 else 4096
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
D, H, C = 32, 64, 10


def init(key):
    """A two-layer tanh MLP."""
    k1, k2 = jax.random.split(key)
    return {
        "w1": jax.random.normal(k1, (D, H)) / D**0.5,
        "b1": jnp.zeros(H),
        "w2": jax.random.normal(k2, (H, C)) / H**0.5,
        "b2": jnp.zeros(C),
    }


def loss_fn(p, batch):
    """Mean softmax cross-entropy."""
    X, y = batch
    logits = jnp.tanh(X @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]
    lse = jax.nn.logsumexp(logits, axis=1)
    return jnp.mean(lse - jnp.take_along_axis(logits, y[:, None], axis=1)[:, 0])


def timed(make_op, key):
    """Seconds of one call on a fresh operator, its values and matvecs."""
    t0 = time.perf_counter()
    res = eigenvalues(make_op(), 5, key=key)
    jax.block_until_ready(res.values)
    return time.perf_counter() - t0, np.asarray(res.values), int(res.num_matvecs)


def main():
    """Runs every variant and prints the table."""
    assert jax.device_count() == 4, jax.devices()
    k = jax.random.split(jax.random.key(0), 3)
    params = init(k[0])
    X = jax.random.normal(k[1], (N, D))
    y = jax.random.randint(k[2], (N,), 0, C)
    mesh = Mesh(np.array(jax.devices()), ("data",))
    spec = NamedSharding(mesh, P("data"))
    data = (X, y)
    sharded = jax.device_put(data, spec)
    params_r = jax.device_put(params, NamedSharding(mesh, P()))
    nb = N // 4
    host = [(X[i : i + nb], y[i : i + nb]) for i in range(0, N, nb)]
    shards = [jax.device_put(b, spec) for b in host]
    variants = {
        "in memory, 1 device": lambda: hessian_operator(loss_fn, params, data),
        "in memory, sharded": lambda: hessian_operator(loss_fn, params_r, sharded),
        f"batch_size={nb}, sharded": lambda: hessian_operator(
            loss_fn, params_r, sharded, batch_size=nb
        ),
        "streamed 4 sharded batches": lambda: hessian_operator(
            loss_fn, params, lambda: shards, progress=False
        ),
        "streamed 4 batches, 1 device": lambda: hessian_operator(
            loss_fn, params, lambda: host, progress=False
        ),
    }
    first, ref = {}, None
    for name, make in variants.items():  # first calls: they compile
        rec = compile_counter()
        t, values, nmv = timed(make, k[0])
        if ref is None:
            ref = values
        np.testing.assert_allclose(values, ref, rtol=1e-8)
        first[name] = (t, len(rec), nmv)
    later = {name: [] for name in variants}
    for _ in range(ROUNDS):
        for name, make in variants.items():
            t, values, nmv = timed(make, k[0])
            np.testing.assert_allclose(values, ref, rtol=1e-8)
            assert nmv == first[name][2], (name, nmv)
            later[name].append(t)
    rows = [
        [name, f"{t:.2f}", programs, f"{float(np.median(later[name])):.2f}", nmv]
        for name, (t, programs, nmv) in first.items()
    ]
    base = float(rows[1][3])
    for row in rows:
        row.append(f"{float(row[3]) / base:.2f}")
    print(f"top-5 eigenvalues, MLP {D}-{H}-{C} ({sum(x.size for x in params.values())}")
    print(f"parameters), N = {N}, float64, 4 CPU devices; {machine()}")
    print_table(
        [
            "variant",
            "first call s",
            "programs",
            f"later call s (median of {ROUNDS})",
            "matvecs",
            "vs sharded",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
