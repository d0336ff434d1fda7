"""Bad inputs across the public API: one table, one row (or more) per class.

Each row is a call that must raise, the exception type, and words the message
must contain (the function, the argument, what was expected, what was given).
None of these inputs may pass silently, crash with an internal error, or end
in a cryptic trace from inside JAX or numpy. The rows are grouped by area; the
README's reliability section quotes their count.
"""

import jax  # noqa: F401
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
    case(
        "kpm_density-kernel",
        lambda: jaxmc.spectrum.kpm_density(
            jaxmc.spectrum.matrix_operator(jnp.eye(3)),
            key=jax.random.key(0),
            kernel="lorentz",
        ),
        ValueError,
        "kpm_density",
        "`kernel`",
        "jackson",
        "lorentz",
    ),
    case(
        "plot_eigenvalues-which",
        lambda: jaxmc.spectrum.plot_eigenvalues(np.ones(2), which="top"),
        ValueError,
        "plot_eigenvalues",
        "`which`",
        "largest",
        "'top'",
    ),
    case(
        "plot_eigenvalues-smallest-without-size",
        lambda: jaxmc.spectrum.plot_eigenvalues(np.ones(2), which="smallest"),
        ValueError,
        "plot_eigenvalues",
        "size=n",
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
