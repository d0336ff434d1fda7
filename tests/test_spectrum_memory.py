"""memory_limit= of eigenvalues and spectral_density, and the stated bounds."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _programs import compile_core, compile_eigen

from jaxmc._memory import InsufficientMemoryError
from jaxmc.spectrum import (
    LinearOperator,
    _budget,
    _density,
    _eigen,
    eigenvalues,
    spectral_density,
)

N = 3000


def _scale(d, v):
    return d * v


def _op():
    top = jnp.array([1.0, 0.8, 0.6, 0.5, 0.4, 0.3], jnp.float64)
    d = jnp.concatenate([top, jnp.linspace(0.0, 0.2, N - 6, dtype=jnp.float64)])
    return LinearOperator(jax.tree_util.Partial(_scale, d), size=N, dtype=jnp.float64)


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


def test_memory_limit_picks_a_smaller_basis_with_the_same_values():
    op = _op()
    vb = N * 8
    limit = _budget.lanczos_vectors(12, 5) * vb
    static = _eigen.eigen_options("f", N, op.dtype, 5, "largest", None, None, None)
    assert static["m"] > 12
    fitted = _budget.fit_eigen("f", op, static, limit, False, lambda m: {"m": m})
    assert fitted["m"] == 12
    res = eigenvalues(op, 5, key=jax.random.key(0), memory_limit=limit)
    want = jnp.array([1.0, 0.8, 0.6, 0.5, 0.4])
    np.testing.assert_allclose(res.values, want, rtol=1e-10)
    assert bool(jnp.all(res.converged))


def test_memory_errors_say_what_is_needed_and_what_lowers_it():
    op = _op()
    vb = N * 8
    limit = _budget.lanczos_vectors(12, 5) * vb
    with pytest.raises(InsufficientMemoryError, match="Lower krylov_dim to 12"):
        eigenvalues(op, 5, key=jax.random.key(0), krylov_dim=30, memory_limit=limit)
    with pytest.raises(MemoryError, match="Even the smallest basis .* float32"):
        eigenvalues(op, 5, key=jax.random.key(0), memory_limit=10 * vb)
    with pytest.raises(ValueError, match="memory_limit` must be a positive"):
        eigenvalues(op, 5, key=jax.random.key(0), memory_limit=-1)
    with pytest.raises(TypeError, match="memory_limit` must be a number of bytes"):
        spectral_density(op, key=jax.random.key(0), memory_limit="8GB")
    with pytest.raises(MemoryError, match="lanczos_steps"):
        spectral_density(op, key=jax.random.key(0), memory_limit=vb)


def test_density_memory_limit_runs_one_probe_at_a_time_then_fewer_steps():
    op = _op()
    vb = N * 8
    key = jax.random.key(1)
    kw = dict(key=key, num_runs=3, lanczos_steps=20, grid=64)
    ref = spectral_density(op, **kw)
    one = spectral_density(op, **kw, memory_limit=_budget.slq_vectors(20, 1) * vb)
    np.testing.assert_allclose(one.density, ref.density, rtol=1e-10, atol=1e-12)
    with pytest.warns(UserWarning, match="fits 10 Lanczos steps"):
        small = spectral_density(op, **kw, memory_limit=_budget.slq_vectors(10, 1) * vb)
    assert small.nodes.shape == (3, 10)
    # 30 nodes smoothed with the bulk's width on the default grid: the
    # trapezoid rule sees the mass to within a few percent (7% measured).
    mass = float(jnp.trapezoid(small.density, small.grid))
    assert abs(mass - 1.0) < 0.1


def test_stated_bounds_cover_xla_buffers():
    """XLA's temporaries plus outputs stay within the documented vector counts."""
    op = _op()
    key = jax.random.key(0)
    for k in (5, 10):  # the bound's slope in k: X, A X and the picked vectors
        compiled = compile_eigen(op, key, k=k, m=16, check_multiplicity=True)
        ma = compiled.memory_analysis()
        used = (ma.temp_size_in_bytes + ma.output_size_in_bytes) / (8 * N)
        assert used <= _budget.lanczos_vectors(16, k), (k, used)
        assert used >= 0.8 * _budget.lanczos_vectors(16, k), (k, used)  # not loose
    compiled = compile_core(
        _density._slq_core,
        op,
        key,
        None,
        None,
        n=N,
        dtype=op.dtype,
        m=20,
        num_runs=4,
        deflate=0,
        eig=(),
        batch=4,
        grid_points=64,
        confidence=0.95,
    )
    ma = compiled.memory_analysis()
    used = (ma.temp_size_in_bytes + ma.output_size_in_bytes) / (8 * N)
    assert used <= _budget.slq_vectors(20, 4), used
