"""The seed identities' derivatives in every layout, with their shapes.

For each identity, jaxmc.jacobian computes the derivative in the numerator,
denominator, mixed, vec and JAX layouts; the script prints each shape, checks
the values against the textbook closed form, and shows that converting between
layouts is exact. A layout with no standard form for a combination (numerator
layout of a matrix by a matrix, say) prints the ValueError's advice.

Run: python examples/layouts.py  (JAXMC_EXAMPLE_SMALL=1 for a tiny run)
"""

import os

import jax
import jax.numpy as jnp
import numpy as np

import jaxmc
from jaxmc.layout import LAYOUTS, layout_table

jax.config.update("jax_enable_x64", True)
SMALL = os.environ.get("JAXMC_EXAMPLE_SMALL") == "1"
n = 2 if SMALL else 4
np.set_printoptions(precision=3, suppress=True)

rng = np.random.default_rng(0)
A = jnp.asarray(rng.standard_normal((n + 1, n)))
Sq = jnp.asarray(rng.standard_normal((n, n))) + n * jnp.eye(n)
B = jnp.asarray(rng.standard_normal((n + 2, n + 3)))
a = jnp.asarray(rng.standard_normal(n))
x = jnp.asarray(rng.standard_normal(n))
X = jnp.asarray(rng.standard_normal((n, n + 2)))
z = jnp.asarray(0.5)
I = jnp.eye(n)  # noqa: E741
C = jnp.asarray(rng.standard_normal((n + 2, n)))  # tr(CX) needs C (q, p)

# name, f, argument, {layout: textbook value} (layouts not listed are only shown)
identities = [
    ("d(Ax)/dx = A", lambda x: A @ x, x, {"numerator": A, "denominator": A.T}),
    (
        "d(a^T x)/dx = a",
        lambda x: a @ x,
        x,
        {"numerator": a[None, :], "denominator": a[:, None], "mixed": a},
    ),
    (
        "d(x^T S x)/dx = (S + S^T) x",
        lambda x: x @ Sq @ x,
        x,
        {"numerator": ((Sq + Sq.T) @ x)[None, :], "mixed": (Sq + Sq.T) @ x},
    ),
    (
        "d tr(CX)/dX = C^T (C in numerator layout)",
        lambda X: jnp.trace(C @ X),
        X,
        {"mixed": C.T, "denominator": C.T, "numerator": C},
    ),
    ("d(xz)/dz = x", lambda z: x * z, z, {"numerator": x[:, None], "mixed": x}),
    (
        "d(t^2 A)/dt = 2tA (matrix by scalar)",
        lambda t: t**2 * A,
        z,
        {"numerator": 2 * z * A, "denominator": 2 * z * A.T},
    ),
    ("d(x + z)/dx = I", lambda x: x + z, x, {"numerator": I, "denominator": I}),
    (
        "d log det(S)/dS = S^{-T}",
        lambda S: jnp.linalg.slogdet(S)[1],
        Sq,
        {"mixed": jnp.linalg.inv(Sq).T, "numerator": jnp.linalg.inv(Sq)},
    ),
    (
        "d vec(AXB) / d vec(X)^T = B^T kron A (matrix by matrix)",
        lambda X: A @ X @ B,
        X,
        {"vec": jnp.kron(B.T, A)},
    ),
    (
        "d vec(X^T) / d vec(X)^T = K_pq (the commutation matrix)",
        lambda X: X.T,
        X,
        {"vec": jaxmc.commutation_matrix(n, n + 2)},
    ),
]
print("Shapes of derivatives in each layout (x (n,), X (p, q), y (m,), Y (k, l)):")
print(layout_table())
for name, f, arg, expected in identities:
    print(f"\n{name}")
    values = {}
    for layout in LAYOUTS:
        try:
            J = jax.jit(jaxmc.jacobian(f, layout=layout))(arg)
        except ValueError:
            print(f"  {layout:<12} —  (no standard form: ValueError, use vec or jax)")
            continue
        values[layout] = J
        check = ""
        if layout in expected:
            assert np.allclose(J, expected[layout], rtol=1e-10, atol=1e-10), layout
            check = "  = textbook value"
        print(f"  {layout:<12} shape {str(J.shape):<14}{check}")
        if J.size <= 8:
            print("    " + str(np.asarray(J)).replace("\n", "\n    "))
    # Converting the JAX-layout derivative gives every other layout, and every
    # round trip between two layouts is bitwise exact.
    shapes = {"in_shape": arg.shape, "out_shape": jax.eval_shape(f, arg).shape}
    for dst, Jd in values.items():
        got = jaxmc.convert_layout(values["jax"], src="jax", dst=dst, **shapes)
        assert np.allclose(got, Jd, rtol=1e-12, atol=1e-12), dst
        for src in values:
            there = jaxmc.convert_layout(Jd, src=dst, dst=src, **shapes)
            back = jaxmc.convert_layout(there, src=src, dst=dst, **shapes)
            assert np.array_equal(back, Jd), (src, dst)
    print(f"  all {len(values) ** 2} round trips between these layouts: bitwise exact")
