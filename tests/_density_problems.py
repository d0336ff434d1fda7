"""A small MLP with an exact dense Hessian, shared by the density tests."""

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree


def mlp_problem(dtype=jnp.float64, d=6, h=24, c=3, N=64, seed=0):
    ks = jax.random.split(jax.random.key(seed), 4)
    params = [
        {
            "w": jax.random.normal(ks[0], (d, h), dtype) / d**0.5,
            "b": jnp.zeros(h, dtype),
        },
        {
            "w": jax.random.normal(ks[1], (h, c), dtype) / h**0.5,
            "b": jnp.zeros(c, dtype),
        },
    ]
    X = jax.random.normal(ks[2], (N, d), dtype)
    y = jax.random.randint(ks[3], (N,), 0, c)

    def loss(p, batch):
        X, y = batch
        z = (
            jnp.tanh(X @ p[0]["w"] + p[0]["b"][None, :]) @ p[1]["w"]
            + p[1]["b"][None, :]
        )
        picked = jnp.take_along_axis(z, y[:, None], 1)[:, 0]
        return jnp.mean(jax.nn.logsumexp(z, axis=1) - picked)

    return loss, params, (X, y)


def dense_mlp_hessian(dtype):
    loss, params, data = mlp_problem(dtype)
    flat, unravel = ravel_pytree(params)
    H = jax.hessian(lambda f: loss(unravel(f), data))(flat)
    H = 0.5 * (H + H.T)
    return H, np.linalg.eigvalsh(np.asarray(H, dtype=np.float64))
