"""Fisher, Monte-Carlo Fisher and empirical Fisher against dense references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _spectrum_problems import mlp_problem

from jaxmc.spectrum import (
    empirical_fisher_operator,
    fisher_operator,
    ggn_operator,
    kfac_operator,
)


@pytest.fixture(scope="module")
def problem():
    params, (X, y), loss, model, xent = mlp_problem(jnp.float64, n=24)
    G = np.asarray(ggn_operator(model, xent, params, (X, y)).to_dense())
    return params, (X, y), loss, model, G


def streamed(X, y):
    return lambda: [(X[:10], y[:10]), (X[10:], y[10:])]


@pytest.mark.parametrize("form", ["memory", "batched", "streamed"])
def test_exact_fisher_equals_ggn_of_cross_entropy(problem, form):
    params, (X, y), _, model, G = problem
    if form == "streamed":
        op = fisher_operator(model, params, streamed(X, y), progress=False)
    else:
        bs = 5 if form == "batched" else None
        op = fisher_operator(model, params, (X, y), batch_size=bs)
    assert op.size == 51 and op.dtype == jnp.float64
    np.testing.assert_allclose(op.to_dense(), G, rtol=1e-10, atol=1e-13)


def test_gaussian_fisher_equals_ggn_of_scaled_squared_error(problem):
    params, (X, y), _, model, _ = problem
    sigma = 0.7

    def sq(z, batch):
        return jnp.mean(jnp.sum(z**2, axis=-1)) / (2 * sigma**2)

    ref = ggn_operator(model, sq, params, (X, y)).to_dense()
    op = fisher_operator(
        model, params, (X, y), likelihood="gaussian", noise_scale=sigma
    )
    np.testing.assert_allclose(op.to_dense(), ref, rtol=1e-10, atol=1e-13)


def test_monte_carlo_fisher_converges_at_the_sqrt_rate(problem):
    params, data, _, model, G = problem

    def rms_error(S):
        errs = [
            np.sum(
                (
                    np.asarray(
                        fisher_operator(
                            model, params, data, mc_samples=S, key=jax.random.key(s)
                        ).to_dense()
                    )
                    - G
                )
                ** 2
            )
            for s in range(3)
        ]
        return np.sqrt(np.mean(errs))

    e4, e256 = rms_error(4), rms_error(256)
    # Error ~ 1/sqrt(S): 64x the samples, about 8x smaller (loose bounds).
    assert 4.0 < e4 / e256 < 16.0
    # The Monte-Carlo Fisher is one fixed matrix given the key, for any batching.
    key = jax.random.key(7)
    a = fisher_operator(model, params, data, mc_samples=3, key=key).to_dense()
    b = fisher_operator(
        model, params, data, mc_samples=3, key=key, batch_size=7
    ).to_dense()
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


def per_example_gradients(loss, params, X, y):
    theta, unravel = jax.flatten_util.ravel_pytree(params)
    g = jax.vmap(
        lambda x, t: jax.grad(lambda th: loss(unravel(th), (x[None], t[None])))(theta)
    )(X, y)
    return np.asarray(g)


def test_empirical_fisher_and_gradient_covariance(problem):
    params, (X, y), loss, *_ = problem
    g = per_example_gradients(loss, params, X, y)
    ef = g.T @ g / 24
    cov = ef - np.outer(g.mean(0), g.mean(0))
    cases = [
        ((X, y), None, False, ef),
        ((X, y), 5, True, cov),  # batched: the mean gradient over all batches
        (streamed(X, y), None, True, cov),
    ]
    for data, bs, centered, ref in cases:
        op = empirical_fisher_operator(
            loss, params, data, centered=centered, batch_size=bs, progress=False
        )
        np.testing.assert_allclose(op.to_dense(), ref, rtol=1e-10, atol=1e-13)


def test_float32_against_float64(problem):
    params, (X, y), loss, model, G = problem
    p32 = jax.tree_util.tree_map(lambda x: x.astype(jnp.float32), params)
    d32 = (X.astype(jnp.float32), y)
    F32 = fisher_operator(model, p32, d32).to_dense()
    assert F32.dtype == jnp.float32
    # float32 products: errors near 1e-6 of the largest entry.
    np.testing.assert_allclose(F32, G, atol=1e-5 * np.abs(G).max())
    g = per_example_gradients(loss, params, X, y)
    E32 = empirical_fisher_operator(loss, p32, d32).to_dense()
    ef = g.T @ g / 24
    np.testing.assert_allclose(E32, ef, atol=1e-5 * np.abs(ef).max())


_COMPILES = [0]


def _listener(event, duration, **kwargs):
    if event == "/jax/core/compile/backend_compile_duration":
        _COMPILES[0] += 1


jax.monitoring.register_event_duration_secs_listener(_listener)


def test_fresh_operators_at_new_parameters_compile_nothing(problem):
    params, data, loss, model, _ = problem
    key = jax.random.key(0)

    v = jnp.linspace(-1.0, 1.0, 51)

    def run(p, k):
        ops = [
            fisher_operator(model, p, data, mc_samples=2, key=k),
            empirical_fisher_operator(loss, p, data, centered=True),
            kfac_operator(model, p, data).damped(0.1),
        ]
        return [op.matvec(v) for op in ops]

    first = run(params, key)  # compiles
    shifted = jax.tree_util.tree_map(lambda x: x + 0.01, params)
    k1 = jax.random.key(1)
    before = _COMPILES[0]
    second = run(shifted, k1)
    assert _COMPILES[0] == before  # no new XLA compilation
    for a, b in zip(first, second, strict=True):  # and new values
        assert float(jnp.max(jnp.abs(a - b))) > 1e-6
