"""Spectrum results that must not mislead: jit agrees with eager, flags under
jit for non-finite values and missed KPM bounds, float32 standard errors at
tiny scales, and the value checks of matrix_operator and check_symmetric=.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmc.spectrum import (
    LinearOperator,
    diagonal,
    eigenvalues,
    hessian_operator,
    kpm_density,
    matrix_operator,
    spectral_density,
    trace,
)

KEY = jax.random.key(0)
K1, K2, K3 = jax.random.split(jax.random.key(1), 3)
PARAMS = {"w1": jax.random.normal(K1, (3, 4)), "w2": jax.random.normal(K2, (4,))}
X = jax.random.normal(K3, (16, 3))
Y = jnp.sin(X[:, 0])


def loss(p, batch):
    x, y = batch
    return jnp.mean((jnp.tanh(x @ p["w1"]) @ p["w2"] - y) ** 2)


def _slq(op, key):
    return spectral_density(op, key=key, deflate=2, lanczos_steps=8, num_runs=3)


def _kpm(op, key):
    return kpm_density(op, key=key, num_moments=20, num_probes=3)


@pytest.mark.parametrize(
    "density, dtype",
    [(_slq, "float32"), (_kpm, "float64")],
    ids=["slq_deflate_float32", "kpm_float64"],
)
def test_densities_agree_under_jit(density, dtype):
    # Both run one compiled core eagerly and under jit (the eager path used to
    # run op by op, with its own rounding and, for deflation, its own solve).
    params = jax.tree.map(lambda x: x.astype(dtype), PARAMS)
    data = (X.astype(dtype), Y.astype(dtype))
    eager = density(hessian_operator(loss, params, data), KEY)
    jitted = jax.jit(lambda p, k: density(hessian_operator(loss, p, data), k))(
        params, KEY
    )
    rtol = 1e-5 if dtype == "float32" else 1e-12
    scale = float(jnp.max(eager.density))
    for a, b in zip(eager, jitted, strict=True):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * scale)


def test_ok_flags_under_jit_for_nonfinite_operators():
    bad = jnp.full((6, 6), jnp.nan)
    good = jnp.diag(jnp.arange(1.0, 7.0))

    def flags(M):
        op = matrix_operator(M)
        return jnp.stack(
            [
                trace(op, key=KEY, num_matvecs=6).ok,
                diagonal(op, key=KEY, num_matvecs=4).ok,
                spectral_density(op, key=KEY, lanczos_steps=4, num_runs=2).ok,
                kpm_density(op, key=KEY, num_moments=8, num_probes=2).ok,
            ]
        )

    f = jax.jit(flags)
    assert f(good).tolist() == [True] * 4
    assert f(bad).tolist() == [False] * 4
    # Eagerly the same operator raises, naming the matvec.
    with pytest.raises(ValueError, match="non-finite"):
        trace(matrix_operator(bad), key=KEY, num_matvecs=6)


def test_kpm_bounds_that_miss_the_spectrum():
    op = matrix_operator(jnp.diag(jnp.linspace(0.0, 10.0, 50)))
    with pytest.raises(ValueError, match=r"kpm_density: argument `bounds` \[0, 8\]"):
        kpm_density(op, key=KEY, num_moments=40, bounds=(0.0, 8.0))
    res = jax.jit(lambda b: kpm_density(op, key=KEY, num_moments=40, bounds=b))(
        jnp.array([0.0, 8.0])
    )
    assert not bool(res.ok)
    fine = kpm_density(op, key=KEY, num_moments=40, bounds=(-0.5, 10.5))
    assert bool(fine.ok)
    assert float(jnp.max(jnp.abs(fine.moments))) <= 1.0 + 1e-12


@pytest.mark.parametrize("scale", [1e-19, 1e-30, 1e-35])
def test_float32_standard_errors_at_tiny_scales(scale):
    # Squares of the samples underflow below ~1e-19 in float32; the standard
    # errors must scale with the operator, not collapse to 0.
    rng = np.random.default_rng(0)
    B = rng.uniform(1, 2, (12, 12)) * rng.choice([-1, 1], (12, 12))
    B = (np.triu(B) + np.triu(B, 1).T).astype(np.float32)
    small = (B * np.float32(scale)).astype(np.float32)
    for method in ["hutchinson", "hutch++", "xtrace"]:
        ref = trace(matrix_operator(B), method=method, num_matvecs=8, key=KEY)
        got = trace(matrix_operator(small), method=method, num_matvecs=8, key=KEY)
        assert float(ref.std_error) > 0
        # float32 rounding: XTrace's estimate moves by ~1e-3 relative at 1e-35.
        np.testing.assert_allclose(got.estimate / scale, ref.estimate, rtol=2e-3)
        np.testing.assert_allclose(got.std_error / scale, ref.std_error, rtol=1e-4)
    ref = diagonal(matrix_operator(B), num_matvecs=6, key=KEY)
    got = diagonal(matrix_operator(small), num_matvecs=6, key=KEY)
    np.testing.assert_allclose(got.std_error / scale, ref.std_error, rtol=1e-4)
    np.testing.assert_allclose(got.estimate / scale, ref.estimate, atol=1e-5)


def test_matrix_operator_value_checks():
    A = jax.random.normal(KEY, (8, 8))
    # Symmetric to rounding (A A^T in float32) passes; beyond sqrt(eps) fails.
    op = matrix_operator((A @ A.T).astype(jnp.float32))
    assert op.size == 8
    M = np.array(A @ A.T)
    M[0, 1] += 1e-6 * np.abs(M).max()
    with pytest.raises(ValueError, match=r"must be symmetric.*\(0, 1\)"):
        matrix_operator(M)
    tiny = np.eye(3, dtype=np.float32) * np.float32(1e-40)
    with pytest.raises(ValueError, match="subnormal entries"):
        matrix_operator(tiny)
    # Under jit the value checks cannot run; the algorithms' check_symmetric=
    # can (eagerly) for any operator.
    asym = LinearOperator(lambda v: jnp.triu(jnp.ones((5, 5))) @ v, size=5, dtype=float)
    for call in [
        lambda: trace(asym, key=KEY, check_symmetric=True),
        lambda: diagonal(asym, key=KEY, check_symmetric=True),
        lambda: spectral_density(asym, key=KEY, check_symmetric=True),
        lambda: kpm_density(asym, key=KEY, check_symmetric=True),
    ]:
        with pytest.raises(ValueError, match="argument `op` is not symmetric"):
            call()


def test_matvec_accepts_exactly_flat_or_domain_pytrees():
    op = hessian_operator(loss, PARAMS, (X, Y))
    flat = jnp.ones(op.size)
    tree = op.unravel(flat)
    np.testing.assert_allclose(
        jax.flatten_util.ravel_pytree(op.matvec(tree))[0], op.matvec(flat)
    )
    with pytest.raises(ValueError, match=r"structure and shapes"):
        op.matvec({"w1": jnp.ones((3, 4)), "w2": jnp.ones(5)})


def test_layer_spectra_ok_flag():
    import dataclasses

    from jaxmc.spectrum import LayerSpectra, layer_spectra

    params = {"a": jnp.array([1.0, 2.0]), "b": jnp.array([3.0])}

    def f(p, x):
        return jnp.mean(x) * (jnp.sum(p["a"] ** 2) + p["b"][0] ** 2)

    table = layer_spectra(f, params, jnp.ones((4, 1)), key=KEY, k=2)
    # Block "b" has one parameter: top[1] is NaN by design, still ok.
    assert bool(jnp.isnan(table["['b']"].top[1]))
    assert bool(table.ok)
    row = dataclasses.replace(table.layers[0], trace=jnp.array(jnp.nan))
    assert not bool(row.ok)
    assert not bool(LayerSpectra((row, table.layers[1])).ok)


def test_streamed_operator_inside_jit_is_refused_clearly():
    # The host-side source would be dropped with the traced operator before
    # the program runs (a KeyError at execution): refuse it while tracing.
    X = jnp.arange(6.0).reshape(3, 2)

    def loss(w, batch):
        return jnp.sum((batch @ w) ** 2)

    def stream():
        return [X[:2], X[2:]]

    # Outside jit the streamed operator works: batches weighted by their sizes.
    op = hessian_operator(loss, jnp.ones(2), stream, progress=False)
    A, B = X[:2], X[2:]
    expected = (2 * (2 * A.T @ A) + 1 * (2 * B.T @ B)) / 3
    np.testing.assert_allclose(op.matvec(jnp.array([1.0, 0.0])), expected[:, 0])

    @jax.jit
    def inside(w):
        return hessian_operator(loss, w, stream, progress=False).matvec(w)

    with pytest.raises(ValueError, match=r"hessian_operator: streamed `data`.*jax.jit"):
        inside(jnp.ones(2))


def test_streamed_loader_that_runs_dry_is_named():
    # A loader that yields its batches once (an exhausted generator reused)
    # gives no batches on the next matvec: a clear error, not a None product.
    X = jnp.arange(6.0).reshape(3, 2)

    def loss(w, batch):
        return jnp.sum((batch @ w) ** 2)

    passes = []

    def stream():
        passes.append(1)
        return [X[:2], X[2:]] if len(passes) == 1 else []

    op = hessian_operator(loss, jnp.ones(2), stream, progress=False)
    with pytest.raises(ValueError, match=r"hessian_operator: argument `data` yielded"):
        op.matvec(jnp.array([1.0, 0.0]))
    with pytest.raises(ValueError, match=r"no batches on a later pass"):
        eigenvalues(op, 1, key=KEY)
