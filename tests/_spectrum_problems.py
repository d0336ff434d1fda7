"""Shared small problems for the spectrum tests (not a test module)."""

import jax
import jax.numpy as jnp
import numpy as np


def known_spectrum(vals, seed=0, dtype=jnp.float64):
    """A dense symmetric matrix Q diag(vals) Q^T with a random orthogonal Q."""
    vals = np.asarray(vals, dtype=np.float64)
    n = vals.size
    Q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))
    return jnp.asarray((Q * vals) @ Q.T, dtype=dtype)


def reference_values(vals, which, k):
    """The k wanted eigenvalues of a known spectrum, in ``eigenvalues``' order."""
    ref = np.sort(vals)
    if which == "largest":
        return ref[::-1][:k]
    if which == "smallest":
        return ref[:k]
    if which == "both":
        return np.r_[ref[::-1][:k], ref[:k]]
    return ref[np.argsort(-np.abs(ref), kind="stable")][:k]


def mlp_problem(dtype=jnp.float64, n=64, d=4, h=6, c=3, seed=0):
    """A tanh MLP classifier, its mean cross-entropy loss and data (X, y)."""
    k = jax.random.split(jax.random.key(seed), 5)
    X = jax.random.normal(k[0], (n, d), dtype)
    y = jax.random.randint(k[1], (n,), 0, c)
    params = {
        "layer1": {
            "w": jax.random.normal(k[2], (d, h), dtype) / float(np.sqrt(d)),
            "b": jnp.zeros(h, dtype),
        },
        "layer2": [
            jax.random.normal(k[3], (h, c), dtype) / float(np.sqrt(h)),
            0.1 * jax.random.normal(k[4], (c,), dtype),
        ],
    }

    def model(p, batch):
        z = jnp.tanh(batch[0] @ p["layer1"]["w"] + p["layer1"]["b"][None, :])
        return z @ p["layer2"][0] + p["layer2"][1][None, :]

    def xent(logits, batch):
        lse = jax.nn.logsumexp(logits, axis=-1)
        picked = jnp.take_along_axis(logits, batch[1][:, None], axis=1)[:, 0]
        return jnp.mean(lse - picked)

    def loss(p, batch):
        return xent(model(p, batch), batch)

    return params, (X, y), loss, model, xent


def dense_hessian(loss, params, data):
    """The dense reference Hessian from jax.hessian on the flat parameters."""
    theta, unravel = jax.flatten_util.ravel_pytree(params)
    return jax.hessian(lambda t: loss(unravel(t), data))(theta)
