"""Sharpness inside a training step: jaxmc.spectrum.sharpness_tracker."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from jaxmc.spectrum import SharpnessState, sharpness_tracker


def _problem(dtype=jnp.float64, n=32):
    kx, ky, k1, k2 = jax.random.split(jax.random.key(0), 4)
    X = jax.random.normal(kx, (n, 3), dtype)
    y = jnp.sin(X @ jnp.array([1.0, -2.0, 0.5], dtype))[:, None]
    params = {
        "w1": jax.random.normal(k1, (3, 6), dtype) / jnp.sqrt(3.0).astype(dtype),
        "b1": jnp.zeros(6, dtype),
        "w2": jax.random.normal(k2, (6, 1), dtype) / jnp.sqrt(6.0).astype(dtype),
    }

    def loss_fn(p, batch):
        Xb, yb = batch
        h = jnp.tanh(Xb @ p["w1"] + p["b1"][None, :])
        return 0.5 * jnp.mean((h @ p["w2"] - yb) ** 2)

    return loss_fn, params, (X, y)


def _dense_top(loss_fn, params, batch):
    flat, unravel = ravel_pytree(params)
    H = jax.hessian(lambda f: loss_fn(unravel(f), batch))(flat)
    return jnp.linalg.eigvalsh(H)[-1]


def _batches(data, steps, size):
    X, y = data
    idx = (jnp.arange(steps)[:, None] * size + jnp.arange(size)[None, :]) % X.shape[0]
    return X[idx], y[idx]


@pytest.mark.parametrize("dtype, rtol", [(jnp.float64, 1e-8), (jnp.float32, 2e-4)])
def test_tracks_dense_top_eigenvalue_inside_scan(dtype, rtol):
    loss_fn, params, data = _problem(dtype)
    tracker = sharpness_tracker(loss_fn, num_matvecs=6)
    state = tracker.init(params, key=jax.random.key(1))
    eta, steps = 0.5, 12
    batches = _batches(data, steps, 16)

    def step(carry, batch):
        params, sharp = carry
        loss, grads, sharp = tracker.value_grad_and_update(sharp, params, batch)
        ref_loss, ref_grads = jax.value_and_grad(loss_fn)(params, batch)
        new = jax.tree.map(lambda p, g: p - eta * g, params, grads)
        out = (params, sharp.value, sharp.residual, loss - ref_loss, grads, ref_grads)
        return (new, sharp), out

    (_, final), (traj, values, residuals, dloss, g, g_ref) = jax.jit(
        lambda c, b: jax.lax.scan(step, c, b)
    )((params, state), batches)
    assert int(final.step) == steps
    np.testing.assert_allclose(dloss, 0.0, atol=10 * jnp.finfo(dtype).eps)
    for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(g_ref), strict=True):
        np.testing.assert_allclose(a, b, rtol=10 * jnp.finfo(dtype).eps, atol=1e-12)
    dense = jnp.stack(
        [
            _dense_top(
                loss_fn,
                jax.tree.map(lambda x, i=i: x[i], traj),
                jax.tree.map(lambda x, i=i: x[i], batches),
            )
            for i in range(steps)
        ]
    )
    # Warm starts: after a few steps the few-matvec estimate is the dense value.
    np.testing.assert_allclose(values[3:], dense[3:], rtol=rtol)
    # A Ritz value never exceeds the top eigenvalue (up to rounding).
    assert bool(jnp.all(values <= dense * (1 + 10 * jnp.finfo(dtype).eps) + 1e-12))
    # |theta - lambda| <= residual^2 / gap: the residual is about sqrt of the error.
    assert bool(jnp.all(residuals[3:] <= jnp.sqrt(rtol) * jnp.abs(dense[3:]))), (
        residuals
    )


def test_update_is_pure_and_jittable():
    loss_fn, params, data = _problem()
    tracker = sharpness_tracker(loss_fn, num_matvecs=4)
    state = tracker.init(params, key=jax.random.key(2))
    eager = tracker.update(state, params, data)
    jitted = jax.jit(tracker.update)(state, params, data)
    np.testing.assert_allclose(eager.value, jitted.value, rtol=1e-12)
    assert isinstance(jitted, SharpnessState)
    # The same key gives the same start; another key another start.
    again = tracker.init(params, key=jax.random.key(2))
    other = tracker.init(params, key=jax.random.key(3))
    assert jnp.array_equal(ravel_pytree(again.vector)[0], ravel_pytree(state.vector)[0])
    assert not jnp.allclose(
        ravel_pytree(other.vector)[0], ravel_pytree(state.vector)[0]
    )
    # The carried vector has unit norm and the shape of params.
    assert jax.tree.structure(jitted.vector) == jax.tree.structure(params)
    np.testing.assert_allclose(jnp.linalg.norm(ravel_pytree(jitted.vector)[0]), 1.0)


def test_matches_top_of_quadratic_and_finds_invariant_subspace():
    # diag(5, 1, ..): one matvec from e_1 + e_2 spans an invariant subspace
    # of dimension 2 (breakdown at step 2); the masked steps must not matter.
    A = jnp.diag(jnp.array([5.0, 1.0, -7.0, 0.5]))
    tracker = sharpness_tracker(lambda p, b: 0.5 * p @ A @ p, num_matvecs=4)
    start = tracker.init(jnp.ones(4), key=jax.random.key(0))
    start = start._replace(vector=jnp.array([1.0, 1.0, 0.0, 0.0]) / jnp.sqrt(2.0))
    out = jax.jit(tracker.update)(start, jnp.ones(4), None)
    np.testing.assert_allclose(out.value, 5.0, rtol=1e-13)
    np.testing.assert_allclose(
        jnp.abs(out.vector), jnp.array([1.0, 0, 0, 0]), atol=1e-12
    )
    assert float(out.residual) < 1e-12


@pytest.mark.parametrize("dtype, rtol", [(jnp.float64, 1e-10), (jnp.float32, 1e-5)])
@pytest.mark.parametrize("jump", [12.0, 20.0])
def test_an_eigenvalue_rising_above_the_tracked_one_is_picked_up(jump, dtype, rtol):
    # From step 10 a bulk eigenvalue jumps above the tracked top (10). The
    # carried vector is then an eigenvector of the new Hessian too, so Lanczos
    # from it alone stays on 10 for ever (the tracker did, with a residual of
    # 1e-16); the small random part of each start lets it move within a few
    # updates.
    n = 40
    Q = np.linalg.qr(np.random.default_rng(0).standard_normal((n, n)))[0]
    vals = np.r_[10.0, 9.0, np.linspace(0.1, 8.0, n - 2)]
    late = vals.copy()
    late[-1] = jump
    As = jnp.asarray(
        np.stack([(Q * (vals if t < 10 else late)) @ Q.T for t in range(25)]), dtype
    )
    tracker = sharpness_tracker(lambda p, A: 0.5 * p @ A @ p, num_matvecs=5)
    params = jnp.ones(n, dtype)

    def track(key):
        def step(state, A):
            state = tracker.update(state, params, A)
            return state, state.value

        state = tracker.init(params, key=key)
        return jax.lax.scan(step, state, As)[1]

    values = jax.jit(track)(jax.random.key(0))
    np.testing.assert_allclose(values[5:10], 10.0, rtol=rtol)
    np.testing.assert_allclose(values[16:], jump, rtol=rtol)
    # deterministic given the key
    np.testing.assert_array_equal(jax.jit(track)(jax.random.key(0)), values)


def test_nonfinite_loss_keeps_vector_and_reports_nan():
    tracker = sharpness_tracker(lambda p, b: jnp.sum(p**2) * b, num_matvecs=2)
    state = tracker.init(jnp.ones(3), key=jax.random.key(0))
    out = jax.jit(tracker.update)(state, jnp.ones(3), jnp.nan)
    assert bool(jnp.isnan(out.value))
    assert jnp.array_equal(out.vector, state.vector)
    ok = jax.jit(tracker.update)(out, jnp.ones(3), 1.0)
    np.testing.assert_allclose(ok.value, 2.0, rtol=1e-12)


@pytest.mark.parametrize(
    "call, exc, words",
    [
        (lambda: sharpness_tracker("f"), TypeError, ["loss_fn", "callable"]),
        (
            lambda: sharpness_tracker(jnp.sum, num_matvecs=0),
            ValueError,
            ["num_matvecs", ">= 1"],
        ),
        (
            lambda: sharpness_tracker(jnp.sum, num_matvecs=2.0),
            TypeError,
            ["num_matvecs", "int"],
        ),
        (
            lambda: sharpness_tracker(lambda p, b: p).update(
                sharpness_tracker(jnp.sum).init(jnp.ones(2), key=jax.random.key(0)),
                jnp.ones(2),
                None,
            ),
            ValueError,
            ["scalar", "(2,)"],
        ),
        (
            lambda: sharpness_tracker(jnp.sum).init(jnp.ones(2), key=0),
            TypeError,
            ["key", "PRNG"],
        ),
        (
            lambda: sharpness_tracker(jnp.sum).init(
                jnp.arange(3), key=jax.random.key(0)
            ),
            TypeError,
            ["params", "floating"],
        ),
        (
            lambda: sharpness_tracker(lambda p, b: jnp.sum(p**2)).update(
                sharpness_tracker(jnp.sum).init(jnp.ones(2), key=jax.random.key(0)),
                jnp.ones(3),
                None,
            ),
            ValueError,
            ["init(params)", "2 entries"],
        ),
    ],
)
def test_bad_inputs(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    for w in words:
        assert w in str(info.value)
