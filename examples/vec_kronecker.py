"""The vec / Kronecker toolkit on the identities of Magnus & Neudecker.

Checks vec(AXB) = (B^T kron A) vec(X), the commutation, duplication and
elimination matrices, and times kron_matvec against the materialised product.

Run: python examples/vec_kronecker.py  (JAXMC_EXAMPLE_SMALL=1 for a tiny run)
"""

import os
import time

import jax
import jax.numpy as jnp

import jaxmc

jax.config.update("jax_enable_x64", True)
SMALL = os.environ.get("JAXMC_EXAMPLE_SMALL") == "1"
n = 8 if SMALL else 48

kA, kB, kX = jax.random.split(jax.random.key(0), 3)
A = jax.random.normal(kA, (n, n + 1))
X = jax.random.normal(kX, (n + 1, n + 2))
B = jax.random.normal(kB, (n + 2, n))

lhs = jaxmc.vec(A @ X @ B)
rhs = jnp.kron(B.T, A) @ jaxmc.vec(X)
print(
    f"vec(AXB) = (B^T kron A) vec(X):   max |diff| = {jnp.max(jnp.abs(lhs - rhs)):.2e}"
)
assert jnp.allclose(lhs, rhs, rtol=1e-10, atol=1e-10)

fast = jaxmc.kron_matvec(B.T, A, jaxmc.vec(X))
print(
    f"kron_matvec(B^T, A, vec X):       max |diff| = {jnp.max(jnp.abs(fast - rhs)):.2e}"
)
assert jnp.allclose(fast, rhs, rtol=1e-10, atol=1e-10)

K = jaxmc.commutation_matrix(n, n + 1)
assert jnp.array_equal(K @ jaxmc.vec(A), jaxmc.vec(A.T))
assert jnp.array_equal(jaxmc.commute(jaxmc.vec(A), n, n + 1), jaxmc.vec(A.T))
print(f"K_mn vec(A) = vec(A^T) for A of shape {A.shape}: exact")

S = A[:, :n] + A[:, :n].T
D, L = jaxmc.duplication_matrix(n), jaxmc.elimination_matrix(n)
assert jnp.array_equal(D @ jaxmc.vech(S), jaxmc.vec(S))
assert jnp.array_equal(L @ D, jnp.eye(n * (n + 1) // 2))
print(f"D_n vech(S) = vec(S) and L_n D_n = I for n = {n}: exact")

# The cost of forming the Kronecker product.
m = 16 if SMALL else 64
P, Q = jax.random.normal(kA, (m, m)), jax.random.normal(kB, (m, m))
v = jax.random.normal(kX, (m * m,))
for name, f in [
    ("kron_matvec", jax.jit(jaxmc.kron_matvec)),
    ("jnp.kron(A, B) @ v", jax.jit(lambda a, b, x: jnp.kron(a, b) @ x)),
]:
    jax.block_until_ready(f(P, Q, v))
    t0 = time.perf_counter()
    for _ in range(5):
        jax.block_until_ready(f(P, Q, v))
    print(f"n = {m}: {name:<20} {(time.perf_counter() - t0) / 5 * 1e3:8.3f} ms")
