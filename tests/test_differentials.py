"""Tests for jaxmc.differentials: the seed notes' differentials, executed.

Each hand-derived differential is compared with the jvp, each recovered
gradient / Jacobian / Hessian with its closed form and with JAX's dense
derivatives, in float64 to ~1e-10 (float32 with the suite's looser tolerances).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tol
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxmc
from jaxmc import (
    differential,
    duplication_matrix,
    gradient_from_differential,
    hessian_from_second_differential,
    jacobian_from_differential,
    numerical_gradient,
    symmetric_gradient,
    unvech,
    vec,
    vech,
)

sizes = st.integers(min_value=1, max_value=3)
seeds = st.integers(min_value=0, max_value=2**31 - 1)
DTYPES = [jnp.float32, jnp.float64]
TIGHT = dict(rtol=1e-10, atol=1e-10)


def rand(seed, shape, dtype=jnp.float64):
    """Test data from NumPy's generator: no per-shape compilation, unlike
    jax.random, which keeps the hypothesis tests fast."""
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), dtype=dtype)


def well_conditioned(seed, n, dtype=jnp.float64):
    """A non-symmetric matrix with singular values near sqrt(n) (invertible)."""
    return rand(seed, (n, n), dtype) + jnp.asarray(2.0 * np.sqrt(n) * np.eye(n), dtype)


def spd(seed, n, dtype=jnp.float64):
    M = np.random.default_rng(seed).standard_normal((n, n))
    return jnp.asarray(M @ M.T + n * np.eye(n), dtype=dtype)


def logdet(X):
    return jnp.linalg.slogdet(X)[1]


def vec_jacobian(F, X):
    """Dense reference in vec layout: D vec(F) / D vec(X) from jax.jacfwd."""
    shape = X.shape
    return jax.jacfwd(lambda v: vec(F(jaxmc.unvec(v, shape))))(vec(X))


# ------------------------------------------------------------- the seed examples


def seed_examples(seed, n, dtype=jnp.float64):
    """(f, X, hand-written differential df(dX), closed-form gradient) per example."""
    A = rand(seed, (n, n), dtype)
    B = rand(seed + 1, (2, n + 1), dtype)
    x = rand(seed + 2, (n,), dtype)
    X = well_conditioned(seed + 3, n, dtype)
    Xi = jnp.linalg.inv(X)
    W, Xd = rand(seed + 4, (n + 1, n), dtype), rand(seed + 5, (n, 3), dtype)
    Y = rand(seed + 6, (n + 1, 3), dtype)
    An = rand(seed + 7, (n + 1, n), dtype)
    return {
        # d(x^T A x) = dx^T (A + A^T) x, gradient (A + A^T) x.
        "quadratic": (
            lambda x: x @ A @ x,
            x,
            lambda dx: dx @ (A + A.T) @ x,
            (A + A.T) @ x,
        ),
        # d log det X = tr(X^{-1} dX), gradient X^{-T}.
        "logdet": (logdet, X, lambda dX: jnp.trace(Xi @ dX), Xi.T),
        # d tr(A X B) = tr(A dX B) = tr(B A dX), gradient A^T B^T.
        "trace_AXB": (
            lambda Z: jnp.trace(An @ Z @ B),
            rand(seed + 8, (n, 2), dtype),
            lambda dZ: jnp.trace(An @ dZ @ B),
            An.T @ B.T,
        ),
        # d ||W X - Y||_F^2 = 2 tr((W X - Y)^T dW X), gradient 2 (W X - Y) X^T.
        "least_squares": (
            lambda W: jnp.sum((W @ Xd - Y) ** 2),
            W,
            lambda dW: 2 * jnp.trace((W @ Xd - Y).T @ dW @ Xd),
            2 * (W @ Xd - Y) @ Xd.T,
        ),
    }


EXAMPLES = ["quadratic", "logdet", "trace_AXB", "least_squares"]


@pytest.mark.parametrize("name", EXAMPLES)
def test_differential_equals_hand_derived(name, transform):
    f, X, df_hand, _ = seed_examples(0, 4)[name]
    dX = rand(99, X.shape)
    got = transform(differential(f))(X, dX)
    np.testing.assert_allclose(got, df_hand(dX), **TIGHT)


@pytest.mark.parametrize("name", EXAMPLES)
def test_gradient_from_differential_reproduces_closed_form(name, transform):
    f, X, df_hand, G_closed = seed_examples(1, 4)[name]
    G = transform(lambda X: gradient_from_differential(df_hand, X))(X)
    assert G.shape == X.shape and G.dtype == X.dtype
    np.testing.assert_allclose(G, G_closed, **TIGHT)
    np.testing.assert_allclose(G, jax.grad(f)(X), **TIGHT)


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=2)
@given(n=sizes, seed=seeds)
def test_gradient_from_differential_over_shapes(dtype, n, seed):
    rtol, atol = tol(dtype)
    for name, (_, X, df_hand, G_closed) in seed_examples(seed, n, dtype).items():
        G = gradient_from_differential(df_hand, X)
        assert G.dtype == dtype, name
        np.testing.assert_allclose(G, G_closed, rtol=50 * rtol, atol=50 * atol)
        # The trace trick's defining property: df(dX) = tr(G^T dX).
        dX = rand(seed + 11, X.shape, dtype)
        lhs, rhs = df_hand(dX), jnp.sum(G * dX)
        np.testing.assert_allclose(lhs, rhs, rtol=50 * rtol, atol=50 * atol)


def test_differential_argnums_and_pytrees():
    W, X, Y = rand(0, (3, 4)), rand(1, (4, 2)), rand(2, (3, 2))

    def loss(W, X, Y):
        return jnp.sum((W @ X - Y) ** 2)

    dW = rand(3, W.shape)
    expected = 2 * jnp.trace((W @ X - Y).T @ dW @ X)
    np.testing.assert_allclose(differential(loss)(W, X, Y, dW), expected, **TIGHT)
    dX = rand(4, X.shape)
    expected_x = 2 * jnp.trace((W @ X - Y).T @ W @ dX)
    got = differential(loss, argnums=1)(W, X, Y, dX)
    np.testing.assert_allclose(got, expected_x, **TIGHT)
    # A pytree variable, and a matrix-valued f: d(X^{-1}) = -X^{-1} dX X^{-1}.
    params = {"a": rand(5, (2,)), "b": rand(6, (2,))}
    d = differential(lambda p: p["a"] @ p["b"])(
        params, {"a": jnp.ones(2), "b": 0 * params["b"]}
    )
    np.testing.assert_allclose(d, jnp.sum(params["b"]), **TIGHT)
    Z = well_conditioned(7, 3)
    dZ = rand(8, (3, 3))
    Zi = jnp.linalg.inv(Z)
    np.testing.assert_allclose(
        jax.jit(differential(jnp.linalg.inv))(Z, dZ), -Zi @ dZ @ Zi, **TIGHT
    )


def test_differential_casts_direction_dtype_and_vmaps():
    X = well_conditioned(0, 3)
    dXs = rand(1, (5, 3, 3))
    df = differential(logdet)
    out = jax.vmap(df, in_axes=(None, 0))(X, dXs)
    Xi = jnp.linalg.inv(X)
    np.testing.assert_allclose(out, jnp.einsum("ij,bji->b", Xi, dXs), **TIGHT)
    # A float32 direction for a float64 point is cast to float64.
    assert df(X, dXs[0].astype(jnp.float32)).dtype == jnp.float64


# ------------------------------------------------------------- first identification


@pytest.mark.parametrize("n", [1, 2, 4])
def test_jacobian_of_inverse_is_minus_kron(n, transform):
    """d(X^{-1}) = -X^{-1} dX X^{-1}, so D vec(X^{-1}) = -(X^{-T} kron X^{-1})."""
    X = well_conditioned(n, n)
    Xi = jnp.linalg.inv(X)
    J = transform(
        lambda X: jacobian_from_differential(
            lambda dX: -jnp.linalg.solve(X, dX) @ jnp.linalg.inv(X), X
        )
    )(X)
    assert J.shape == (n * n, n * n)
    np.testing.assert_allclose(J, -jnp.kron(Xi.T, Xi), **TIGHT)
    np.testing.assert_allclose(J, vec_jacobian(jnp.linalg.inv, X), **TIGHT)


@settings(max_examples=4)
@given(m=sizes, n=sizes, p=sizes, q=sizes, seed=seeds)
def test_jacobian_of_AXB_is_kron(m, n, p, q, seed):
    """d(A X B) = A dX B, so the Jacobian is B^T kron A (both jacfwd and jacrev)."""
    A, B = rand(seed, (m, n)), rand(seed + 1, (p, q))
    X = jnp.zeros((n, p))
    J = jacobian_from_differential(lambda dX: A @ dX @ B, X)
    assert J.shape == (m * q, n * p)
    np.testing.assert_allclose(J, jnp.kron(B.T, A), **TIGHT)


def test_jacobian_vector_and_scalar_cases():
    A = rand(0, (3, 4))
    # Vector variable, vector value: d(A x) = A dx.
    np.testing.assert_allclose(
        jacobian_from_differential(lambda dx: A @ dx, jnp.zeros(4)), A, **TIGHT
    )
    # Scalar variable: d(t A) = dt A, a (12, 1) column vec(A).
    J = jacobian_from_differential(lambda dt: dt * A, jnp.zeros(()))
    np.testing.assert_allclose(J, vec(A)[:, None], **TIGHT)
    # Scalar value: d(a^T x) gives a (1, n) row.
    a = rand(1, (4,))
    J = jacobian_from_differential(lambda dx: a @ dx, jnp.zeros(4))
    np.testing.assert_allclose(J, a[None, :], **TIGHT)
    # Transpose: d(X^T) = dX^T, the commutation matrix.
    K = jacobian_from_differential(lambda dX: dX.T, jnp.zeros((2, 3)))
    np.testing.assert_array_equal(K, jaxmc.commutation_matrix(2, 3))


def test_jacobian_float32():
    X = well_conditioned(3, 3, jnp.float32)
    Xi = jnp.linalg.inv(X)
    J = jacobian_from_differential(lambda dX: -Xi @ dX @ Xi, X)
    assert J.dtype == jnp.float32
    rtol, atol = tol(jnp.float32)
    np.testing.assert_allclose(J, -jnp.kron(Xi.T, Xi), rtol=10 * rtol, atol=10 * atol)


# ------------------------------------------------------------- second identification


def test_hessian_of_quadratic_form(transform):
    """d^2 (x^T A x) = 2 dx^T A dx: H = A + A^T."""
    A = rand(0, (4, 4))
    H = transform(
        lambda x: hessian_from_second_differential(lambda dx: 2 * dx @ A @ dx, x)
    )(jnp.zeros(4))
    np.testing.assert_allclose(H, A + A.T, **TIGHT)
    np.testing.assert_array_equal(H, H.T)
    np.testing.assert_allclose(
        H, jax.hessian(lambda x: x @ A @ x)(jnp.zeros(4)), **TIGHT
    )


def test_hessian_of_logdet_in_vec_layout():
    """d^2 log det X = -tr(X^{-1} dX X^{-1} dX): H = -K (X^{-T} kron X^{-1}) sym."""
    n = 3
    X = well_conditioned(1, n)
    Xi = jnp.linalg.inv(X)
    H = hessian_from_second_differential(lambda dX: -jnp.trace(Xi @ dX @ Xi @ dX), X)
    assert H.shape == (n * n, n * n)
    reference = jax.jit(jax.hessian(lambda v: logdet(jaxmc.unvec(v, (n, n)))))(vec(X))
    np.testing.assert_allclose(H, reference, **TIGHT)
    np.testing.assert_array_equal(H, H.T)


def test_hessian_of_least_squares():
    """d^2 ||W X - Y||^2 = 2 ||dW X||^2: H = 2 (X X^T kron I)."""
    X = rand(0, (3, 5))
    W = rand(1, (2, 3))
    H = hessian_from_second_differential(lambda dW: 2 * jnp.sum((dW @ X) ** 2), W)
    np.testing.assert_allclose(H, 2 * jnp.kron(X @ X.T, jnp.eye(2)), **TIGHT)


@pytest.mark.parametrize(
    "d2f, words",
    [
        (lambda dx: jnp.sum(dx), r"d2f\(2 dx\) = .* is not 4 d2f\(dx\).*degree 1"),
        (lambda dx: jnp.sum(dx**3), r"degree 3: a linear or cubic term"),
        (lambda dx: dx @ dx + 0.5, r"d2f\(0\) = 0\.5 is not zero.*constant term"),
        (lambda dx: jnp.sum(jnp.abs(dx)) ** 2, r"polarisation identity"),
    ],
    ids=["linear", "cubic", "affine", "degree-2-not-quadratic"],
)
def test_hessian_from_second_differential_rejects_non_quadratic_d2f(d2f, words):
    with pytest.raises(ValueError, match=r"hessian_from_second_differential: "):
        hessian_from_second_differential(d2f, jnp.zeros(4))
    with pytest.raises(ValueError, match=words):
        hessian_from_second_differential(d2f, jnp.zeros(4))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_quadratic_form_check_passes_true_forms(dtype):
    """No false alarm on indefinite, large-scale and matrix-variable forms."""
    A = (1e3 * rand(3, (5, 5))).astype(dtype)
    H = hessian_from_second_differential(
        lambda dx: 2 * dx @ A @ dx, jnp.zeros(5, dtype)
    )
    rtol, atol = tol(dtype)
    np.testing.assert_allclose(H, A + A.T, rtol=rtol, atol=1e3 * atol)
    zero = hessian_from_second_differential(lambda dx: 0.0 * (dx @ dx), jnp.zeros(3))
    np.testing.assert_array_equal(zero, jnp.zeros((3, 3)))
    X = well_conditioned(2, 3).astype(dtype)
    Xi = jnp.linalg.inv(X)
    H = hessian_from_second_differential(lambda dX: -jnp.trace(Xi @ dX @ Xi @ dX), X)
    assert H.shape == (9, 9) and H.dtype == dtype


def test_taylor_term_mistake_gives_half_the_hessian():
    """The documented mistake: dx^T A dx (the Taylor term) for f = x^T A x."""
    A = rand(4, (3, 3))
    half = hessian_from_second_differential(lambda dx: dx @ A @ dx, jnp.zeros(3))
    np.testing.assert_allclose(2 * half, A + A.T, **TIGHT)


def test_quadratic_form_check_is_skipped_under_tracing():
    """Under jit, vmap and grad the checks are skipped and the result is right."""
    A = rand(5, (3, 3))
    x = jnp.zeros(3)

    def hess(A):
        return hessian_from_second_differential(lambda dx: 2 * dx @ A @ dx, x)

    np.testing.assert_allclose(jax.jit(hess)(A), A + A.T, **TIGHT)
    As = jnp.stack([A, 2 * A])
    np.testing.assert_allclose(jax.vmap(hess)(As)[1], 2 * (A + A.T), **TIGHT)
    g = jax.grad(lambda A: jnp.sum(hess(A)[0]))(A)  # d/dA sum_j (A + A^T)[0, j]
    expected = jnp.zeros((3, 3)).at[0, :].add(1.0).at[:, 0].add(1.0)
    np.testing.assert_allclose(g, expected, **TIGHT)
    # a linear d2f is not caught under jit (documented): no error, no check
    jax.jit(lambda x: hessian_from_second_differential(jnp.sum, x))(x)


# ------------------------------------------------------------- symmetric gradients


@settings(max_examples=3)
@given(n=st.integers(1, 4), seed=seeds)
def test_vech_gradient_is_gradient_of_symmetric_parametrisation(n, seed):
    """'vech': D_n^T vec(G) = d f(unvech(s)) / d s, by finite differences."""
    A = rand(seed, (n, n))
    X = spd(seed + 1, n)
    s = vech(X)
    D = duplication_matrix(n)
    for f in (logdet, lambda X: jnp.trace(A @ X @ A @ X), lambda X: jnp.sum(A * X)):
        G = jax.grad(f)(X)
        g_vech = symmetric_gradient(G, convention="vech")
        assert g_vech.shape == (n * (n + 1) // 2,)
        reference = numerical_gradient(lambda s, f=f: f(unvech(s)), s)
        np.testing.assert_allclose(g_vech, reference, rtol=1e-7, atol=1e-7)
        # Through the vec toolkit: D_n^T vec(G).
        np.testing.assert_allclose(g_vech, D.T @ vec(G), **TIGHT)


def test_symmetric_gradient_float32():
    G = rand(0, (3, 3), jnp.float32)
    D = duplication_matrix(3, dtype=jnp.float32)
    rtol, atol = tol(jnp.float32)
    for convention in ("sym", "vech", "cookbook"):
        assert symmetric_gradient(G, convention=convention).dtype == jnp.float32
    np.testing.assert_allclose(
        symmetric_gradient(G, convention="vech"), D.T @ vec(G), rtol=rtol, atol=atol
    )


@settings(max_examples=3)
@given(n=st.integers(1, 4), seed=seeds)
def test_sym_gradient_pairs_with_symmetric_directions(n, seed):
    """'sym': the symmetric S with df = tr(S^T dS) for every symmetric dS."""
    A = rand(seed, (n, n))
    X = spd(seed + 1, n)
    f = lambda X: jnp.trace(A @ X) + logdet(X)  # noqa: E731
    S = symmetric_gradient(jax.grad(f)(X))
    np.testing.assert_array_equal(S, S.T)
    np.testing.assert_allclose(S, (A.T + A) / 2 + jnp.linalg.inv(X), **TIGHT)
    for k in range(3):
        M = rand(seed + 10 + k, (n, n))
        dS = M + M.T
        t = 1e-5
        fd = (f(X + t * dS) - f(X - t * dS)) / (2 * t)
        np.testing.assert_allclose(jnp.sum(S * dS), fd, rtol=1e-7, atol=1e-7)


def test_cookbook_logdet_is_seed_formula_and_tied_pair_derivative():
    """'cookbook' for log det: 2 X^{-1} - diag(X^{-1}); entry (i, j) is the
    derivative when X_ij = X_ji move together; it is not a Frobenius gradient."""
    n = 4
    X = spd(3, n)
    Xi = jnp.linalg.inv(X)
    C = symmetric_gradient(jax.grad(logdet)(X), convention="cookbook")
    np.testing.assert_allclose(C, 2 * Xi - jnp.diag(jnp.diag(Xi)), **TIGHT)
    np.testing.assert_array_equal(C, C.T)
    t = 1e-5
    for i in range(n):
        for j in range(i + 1):
            E = jnp.zeros((n, n)).at[i, j].set(1.0).at[j, i].set(1.0)
            fd = (logdet(X + t * E) - logdet(X - t * E)) / (2 * t)
            np.testing.assert_allclose(C[i, j], fd, rtol=1e-7, atol=1e-7)
    # vech(cookbook) is the vech gradient; sym is half of it off the diagonal.
    G = jax.grad(logdet)(X)
    np.testing.assert_allclose(
        vech(C), symmetric_gradient(G, convention="vech"), **TIGHT
    )
    S = symmetric_gradient(G)
    np.testing.assert_allclose(C, 2 * S - jnp.diag(jnp.diag(S)), **TIGHT)
    # What it is not: tr(C^T dS) double counts off-diagonal directions.
    dS = jnp.zeros((n, n)).at[0, 1].set(1.0).at[1, 0].set(1.0)
    fd = (logdet(X + t * dS) - logdet(X - t * dS)) / (2 * t)
    np.testing.assert_allclose(jnp.sum(S * dS), fd, rtol=1e-7)
    assert abs(jnp.sum(C * dS) - 2 * fd) < 1e-7 * abs(fd) + 1e-12


def test_symmetric_gradients_do_not_depend_on_the_extension():
    """Any extension of f off the symmetric matrices gives the same answers."""
    n = 3
    X = spd(5, n)
    A = rand(6, (n, n))
    G1 = jax.grad(lambda X: jnp.trace(A @ X))(X)  # A^T
    G2 = jax.grad(lambda X: jnp.trace(A.T @ X))(X)  # A: same f on symmetric X
    for convention in ("sym", "vech", "cookbook"):
        np.testing.assert_allclose(
            symmetric_gradient(G1, convention=convention),
            symmetric_gradient(G2, convention=convention),
            **TIGHT,
        )


def test_symmetric_gradient_jit_vmap(transform):
    Gs = rand(0, (5, 3, 3))
    for convention in ("sym", "vech", "cookbook"):
        out = transform(
            jax.vmap(lambda G, c=convention: symmetric_gradient(G, convention=c))
        )(Gs)
        for b in range(5):
            np.testing.assert_allclose(
                out[b], symmetric_gradient(Gs[b], convention=convention), **TIGHT
            )


# ------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call, match",
    [
        (
            lambda: differential(logdet)(jnp.eye(3), jnp.ones((3, 2))),
            r"jaxmc.differential: the direction `dX` must have the structure and shape "
            r"of the variable X = args\[0\]; got X with shape\(s\) \[\(3, 3\)\] and dX "
            r"with shape\(s\) \[\(3, 2\)\]",
        ),
        (
            lambda: differential(lambda a, b: a * b, argnums=2)(1.0, 2.0, 1.0),
            r"jaxmc.differential: argument `argnums`=2 is out of range for f called "
            r"with 2 argument",
        ),
        (
            lambda: gradient_from_differential(lambda dX: dX @ jnp.ones(3), jnp.eye(3)),
            r"jaxmc.gradient_from_differential: argument `df` must return a scalar "
            r"\(shape \(\)\); got array of shape \(3,\)",
        ),
        (
            lambda: gradient_from_differential(lambda dX: jnp.sum(dX**2), jnp.eye(2)),
            r"jaxmc.gradient_from_differential: argument `df` must be linear in dX",
        ),
        (
            lambda: gradient_from_differential(
                lambda dX: jnp.sum(dX) + 1.0, jnp.eye(2)
            ),
            r"argument `df` must be linear in dX, but df\(0\) = 1.0 is not zero",
        ),
        (
            lambda: jacobian_from_differential(lambda dX: dX @ dX, jnp.eye(2)),
            r"jaxmc.jacobian_from_differential: argument `dF` must be linear in dX",
        ),
        (
            lambda: jacobian_from_differential(lambda dX: dX, jnp.ones((2, 2, 2))),
            r"jaxmc.jacobian_from_differential: argument `X` must be a scalar, vector "
            r"or matrix \(rank 0, 1 or 2.*got shape \(2, 2, 2\)",
        ),
        (
            lambda: jacobian_from_differential(
                lambda dx: jnp.ones((2, 2, 2)) * dx, jnp.ones(())
            ),
            r"the value of `dF` must be a scalar, vector or matrix",
        ),
        (
            lambda: hessian_from_second_differential(lambda dx: dx * dx, jnp.ones(2)),
            r"jaxmc.hessian_from_second_differential: argument `d2f` must return a "
            r"scalar",
        ),
        (
            lambda: symmetric_gradient(jnp.ones((2, 3))),
            r"jaxmc.symmetric_gradient: argument `G` must be a square matrix; got "
            r"shape \(2, 3\)",
        ),
        (
            lambda: symmetric_gradient(jnp.eye(2), convention="upper"),
            r"jaxmc.symmetric_gradient: argument `convention` must be one of 'sym', "
            r"'vech', 'cookbook'; got 'upper'",
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
            lambda: differential("f"),
            r"jaxmc.differential: argument `f` must be callable",
        ),
        (
            lambda: differential(logdet, argnums="0"),
            r"jaxmc.differential: argument `argnums` must be an int",
        ),
        (
            lambda: differential(logdet)(jnp.eye(2, dtype=int), jnp.eye(2)),
            r"jaxmc.differential: argument `X` must have a floating dtype",
        ),
        (
            lambda: differential(logdet)(jnp.eye(2)),
            r"df must be called as df\(\*args, dX\)",
        ),
        (
            lambda: gradient_from_differential(None, jnp.eye(2)),
            r"jaxmc.gradient_from_differential: argument `df` must be callable",
        ),
        (
            lambda: hessian_from_second_differential(lambda dx: dx @ dx, jnp.arange(3)),
            r"jaxmc.hessian_from_second_differential: argument `x` must have a "
            r"floating dtype",
        ),
    ],
)
def test_bad_input_type_errors(call, match):
    with pytest.raises(TypeError, match=match):
        call()


def test_shape_errors_under_jit_are_clear():
    with pytest.raises(ValueError, match=r"the direction `dX` must have the structure"):
        jax.jit(differential(logdet))(jnp.eye(3), jnp.ones((2, 2)))


def test_top_level_reexports():
    from jaxmc import differentials

    assert jaxmc.differential is differentials.differential
    assert jaxmc.symmetric_gradient is differentials.symmetric_gradient
