"""Tests for jaxmc.vec: the vec / Kronecker toolkit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tol
from hypothesis import given
from hypothesis import strategies as st

import jaxmc
from jaxmc import (
    commutation_matrix,
    commute,
    duplication_matrix,
    elimination_matrix,
    kron_matvec,
    unvec,
    unvech,
    vec,
    vech,
)

sizes = st.integers(min_value=1, max_value=6)
seeds = st.integers(min_value=0, max_value=2**31 - 1)
DTYPES = [jnp.float32, jnp.float64]


def rand(seed, shape, dtype=jnp.float64):
    return jax.random.normal(jax.random.key(seed), shape, dtype=dtype)


# ---------------------------------------------------------------- vec / unvec


def test_vec_is_column_major(transform):
    X = jnp.arange(6.0).reshape(2, 3)  # [[0, 1, 2], [3, 4, 5]]
    np.testing.assert_array_equal(transform(vec)(X), [0, 3, 1, 4, 2, 5])
    np.testing.assert_array_equal(
        transform(lambda X: vec(X, order="C"))(X), [0, 1, 2, 3, 4, 5]
    )


def test_vec_of_vector_is_itself(transform):
    x = jnp.arange(4.0)
    np.testing.assert_array_equal(transform(vec)(x), x)


@given(m=sizes, n=sizes, seed=seeds, order=st.sampled_from(["F", "C"]))
def test_unvec_vec_roundtrip_bitwise(m, n, seed, order):
    X = rand(seed, (m, n))
    v = vec(X, order=order)
    assert v.shape == (m * n,)
    back = unvec(v, (m, n), order=order)
    assert back.dtype == X.dtype
    np.testing.assert_array_equal(back, X)
    np.testing.assert_array_equal(vec(unvec(v, (m, n), order=order), order=order), v)


def test_unvec_jit_and_vmap():
    X = rand(0, (5, 3, 4))
    vs = jax.vmap(vec)(X)
    assert vs.shape == (5, 12)
    np.testing.assert_array_equal(vs[2], vec(X[2]))
    back = jax.jit(jax.vmap(lambda v: unvec(v, (3, 4))))(vs)
    np.testing.assert_array_equal(back, X)


@given(m=sizes, n=sizes, seed=seeds)
def test_trace_is_vec_inner_product(m, n, seed):
    A, B = rand(seed, (m, n)), rand(seed + 1, (m, n))
    np.testing.assert_allclose(
        jnp.trace(A.T @ B), vec(A) @ vec(B), rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("dtype", DTYPES)
@given(m=sizes, n=sizes, p=sizes, q=sizes, seed=seeds)
def test_vec_of_product_is_kronecker(dtype, m, n, p, q, seed):
    """vec(A X B) = (B^T kron A) vec(X)."""
    A, X = rand(seed, (m, n), dtype), rand(seed + 1, (n, p), dtype)
    B = rand(seed + 2, (p, q), dtype)
    rtol, atol = tol(dtype)
    np.testing.assert_allclose(
        vec(A @ X @ B), jnp.kron(B.T, A) @ vec(X), rtol=rtol * 10, atol=atol * 10
    )


# ---------------------------------------------------------------- vech / unvech


def test_vech_is_lower_triangle_by_columns(transform):
    S = jnp.array([[1.0, 9, 9], [2, 4, 9], [3, 5, 6]])
    np.testing.assert_array_equal(transform(vech)(S), [1, 2, 3, 4, 5, 6])


@given(n=st.integers(0, 7), seed=seeds)
def test_unvech_vech_roundtrip(n, seed):
    v = rand(seed, (n * (n + 1) // 2,))
    S = unvech(v)
    assert S.shape == (n, n)
    np.testing.assert_array_equal(S, S.T)
    np.testing.assert_array_equal(vech(S), v)


def test_unvech_jit_vmap():
    vs = rand(0, (4, 10))
    Ss = jax.jit(jax.vmap(unvech))(vs)
    assert Ss.shape == (4, 4, 4)
    np.testing.assert_array_equal(jax.vmap(vech)(Ss), vs)


# ---------------------------------------------------------------- K, D, L


@given(m=st.integers(0, 6), n=st.integers(0, 6), seed=seeds)
def test_commutation_matrix_properties(m, n, seed):
    K = commutation_matrix(m, n)
    assert K.shape == (m * n, m * n)
    A = rand(seed, (m, n))
    np.testing.assert_array_equal(K @ vec(A), vec(A.T))  # K_mn vec(A) = vec(A^T)
    np.testing.assert_array_equal(K @ commutation_matrix(n, m), jnp.eye(m * n))
    np.testing.assert_array_equal(K.T @ K, jnp.eye(m * n))  # orthogonal
    np.testing.assert_array_equal(K.T, commutation_matrix(n, m))


@given(m=sizes, n=sizes, p=sizes, q=sizes, seed=seeds)
def test_commutation_swaps_kronecker_factors(m, n, p, q, seed):
    """K_pm (A kron B) K_nq = B kron A for A (m, n), B (p, q)."""
    A, B = rand(seed, (m, n)), rand(seed + 1, (p, q))
    lhs = commutation_matrix(p, m) @ jnp.kron(A, B) @ commutation_matrix(n, q)
    np.testing.assert_allclose(lhs, jnp.kron(B, A), rtol=0, atol=0)


@given(n=st.integers(0, 7), seed=seeds)
def test_duplication_and_elimination(n, seed):
    D, L = duplication_matrix(n), elimination_matrix(n)
    k = n * (n + 1) // 2
    assert D.shape == (n * n, k) and L.shape == (k, n * n)
    np.testing.assert_array_equal(L @ D, jnp.eye(k))  # L_n D_n = I
    S = unvech(rand(seed, (k,)))
    np.testing.assert_array_equal(D @ vech(S), vec(S))  # D vech(S) = vec(S)
    A = rand(seed + 1, (n, n))
    np.testing.assert_array_equal(L @ vec(A), vech(A))  # L vec(A) = vech(A)
    if n:
        # D^+ = (D^T D)^{-1} D^T recovers vech from vec.
        Dplus = jnp.linalg.solve(D.T @ D, D.T)
        np.testing.assert_allclose(Dplus @ vec(S), vech(S), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "builder",
    [
        lambda: commutation_matrix(2, 3, dtype=jnp.float32),
        lambda: duplication_matrix(3, dtype=jnp.float32),
        lambda: elimination_matrix(3, dtype=jnp.int32),
    ],
)
def test_matrix_builders_dtype_and_jit(builder):
    eager, jitted = builder(), jax.jit(builder)()
    assert eager.dtype == jitted.dtype
    assert eager.dtype in (jnp.float32, jnp.int32)
    np.testing.assert_array_equal(eager, jitted)


def test_matrix_builders_default_dtype_is_default_float():
    assert commutation_matrix(2, 2).dtype == jnp.float64  # x64 is on in the suite


def test_matrix_builders_known_values():
    np.testing.assert_array_equal(
        commutation_matrix(2, 2, dtype=int),
        [[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]],
    )
    np.testing.assert_array_equal(
        duplication_matrix(2, dtype=int), [[1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 0, 1]]
    )


# ---------------------------------------------------------------- kron_matvec, commute


@pytest.mark.parametrize("dtype", DTYPES)
@given(p=sizes, q=sizes, r=sizes, s=sizes, seed=seeds)
def test_kron_matvec_matches_dense(dtype, p, q, r, s, seed):
    A, B = rand(seed, (p, q), dtype), rand(seed + 1, (r, s), dtype)
    v = rand(seed + 2, (q * s,), dtype)
    out = kron_matvec(A, B, v)
    assert out.shape == (p * r,) and out.dtype == dtype
    rtol, atol = tol(dtype)
    np.testing.assert_allclose(out, jnp.kron(A, B) @ v, rtol=rtol * 10, atol=atol * 10)


def test_kron_matvec_jit_vmap(transform):
    A, B = rand(0, (3, 4)), rand(1, (2, 5))
    V = rand(2, (7, 20))
    out = transform(jax.vmap(kron_matvec, in_axes=(None, None, 0)))(A, B, V)
    np.testing.assert_allclose(out, V @ jnp.kron(A, B).T, rtol=1e-12, atol=1e-12)


@given(m=st.integers(0, 6), n=st.integers(0, 6), seed=seeds)
def test_commute_equals_matrix_product_bitwise(m, n, seed):
    v = rand(seed, (m * n,))
    np.testing.assert_array_equal(commute(v, m, n), commutation_matrix(m, n) @ v)
    np.testing.assert_array_equal(commute(commute(v, m, n), n, m), v)


def test_commute_jit_vmap(transform):
    V = rand(0, (3, 12))
    out = transform(jax.vmap(lambda v: commute(v, 3, 4)))(V)
    np.testing.assert_array_equal(out, V @ commutation_matrix(3, 4).T)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call, match",
    [
        (
            lambda: vec(jnp.float64(1.0)),
            r"jaxmc.vec: argument `X` must have rank 1 or 2; got rank 0",
        ),
        (
            lambda: vec(jnp.ones((2, 2, 2))),
            r"argument `X` must have rank 1 or 2; got rank 3 with shape \(2, 2, 2\)",
        ),
        (
            lambda: vec(jnp.ones((2, 2)), order="A"),
            r"jaxmc.vec: argument `order` must be one of 'F', 'C'; got 'A'",
        ),
        (
            lambda: unvec(jnp.ones((2, 2)), (4,)),
            r"jaxmc.unvec: argument `v` must have rank 1",
        ),
        (
            lambda: unvec(jnp.ones(6), (4, 2)),
            r"`shape` \(4, 2\) holds 8 entries but `v` has length 6",
        ),
        (lambda: unvec(jnp.ones(6), (1, 2, 3)), r"`shape` must have 1 or 2 entries"),
        (
            lambda: unvec(jnp.ones(6), (-2, -3)),
            r"`shape\[0\]` must be an int >= 0; got -2",
        ),
        (
            lambda: vech(jnp.ones((2, 3))),
            r"jaxmc.vech: argument `S` must be a square matrix; got shape \(2, 3\)",
        ),
        (lambda: vech(jnp.ones(3)), r"jaxmc.vech: argument `S` must have rank 2"),
        (
            lambda: unvech(jnp.ones(5)),
            r"jaxmc.unvech: argument `v` must have a triangular length .* got length 5, between 3 \(n=2\) and 6 \(n=3\)",
        ),
        (
            lambda: commutation_matrix(-1, 2),
            r"jaxmc.commutation_matrix: argument `m` must be an int >= 0; got -1",
        ),
        (
            lambda: duplication_matrix(-3),
            r"jaxmc.duplication_matrix: argument `n` must be an int >= 0; got -3",
        ),
        (
            lambda: elimination_matrix(-1),
            r"jaxmc.elimination_matrix: argument `n` must be an int >= 0",
        ),
        (
            lambda: kron_matvec(jnp.ones((2, 3)), jnp.ones((4, 5)), jnp.ones(14)),
            r"jaxmc.kron_matvec: argument `v` must have length q\*s = 3\*5 = 15 .* got length 14",
        ),
        (
            lambda: kron_matvec(jnp.ones(3), jnp.ones((4, 5)), jnp.ones(15)),
            r"jaxmc.kron_matvec: argument `A` must have rank 2; got rank 1",
        ),
        (
            lambda: kron_matvec(jnp.ones((2, 3)), jnp.ones((4, 5)), jnp.ones((15, 1))),
            r"argument `v` must have rank 1; got rank 2",
        ),
        (
            lambda: commute(jnp.ones(5), 2, 3),
            r"jaxmc.commute: argument `v` must have length m\*n = 2\*3 = 6; got length 5",
        ),
        (
            lambda: commute(jnp.ones(6), 2, -3),
            r"jaxmc.commute: argument `n` must be an int >= 0; got -3",
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
            lambda: commutation_matrix(2.5, 2),
            r"argument `m` must be an int; got float 2.5",
        ),
        (lambda: duplication_matrix("3"), r"argument `n` must be an int; got str"),
        (
            lambda: jax.jit(commutation_matrix)(2, 3),
            r"argument `m` must be a static Python int .*static_argnums",
        ),
        (
            lambda: unvec(jnp.ones(4), "ab"),
            r"jaxmc.unvec: argument `shape` must be a tuple of ints; got str",
        ),
        (lambda: vec(object()), r"jaxmc.vec: argument `X` must be an array"),
    ],
)
def test_bad_input_type_errors(call, match):
    with pytest.raises(TypeError, match=match):
        call()


def test_errors_under_jit_are_clear():
    """Shape checks are static, so jit reports the same message, not an XLA trace."""
    with pytest.raises(ValueError, match=r"jaxmc.vech: argument `S` must be a square"):
        jax.jit(vech)(jnp.ones((2, 3)))


def test_top_level_reexports_are_the_module_functions():
    assert jaxmc.vec is vec and jaxmc.kron_matvec is kron_matvec
