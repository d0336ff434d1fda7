"""Run by tests/test_spectrum_fsdp.py in a subprocess with 8 CPU devices.

A 2 (data) x 4 (model) mesh, every parameter leaf split over "model" and the
data over "data" (FSDP-style). Checks that eigenvalues, trace, diagonal and
SLQ density equal the single-device ones to 1e-10 (float64), that each
device holds 1/4 of each returned eigenvector and of the Lanczos basis, and
that the compiled program never gathers the basis. Prints "OK" and a JSON line.
"""

import json
import re

import jax
import jax.numpy as jnp
import numpy as np
from _programs import cold_start, compile_eigen
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxmc.spectrum import (
    _eigen,
    diagonal,
    eigenvalues,
    hessian_operator,
    spectral_density,
    trace,
)

jax.config.update("jax_enable_x64", True)

D_IN, H, D_OUT, N = 12, 16, 4, 32
SPECS = {"W1": P(None, "model"), "b1": P("model"), "W2": P("model"), "b2": P("model")}


def loss(params, batch):
    x, y = batch
    h = jnp.tanh(x @ params["W1"] + params["b1"])
    return 0.5 * jnp.mean(jnp.sum((h @ params["W2"] + params["b2"] - y) ** 2, -1))


def problem():
    k = jax.random.split(jax.random.key(1), 6)
    params = {
        "W1": jax.random.normal(k[0], (D_IN, H)) / np.sqrt(D_IN),
        "b1": 0.1 * jax.random.normal(k[1], (H,)),
        "W2": jax.random.normal(k[2], (H, D_OUT)) / np.sqrt(H),
        "b2": 0.1 * jax.random.normal(k[3], (D_OUT,)),
    }
    data = (jax.random.normal(k[4], (N, D_IN)), jax.random.normal(k[5], (N, D_OUT)))
    return params, data


def analyse(op, key, eig=None):
    return {
        "eig": eig if eig is not None else eigenvalues(op, 5, key=key, krylov_dim=24),
        "trace": trace(op, method="hutch++", num_matvecs=30, key=key).estimate,
        "diag": diagonal(op, num_matvecs=8, key=key).estimate,
        "density": spectral_density(
            op, num_runs=2, lanczos_steps=12, grid=jnp.linspace(-1.0, 3.0, 50), key=key
        ).density,
    }


def main():
    assert jax.device_count() == 8, jax.devices()
    mesh = Mesh(np.array(jax.devices()).reshape(2, 4), ("data", "model"))
    params, data = problem()
    key = jax.random.key(0)
    single_op = hessian_operator(loss, params, data)
    assert single_op.vector_sharding is None
    single = analyse(single_op, key)
    dense = jnp.linalg.eigvalsh(single_op.to_dense())[::-1][:5]

    sp = {
        k: jax.device_put(v, NamedSharding(mesh, SPECS[k])) for k, v in params.items()
    }
    sd = jax.device_put(data, NamedSharding(mesh, P("data")))
    op = hessian_operator(loss, sp, sd)
    layout = op.vector_sharding
    assert layout is not None and layout.axes == ("model",), layout
    # The sharded eigensolver's program, compiled once: its HLO is read below
    # and it is run as is (the values are those eigenvalues() returns).
    n, m = op.size, 24
    compiled = compile_eigen(op, key, k=5, m=m, check_multiplicity=None)
    values, vectors, *_ = compiled(op.dynamic, key, cold_start(op))
    sharded = analyse(op, key, eig=_eigen.EigenResult(values, vectors, *[None] * 5))
    hlo = compiled.as_text()

    np.testing.assert_allclose(single["eig"].values, dense, rtol=1e-10)
    np.testing.assert_allclose(sharded["eig"].values, single["eig"].values, rtol=1e-10)
    np.testing.assert_allclose(sharded["trace"], single["trace"], rtol=1e-10)
    for a, b in zip(
        jax.tree.leaves(sharded["diag"]), jax.tree.leaves(single["diag"]), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        sharded["density"], single["density"], rtol=1e-10, atol=1e-12
    )

    # Each device holds a quarter of every eigenvector leaf and diagonal leaf.
    fractions = []
    for tree in (sharded["eig"].vectors, sharded["diag"]):
        for leaf in jax.tree.leaves(tree):
            for shard in leaf.addressable_shards:
                fractions.append(shard.data.size / leaf.size)
    assert all(f == 0.25 for f in fractions), fractions

    # The compiled eigensolver: the basis (m + 1, n) lives as (m + 1, n / 4)
    # on each device, and no all-gather produces a whole basis or a stack of
    # whole vectors (the matvec gathers single parameter leaves, as FSDP does).
    assert f"f64[{m + 1},{n // 4}]" in hlo, "the basis is not split in 4"
    assert f"f64[{m + 1},{n}]" not in hlo, "some device holds the whole basis"
    gathers = re.findall(r"(\S+) all-gather(?:-start)?\(", hlo)
    gathers += re.findall(r"= (\S+) all-gather", hlo)
    big = [g for g in gathers if re.search(rf"\[\d+,{n}\]", g)]
    assert not big, big
    print("OK")
    print(json.dumps({"n": n, "fractions": sorted(set(fractions)), "gathers": gathers}))


if __name__ == "__main__":
    main()
