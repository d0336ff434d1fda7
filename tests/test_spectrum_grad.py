"""Gradients of extreme eigenvalues through the operator's parameters.

``d lambda = v' dH v`` (a custom VJP on ``eigenvalues``): compared with
differentiating ``eigh`` of the dense Hessian and with central finite
differences, on a tiny MLP in float64.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxmc.spectrum import eigenvalues, hessian_operator, matrix_operator

K1, K2, K3 = jax.random.split(jax.random.key(1), 3)
PARAMS = {"w1": jax.random.normal(K1, (3, 4)), "w2": jax.random.normal(K2, (4,))}
X = jax.random.normal(K3, (16, 3))
Y = jnp.sin(X[:, 0])
KEY = jax.random.key(0)


def loss(p, batch):
    x, y = batch
    return jnp.mean((jnp.tanh(x @ p["w1"]) @ p["w2"] - y) ** 2)


def dense_eigs(p):
    flat, unravel = ravel_pytree(p)
    H = jax.hessian(lambda f: loss(unravel(f), (X, Y)))(flat)
    return jnp.linalg.eigh(H)[0]


def top(p):
    return eigenvalues(hessian_operator(loss, p, (X, Y)), 1, key=KEY).values[0]


def test_grad_of_top_eigenvalue_matches_dense_eigh_and_finite_differences():
    g = jax.grad(top)(PARAMS)
    ref = jax.grad(lambda p: dense_eigs(p)[-1])(PARAMS)
    for name in PARAMS:
        np.testing.assert_allclose(g[name], ref[name], rtol=1e-9, atol=1e-11)
    # Central differences along a random direction.
    flat, unravel = ravel_pytree(PARAMS)
    d = jax.random.normal(jax.random.key(5), flat.shape)
    h = 1e-5
    fd = (top(unravel(flat + h * d)) - top(unravel(flat - h * d))) / (2 * h)
    np.testing.assert_allclose(jnp.vdot(ravel_pytree(g)[0], d), fd, rtol=1e-7)


def test_grad_through_matrix_operator_under_jit_both_ends():
    # d lambda / dM = v v' for simple eigenvalues; here the largest plus half
    # the smallest, under jax.jit.
    A = jax.random.normal(jax.random.key(2), (6, 6))
    M = (A + A.T) / 2

    def f(M):
        res = eigenvalues(matrix_operator(M), 1, which="both", key=KEY)
        return res.values[0] + 0.5 * res.values[1]

    g = jax.jit(jax.grad(f))(M)
    V = jnp.linalg.eigh(M)[1]
    ref = jnp.outer(V[:, -1], V[:, -1]) + 0.5 * jnp.outer(V[:, 0], V[:, 0])
    np.testing.assert_allclose(g, ref, atol=1e-9)
