"""Tests for the LinearOperator contract shared by the spectrum algorithms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmc.spectrum import LinearOperator, matrix_operator


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("chunk_size", [None, 1, 3])
def test_matrix_operator_roundtrip(dtype, chunk_size):
    M = jax.random.normal(jax.random.key(0), (5, 5), dtype)
    M = M + M.T
    op = matrix_operator(M)
    assert op.size == 5 and op.dtype == dtype and op.shape == (5, 5)
    np.testing.assert_array_equal(op.to_dense(chunk_size=chunk_size), M)
    v = jnp.arange(5.0, dtype=dtype)
    np.testing.assert_allclose(op.matvec(v), M @ v, rtol=1e-6)
    np.testing.assert_allclose(jax.jit(op.matvec)(v), M @ v, rtol=1e-6)


def test_pytree_matvec_uses_ravel_and_unravel():
    M = jnp.diag(jnp.arange(1.0, 4.0))
    op = LinearOperator(
        lambda v: M @ v,
        size=3,
        dtype=M.dtype,
        ravel=lambda t: jnp.concatenate([t["a"], t["b"]]),
        unravel=lambda v: {"a": v[:2], "b": v[2:]},
    )
    out = op.matvec({"a": jnp.ones(2), "b": jnp.ones(1)})
    np.testing.assert_array_equal(out["a"], [1.0, 2.0])
    np.testing.assert_array_equal(out["b"], [3.0])


def test_bad_inputs():
    with pytest.raises(
        ValueError, match=r"matrix_operator: argument `M` must be a square"
    ):
        matrix_operator(jnp.ones((2, 3)))
    with pytest.raises(TypeError, match=r"`flat_matvec` must be callable"):
        LinearOperator(3, size=2, dtype=jnp.float64)
    with pytest.raises(ValueError, match=r"`size` must be an int >= 1; got 0"):
        LinearOperator(lambda v: v, size=0, dtype=jnp.float64)
