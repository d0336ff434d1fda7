"""Bad inputs across the public API: one table, one row (or more) per class.

Each row is a call that must raise, the exception type, and words the message
must contain (the function, the argument, what was expected, what was given).
None of these inputs may pass silently, crash with an internal error, or end
in a cryptic trace from inside JAX or numpy. The rows are grouped by area; the
README's reliability section quotes their count.
"""

import jax.numpy as jnp  # noqa: F401
import numpy as np  # noqa: F401
import pytest

import jaxmc  # noqa: F401


def case(name, call, exc, *words):
    """One row: ``call()`` raises ``exc`` with every one of ``words`` in it."""
    return pytest.param(call, exc, words, id=name)


# --- vec, layout, differentials, cost, identities -------------------------
GENERAL = [
    case(
        "hessian_from_second_differential: linear d2f",
        lambda: jaxmc.hessian_from_second_differential(
            lambda dx: jnp.sum(dx), jnp.zeros(3)
        ),
        ValueError,
        "jaxmc.hessian_from_second_differential",
        "`d2f`",
        "quadratic form",
        "is not 4 d2f(dx)",
        "degree 1",
    ),
    case(
        "hessian_from_second_differential: cubic d2f",
        lambda: jaxmc.hessian_from_second_differential(
            lambda dx: jnp.sum(dx**3), jnp.zeros(3)
        ),
        ValueError,
        "jaxmc.hessian_from_second_differential",
        "`d2f`",
        "degree 3",
    ),
    case(
        "hessian_from_second_differential: affine d2f",
        lambda: jaxmc.hessian_from_second_differential(
            lambda dx: dx @ dx + 1.0, jnp.zeros(3)
        ),
        ValueError,
        "jaxmc.hessian_from_second_differential",
        "d2f(0) = 1",
        "constant term",
    ),
    case(
        "hessian_from_second_differential: degree 2, not quadratic",
        lambda: jaxmc.hessian_from_second_differential(
            lambda dX: jnp.sum(jnp.abs(dX)) ** 2, jnp.zeros((2, 2))
        ),
        ValueError,
        "jaxmc.hessian_from_second_differential",
        "polarisation identity",
    ),
]


# --- gradient checks and finite differences (jaxmc.check) -----------------
CHECK = []


# --- symbolic derivation (jaxmc.symbolic) ---------------------------------
SYMBOLIC = []


# --- spectra and curvature operators (jaxmc.spectrum) ---------------------
SPECTRUM = []


CASES = GENERAL + CHECK + SYMBOLIC + SPECTRUM


@pytest.mark.parametrize("call, exc, words", CASES)
def test_bad_input_raises_clearly(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    text = str(info.value)
    for word in words:
        assert word in text, f"{word!r} not in the message: {text}"
