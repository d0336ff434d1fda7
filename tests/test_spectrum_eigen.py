"""Tests for eigenvalues (thick-restart Lanczos) and power_iteration."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _spectrum_problems import known_spectrum, reference_values

from jaxmc.spectrum import eigenvalues, matrix_operator, power_iteration

RNG = np.random.default_rng(0)
SPECTRA = {
    "repeated": np.r_[[5.0] * 4, RNG.uniform(-1, 1, 56)],
    "clustered": np.r_[10 + 1e-3 * np.arange(6), RNG.uniform(-1, 1, 54)],
    "negative": np.r_[-20.0, -19.0, -19.0, RNG.uniform(-3, 3, 57)],
    "rank2": np.r_[3.0, -2.0, np.zeros(58)],
    "zero": np.zeros(60),
}


@pytest.mark.parametrize("name", list(SPECTRA))
@pytest.mark.parametrize("which", ["both", "largest_magnitude"])
def test_known_spectra_float64(name, which):
    vals = SPECTRA[name]
    M = known_spectrum(vals)
    k = 5
    res = eigenvalues(matrix_operator(M), k, which=which, key=jax.random.key(1))
    scale = max(np.abs(vals).max(), 1.0)
    ref = reference_values(vals, which, k)
    if which == "largest_magnitude":  # ties in |lambda| may come in either sign
        np.testing.assert_allclose(np.abs(res.values), np.abs(ref), atol=1e-10 * scale)
    else:
        np.testing.assert_allclose(res.values, ref, rtol=1e-10, atol=1e-10 * scale)
    assert not np.isnan(np.asarray(res.values)).any()
    assert bool(res.converged.all())
    # The vectors are eigenvectors with the reported residuals.
    V = res.vectors
    R = V @ M - res.values[:, None] * V
    np.testing.assert_allclose(
        np.linalg.norm(R, axis=1), res.residuals, atol=1e-12 * scale
    )
    np.testing.assert_allclose(np.linalg.norm(V, axis=1), 1.0, rtol=1e-10)
    assert np.all(
        np.asarray(res.residuals) <= np.sqrt(np.finfo(np.float64).eps) * scale
    )


def test_k_above_rank_and_full_size_no_nan(transform):
    vals = np.r_[3.0, 1.0, np.zeros(8)]
    M = known_spectrum(vals)
    f = transform(lambda M, key: eigenvalues(matrix_operator(M), 10, key=key))
    res = f(M, jax.random.key(2))
    np.testing.assert_allclose(res.values, np.sort(vals)[::-1], atol=1e-12)
    assert np.isfinite(np.asarray(res.vectors)).all()
    assert int(res.num_matvecs) == 20  # one full basis and 10 residual checks


def test_restarts_on_a_hard_spectrum():
    which = "smallest"
    # Slowly decaying spectrum: needs several thick restarts with krylov_dim=12.
    vals = np.r_[np.linspace(1.0, 2.0, 300)]
    M = known_spectrum(vals, seed=3)
    res = eigenvalues(
        matrix_operator(M),
        3,
        which=which,
        key=jax.random.key(0),
        krylov_dim=12,
        tol=1e-10,
    )
    np.testing.assert_allclose(res.values, reference_values(vals, which, 3), rtol=1e-10)
    assert bool(res.converged.all()) and int(res.num_matvecs) > 12


def test_float32_and_jit_match_eager():
    vals = SPECTRA["negative"]
    M = known_spectrum(vals, dtype=jnp.float32)
    key = jax.random.key(0)
    eager = eigenvalues(matrix_operator(M), 3, which="smallest", key=key)
    jitted = jax.jit(
        lambda M: eigenvalues(matrix_operator(M), 3, which="smallest", key=key)
    )(M)
    assert eager.values.dtype == jnp.float32
    np.testing.assert_allclose(
        eager.values, reference_values(vals, "smallest", 3), rtol=1e-5
    )
    np.testing.assert_allclose(jitted.values, eager.values, rtol=1e-5)
    # -19 is a double eigenvalue: float32 cannot tell its two copies (1e-6
    # apart after rounding) from two distinct eigenvalues, so those pairs are
    # flagged unresolved (the values are right); the simple -20 converges.
    assert bool(eager.converged[0])
    assert bool(eager.converged.all()) or eager.reason_text == "unresolved"
    assert "EigenResult(values=" in repr(eager)
    again = eigenvalues(matrix_operator(M), 3, which="smallest", key=key)
    np.testing.assert_array_equal(again.values, eager.values)
    np.testing.assert_array_equal(again.vectors, eager.vectors)


def test_power_iteration_baseline():
    vals = np.r_[10.0, -6.0, 1.0, 0.5, np.zeros(6)]
    M = known_spectrum(vals)
    res = power_iteration(
        matrix_operator(M), 2, key=jax.random.key(0), tol=1e-12, max_iters=500
    )
    np.testing.assert_allclose(res.values, [10.0, -6.0], rtol=1e-9)
    assert bool(res.converged.all()) and res.residuals.max() < 1e-4
    # PyHessian's default stopping rule stops early: about 1e-3 relative.
    loose = power_iteration(matrix_operator(M), 1, key=jax.random.key(0))
    assert abs(float(loose.values[0]) - 10.0) < 0.1


def test_bad_inputs():
    op = matrix_operator(jnp.eye(4))
    key = jax.random.key(0)
    with pytest.raises(
        ValueError,
        match=r"eigenvalues: argument `k` must be at most the operator size 4; got 5",
    ):
        eigenvalues(op, 5, key=key)
    with pytest.raises(ValueError, match=r"`which` must be one of"):
        eigenvalues(op, 2, which="top", key=key)
    with pytest.raises(
        TypeError, match=r"eigenvalues: argument `key` must be a PRNG key"
    ):
        eigenvalues(op, 2, key=0)
    with pytest.raises(
        TypeError, match=r"argument `op` must be a jaxmc.spectrum.LinearOperator"
    ):
        eigenvalues(jnp.eye(4), 2, key=key)
    with pytest.raises(ValueError, match=r"`max_matvecs` must be at least"):
        eigenvalues(op, 2, key=key, max_matvecs=3)
    with pytest.raises(
        ValueError, match=r"power_iteration: argument `k` must be at most"
    ):
        power_iteration(op, 9, key=key)
    nan_op = matrix_operator(jnp.full((4, 4), jnp.nan))
    with pytest.raises(
        ValueError, match=r"non-finite values \(NaN or inf\) at entries \[0, 1, 2, 3\]"
    ):
        eigenvalues(nan_op, 1, key=key)
