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
GENERAL = []


# --- gradient checks and finite differences (jaxmc.check) -----------------
CHECK = [
    case(
        "numerical_gradient eps=1e-30 vanishes",
        lambda: jaxmc.numerical_gradient(jnp.sum, jnp.ones(3), eps=1e-30),
        ValueError,
        "jaxmc.numerical_gradient",
        "`eps`",
        "below 4 ulps",
        "Pass eps >=",
    ),
    case(
        "numerical_jacobian eps=1e-9 in float32 vanishes",
        lambda: jaxmc.numerical_jacobian(jnp.sin, jnp.ones(3, jnp.float32), eps=1e-9),
        ValueError,
        "jaxmc.numerical_jacobian",
        "float32",
        "use float64",
    ),
    case(
        "numerical_gradient subnormal step",
        lambda: jaxmc.numerical_gradient(
            jnp.sum, jnp.full(2, 1e-37, jnp.float32), eps=1e-3
        ),
        ValueError,
        "jaxmc.numerical_gradient",
        "vanishes at x's scale",
        "smallest normal",
    ),
    case(
        "check_gradient eps=1e-30 vanishes",
        lambda: jaxmc.check_gradient(jnp.sum, jnp.ones(3), eps=1e-30),
        ValueError,
        "jaxmc.check_gradient",
        "`eps`",
        "below 4 ulps",
    ),
    case(
        "check_gradient eps a string",
        lambda: jaxmc.check_gradient(jnp.sum, jnp.ones(3), eps="small"),
        TypeError,
        "jaxmc.check_gradient",
        "`eps`",
        "positive float",
        "str",
    ),
    case(
        "check_gradient rtol NaN",
        lambda: jaxmc.check_gradient(jnp.sum, jnp.ones(3), rtol=np.float32("nan")),
        ValueError,
        "jaxmc.check_gradient",
        "`rtol`",
        "finite",
    ),
    case(
        "check_gradient atol negative numpy scalar",
        lambda: jaxmc.check_gradient(jnp.sum, jnp.ones(3), atol=np.float64(-1)),
        ValueError,
        "jaxmc.check_gradient",
        "`atol`",
        ">= 0",
    ),
    case(
        "check_gradient integer x names the accepted dtypes",
        lambda: jaxmc.check_gradient(jnp.sum, jnp.arange(3)),
        TypeError,
        "jaxmc.check_gradient",
        "`x`",
        "float16, bfloat16, float32 or float64",
        "int",
    ),
    case(
        "hessian larger than memory",
        lambda: jaxmc.hessian(jnp.sum)(jnp.ones(10**6)),
        MemoryError,
        "jaxmc.hessian",
        "Hessian",
        "bytes",
        "available",
        "hessian_operator",
    ),
    case(
        "hessian all at once larger than memory",
        lambda: jaxmc.hessian(jnp.sum)(
            jnp.ones(int((jaxmc._memory.available_bytes() / 12) ** 0.5))
        ),
        MemoryError,
        "jaxmc.hessian",
        "at once",
        "chunk_size=",
        "memory_limit=",
    ),
    case(
        "jacobian vec layout larger than memory",
        lambda: jaxmc.jacobian(jnp.sin, layout="vec")(jnp.ones(10**6)),
        MemoryError,
        "jaxmc.jacobian",
        "Jacobian",
        "bytes",
        "available",
    ),
    case(
        "cost_report on 10^6 inputs",
        lambda: jaxmc.cost.cost_report(jnp.sum, jnp.ones(10**6), repeats=1),
        MemoryError,
        "jaxmc.cost.cost_report",
        "bytes",
        "available",
        "modes=",
    ),
    case(
        "commutation_matrix(10^4, 10^4)",
        lambda: jaxmc.commutation_matrix(10**4, 10**4),
        MemoryError,
        "jaxmc.commutation_matrix",
        "bytes",
        "available",
        "jaxmc.commute",
    ),
    case(
        "duplication_matrix(10^4)",
        lambda: jaxmc.duplication_matrix(10**4),
        MemoryError,
        "jaxmc.duplication_matrix",
        "bytes",
        "available",
    ),
    case(
        "to_dense larger than memory",
        lambda: jaxmc.spectrum.LinearOperator(
            lambda v: v, size=10**6, dtype=jnp.float64
        ).to_dense(),
        MemoryError,
        "to_dense",
        "bytes",
        "available",
        "matrix-free",
    ),
]


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
