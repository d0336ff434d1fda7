"""Eigensolver honesty: one stopping rule, reasons, warnings, hard spectra.

Every pair flagged converged must be one of the wanted pairs; every result
with an unconverged pair says why (``reason``) and warns eagerly; operators
with a noise floor, a null space, repeated or tiny eigenvalues are handled in
a bounded number of matvecs.
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmc.spectrum import REASONS, LinearOperator, eigenvalues, matrix_operator


def _with_spectrum(vals, seed=0, dtype=jnp.float64):
    vals = np.asarray(vals, np.float64)
    n = vals.size
    Q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(n, n)))
    return jnp.asarray((Q * vals) @ Q.T, dtype)


def _solve(op, k, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = eigenvalues(op, k, key=jax.random.key(0), **kw)
    return res, [str(w.message) for w in caught if w.category is UserWarning]


def _wanted(vals, which, k):
    vals = np.sort(np.asarray(vals, np.float64))
    if which == "smallest":
        return vals[:k]
    if which == "largest":
        return vals[::-1][:k]
    return np.concatenate([vals[::-1][:k], vals[:k]])


def test_noise_floor_is_detected_and_reported():
    vals = np.linspace(0.01, 1.0, 80)
    M = _with_spectrum(vals, 2)
    M32 = M.astype(jnp.float32)
    # float32 inside a float64 operator: accurate to about 1e-7 * ||A||.
    op = LinearOperator(
        lambda v: (M32 @ v.astype(jnp.float32)).astype(jnp.float64),
        size=80,
        dtype=jnp.float64,
    )
    res, caught = _solve(op, 5)
    assert REASONS[int(res.reason)] == "noise floor" == res.reason_text
    assert 1e-9 < float(res.noise_floor) < 1e-6
    assert int(res.num_matvecs) < 300  # stopped at the floor, not the budget
    assert not bool(jnp.any(res.converged))
    assert len(caught) == 1 and "noise floor" in caught[0]
    assert "float64" in caught[0] and "tol=" in caught[0]
    # The values are good to the floor.
    np.testing.assert_allclose(res.values, vals[::-1][:5], atol=1e-5)
    # A tol above the floor converges.
    ok, caught = _solve(op, 5, tol=1e-5)
    assert bool(jnp.all(ok.converged)) and int(ok.reason) == 0 and not caught


def test_strict_raises_instead_of_warning():
    M32 = _with_spectrum(np.linspace(0.01, 1.0, 40), 3).astype(jnp.float32)
    op = LinearOperator(
        lambda v: (M32 @ v.astype(jnp.float32)).astype(jnp.float64),
        size=40,
        dtype=jnp.float64,
    )
    with pytest.raises(RuntimeError, match="did not converge"):
        eigenvalues(op, 3, key=jax.random.key(0), strict=True)


def test_repeated_zero_eigenvalue_is_found_three_times():
    # 60-fold zero among 100: the three smallest are all 0 (0.1 is the 61st).
    vals = np.concatenate([np.zeros(60), np.linspace(0.1, 1.0, 40)])
    res, _ = _solve(matrix_operator(_with_spectrum(vals, 1)), 3, which="smallest")
    np.testing.assert_allclose(res.values, 0.0, atol=1e-9)
    assert int(res.num_matvecs) < 600


def test_null_space_end_is_bounded_and_honest():
    # A PSD operator with a 50-dim null space, "both": bounded matvecs, and
    # every pair flagged converged is a wanted one.
    vals = np.concatenate([np.zeros(50), np.logspace(-3, 0, 30)])
    res, caught = _solve(matrix_operator(_with_spectrum(vals, 4)), 4, which="both")
    want = _wanted(vals, "both", 4)
    conv = np.asarray(res.converged)
    np.testing.assert_allclose(np.asarray(res.values)[conv], want[conv], atol=1e-8)
    assert int(res.num_matvecs) <= 30 * 33 + 200
    if not conv.all():
        assert caught and REASONS[int(res.reason)] in caught[0]


@pytest.mark.parametrize("dtype", [jnp.float64, jnp.float32])
@pytest.mark.parametrize("low", [-4, -8])
def test_converged_pairs_are_the_wanted_ones(dtype, low):
    vals = np.logspace(0, low, 60)
    res, caught = _solve(
        matrix_operator(_with_spectrum(vals, 5, dtype)), 3, which="smallest"
    )
    want = _wanted(vals, "smallest", 3)
    gaps = np.diff(np.sort(vals))[:3]
    conv = np.asarray(res.converged)
    got = np.asarray(res.values, np.float64)
    # A pair flagged converged is the wanted one: closer to it than half the
    # gap to the next eigenvalue.
    assert np.all(np.abs(got - want)[conv] <= gaps[conv] / 2), (got, want, conv)
    if not conv.all():
        assert len(caught) == 1
        if dtype == jnp.float32:
            assert "float64" in caught[0]


@pytest.mark.parametrize("scale", [1e-19, 1e-30, 1e-35])
def test_tiny_scale_float32_does_not_fake_convergence(scale):
    vals = np.linspace(-1.0, 1.0, 40)
    M = (_with_spectrum(vals, 6) * scale).astype(jnp.float32)
    res, caught = _solve(matrix_operator(M), 3)
    conv = np.asarray(res.converged)
    rel = np.abs(np.asarray(res.values, np.float64) / scale - vals[::-1][:3])
    assert np.all(rel[conv] < 1e-4), rel
    if scale < 1.17e-38 / 1.2e-7 * 1.0:  # max|Av| subnormal-ish: said so
        assert not conv.any() and REASONS[int(res.reason)] == "underflow"
        assert caught and "underflow" in caught[0]
    else:
        assert conv.all() and float(np.max(res.residuals)) > 0


def test_reason_and_ok_work_under_jit():
    M = _with_spectrum(np.linspace(-1, 1, 30), 7)

    @jax.jit
    def solve(M):
        res = eigenvalues(matrix_operator(M), 3, key=jax.random.key(0))
        return res.reason, res.ok, res.values

    reason, ok, values = solve(M)
    assert int(reason) == 0 and bool(ok)
    np.testing.assert_allclose(values, np.linspace(-1, 1, 30)[::-1][:3], atol=1e-10)


@pytest.mark.parametrize(
    "k, which", [(3, "largest"), (3, "smallest"), (2, "both"), (4, "largest_magnitude")]
)
def test_flags_reason_and_stopping_agree(k, which):
    vals = np.linspace(-2.0, 1.0, 50)
    res, caught = _solve(matrix_operator(_with_spectrum(vals, 8)), k, which=which)
    assert bool(jnp.all(res.converged)) == (int(res.reason) == 0) == (not caught)
    assert int(res.num_matvecs) < 30 * 30
    if which != "largest_magnitude":
        np.testing.assert_allclose(res.values, _wanted(vals, which, k), atol=1e-9)


@pytest.mark.parametrize(
    "tol, exc, words",
    [
        (-1.0, ValueError, ["`tol`", "(0, 1)", "-1.0"]),
        (float("nan"), ValueError, ["`tol`", "nan"]),
        ("small", TypeError, ["`tol`", "positive real number", "str"]),
        (0.0, ValueError, ["`tol`"]),
        (True, TypeError, ["`tol`"]),
    ],
)
def test_bad_tol(tol, exc, words):
    op = matrix_operator(jnp.eye(4))
    with pytest.raises(exc) as info:
        eigenvalues(op, 1, key=jax.random.key(0), tol=tol)
    for w in words:
        assert w in str(info.value)


def test_numpy_scalar_tol_accepted():
    op = matrix_operator(jnp.diag(jnp.arange(1.0, 6.0)))
    res = eigenvalues(op, 1, key=jax.random.key(0), tol=np.float32(1e-6))
    np.testing.assert_allclose(res.values, [5.0])


def test_check_symmetric_rejects_nonsymmetric():
    # matrix_operator rejects a non-symmetric matrix at construction; a matvec
    # operator cannot be checked there, so eigenvalues(check_symmetric=True) does.
    upper = jnp.triu(jnp.ones((6, 6)))
    op = LinearOperator(lambda v: upper @ v, size=6, dtype=upper.dtype)
    with pytest.raises(ValueError, match="not symmetric"):
        eigenvalues(op, 2, key=jax.random.key(0), check_symmetric=True)
    with pytest.raises(TypeError, match="`strict` must be True or False"):
        eigenvalues(op, 2, key=jax.random.key(0), strict="yes")


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
def test_16bit_operators_run_lanczos_in_float32(dtype):
    vals = np.linspace(-1.0, 1.0, 20)
    M = _with_spectrum(vals, 9).astype(dtype)
    res, _ = _solve(matrix_operator(M), 2)
    assert res.values.dtype == jnp.float32
    # The matvec is 16-bit: values to its precision.
    np.testing.assert_allclose(res.values, vals[::-1][:2], atol=3e-2)
