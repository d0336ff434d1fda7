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
CHECK = []


# --- symbolic derivation (jaxmc.symbolic) ---------------------------------
SYMBOLIC = []


# --- spectra and curvature operators (jaxmc.spectrum) ---------------------
SPECTRUM = [
    # curvature matrices (issue 13): K-FAC, inverse, logdet, Jacobian, blocks
    case(
        "kfac_operator unknown likelihood",
        lambda: jaxmc.spectrum.kfac_operator(
            lambda p, x: x @ p, jnp.ones((2, 3)), jnp.ones((4, 2)), likelihood="poisson"
        ),
        ValueError,
        "kfac_operator",
        "`likelihood`",
        "'poisson'",
    ),
    case(
        "kfac_operator logits of the wrong shape",
        lambda: jaxmc.spectrum.kfac_operator(
            lambda p, x: (x @ p)[:, 0], jnp.ones((2, 3)), jnp.ones((4, 2))
        ),
        ValueError,
        "kfac_operator",
        "logits of shape",
        "(4, C >= 2)",
        "got shape (4,)",
    ),
    case(
        "kfac_operator mc_samples without a key",
        lambda: jaxmc.spectrum.kfac_operator(
            lambda p, x: x @ p, jnp.ones((2, 3)), jnp.ones((4, 2)), mc_samples=8
        ),
        ValueError,
        "kfac_operator",
        "`mc_samples=8`",
        "PRNG key",
    ),
    case(
        "kfac_operator model without a dense layer",
        lambda: jaxmc.spectrum.kfac_operator(
            lambda p, x: x * p[None, :], jnp.ones(3), jnp.ones((4, 3))
        ),
        ValueError,
        "kfac_operator",
        "no dense layer",
        "x @ W",
    ),
    case(
        "inverse with tol <= 0",
        lambda: jaxmc.spectrum.inverse(
            jaxmc.spectrum.matrix_operator(jnp.eye(2)), tol=0.0
        ),
        ValueError,
        "inverse",
        "`tol`",
        "> 0",
    ),
    case(
        "logdet of an indefinite operator",
        lambda: jaxmc.spectrum.logdet(
            jaxmc.spectrum.matrix_operator(jnp.diag(jnp.array([1.0, -1.0, 2.0]))),
            key=np.array([0, 0], np.uint32),
            num_probes=2,
            lanczos_steps=3,
        ),
        ValueError,
        "logdet",
        "not positive definite",
        "damped",
    ),
    case(
        "jacobian_operator model without an example axis",
        lambda: jaxmc.spectrum.jacobian_operator(
            lambda p, x: jnp.sum(x @ p), jnp.ones(2), jnp.ones((4, 2))
        ),
        ValueError,
        "jacobian_operator",
        "leading example axis",
        "size 4",
    ),
    case(
        "LinearOperator.block with indices out of range",
        lambda: jaxmc.spectrum.matrix_operator(jnp.eye(3)).block(np.array([0, 3])),
        ValueError,
        "block",
        "`rows`",
        "[0, 3)",
    ),
    case(
        "flax_model_fn with a function as module",
        lambda: jaxmc.spectrum.flax_model_fn(
            jaxmc.spectrum.flax_model_fn, {"batch_stats": {}}
        ),
        TypeError,
        "flax_model_fn",
        "`module`",
    ),
]


CASES = GENERAL + CHECK + SYMBOLIC + SPECTRUM


@pytest.mark.parametrize("call, exc, words", CASES)
def test_bad_input_raises_clearly(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    text = str(info.value)
    for word in words:
        assert word in text, f"{word!r} not in the message: {text}"
