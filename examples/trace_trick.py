"""Gradients by the trace trick: write the differential, read off the gradient.

Two derivations from the seed notes, done the Magnus & Neudecker way:

1. log det X:  d log det X = tr(X^{-1} dX)  =>  gradient X^{-T}; for symmetric X
   the three symmetric-gradient conventions (X^{-1}, vech, 2 X^{-1} - diag X^{-1}).
2. Linear regression:  L(W) = ||W X - Y||_F^2,
   dL = 2 tr((W X - Y)^T dW X) = tr((2 (W X - Y) X^T)^T dW)  =>  2 (W X - Y) X^T,
   and d^2 L = 2 ||dW X||_F^2  =>  Hessian 2 (X X^T kron I).

Each hand-written differential is turned into a gradient (or Hessian) with
jaxmc, compared with autodiff, and checked against finite differences in
float32 and float64. A deliberately wrong gradient is caught.

Run: python examples/trace_trick.py  (JAXMC_EXAMPLE_SMALL=1 for a tiny run)
"""

import os

import jax
import jax.numpy as jnp
import numpy as np

import jaxmc

jax.config.update("jax_enable_x64", True)
SMALL = os.environ.get("JAXMC_EXAMPLE_SMALL") == "1"
n = 4 if SMALL else 12
rng = np.random.default_rng(0)


def max_diff(a, b):
    return float(jnp.max(jnp.abs(a - b)))


def show(label, value):
    print(f"   {label:<44} max|diff| = {value:.1e}")


# ---------------------------------------------------------------- 1. log det X
print("1. f(X) = log det X")
M = rng.standard_normal((n, n))
X = jnp.asarray(M @ M.T / n + np.eye(n) + 0.3 * np.triu(M, 1))  # not symmetric
Xinv = jnp.linalg.inv(X)


def logdet(X):
    return jnp.linalg.slogdet(X)[1]


def d_logdet(dX):  # the differential, derived by hand
    return jnp.trace(Xinv @ dX)


dX = jnp.asarray(rng.standard_normal((n, n)))
jvp = jaxmc.differential(logdet)(X, dX)
show("d log det X = tr(X^-1 dX) vs the jvp:", abs(jvp - d_logdet(dX)))
assert abs(jvp - d_logdet(dX)) < 1e-10

G = jaxmc.gradient_from_differential(d_logdet, X)
show("the trace trick gives X^-T:", max_diff(G, Xinv.T))
show("... and agrees with jax.grad:", max_diff(G, jax.grad(logdet)(X)))
assert max_diff(G, Xinv.T) < 1e-10 and max_diff(G, jax.grad(logdet)(X)) < 1e-10

for dtype in (jnp.float64, jnp.float32):
    report = jaxmc.check_gradient(
        logdet, X.astype(dtype), lambda X: jnp.linalg.inv(X).T
    )
    print(
        f"   finite differences, {jnp.dtype(dtype).name}: passed={report.passed}, "
        f"max rel error {report.max_rel_error:.1e}"
    )
    assert report.passed

# The classic mistake: X^-1 instead of X^-T for a non-symmetric X.
report = jaxmc.check_gradient(logdet, X.astype(jnp.float32), jnp.linalg.inv)
print(f"   the mistake X^-1 (missing transpose):     passed={report.passed}")
assert not report.passed
print("\n" + "\n".join("   " + line for line in str(report).splitlines()) + "\n")

# Symmetric X: the three conventions.
S = jnp.asarray(M @ M.T / n + np.eye(n))
Sinv = jnp.linalg.inv(S)
G = jax.grad(logdet)(S)
sym = jaxmc.symmetric_gradient(G)
cookbook = jaxmc.symmetric_gradient(G, convention="cookbook")
g_vech = jaxmc.symmetric_gradient(G, convention="vech")
g_fd = jaxmc.numerical_gradient(lambda s: logdet(jaxmc.unvech(s)), jaxmc.vech(S))
print("   symmetric X:")
print(
    f"     'sym'      = X^-1 (Frobenius gradient on symmetric matrices): "
    f"{max_diff(sym, Sinv):.1e}"
)
print(
    f"     'cookbook' = 2 X^-1 - diag(X^-1) (tied-pair partials):        "
    f"{max_diff(cookbook, 2 * Sinv - jnp.diag(jnp.diag(Sinv))):.1e}"
)
print(
    f"     'vech'     = d log det(unvech s)/ds vs finite differences:    "
    f"{max_diff(g_vech, g_fd):.1e}"
)
assert max_diff(sym, Sinv) < 1e-10 and max_diff(g_vech, g_fd) < 1e-7

# ---------------------------------------------------------------- 2. regression
print("\n2. L(W) = ||W X - Y||_F^2  (linear regression)")
p, k = (3, 20) if SMALL else (8, 200)
W = jnp.asarray(rng.standard_normal((p, n)))
Xd = jnp.asarray(rng.standard_normal((n, k)))
Y = jnp.asarray(rng.standard_normal((p, k)))


def loss(W):
    return jnp.sum((W @ Xd - Y) ** 2)


def d_loss(dW):  # dL = 2 tr((W X - Y)^T dW X)
    return 2 * jnp.trace((W @ Xd - Y).T @ dW @ Xd)


def d2_loss(dW):  # d^2 L = 2 ||dW X||_F^2
    return 2 * jnp.sum((dW @ Xd) ** 2)


G = jaxmc.gradient_from_differential(d_loss, W)
closed = 2 * (W @ Xd - Y) @ Xd.T
show("the trace trick gives 2 (W X - Y) X^T:", max_diff(G, closed))
assert max_diff(G, closed) < 1e-9 * float(jnp.max(jnp.abs(closed)))
H = jaxmc.hessian_from_second_differential(d2_loss, W)
H_closed = 2 * jnp.kron(Xd @ Xd.T, jnp.eye(p))
H_auto = jax.hessian(lambda v: loss(jaxmc.unvec(v, W.shape)))(jaxmc.vec(W))
show("Hessian = 2 (X X^T kron I) in vec layout:", max_diff(H, H_closed))
show("... and agrees with jax.hessian:", max_diff(H, H_auto))
assert max_diff(H, H_closed) < 1e-9 * float(jnp.max(jnp.abs(H_closed)))


def loss_in(dtype):
    """L and its hand-derived gradient with all data in `dtype`."""
    Xc, Yc = Xd.astype(dtype), Y.astype(dtype)
    return (
        lambda W: jnp.sum((W @ Xc - Yc) ** 2),
        lambda W: 2 * (W @ Xc - Yc) @ Xc.T,
        Xc,
        Yc,
    )


for dtype in (jnp.float64, jnp.float32):
    loss_d, grad_d, _, _ = loss_in(dtype)
    report = jaxmc.check_gradient(loss_d, W.astype(dtype), grad_d)
    print(
        f"   finite differences, {jnp.dtype(dtype).name}: passed={report.passed}, "
        f"max rel error {report.max_rel_error:.1e}"
    )
    assert report.passed
# A sign error and a forgotten factor 2 are caught, in float32.
loss32, _, X32, Y32 = loss_in(jnp.float32)
for label, wrong in [
    ("sign error", lambda W: -2 * (W @ X32 - Y32) @ X32.T),
    ("missing factor 2", lambda W: (W @ X32 - Y32) @ X32.T),
]:
    report = jaxmc.check_gradient(loss32, W.astype(jnp.float32), wrong)
    print(f"   {label:<17}: passed={report.passed}")
    assert not report.passed
print("\nAll hand-derived gradients agree with autodiff and finite differences.")
