"""Hard cases for gradient checks: the table in the tests and in the README.

Each case is a function, a point and its correct gradient, in float32 and in
float64. Every case is checked with four candidates: the correct gradient
(``jax.grad``), one 1% too large in every entry, the negated one and zero.
A *false pass* is a wrong candidate (negated or zero) judged ``passed``; a
*false failure* is the correct one judged ``failed``; ``inconclusive`` counts
the verdicts that say the check could not tell. ``run()`` returns the rows.
"""

import jax
import jax.numpy as jnp
import numpy as np

from jaxmc import check_gradient


def _with_singular_values(s, seed=0):
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((len(s), len(s))))
    V, _ = np.linalg.qr(rng.standard_normal((len(s), len(s))))
    M = U @ np.diag(s) @ V.T
    return M if np.linalg.det(M) > 0 else M * np.array([[-1.0] + [1.0] * (len(s) - 1)])


def _logdet(X):
    return jnp.linalg.slogdet(X)[1]


_C = np.random.default_rng(5).standard_normal((4, 4))


def _inverse(X):
    return jnp.sum(jnp.linalg.inv(X) * _C.astype(X.dtype))


_X0 = np.random.default_rng(1).standard_normal(6)
_WIDE = np.logspace(-6, 6, 6)


def cases():
    """(name, f, x as float64 NumPy) for the hard cases."""
    out = []
    for s in (1e-4, 1e-8, 1e-12):
        X = _with_singular_values([1.0, 0.7, 0.3, s])
        out.append((f"log det, smallest singular value {s:g}", _logdet, X))
        out.append((f"sum(inv(X) * C), smallest singular value {s:g}", _inverse, X))
    for scale in (1e-15, 1e-30, 1e15):
        out.append(
            (f"sum(x^2) at x = {scale:g} x0", lambda x: jnp.sum(x**2), _X0 * scale)
        )
    out.append(
        (
            "sum(c x^2)/2, c = logspace(-6, 6)",
            lambda x: jnp.sum(_WIDE.astype(x.dtype) * x**2) / 2,
            _X0,
        )
    )
    out.append(
        (
            "sum(exp(x)), x in [-20, 20]",
            lambda x: jnp.sum(jnp.exp(x)),
            np.linspace(-20, 20, 6),
        )
    )
    return out


def run(dtypes=("float32", "float64")):
    """Rows (case, dtype, verdicts for right / 1% / negated / zero)."""
    rows = []
    for name, f, x64 in cases():
        for dtype in dtypes:
            x = jnp.asarray(x64, dtype=dtype)
            g = jax.grad(f)(x)
            verdicts = [
                check_gradient(f, x, cand).verdict
                for cand in (g, g * 1.01, -g, jnp.zeros_like(g))
            ]
            rows.append((name, dtype, *verdicts))
    return rows


def counts(rows):
    """(false passes, false failures, inconclusive, 1% errors caught, rows)."""
    false_pass = sum(v == "passed" for r in rows for v in r[4:6])
    false_fail = sum(r[2] == "failed" for r in rows)
    inconclusive = sum(v == "inconclusive" for r in rows for v in r[2:])
    caught = sum(r[3] == "failed" for r in rows)
    return false_pass, false_fail, inconclusive, caught, len(rows)


if __name__ == "__main__":
    jax.config.update("jax_enable_x64", True)  # as in the suite (conftest.py)
    rows = run()
    print("| case | dtype | correct | 1% off | negated | zero |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    fp, ff, inc, caught, n = counts(rows)
    print(
        f"\nfalse passes {fp}, false failures {ff}, inconclusive {inc}, "
        f"1% errors caught {caught} of {n}"
    )
