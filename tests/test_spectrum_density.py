"""Tests for the spectral densities (SLQ, KPM), deflation and the input Hessian.

References: dense ``jax.hessian`` of a small flattened MLP and ``numpy.linalg.eigh``;
diagonal operators, for which Rademacher probes see the exact spectral measure
(every component of the probe in the eigenbasis is ``+-1/sqrt(n)``), so the
quadrature and the Chebyshev moments are exact, not stochastic.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _density_problems import dense_mlp_hessian, mlp_problem

from jaxmc.spectrum import (
    LinearOperator,
    input_hessian_operator,
    kpm_density,
    matrix_operator,
    spectral_density,
)
from jaxmc.spectrum._density import jackson_damping


@pytest.fixture(scope="module")
def mlp64():
    return dense_mlp_hessian(jnp.float64)


def wasserstein1(grid, density, evals, point_masses=(), point_mass=0.0):
    """W1 between a density on a grid (plus point masses) and a discrete measure."""
    grid = np.asarray(grid, dtype=np.float64)
    density = np.asarray(density, dtype=np.float64)
    cdf = np.concatenate(
        [[0.0], np.cumsum((density[1:] + density[:-1]) / 2 * np.diff(grid))]
    )
    for x in point_masses:
        cdf = cdf + point_mass * (grid >= x)
    exact = np.searchsorted(np.sort(evals), grid, side="right") / len(evals)
    return np.trapezoid(np.abs(cdf - exact), grid)


def mass(res):
    return float(jnp.trapezoid(res.density, res.grid))


# ------------------------------------------------------------------ accuracy on an MLP


def test_slq_mlp_wasserstein_within_two_percent(mlp64):
    H, evals = mlp64
    width = evals[-1] - evals[0]
    res = spectral_density(matrix_operator(H), key=jax.random.key(0))
    assert res.nodes.shape == (10, 80) and res.density.shape == (1000,)
    assert wasserstein1(res.grid, res.density, evals) <= 0.02 * width
    np.testing.assert_allclose(mass(res), 1.0, atol=1e-8)
    # the band brackets the density and has positive width somewhere
    assert np.all(res.lower <= res.density) and np.all(res.density <= res.upper)
    assert float(jnp.max(res.upper - res.lower)) > 0
    # the Ritz nodes lie inside the spectrum (Cauchy interlacing)
    live = np.asarray(res.weights) > 1e-12
    assert np.all(np.asarray(res.nodes)[live] >= evals[0] - 1e-10)
    assert np.all(np.asarray(res.nodes)[live] <= evals[-1] + 1e-10)


def test_deflate_outliers_exact_and_bulk_accurate(mlp64):
    H, evals = mlp64
    n, k = H.shape[0], 3
    res = spectral_density(matrix_operator(H), key=jax.random.key(1), deflate=k)
    top = evals[::-1][:k]
    np.testing.assert_allclose(res.outliers, top, rtol=1e-6)
    np.testing.assert_allclose(float(res.bulk_mass), (n - k) / n, rtol=1e-14)
    # bulk density plus k point masses of 1/n each integrate to 1
    np.testing.assert_allclose(mass(res) + k / n, 1.0, atol=1e-8)
    np.testing.assert_allclose(jnp.sum(res.weights, axis=1), (n - k) / n, rtol=1e-10)
    # the bulk lives on the remaining eigenvalues only
    bulk = evals[: n - k]
    live = np.asarray(res.weights) > 1e-12
    assert np.all(np.asarray(res.nodes)[live] <= bulk[-1] + 1e-8)
    width = bulk[-1] - bulk[0]
    w1 = wasserstein1(res.grid, res.density / res.bulk_mass, bulk)
    assert w1 <= 0.02 * width


def test_kpm_and_slq_agree_on_the_bulk(mlp64):
    H, evals = mlp64
    op = matrix_operator(H)
    width = evals[-1] - evals[0]
    grid = jnp.linspace(evals[0] - 0.1 * width, evals[-1] + 0.1 * width, 2000)
    slq = spectral_density(op, key=jax.random.key(2), grid=grid)
    kpm = kpm_density(op, key=jax.random.key(3), num_moments=120, grid=grid)
    assert wasserstein1(kpm.grid, kpm.density, evals) <= 0.02 * width
    np.testing.assert_allclose(mass(kpm), 1.0, atol=1e-2)
    # their distribution functions are close everywhere on the bulk
    cdf = [
        np.cumsum(np.asarray(r.density)) * float(grid[1] - grid[0]) for r in (slq, kpm)
    ]
    bulk = (grid > evals[0]) & (grid < evals[-6])
    assert np.max(np.abs(cdf[0] - cdf[1])[bulk]) <= 0.05
    dx = float(grid[1] - grid[0])
    diff = np.sum(np.abs(cdf[0] - cdf[1])) * dx
    assert diff <= 0.02 * width


def test_float32_mlp():
    H, evals = dense_mlp_hessian(jnp.float32)
    res = spectral_density(matrix_operator(H), key=jax.random.key(0), deflate=2)
    assert res.density.dtype == jnp.float32 and res.nodes.dtype == jnp.float32
    n = H.shape[0]
    # float32: outliers to 1e-4 relative, mass to 1e-4
    np.testing.assert_allclose(res.outliers, evals[::-1][:2], rtol=1e-4)
    np.testing.assert_allclose(mass(res) + 2 / n, 1.0, atol=1e-4)
    bulk = evals[: n - 2]
    w1 = wasserstein1(res.grid, res.density / res.bulk_mass, bulk)
    assert w1 <= 0.02 * (bulk[-1] - bulk[0])


# --------------------------------------------------------- exact cases: diagonal spectra

SPECTRA = {
    "repeated": np.repeat([-2.0, 0.5, 3.0], [5, 20, 7]),
    "clustered": np.concatenate(
        [1.0 + 1e-3 * np.arange(10), [5.0, 5.001], -np.ones(6)]
    ),
    "zeros_rank_deficient": np.concatenate([np.zeros(30), [1.0, 2.0, 4.0]]),
    "identity": np.ones(12),
}


@pytest.mark.parametrize("name", list(SPECTRA))
def test_quadrature_exact_on_few_distinct_eigenvalues(name, transform):
    lam = SPECTRA[name]
    n = lam.size
    distinct, counts = np.unique(lam, return_counts=True)
    op = matrix_operator(jnp.diag(jnp.asarray(lam)))
    res = transform(lambda key: spectral_density(op, key=key, num_runs=3, sigma=0.05))(
        jax.random.key(0)
    )
    assert np.all(np.isfinite(res.density)) and np.all(np.isfinite(res.nodes))
    for nodes, weights in zip(
        np.asarray(res.nodes), np.asarray(res.weights), strict=True
    ):
        live = weights > 1e-10
        # live nodes are the distinct eigenvalues, and the weights at each
        # eigenvalue sum to its multiplicity / n. After the Krylov space is
        # exhausted Lanczos goes on in its complement, where an eigenvalue of
        # multiplicity > 1 can be found again: rounding decides whether that
        # copy couples to the first (sharing its weight) or not.
        at = np.abs(nodes[live][:, None] - distinct).argmin(axis=1)
        np.testing.assert_allclose(nodes[live], distinct[at], atol=1e-9)
        assert set(at) == set(range(distinct.size))
        np.testing.assert_allclose(
            np.bincount(at, weights[live], distinct.size), counts / n, atol=1e-10
        )
    # the density is the exactly smoothed spectral measure; the band has zero width
    x = np.asarray(res.grid)[:, None]
    ref = np.mean(np.exp(-0.5 * ((x - lam) / 0.05) ** 2), axis=1) / (
        0.05 * np.sqrt(2 * np.pi)
    )
    np.testing.assert_allclose(res.density, ref, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(res.upper, res.lower, atol=1e-8)


def test_quadrature_matches_moments_with_fewer_steps_than_eigenvalues():
    lam = np.cos(np.linspace(0.0, np.pi, 200)) ** 3  # 200 distinct values in [-1, 1]
    m = 25
    op = matrix_operator(jnp.diag(jnp.asarray(lam)))
    res = spectral_density(op, key=jax.random.key(4), num_runs=2, lanczos_steps=m)
    assert res.nodes.shape == (2, m)
    for p in range(2 * m):  # Gauss quadrature is exact to degree 2m - 1
        moments = np.sum(np.asarray(res.weights) * np.asarray(res.nodes) ** p, axis=1)
        np.testing.assert_allclose(moments, np.mean(lam**p), atol=1e-10)


def test_kpm_moments_exact_on_diagonal(transform):
    lam = np.linspace(-3.0, 5.0, 40) ** 2 / 10
    a, b = -1.0, 4.0
    op = matrix_operator(jnp.diag(jnp.asarray(lam)))
    res = transform(
        lambda key: kpm_density(
            op, key=key, num_moments=31, num_probes=2, bounds=(a, b)
        )
    )(jax.random.key(0))
    y = (lam - 1.5) / 2.5
    ref = np.mean(np.cos(np.arange(31)[:, None] * np.arccos(y)[None, :]), axis=1)
    np.testing.assert_allclose(res.moments, ref, atol=1e-10)
    np.testing.assert_allclose(res.bounds, [a, b])
    # the density is the Jackson-damped series of the exact moments
    t = np.asarray(res.grid)
    yt = (t - 1.5) / 2.5
    g = np.asarray(jackson_damping(31, jnp.float64))
    T = np.cos(np.arange(31)[:, None] * np.arccos(yt)[None, :])
    series = (g * ref * np.where(np.arange(31) == 0, 1, 2)) @ T
    np.testing.assert_allclose(
        res.density, series / (np.pi * 2.5 * np.sqrt(1 - yt**2)), rtol=1e-8, atol=1e-10
    )


def test_jackson_damping_known_values():
    g = np.asarray(jackson_damping(10, jnp.float64))
    assert g[0] == pytest.approx(1.0, abs=1e-14)
    assert np.all(np.diff(g) < 0) and g[-1] > 0


def test_default_sigma_from_the_bulk_not_the_outliers():
    # bulk on [0, 1] (200 eigenvalues) and two far outliers, not deflated: the
    # kernel is 1% of the bulk's width (it was 1% of [0, 100], a 100x blur), and
    # the outliers' mass stays on the default grid (the density integrates to 1)
    lam = np.concatenate([np.linspace(0.0, 1.0, 200), [50.0, 100.0]])
    op = matrix_operator(jnp.diag(jnp.asarray(lam)))
    res = spectral_density(op, key=jax.random.key(0), num_runs=2, lanczos_steps=30)
    assert 0.005 < float(res.sigma) < 0.012
    np.testing.assert_allclose(np.trapezoid(res.density, res.grid), 1.0, atol=1e-3)
    grid = np.asarray(res.grid)
    assert float(res.density[np.argmin(np.abs(grid - 100.0))]) > 1e-3
    # half the grid's points resolve the bulk
    assert np.sum((grid > -0.1) & (grid < 1.1)) >= 500


def test_kpm_jackson_kernel_by_default_no_ringing():
    # exact moments (diagonal operator): the Jackson-damped density is
    # non-negative and nearly zero outside the spectrum [-1, 1]; the undamped
    # series rings (negative lobes, spill past the ends)
    op = matrix_operator(jnp.diag(jnp.linspace(-1.0, 1.0, 200)))
    out = {}
    for kernel in ("jackson", "none"):
        res = kpm_density(
            op, key=jax.random.key(0), num_moments=60, num_probes=1, kernel=kernel
        )
        out[kernel] = (np.asarray(res.grid), np.asarray(res.density))
    grid, dens = out["jackson"]
    peak = dens.max()
    assert dens.min() > -1e-12 * peak
    assert np.abs(dens[np.abs(grid) > 1.05]).max() < 0.02 * peak
    assert out["none"][1].min() < -0.05 * peak
    # the default grid keeps a kernel width away from the singular endpoints
    np.testing.assert_allclose(np.trapezoid(dens, grid), 1.0, atol=2e-3)


def test_kpm_default_bounds_contain_spectrum():
    lam = np.linspace(-2.0, 7.0, 60)
    res = kpm_density(
        matrix_operator(jnp.diag(jnp.asarray(lam))), key=jax.random.key(0)
    )
    lo, hi = np.asarray(res.bounds)
    assert lo < -2.0 and hi > 7.0 and hi - lo < 1.5 * 9.0
    np.testing.assert_allclose(mass(res), 1.0, atol=1e-3)


# --------------------------------------------------------------- determinism, jit, misc


def test_deterministic_given_key_and_jit_matches_eager():
    lam = np.concatenate([np.linspace(-1.0, 1.0, 37), [3.0, 4.0, 6.0]])
    Q = np.linalg.qr(np.random.default_rng(0).normal(size=(40, 40)))[0]
    op = matrix_operator(jnp.asarray((Q * lam) @ Q.T))  # probes see random measures

    def f(key):
        return spectral_density(op, key=key, num_runs=3, lanczos_steps=12, deflate=1)

    a, b = f(jax.random.key(5)), f(jax.random.key(5))
    c = f(jax.random.key(6))
    j = jax.jit(f)(jax.random.key(5))
    for x, y, z in zip(a, b, j, strict=True):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_allclose(x, z, rtol=1e-8, atol=1e-12)
    assert not np.allclose(a.density, c.density)
    assert "SpectralDensity(" in repr(a) and "outliers=[6]" in repr(a)
    k1 = kpm_density(op, key=jax.random.key(5), num_moments=8, num_probes=2)
    assert "KPMDensity(" in repr(k1)


def test_host_loop_operator_gives_the_same_result():
    lam = np.linspace(0.0, 1.0, 12) ** 2
    M = jnp.diag(jnp.asarray(lam))
    traced = matrix_operator(M)
    # A matvec in NumPy (it fails on tracers): run on the host, through a
    # callback, as for operators streaming batches from Python.
    host = LinearOperator(
        lambda v: np.asarray(M) @ np.asarray(v), size=12, dtype=M.dtype, traceable=False
    )
    for f in (
        lambda op: spectral_density(
            op, key=jax.random.key(0), num_runs=2, lanczos_steps=6
        ),
        lambda op: kpm_density(op, key=jax.random.key(0), num_moments=9, num_probes=2),
    ):
        for x, y in zip(f(traced), f(host), strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-12)


def test_user_grid_sigma_and_single_run():
    op = matrix_operator(jnp.diag(jnp.arange(10.0)))
    grid = jnp.linspace(-1.0, 10.0, 50)
    res = spectral_density(op, key=jax.random.key(0), grid=grid, sigma=0.3, num_runs=1)
    np.testing.assert_array_equal(res.grid, grid)
    np.testing.assert_allclose(float(res.sigma), 0.3)
    np.testing.assert_array_equal(res.lower, res.upper)
    res = spectral_density(op, key=jax.random.key(0), grid=17)
    assert res.grid.shape == (17,)


# ---------------------------------------------------------------------- bad inputs


def test_bad_inputs():
    op = matrix_operator(jnp.eye(4))
    key = jax.random.key(0)
    fn = "jaxmc.spectrum.spectral_density"
    with pytest.raises(
        TypeError, match=f"{fn}: argument `op` must be a jaxmc.spectrum.LinearOperator"
    ):
        spectral_density(jnp.eye(4), key=key)
    with pytest.raises(ValueError, match=r"`num_runs` must be an int >= 1; got 0"):
        spectral_density(op, key=key, num_runs=0)
    with pytest.raises(TypeError, match=r"`lanczos_steps` must be an int"):
        spectral_density(op, key=key, lanczos_steps=2.5)
    with pytest.raises(
        ValueError, match=r"`deflate` must be smaller than the operator's size 4; got 4"
    ):
        spectral_density(op, key=key, deflate=4)
    with pytest.raises(TypeError, match=r"`key` must be a PRNG key"):
        spectral_density(op, key=0)
    with pytest.raises(ValueError, match=r"`grid` must have rank 1"):
        spectral_density(op, key=key, grid=jnp.ones((3, 3)))
    with pytest.raises(ValueError, match=r"`grid` must be finite"):
        spectral_density(op, key=key, grid=jnp.array([0.0, jnp.nan]))
    with pytest.raises(ValueError, match=r"`sigma` must be a positive finite scalar"):
        spectral_density(op, key=key, sigma=-1.0)
    with pytest.raises(ValueError, match=r"`confidence` must be a float in \(0, 1\)"):
        spectral_density(op, key=key, confidence=1.5)
    with pytest.raises(TypeError, match=r"real floating dtype"):
        spectral_density(LinearOperator(lambda v: v, size=3, dtype=jnp.int32), key=key)
    fn = "jaxmc.spectrum.kpm_density"
    with pytest.raises(
        ValueError, match=f"{fn}: argument `num_moments` must be an int >= 2"
    ):
        kpm_density(op, key=key, num_moments=1)
    with pytest.raises(
        ValueError, match=r"`bounds` must be an interval \(a, b\) with a < b"
    ):
        kpm_density(op, key=key, bounds=(2.0, 1.0))
    with pytest.raises(ValueError, match=r"`bounds` must have shape \(2,\)"):
        kpm_density(op, key=key, bounds=(1.0, 2.0, 3.0))


# ---------------------------------------------------------------- input Hessian


@pytest.mark.parametrize(
    ("dtype", "transform"),
    [(jnp.float32, lambda f: f), (jnp.float64, lambda f: f), (jnp.float64, jax.jit)],
    ids=["float32-eager", "float64-eager", "float64-jit"],
)
def test_input_hessian_one_example_and_batch(dtype, transform):
    loss, params, (X, y) = mlp_problem(dtype)
    rtol, atol = (1e-10, 1e-12) if dtype == jnp.float64 else (1e-4, 1e-5)
    B, d = 3, X.shape[1]

    def loss_x(p, x):
        return loss(p, (x, y[: x.shape[0]]))

    op = input_hessian_operator(loss_x, params, X[:B])
    assert op.size == B * d and op.dtype == dtype
    ref = jax.hessian(lambda f: loss_x(params, f.reshape(B, d)))(X[:B].ravel())
    dense = transform(op.to_dense)()
    np.testing.assert_allclose(dense, ref, rtol=rtol, atol=atol)
    v = jnp.arange(B * d, dtype=dtype) / (B * d)
    np.testing.assert_allclose(
        transform(op.matvec)(v), ref @ v, rtol=10 * rtol, atol=10 * atol
    )
    assert op.matvec(v.reshape(B, d)).shape == (B, d)
    # a batch: block diagonal, each block 1/B times the example's own Hessian
    one = input_hessian_operator(lambda p, x: loss(p, (x, y[1:2])), params, X[1:2])
    assert one.size == d
    np.testing.assert_allclose(
        dense[d : 2 * d, d : 2 * d], one.to_dense() / B, rtol=10 * rtol, atol=atol
    )
    np.testing.assert_allclose(dense[:d, d:], 0.0, atol=atol)


def test_input_hessian_pytree_inputs_and_density():
    def loss(w, x):
        return jnp.sum(w * x["a"] ** 2) + jnp.sum(x["b"] ** 4)

    x = {"a": jnp.array([1.0, 2.0]), "b": jnp.array([1.0, -1.0, 0.5])}
    op = input_hessian_operator(loss, jnp.array([1.0, 3.0]), x)
    np.testing.assert_allclose(
        jnp.diag(op.to_dense()), [2.0, 6.0, 12.0, 12.0, 3.0], rtol=1e-12
    )
    out = op.matvec({"a": jnp.ones(2), "b": jnp.zeros(3)})
    np.testing.assert_allclose(out["a"], [2.0, 6.0])
    res = spectral_density(op, key=jax.random.key(0), lanczos_steps=5)
    np.testing.assert_allclose(mass(res), 1.0, atol=1e-8)


def test_input_hessian_bad_inputs():
    fn = "jaxmc.spectrum.input_hessian_operator"
    with pytest.raises(
        ValueError, match=f"{fn}: argument `loss_fn` must return a scalar"
    ):
        input_hessian_operator(lambda p, x: x * p, 2.0, jnp.ones(3))
    with pytest.raises(TypeError, match=r"must have a floating dtype"):
        input_hessian_operator(lambda p, x: jnp.sum(x), 2.0, jnp.ones(3, jnp.int32))
    with pytest.raises(TypeError, match=r"`loss_fn` must be callable"):
        input_hessian_operator(3, 2.0, jnp.ones(3))
    with pytest.raises(ValueError, match=r"`inputs` must hold at least one array"):
        input_hessian_operator(lambda p, x: 0.0, 2.0, {})


def test_nonfinite_hessian_raises_in_both_densities():
    """An overflowing HVP is a clear error, not a NaN density."""
    from jaxmc.spectrum import hessian_operator, kpm_density, spectral_density

    params = {"w": jnp.array([1e200, 1.0, 1.0])}
    data = jnp.ones((4, 3))
    op = hessian_operator(lambda p, X: jnp.mean(jnp.exp(X @ p["w"])), params, data)
    key = jax.random.key(0)
    with pytest.raises(ValueError, match=r"spectral_density: .*non-finite.*\['w'\]"):
        spectral_density(op, key=key, num_runs=2, lanczos_steps=3)
    with pytest.raises(ValueError, match=r"kpm_density: .*non-finite"):
        kpm_density(op, key=key, num_moments=8, num_probes=2, bounds=(-1.0, 1.0))
