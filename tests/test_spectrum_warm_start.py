"""Warm starts of ``eigenvalues`` (``init=``): fewer matvecs, nothing missed.

A warm start begins Lanczos from the previous checkpoint's eigenvectors (plus
a small random part). Those pairs converge within a few steps, so the solve
checks convergence every few steps and stops early; but an eigenvalue that
has moved into the wanted set since (eigenvalues cross during training) is
reached only through the random part. The solve then also waits for the
guard pair (the next Ritz value after the wanted ones) to converge, which
happens once that eigenvalue has been found. These tests hold both sides:
the saving where the spectrum allows it, and the crossing found, in float64
and in float32, at each end.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _spectrum_problems import known_spectrum, reference_values

from jaxmc.spectrum import eigenvalues, matrix_operator
from jaxmc.spectrum._eigen import eigen_options

KEY = jax.random.key(0)
WHICH = ["largest", "smallest", "both", "largest_magnitude"]
# float32 eigenvalues are accurate to about 1e-6 * ||A|| (||A|| = 10 here)
ATOL = {jnp.float64: 1e-11, jnp.float32: 1e-4}


def signed(vals, which):
    """The spectrum, mirrored so that its wanted end is ``which``'s."""
    vals = np.asarray(vals, np.float64)
    if which == "smallest":
        return -vals
    if which == "both":  # the same six (five and the guard) at each end
        top, rest = vals[:6], vals[6:]
        return np.r_[top, -top, rest[::2], -rest[1::2]]
    if which == "largest_magnitude":
        return vals * np.where(np.arange(vals.size) % 2, -1.0, 1.0)
    return vals


def rotated(vals, new_vals, seed, angle):
    """A = Q diag(vals) Q', and B with eigenvectors R Q (R a small rotation)."""
    n = vals.size
    rng = np.random.default_rng(seed)
    Q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    G = rng.standard_normal((n, n))
    R, r = np.linalg.qr(np.eye(n) + angle * (G - G.T) / np.sqrt(n))
    Q2 = (R * np.sign(np.diag(r))) @ Q
    return (Q * vals) @ Q.T, (Q2 * new_vals) @ Q2.T


@pytest.mark.parametrize("dtype", [jnp.float64, jnp.float32])
@pytest.mark.parametrize("which", WHICH)
def test_a_warm_start_takes_fewer_matvecs(which, dtype):
    # the next checkpoint: a nearby operator, its wanted eigenvalues (and the
    # one after them, the guard) separated from the rest
    vals = np.r_[10.0, 9.0, 8.5, 8.2, 8.0, 6.0, np.linspace(0.0, 5.0, 94)]
    vals = signed(vals, which)
    A, B = rotated(vals, vals * 1.001, seed=1, angle=1e-3)
    A, B = jnp.asarray(A, dtype), jnp.asarray(B, dtype)
    solve = lambda M, init=None: eigenvalues(  # noqa: E731
        matrix_operator(M), 5, which=which, key=KEY, init=init
    )
    before = solve(A)
    cold, warm = solve(B), solve(B, before)
    ref = reference_values(vals * 1.001, which, 5)
    for res in (cold, warm):
        np.testing.assert_allclose(res.values, ref, rtol=0, atol=ATOL[dtype])
        assert bool(jnp.all(res.converged)), res
    assert int(warm.num_matvecs) < int(cold.num_matvecs)
    if which != "both":  # one end: it stops before its first basis is full
        m = eigen_options("t", vals.size, dtype, 5, which, None, None, None)["m"]
        search = m if which == "smallest" else 0  # the complement search
        assert int(warm.num_matvecs) < m + 5 + search
    # the same values from each form of init
    for init in (before.vectors, before.vectors[0]):
        again = solve(B, init)
        np.testing.assert_allclose(again.values, ref, rtol=0, atol=ATOL[dtype])


@pytest.mark.parametrize("dtype", [jnp.float64, jnp.float32])
@pytest.mark.parametrize("which", ["largest", "smallest"])
@pytest.mark.parametrize("seed", range(3))
def test_an_eigenvalue_that_crossed_into_the_wanted_set_is_found(seed, which, dtype):
    # Between checkpoints a bulk eigenvalue rises to between the 4th and 5th
    # wanted ones, its eigenvector outside the span of the previous result.
    # The previous vectors' pairs converge at once; before the guard pair,
    # a warm start returned the old fifth eigenvalue as converged (8.0 for
    # 8.0x: 38 of 40 such cases in float32).
    rng = np.random.default_rng(seed)
    n = 120
    bulk = np.sort(rng.uniform(0.0, 7.9, n - 5))[::-1]
    vals = np.r_[10.0, 9.0, 8.5, 8.2, 8.0, bulk]
    new = vals.copy()
    new[5 + seed] = 8.0 + 0.2 * rng.uniform(0.1, 0.9)  # the crossing
    vals, new = signed(vals, which), signed(new, which)
    A, B = rotated(vals, new, seed=seed, angle=1e-2)
    A, B = jnp.asarray(A, dtype), jnp.asarray(B, dtype)
    before = eigenvalues(matrix_operator(A), 5, which=which, key=KEY)
    key = jax.random.key(10 + seed)
    warm = eigenvalues(matrix_operator(B), 5, which=which, key=key, init=before)
    ref = reference_values(new, which, 5)
    assert abs(float(np.min(np.abs(ref[4] - np.asarray(before.values)))) > 0.01)
    np.testing.assert_allclose(warm.values, ref, rtol=0, atol=ATOL[dtype])
    assert bool(jnp.all(warm.converged))


def test_an_exact_invariant_start_is_not_trusted():
    # The new operator shares the previous eigenvectors exactly, and a new
    # eigenvalue (8.1, from the bulk) enters the top five: the start's five
    # pairs are exact eigenpairs of the new operator, yet not the wanted ones.
    vals = np.r_[10.0, 9.0, 8.5, 8.2, 8.0, np.linspace(0.0, 7.9, 95)]
    new = vals.copy()
    new[40] = 8.1
    A = known_spectrum(vals, seed=4, dtype=jnp.float32)
    B = known_spectrum(new, seed=4, dtype=jnp.float32)
    before = eigenvalues(matrix_operator(A), 5, key=KEY)
    warm = eigenvalues(matrix_operator(B), 5, key=KEY, init=before)
    np.testing.assert_allclose(warm.values, [10, 9, 8.5, 8.2, 8.1], atol=1e-4)


def test_a_cold_start_checks_once_per_cycle():
    # Only warm starts check within a cycle: a cold solve's matvecs are one
    # basis, whole restarts and the explicit residual checks.
    vals = np.r_[10.0, 9.0, 8.5, 8.2, 8.0, np.linspace(0.0, 7.9, 95)]
    res = eigenvalues(matrix_operator(known_spectrum(vals, seed=1)), 5, key=KEY)
    o = eigen_options("t", 100, jnp.float64, 5, "largest", None, None, None)
    m, p = o["m"], o["p"]
    restarts, rem = divmod(int(res.num_matvecs) - m - 5, m - p)
    assert rem == 0 and restarts >= 1, (int(res.num_matvecs), m, p)


def test_warm_starts_under_jit_and_vmap():
    vals = np.r_[10.0, 9.0, 8.5, 8.2, 8.0, 6.0, np.linspace(0.0, 5.0, 94)]
    pairs = [rotated(vals, vals * s, seed=s, angle=1e-3) for s in (1, 2)]
    As = jnp.asarray(np.stack([a for a, _ in pairs]))
    Bs = jnp.asarray(np.stack([b for _, b in pairs]))

    def solve(M, init):
        res = eigenvalues(matrix_operator(M), 3, key=KEY, init=init)
        return res.values, res.vectors, res.num_matvecs

    before = [eigenvalues(matrix_operator(A), 3, key=KEY) for A in As]
    X = jnp.stack([b.vectors for b in before])
    values, _, nmv = jax.jit(jax.vmap(solve))(Bs, X)
    for i, s in enumerate((1, 2)):
        np.testing.assert_allclose(values[i], vals[:3] * s, rtol=1e-12)
        eager = solve(Bs[i], before[i])
        np.testing.assert_allclose(eager[0], values[i], rtol=1e-13)
        assert int(eager[2]) == int(nmv[i])
    # the warm start's early stop is per solve under vmap as well
    assert int(jnp.max(nmv)) < 2 * 3 + 24
