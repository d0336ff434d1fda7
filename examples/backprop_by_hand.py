"""The seed notes' backpropagation examples, by hand, checked against JAX.

1. Manual backprop through z = W x + b, y = ReLU(z), L = ||y - t||^2 with the
   seed's numbers, compared with jax.grad.
2. The two-layer network y = W2 relu(W1 x): its backward pass checked against
   central finite differences and jax.grad.
3. The worked example W = [[1, 2], [3, 4]], x = [1, 1], y = [5, 11],
   L = 1/2 ||ReLU(W x) - y||^2, giving dL/dW = [[-2, -2], [-4, -4]] and
   dL/dx = [-14, -20].
Each hand-derived rule is also an identity of jaxmc.identities, verified on
random inputs at the end.

Run: python examples/backprop_by_hand.py  (JAXMC_EXAMPLE_SMALL=1 for a tiny run)
"""

import os

import jax
import jax.numpy as jnp
import numpy as np

from jaxmc import identities

jax.config.update("jax_enable_x64", True)
SMALL = os.environ.get("JAXMC_EXAMPLE_SMALL") == "1"


def relu(z):
    return jnp.maximum(z, 0.0)


# ------------------------------------------------ 1. manual backprop (seed CH 48)
W = jnp.array([[1.0, 2.0], [3.0, 4.0]])
x = jnp.array([1.0, 2.0])
b = jnp.array([0.5, 0.5])
t = jnp.array([3.0, 7.0])

z = W @ x + b
y = relu(z)
L = jnp.sum((y - t) ** 2)
dL_dy = 2 * (y - t)  # scalar by vector
dy_dz = jnp.diag((z > 0).astype(z.dtype))  # the ReLU Jacobian is diagonal
dL_dz = dy_dz @ dL_dy  # chain rule
dL_dW = jnp.outer(dL_dz, x)  # outer product: delta x^T
dL_db = dL_dz
dL_dx = W.T @ dL_dz


def loss1(W, x, b):
    return jnp.sum((relu(W @ x + b) - t) ** 2)


gW, gx, gb = jax.grad(loss1, argnums=(0, 1, 2))(W, x, b)
print("1. z = Wx + b, y = ReLU(z), L = ||y - t||^2")
print(
    f"   L = {float(L)}, dL/dW = {dL_dW.tolist()}, dL/db = {dL_db.tolist()}, "
    f"dL/dx = {dL_dx.tolist()}"
)
np.testing.assert_allclose(dL_dW, [[5.0, 10.0], [9.0, 18.0]])
np.testing.assert_allclose(dL_dx, [32.0, 46.0])
for mine, auto in [(dL_dW, gW), (dL_dx, gx), (dL_db, gb)]:
    np.testing.assert_allclose(mine, auto, rtol=1e-14)
print(
    "   matches jax.grad exactly; shapes follow the variables:",
    dL_dW.shape,
    dL_db.shape,
    dL_dx.shape,
)

# ------------------------------------------------ 2. two-layer network (Tutorial 04)
d_in, d_hidden, d_out = (4, 3, 2) if SMALL else (40, 30, 20)
k1, k2, k3 = jax.random.split(jax.random.key(42), 3)
W1 = jax.random.normal(k1, (d_hidden, d_in)) * 0.5
W2 = jax.random.normal(k2, (d_out, d_hidden)) * 0.5
xx = jax.random.normal(k3, (d_in,))
grad_y = jnp.ones(d_out)  # L = sum(y), so dL/dy = 1


def loss2(W1, W2):
    return jnp.sum(W2 @ relu(W1 @ xx))


z1 = W1 @ xx
a1 = relu(z1)
grad_W2 = jnp.outer(grad_y, a1)
grad_a1 = W2.T @ grad_y
grad_z1 = grad_a1 * (z1 > 0)
grad_W1 = jnp.outer(grad_z1, xx)

eps = 1e-6
fd_W1 = np.zeros(W1.shape)
for i in range(W1.shape[0]):
    for j in range(W1.shape[1]):
        E = jnp.zeros_like(W1).at[i, j].set(eps)
        fd_W1[i, j] = (loss2(W1 + E, W2) - loss2(W1 - E, W2)) / (2 * eps)
auto_W1, auto_W2 = jax.grad(loss2, argnums=(0, 1))(W1, W2)
fd_err = float(np.max(np.abs(grad_W1 - fd_W1)))
print(f"2. y = W2 relu(W1 x) with W1 {W1.shape}, W2 {W2.shape}")
print(f"   dL/dW1 vs finite differences: max |diff| = {fd_err:.1e}")
auto_err = max(
    float(jnp.max(jnp.abs(grad_W1 - auto_W1))),
    float(jnp.max(jnp.abs(grad_W2 - auto_W2))),
)
print(f"   dL/dW1, dL/dW2 vs jax.grad: max |diff| = {auto_err:.1e}")
assert fd_err < 1e-6
np.testing.assert_allclose(grad_W1, auto_W1, rtol=1e-12, atol=1e-14)
np.testing.assert_allclose(grad_W2, auto_W2, rtol=1e-12, atol=1e-14)

# ------------------------------------------------ 3. worked example (09-10, Example 3)
W = jnp.array([[1.0, 2.0], [3.0, 4.0]])
x = jnp.array([1.0, 1.0])
y = jnp.array([5.0, 11.0])


def loss3(W, x):
    return 0.5 * jnp.sum((relu(W @ x) - y) ** 2)


z = W @ x  # [3, 7], both positive
dL_da = relu(z) - y  # [-2, -4]
dL_dz = dL_da * (z > 0)
dL_dW = jnp.outer(dL_dz, x)
dL_dx = W.T @ dL_dz
print("3. L = 1/2 ||ReLU(Wx) - y||^2, W = [[1,2],[3,4]], x = [1,1], y = [5,11]")
print(f"   z = {z.tolist()}, dL/dW = {dL_dW.tolist()}, dL/dx = {dL_dx.tolist()}")
assert dL_dW.tolist() == [[-2.0, -2.0], [-4.0, -4.0]]
assert dL_dx.tolist() == [-14.0, -20.0]
gW, gx = jax.grad(loss3, argnums=(0, 1))(W, x)
assert gW.tolist() == [[-2.0, -2.0], [-4.0, -4.0]] and gx.tolist() == [-14.0, -20.0]
print("   jax.grad gives the same numbers")

# ------------------------------------------------ the same rules in the catalog
names = [
    "nn.relu_sq_loss_dW",
    "nn.relu_sq_loss_dx",
    "nn.two_layer_dW1",
    "nn.two_layer_dW2",
    "nn.relu_layer_dW",
    "nn.relu_layer_dx",
]
table = identities.verify(names, key=jax.random.key(0), trials=2 if SMALL else 8)
print("The catalog's versions, on random inputs of random sizes:")
print(table)
assert table.all_passed
