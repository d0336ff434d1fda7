"""Tests for jaxmc.check: finite differences and the gradient-check verdict.

The verdict must be reliable in float32 and float64: correct gradients pass,
and the seed notes' classic mistakes (the missing transpose in (A + A^T) x, a
sign error) and a single entry wrong by 1% fail, over hypothesis-drawn shapes,
with and without the float64 reference (``promote=False`` is what a user
without x64 gets).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxmc
from jaxmc import (
    CheckReport,
    check_gradient,
    check_jacobian,
    numerical_gradient,
    numerical_jacobian,
)

sizes = st.integers(min_value=1, max_value=3)
seeds = st.integers(min_value=0, max_value=2**31 - 1)
DTYPES = [jnp.float32, jnp.float64]


def rand(seed, shape, dtype=jnp.float64):
    """NumPy-generated test data (no per-shape compilation)."""
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), dtype=dtype)


def spd(seed, n, dtype=jnp.float64):
    M = np.random.default_rng(seed).standard_normal((n, n))
    return jnp.asarray(M @ M.T + n * np.eye(n), dtype=dtype)


def logdet(X):
    return jnp.linalg.slogdet(X)[1]


def one_entry_off(g, seed):
    """g with one sizeable entry (>= 10% of the largest) multiplied by 1.01."""
    flat = np.asarray(g).reshape(-1)
    big = np.flatnonzero(np.abs(flat) >= 0.1 * np.abs(flat).max())
    k = int(big[seed % len(big)])
    wrong = flat.copy()
    wrong[k] *= 1.01
    return jnp.asarray(wrong.reshape(np.shape(g))), np.unravel_index(k, np.shape(g))


def cases(seed, n, dtype):
    """(name, f, x, right gradient, wrong gradients) for the seed examples."""
    A = rand(seed, (n, n), dtype)
    x = rand(seed + 1, (n,), dtype)
    X = spd(seed + 2, n, dtype)
    W, Xd = rand(seed + 3, (n + 1, n), dtype), rand(seed + 4, (n, 2), dtype)
    Y = rand(seed + 5, (n + 1, 2), dtype)
    return [
        (
            "quadratic",
            lambda x: x @ A @ x,
            x,
            lambda x: (A + A.T) @ x,
            {
                "missing transpose": lambda x: 2 * A @ x,
                "sign": lambda x: -(A + A.T) @ x,
            },
        ),
        (
            "logdet",
            logdet,
            X,
            lambda X: jnp.linalg.inv(X).T,
            {"sign": lambda X: -jnp.linalg.inv(X).T},
        ),
        (
            "least_squares",
            lambda W: jnp.sum((W @ Xd - Y) ** 2),
            W,
            lambda W: 2 * (W @ Xd - Y) @ Xd.T,
            {
                "sign": lambda W: -2 * (W @ Xd - Y) @ Xd.T,
                "half": lambda W: (W @ Xd - Y) @ Xd.T,
            },
        ),
    ]


# ------------------------------------------------------------- numerical_*


@pytest.mark.parametrize("dtype", DTYPES)
def test_numerical_gradient_matches_autodiff(dtype, transform):
    X = spd(0, 3, dtype)
    g = transform(lambda X: numerical_gradient(logdet, X))(X)
    assert g.shape == X.shape and g.dtype == dtype
    rtol = 1e-8 if dtype == jnp.float64 else 1e-3
    np.testing.assert_allclose(g, jnp.linalg.inv(X), rtol=rtol, atol=rtol)


def test_numerical_gradient_pytree_and_custom_eps():
    params = {"w": rand(0, (2, 3)), "b": rand(1, (2,))}
    x = rand(2, (3,))

    def f(p):
        return jnp.sum(jnp.tanh(p["w"] @ x + p["b"]) ** 2)

    g = numerical_gradient(f, params)
    ref = jax.grad(f)(params)
    for key in params:
        np.testing.assert_allclose(g[key], ref[key], rtol=1e-8, atol=1e-9)
    # A larger step is less accurate, but eps is honoured.
    g_coarse = numerical_gradient(f, params, eps=1e-2)
    err = np.abs(np.asarray(g_coarse["w"] - ref["w"])).max()
    assert 1e-8 < err < 1e-2


def test_numerical_jacobian_layout_matches_jacfwd(transform):
    X = spd(3, 3)
    J = transform(lambda X: numerical_jacobian(jnp.linalg.inv, X))(X)
    ref = jax.jacfwd(jnp.linalg.inv)(X)
    assert J.shape == (3, 3, 3, 3)
    np.testing.assert_allclose(J, ref, rtol=1e-7, atol=1e-8)
    params = {"a": rand(4, (2,)), "B": rand(5, (2, 2))}
    f = lambda p: p["B"] @ jnp.sin(p["a"])  # noqa: E731
    J = numerical_jacobian(f, params)
    ref = jax.jacfwd(f)(params)
    assert J["a"].shape == (2, 2) and J["B"].shape == (2, 2, 2)
    for key in params:
        np.testing.assert_allclose(J[key], ref[key], rtol=1e-8, atol=1e-9)


def test_numerical_gradient_of_non_traceable_function():
    """A function with Python control flow on values falls back to a loop."""

    def f(x):
        if x[0] > 0:
            return jnp.sum(x**2)
        return jnp.sum(x)

    np.testing.assert_allclose(
        numerical_gradient(f, jnp.array([1.0, 2.0])), [2.0, 4.0], rtol=1e-8
    )


# ------------------------------------------------------------- the verdict


@pytest.mark.parametrize(
    "dtype, promote",
    [(jnp.float64, True), (jnp.float32, True), (jnp.float32, False)],
    ids=["float64", "float32-ref64", "float32-ref32"],
)
@settings(max_examples=3)
@given(n=sizes, seed=seeds)
def test_verdict_right_passes_wrong_fails(dtype, promote, n, seed):
    for name, f, x, right, wrongs in cases(seed, n, dtype):
        report = check_gradient(f, x, right, promote=promote)
        assert report.passed, f"{name}: a right gradient failed\n{report}"
        assert report.n_failed == 0
        for label, wrong in wrongs.items():
            if label == "missing transpose" and n == 1:
                continue  # a 1x1 A is symmetric: 2 A x is right.
            report = check_gradient(f, x, wrong, promote=promote)
            assert not report.passed, f"{name}: {label} passed\n{report}"
        g_bad, index = one_entry_off(right(x), seed)
        report = check_gradient(f, x, g_bad, promote=promote)
        assert not report.passed, f"{name}: 1% error passed\n{report}"
        assert report.n_failed == 1
        assert report.worst_index == tuple(int(i) for i in index)


@pytest.mark.parametrize("dtype", DTYPES)
def test_autodiff_itself_passes(dtype):
    """grad=None checks jax.grad (or jax.jacfwd) of f."""
    X = spd(1, 3, dtype)
    assert check_gradient(logdet, X).passed
    assert check_gradient(logdet, X, promote=False).passed
    assert check_jacobian(jnp.linalg.inv, X).passed


def test_report_contents_and_table():
    A = rand(0, (3, 3))
    x = rand(1, (3,))
    f = lambda x: x @ A @ x  # noqa: E731
    g = (A + A.T) @ x
    g_bad, index = one_entry_off(g, 0)
    report = check_gradient(f, x, g_bad)
    assert isinstance(report, CheckReport) and not report
    assert report.error.shape == x.shape
    assert report.worst_index == tuple(int(i) for i in index)
    assert report.worst_leaf == ""
    k = index[0]
    np.testing.assert_allclose(report.max_abs_error, 0.01 * abs(float(g[k])), rtol=1e-6)
    np.testing.assert_allclose(report.max_rel_error, 0.01 / 1.01, rtol=1e-6)
    np.testing.assert_allclose(report.numerical, g, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(report.analytic, g_bad, rtol=0, atol=0)
    assert report.fd_error < 1e-9
    text = str(report)
    assert "gradient check FAILED: 1 entry out of tolerance" in text
    assert f"[{k}]" in text and "<- fails" in text
    assert "Richardson" in text and "float64" in text
    assert "passed=False" in repr(report)
    good = check_gradient(f, x, g)
    assert good and "PASSED: 0 entries" in str(good)


def test_report_for_pytrees_names_the_leaf():
    params = {"w": rand(0, (2, 3)), "b": rand(1, (2,))}
    x = rand(2, (3,))

    def f(p):
        return jnp.sum(jnp.tanh(p["w"] @ x + p["b"]) ** 2)

    g = jax.grad(f)(params)
    g_bad = dict(g, w=g["w"].at[1, 2].set(g["w"][1, 2] + 0.05 * jnp.abs(g["w"]).max()))
    report = check_gradient(f, params, g_bad)
    assert not report.passed
    assert report.worst_leaf == "['w']" and report.worst_index == (1, 2)
    assert report.error["w"].shape == (2, 3) and report.error["b"].shape == (2,)
    assert "['w'][1, 2]" in str(report)


def test_check_jacobian_catches_swapped_kronecker_factors():
    """D vec(X^{-1}) = -(X^{-T} kron X^{-1}); X^{-1} kron X^{-T} is wrong."""
    n = 3
    X = spd(2, n) + jnp.asarray(np.triu(np.ones((n, n)), 1))  # not symmetric
    Xi = jnp.linalg.inv(X)

    def jac_vec_to_jacfwd(J):
        # vec layout (column-major) -> jacfwd layout out[i, j], in[k, l].
        return J.reshape(n, n, n, n).transpose(1, 0, 3, 2)

    right = jac_vec_to_jacfwd(-jnp.kron(Xi.T, Xi))
    wrong = jac_vec_to_jacfwd(-jnp.kron(Xi, Xi.T))
    assert check_jacobian(jnp.linalg.inv, X, right).passed
    report = check_jacobian(jnp.linalg.inv, X, wrong)
    assert not report.passed and len(report.worst_index) == 4
    assert report.error.shape == (n, n, n, n)


def test_tolerances_are_honoured():
    x = rand(0, (3,))
    f = lambda x: jnp.sum(jnp.sin(x))  # noqa: E731
    g_bad = jnp.cos(x) * 1.01
    assert not check_gradient(f, x, g_bad).passed
    assert check_gradient(f, x, g_bad, rtol=0.02).passed
    assert check_gradient(f, x, g_bad, rtol=0.0, atol=0.02).passed
    assert check_gradient(f, x, g_bad, rtol=0.0, atol=0.02).rtol == 0.0


# ------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call, match",
    [
        (
            lambda: check_gradient(lambda x: x * 2, jnp.ones(3)),
            r"jaxmc.check_gradient: argument `f` must return a scalar \(shape \(\)\) "
            r"for a gradient; got shape \(3,\). Use check_jacobian",
        ),
        (
            lambda: numerical_gradient(lambda x: x * 2, jnp.ones(3)),
            r"jaxmc.numerical_gradient: argument `f` must return a scalar",
        ),
        (
            lambda: check_gradient(jnp.sum, jnp.array([1.0, jnp.nan])),
            r"jaxmc.check_gradient: argument `x` must be finite; got 1 non-finite "
            r"entry, the first at index \(1,\)",
        ),
        (
            lambda: check_gradient(
                lambda x: jnp.sum(jnp.log(x)), jnp.array([1.0, -1.0])
            ),
            r"jaxmc.check_gradient: f\(x\) is not finite",
        ),
        (
            lambda: check_gradient(
                lambda x: jnp.sum(jnp.where(x >= 1.0, x**2, jnp.nan)),
                jnp.array([2.0, 3.0, 1.0]),
            ),
            r"jaxmc.check_gradient: f is not finite at the finite-difference points "
            r"x \+- h e_i for the entry x\[2\] at every step tried",
        ),
        (
            lambda: numerical_gradient(
                lambda x: jnp.sum(jnp.sqrt(x)), jnp.array([[1.0, 1e-9]]), eps=1e-3
            ),
            r"jaxmc.numerical_gradient: f is not finite .* for the entry x\[0, 1\]",
        ),
        (
            lambda: check_gradient(jnp.sum, jnp.ones(3), jnp.ones(4)),
            r"jaxmc.check_gradient: argument `grad` must give the derivative in "
            r"jax.jacfwd's layout, of shape\(s\) \[\(3,\)\]; got \[\(4,\)\]",
        ),
        (
            lambda: check_gradient(
                jnp.sum, jnp.ones(3), jnp.array([1.0, jnp.inf, 1.0])
            ),
            r"the analytic derivative \(`grad`\) is not finite at output \(\), entry "
            r"x\[1\]: inf",
        ),
        (
            lambda: check_gradient(jnp.sum, jnp.ones(3), rtol=-1.0),
            r"jaxmc.check_gradient: argument `rtol` must be a finite float >= 0",
        ),
        (
            lambda: numerical_gradient(jnp.sum, jnp.ones(3), eps=0.0),
            r"jaxmc.numerical_gradient: argument `eps` must be a positive float",
        ),
        (
            lambda: check_jacobian(jnp.sin, jnp.ones(2), jnp.ones(2)),
            r"jaxmc.check_jacobian: argument `jac` must give the derivative in "
            r"jax.jacfwd's layout, of shape\(s\) \[\(2, 2\)\]",
        ),
        (
            lambda: check_gradient(jnp.sum, {}),
            r"jaxmc.check_gradient: argument `x` must hold at least one entry; got "
            r"an empty pytree",
        ),
        (
            lambda: numerical_gradient(jnp.sum, jnp.ones((0, 3))),
            r"jaxmc.numerical_gradient: argument `x` must hold at least one entry; "
            r"got only empty arrays",
        ),
    ],
)
def test_bad_input_value_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize(
    "call, match",
    [
        (
            lambda: jax.jit(lambda x: check_gradient(jnp.sum, x).max_abs_error)(
                jnp.ones(2)
            ),
            r"jaxmc.check_gradient is a host-side tool that needs concrete values",
        ),
        (
            lambda: check_gradient(jnp.sum, jnp.arange(3)),
            r"jaxmc.check_gradient: argument `x` must have a floating dtype",
        ),
        (
            lambda: check_jacobian(lambda x: (x, x), jnp.ones(2)),
            r"jaxmc.check_jacobian: argument `f` must return an array; got a tuple",
        ),
        (
            lambda: numerical_jacobian(lambda x: x > 0, jnp.ones(2)),
            r"jaxmc.numerical_jacobian: argument `f` must return real floating",
        ),
        (lambda: check_gradient("f", jnp.ones(2)), r"argument `f` must be callable"),
    ],
)
def test_bad_input_type_errors(call, match):
    with pytest.raises(TypeError, match=match):
        call()


def test_top_level_reexports():
    from jaxmc import check

    assert jaxmc.check_gradient is check.check_gradient
    assert jaxmc.numerical_jacobian is check.numerical_jacobian


def test_float64_reference_even_when_x64_is_off():
    """The reference is promoted inside a scoped jax.enable_x64."""
    with jax.enable_x64(False):
        A = jnp.asarray(np.random.default_rng(0).standard_normal((4, 4)), jnp.float32)
        x = jnp.asarray(np.random.default_rng(1).standard_normal(4), jnp.float32)
        f = lambda x: 1e3 + x @ A @ x  # noqa: E731  (a large offset: f32 noise)
        g = (A + A.T) @ x
        assert g.dtype == jnp.float32
        g_bad, _ = one_entry_off(g, 0)
        report = check_gradient(f, x, g)
        assert report.passed and "evaluated in float64" in report.method
        assert not check_gradient(f, x, g_bad).passed
        # In float32 the offset's rounding noise hides a 1% error; the report says so.
        coarse = check_gradient(f, x, g_bad, promote=False)
        assert coarse.resolution > coarse.rtol
        assert "resolves errors only down to" in str(coarse)
        assert "evaluated in float32" in coarse.method
    assert jax.config.read("jax_enable_x64")  # the suite's setting is restored


@pytest.mark.parametrize("entry", range(4))
def test_float32_catches_one_percent_in_small_entries_of_mixed_scale(entry):
    """A 1% error fails in every entry, even 1000x smaller than the largest."""
    c = jnp.array([1.0, 10.0, 100.0, 1000.0], dtype=jnp.float32)
    x = jnp.ones(4, dtype=jnp.float32)

    def f(x):
        return jnp.sum(c * x**2) / 2

    assert check_gradient(f, x, c * x).passed
    wrong = (c * x).at[entry].multiply(1.01)
    report = check_gradient(f, x, wrong)
    assert not report.passed
    assert report.worst_index == (entry,)


def test_float32_mlp_gradient_with_cancellation_passes():
    """Correct float32 gradients of a mean loss near a minimum still pass."""
    k1, k2, k3 = jax.random.split(jax.random.key(3), 3)
    X = jax.random.normal(k1, (64, 8), jnp.float32)
    W = jax.random.normal(k2, (8, 16), jnp.float32) / 3
    V = jax.random.normal(k3, (16,), jnp.float32) / 4
    y = jnp.tanh(X @ W) @ V  # targets the network fits exactly: cancellation

    def loss(params):
        W, V = params
        return jnp.mean((jnp.tanh(X @ W) @ V - y + 1e-3) ** 2)

    assert check_gradient(loss, (W, V)).passed
