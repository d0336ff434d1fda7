"""Closed-form derivatives of matrix expressions, derived and checked by jaxmc.

Derives gradients, a Jacobian and Hessians of the matrixcalculus.org examples,
prints them as text and LaTeX, checks the generated JAX functions against
jax.grad / jax.hessian, and shows the two cases SymPy gets wrong.

Run: python examples/symbolic_derivatives.py  (JAXMC_EXAMPLE_SMALL=1 for a tiny run)
"""

import os
import time

import jax
import jax.numpy as jnp

from jaxmc.symbolic import derive, differential

jax.config.update("jax_enable_x64", True)
SMALL = os.environ.get("JAXMC_EXAMPLE_SMALL") == "1"
n = 6 if SMALL else 400

print("Closed forms (each verified against JAX autodiff before it is returned):")
for text, wrt, decl in [
    ("x'*A*x + b'*x", "x", {}),
    ("x'*S*x", "x", {"S": "symmetric"}),
    ("norm2(A*x - b)^2", "x", {}),
    ("log(det(X))", "X", {}),
    ("tr(A*X*B)", "X", {}),
    ("sum(exp(W*x))", "x", {}),
    ("tanh(W*x)", "x", {}),
]:
    d = derive(text, wrt=wrt, **decl)
    print(f"  d/d{wrt} {text:<18} = {d.text:<24} [{d.kind}, error {d.error:.0e}]")
print(f"  d inv(X)               = {differential('inv(X)', wrt='X').text}")

print("\nKronecker forms in the vec layout, d vec(f) = J d vec(X):")
for text, opts in [
    ("A*X*B", {}),
    ("X'", {}),
    ("inv(X)", {}),
    ("tr(X'*A*X)", {"hessian": True}),
]:
    d = derive(text, wrt="X", layout="vec", **opts)
    print(f"  {d.kind:<8} of {text:<11} = {d.text}")
kA, kX = jax.random.split(jax.random.key(2))
A = jax.random.normal(kA, (5, 5))
X = jax.random.normal(kX, (5, 3))
H = d.fn(X, A)  # the last one: the Hessian of tr(X'AX), (15, 15)
H_auto = jax.hessian(lambda X: jnp.trace(X.T @ A @ X))(X)
H_auto = H_auto.transpose(1, 0, 3, 2).reshape(15, 15)  # to the vec layout
assert jnp.allclose(H, H_auto, rtol=1e-10, atol=1e-12)
print(f"  kron(eye, A + A') matches jax.hessian: shape {H.shape}")

print("\nThe two derivatives SymPy returns as 0:")
ld = derive("log(det(X))", wrt="X")
tt = derive("tr(A'*A) + tr(B'*B)", wrt="A")
print(f"  d log det X / dX          = {ld.text}    LaTeX: {ld.latex}")
print(f"  d [tr(A'A) + tr(B'B)] / dA = {tt.text}")
X = jax.random.normal(jax.random.key(0), (4, 4))
assert jnp.allclose(ld.fn(X), jnp.linalg.inv(X).T, rtol=1e-10, atol=1e-12)

print("\nHessian of the logistic loss, closed form vs jax.hessian:")
h = derive("sum(log(1 + exp(X*w))) - y'*X*w", wrt="w", hessian=True)
print(f"  H = {h.text}")
kX, kw, ky = jax.random.split(jax.random.key(1), 3)
Xd = jax.random.normal(kX, (2 * n, n)) / jnp.sqrt(n)
w = jax.random.normal(kw, (n,))
y = (jax.random.uniform(ky, (2 * n,)) < 0.5).astype(Xd.dtype)


def loss(w):
    return jnp.sum(jnp.log1p(jnp.exp(Xd @ w))) - y @ (Xd @ w)


auto = jax.jit(jax.hessian(loss))
H_sym, H_auto = h.fn(Xd, w, y), auto(w)
err = float(jnp.max(jnp.abs(H_sym - H_auto)))
print(f"  n = {n}: max |closed form - jax.hessian| = {err:.1e}")
assert err < 1e-10
jax.block_until_ready((h.fn(Xd, w, y), auto(w)))
t0 = time.perf_counter()
jax.block_until_ready(h.fn(Xd, w, y))
t1 = time.perf_counter()
jax.block_until_ready(auto(w))
t2 = time.perf_counter()
print(f"  closed form {1e3 * (t1 - t0):.2f} ms, jax.hessian {1e3 * (t2 - t1):.2f} ms")
