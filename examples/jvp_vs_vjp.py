"""Why a vector-Jacobian product makes reverse mode efficient, in numbers.

For a wide function (many inputs, few outputs), a tall one (few inputs, many
outputs) and a square one, prints jaxmc's cost report: FLOPs, bytes, temporary
memory and time of f, its JVP and VJP, the dense Jacobian by jacfwd (n JVPs) and
by jacrev (m VJPs), and for scalar f the gradient and the Hessian modes. Then
times jacfwd and jacrev over input sizes at a fixed output size and draws the
crossover (jvp_vs_vjp.png), and builds a Hessian under a memory cap.

Run: python examples/jvp_vs_vjp.py  (JAXMC_EXAMPLE_SMALL=1 for a tiny run)
"""

import os

import jax
import jax.numpy as jnp

import jaxmc
from jaxmc._compiled import analyse
from jaxmc._crossover import crossover, plot_crossover

jax.config.update("jax_enable_x64", True)
SMALL = os.environ.get("JAXMC_EXAMPLE_SMALL") == "1"
big, small = (200, 4) if SMALL else (2000, 10)
repeats = 2 if SMALL else 7

k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
W_wide = jax.random.normal(k1, (small, big)) / big**0.5
W_tall = jax.random.normal(k2, (big, small)) / small**0.5
W_sq = jax.random.normal(k3, (small * 8, small * 8)) / (small * 8) ** 0.5


def wide(x):  # R^big -> R^small: reverse mode's case
    return jnp.tanh(W_wide @ x)


def tall(x):  # R^small -> R^big: forward mode's case
    return jnp.tanh(W_tall @ x)


def loss(x):  # R^(8 small) -> R: a scalar, so gradients and Hessians too
    return jnp.sum(jnp.log(jnp.cosh(W_sq @ x))) + 0.5 * x @ x


for name, f, n in [("wide", wide, big), ("tall", tall, small), ("scalar", loss, 80)]:
    n = small * 8 if name == "scalar" else n
    x = jax.random.normal(jax.random.key(1), (n,))
    report = jaxmc.cost_report(f, x, repeats=repeats)
    print(f"\n== {name} function ==")
    print(report)
    print(f"auto mode for the dense Jacobian: {jaxmc.choose_mode(f, x)}")
    fwd, rev = report.row("jacfwd"), report.row("jacrev")
    if fwd.flops and rev.flops:
        print(f"jacfwd / jacrev FLOPs: {fwd.flops / rev.flops:.3g}")

# The crossover: m fixed, n growing; jacfwd costs ~n JVPs, jacrev ~m VJPs.
m = 16 if SMALL else 64
sizes = [4, 16, 64, 256] if SMALL else [4, 16, 64, 256, 1024, 4096]
W_big = jax.random.normal(k1, (m, max(sizes)))


def layer(x):
    return jnp.tanh(W_big[:, : x.shape[0]] @ x)


points = crossover(
    layer,
    lambda s: [jax.random.normal(jax.random.key(s), (s,))],
    sizes,
    repeats=repeats,
)
print(f"\njacfwd vs jacrev for tanh(W x), m = {m} outputs:")
for p in points:
    faster = "forward" if p.t_forward < p.t_reverse else "reverse"
    print(
        f"  n = {p.n_in:>5}: jacfwd {p.t_forward * 1e3:8.3f} ms, jacrev "
        f"{p.t_reverse * 1e3:8.3f} ms; faster: {faster:<7}; auto: {p.auto}"
    )
plot_crossover(points, "jvp_vs_vjp.png", f"tanh(W x), m = {m}")
print("wrote jvp_vs_vjp.png")

# A Hessian under a memory cap: the capped peak against jax.hessian's.
n = 60 if SMALL else 600
A = jax.random.normal(k2, (n, n)) / n**0.5
x = jax.random.normal(k3, (n,))


def g(x, A):
    return jnp.sum(jnp.tanh(A @ x) ** 2)


size = n * n * 8
full = analyse(jax.hessian(g), [x, A]).peak_bytes
h = jaxmc.hessian(g, memory_limit=2 * size + A.size * 8)
capped = analyse(h, [x, A]).peak_bytes
err = float(jnp.max(jnp.abs(h(x, A) - jax.hessian(g)(x, A))))
print(
    f"\nHessian of sum tanh(Ax)^2, n = {n} ({size / 2**20:.2f} MiB): jax.hessian "
    f"peak {full / 2**20:.2f} MiB, jaxmc.hessian(memory_limit=...) peak "
    f"{capped / 2**20:.2f} MiB; max |diff| = {err:.1e}"
)
assert capped <= 2 * size + A.size * 8 and err < 1e-10
