"""Tests for the stochastic trace and diagonal estimators."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _spectrum_problems import known_spectrum

from jaxmc.spectrum import diagonal, matrix_operator, trace

N = 120
DECAYING = 1.0 / (1.0 + np.arange(N)) ** 2
MIXED = np.r_[np.linspace(-2.0, 5.0, N // 2), np.zeros(N // 2)]


@pytest.mark.parametrize("method", ["hutchinson", "hutch++"])
@pytest.mark.parametrize("probes", ["rademacher", "gaussian"])
def test_unbiased_over_seeds(method, probes):
    M = known_spectrum(MIXED, seed=1)
    op = matrix_operator(M)
    exact = float(np.sum(MIXED))
    f = jax.jit(
        lambda key: trace(op, method=method, num_matvecs=12, key=key, probes=probes)
    )
    res = jax.lax.map(f, jax.random.split(jax.random.key(0), 200))
    est = np.asarray(res.estimate)
    se_of_mean = est.std(ddof=1) / np.sqrt(est.size)
    assert abs(est.mean() - exact) <= 3 * se_of_mean
    # The reported standard error matches the spread of the estimates.
    assert 0.6 < float(np.mean(res.std_error)) / est.std() < 1.4
    assert int(res.num_matvecs[0]) == 12


def test_hutchpp_and_xtrace_beat_hutchinson_on_decaying_spectrum():
    M = known_spectrum(DECAYING, seed=2)
    op = matrix_operator(M)
    exact = float(np.sum(DECAYING))
    keys = jax.random.split(jax.random.key(1), 30)
    errs = {}
    for method in ["hutchinson", "hutch++", "xtrace"]:
        f = jax.jit(
            lambda key, method=method: (
                trace(op, method=method, num_matvecs=30, key=key).estimate
            )
        )
        est = np.asarray(jax.lax.map(f, keys))
        errs[method] = np.sqrt(np.mean((est - exact) ** 2))
    assert errs["hutch++"] < errs["hutchinson"] / 5
    assert errs["xtrace"] < errs["hutchinson"] / 5


def test_eager_equals_jit_and_exact_when_sketch_covers(transform):
    vals = np.r_[3.0, 2.0, -1.0, np.zeros(5)]
    M = known_spectrum(vals)
    f = transform(
        lambda M, key: trace(
            matrix_operator(M), method="hutch++", num_matvecs=30, key=key
        )
    )
    res = f(M, jax.random.key(0))
    np.testing.assert_allclose(
        res.estimate, 4.0, rtol=1e-10
    )  # rank 3 < 10 sketch vectors
    assert float(res.std_error) < 1e-10
    x = trace(matrix_operator(M), method="xtrace", num_matvecs=8, key=jax.random.key(0))
    np.testing.assert_allclose(x.estimate, 4.0, rtol=1e-10)
    assert "TraceEstimate(estimate=4" in repr(x)


def test_diagonal_unbiased_and_pytree(transform):
    M = known_spectrum(MIXED, seed=1) + jnp.diag(jnp.linspace(1.0, 3.0, N))
    f = transform(lambda M, key: diagonal(matrix_operator(M), num_matvecs=400, key=key))
    res = f(M, jax.random.key(3))
    err = np.abs(np.asarray(res.estimate) - np.diag(np.asarray(M)))
    assert np.all(err <= 5 * np.asarray(res.std_error) + 1e-12)
    assert res.estimate.shape == (N,) and res.num_matvecs == 400
    # A diagonal operator is recovered exactly by Rademacher probes.
    D = jnp.diag(jnp.arange(1.0, 6.0))
    np.testing.assert_allclose(
        diagonal(matrix_operator(D), num_matvecs=2, key=jax.random.key(0)).estimate,
        jnp.arange(1.0, 6.0),
    )


def test_bad_inputs():
    op = matrix_operator(jnp.eye(4))
    key = jax.random.key(0)
    with pytest.raises(
        ValueError,
        match=r"trace: argument `method` must be one of 'hutch\+\+', 'hutchinson', 'xtrace'",
    ):
        trace(op, method="exact", key=key)
    with pytest.raises(
        ValueError, match=r"trace: argument `num_matvecs` must be an int >= 4; got 3"
    ):
        trace(op, num_matvecs=3, key=key)
    with pytest.raises(ValueError, match=r"argument `probes` must be one of"):
        diagonal(op, key=key, probes="uniform")
    with pytest.raises(TypeError, match=r"diagonal: argument `key` must be a PRNG key"):
        diagonal(op, key=1)
    with pytest.raises(
        ValueError, match=r"trace: the operator's matvec returned non-finite"
    ):
        trace(matrix_operator(jnp.full((4, 4), jnp.inf)), num_matvecs=4, key=key)
