"""Tests for the internal argument checks (jaxmc._checks)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmc import _checks

FN = "jaxmc.example"


def test_check_shape_wildcards():
    _checks.check_shape(FN, "x", jnp.ones((2, 3)), (2, None))
    with pytest.raises(
        ValueError,
        match=r"jaxmc.example: argument `x` must have shape \(2, \*\); got shape \(3, 3\)",
    ):
        _checks.check_shape(FN, "x", jnp.ones((3, 3)), (2, None))


def test_check_equal_shapes():
    _checks.check_equal_shapes(FN, ["a", "b"], [jnp.ones(3), jnp.zeros(3)])
    with pytest.raises(ValueError, match=r"equal shapes; got `a` \(3,\), `b` \(4,\)"):
        _checks.check_equal_shapes(FN, ["a", "b"], [jnp.ones(3), jnp.zeros(4)])


def test_check_floating():
    _checks.check_floating(FN, "x", jnp.ones(2, dtype=jnp.float32))
    with pytest.raises(TypeError, match=r"`x` must have a floating dtype .* got int"):
        _checks.check_floating(FN, "x", jnp.ones(2, dtype=jnp.int32))


def test_check_key():
    _checks.check_key(FN, "key", jax.random.key(0))
    _checks.check_key(FN, "key", jax.random.PRNGKey(0))
    for bad in (0, jnp.ones(2), None):
        with pytest.raises(TypeError, match=r"`key` must be a PRNG key"):
            _checks.check_key(FN, "key", bad)


def test_check_finite_names_the_first_bad_entry():
    _checks.check_finite(FN, "x", jnp.ones(3))
    with pytest.raises(
        ValueError, match=r"1 non-finite entry, the first at index \(1, 0\) \(nan\)"
    ):
        _checks.check_finite(FN, "x", np.array([[1.0, 2.0], [np.nan, 3.0]]))


def test_check_finite_is_a_noop_under_jit():
    out = jax.jit(lambda x: (_checks.check_finite(FN, "x", x), x)[1])(
        jnp.array([jnp.nan])
    )
    assert jnp.isnan(out[0])


def test_check_callable_and_one_of():
    with pytest.raises(TypeError, match=r"`f` must be callable; got int"):
        _checks.check_callable(FN, "f", 3)
    with pytest.raises(ValueError, match=r"`mode` must be one of 'a', 'b'; got 'c'"):
        _checks.check_one_of(FN, "mode", "c", ["a", "b"])
