"""Linear regression by matrix calculus: the gradient 2 X^T (X w - y) and the
normal equations X^T X w = X^T y (seed notes 09-10, Worked Example 1).

Checks the hand-derived gradient against jax.grad and finite differences, solves
the normal equations, checks that the gradient vanishes there and that the
solution matches jnp.linalg.lstsq, then runs gradient descent with the
closed-form gradient until it reaches the same point.

Run: python examples/linear_regression.py  (JAXMC_EXAMPLE_SMALL=1 for a tiny run)
"""

import os

import jax
import jax.numpy as jnp
import numpy as np

from jaxmc import identities

jax.config.update("jax_enable_x64", True)
SMALL = os.environ.get("JAXMC_EXAMPLE_SMALL") == "1"
m, n = (20, 3) if SMALL else (500, 20)

kX, kw, ke, k0 = jax.random.split(jax.random.key(7), 4)
X = jax.random.normal(kX, (m, n))
w_true = jax.random.normal(kw, (n,))
y = X @ w_true + 0.1 * jax.random.normal(ke, (m,))


def loss(w):
    """L(w) = ||X w - y||^2 = w^T X^T X w - 2 y^T X w + y^T y."""
    return jnp.sum((X @ w - y) ** 2)


def grad_closed(w):
    """(X^T X + X^T X) w - 2 X^T y = 2 X^T (X w - y)."""
    return 2 * X.T @ (X @ w - y)


w0 = jax.random.normal(k0, (n,))
g = grad_closed(w0)
g_auto = jax.grad(loss)(w0)
h = 1e-6
g_fd = np.array([(loss(w0 + h * e) - loss(w0 - h * e)) / (2 * h) for e in jnp.eye(n)])
print(f"X: {X.shape}, y: {y.shape}")
print(
    f"2 X^T (X w - y) vs jax.grad:           max rel diff = "
    f"{float(jnp.max(jnp.abs(g - g_auto)) / jnp.max(jnp.abs(g_auto))):.1e}"
)
print(
    f"2 X^T (X w - y) vs finite differences: max rel diff = "
    f"{float(np.max(np.abs(g - g_fd)) / np.max(np.abs(g_fd))):.1e}"
)
np.testing.assert_allclose(g, g_auto, rtol=1e-12)
np.testing.assert_allclose(g, g_fd, rtol=1e-6)

# Setting the gradient to zero: the normal equations X^T X w = X^T y.
w_star = jnp.linalg.solve(X.T @ X, X.T @ y)
w_lstsq = jnp.linalg.lstsq(X, y)[0]
print(
    f"normal equations vs lstsq:             max |diff| = "
    f"{float(jnp.max(jnp.abs(w_star - w_lstsq))):.1e}"
)
print(
    f"gradient at the solution:              max |grad| = "
    f"{float(jnp.max(jnp.abs(grad_closed(w_star)))):.1e}"
)
np.testing.assert_allclose(w_star, w_lstsq, rtol=1e-10, atol=1e-12)
np.testing.assert_allclose(grad_closed(w_star), 0.0, atol=1e-9)

# Gradient descent with the closed form and step 1 / (2 ||X||_2^2).
step = 1 / (2 * jnp.linalg.norm(X, 2) ** 2)
w = jax.jit(
    lambda w: jax.lax.fori_loop(0, 4000, lambda _, w: w - step * grad_closed(w), w)
)(w0)
print(
    f"gradient descent, then |w - w*|:        {float(jnp.max(jnp.abs(w - w_star))):.1e}"
)
np.testing.assert_allclose(w, w_star, rtol=1e-6, atol=1e-8)

# The identity and its Hessian 2 X^T X, from the catalog, on random inputs.
table = identities.verify(
    ["least_squares.linear_regression", "least_squares.ridge", "hessian.ridge"],
    key=jax.random.key(1),
    trials=2 if SMALL else 8,
)
print(table)
assert table.all_passed
