"""Bad inputs across the public API: one table, one row (or more) per class.

Each row is a call that must raise, the exception type, and words the message
must contain (the function, the argument, what was expected, what was given).
None of these inputs may pass silently, crash with an internal error, or end
in a cryptic trace from inside JAX or numpy. The rows are grouped by area; the
README's reliability section quotes their count.
"""

import jax
import jax.numpy as jnp  # noqa: F401
import numpy as np  # noqa: F401
import pytest

import jaxmc  # noqa: F401
import jaxmc.spectrum


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
SPECTRUM = []


# issues 16, 18, 21: zero-size data, masks, vector shapes, symmetry, options.
def _sp_loss(p, batch):
    x, y = batch
    return jnp.mean((jnp.tanh(x @ p["w1"]) @ p["w2"] - y) ** 2)


def _sp_model(p, batch):
    return jnp.tanh(batch[0] @ p["w1"]) @ p["w2"]


def _sp_mse(out, batch):
    return jnp.mean((out - batch[1]) ** 2)


_SP_P = {"w1": jnp.ones((2, 3)) * 0.3, "w2": jnp.arange(3.0) / 3}  # 9 parameters
_SP_D = (jnp.linspace(-1.0, 1.0, 8).reshape(4, 2), jnp.arange(4.0))
_SP_KEY = jax.random.key(0)
_SP_BAD_OUT = jaxmc.spectrum.LinearOperator(lambda v: v[:2], size=3, dtype=float)
_SP_RAISES = jaxmc.spectrum.LinearOperator(
    lambda v: jnp.ones((4, 4)) @ v, size=3, dtype=float
)
_SP_EYE = jaxmc.spectrum.matrix_operator(jnp.eye(8))


def _sp_hess(**kw):
    return jaxmc.spectrum.hessian_operator(_sp_loss, _SP_P, _SP_D, **kw)


SPECTRUM += [
    case(
        "hessian_operator_zero_examples",
        lambda: jaxmc.spectrum.hessian_operator(
            _sp_loss, _SP_P, (_SP_D[0][:0], _SP_D[1][:0])
        ),
        ValueError,
        "hessian_operator",
        "`data`",
        "no examples",
    ),
    case(
        "ggn_operator_zero_examples",
        lambda: jaxmc.spectrum.ggn_operator(
            _sp_model, _sp_mse, _SP_P, (_SP_D[0][:0], _SP_D[1][:0])
        ),
        ValueError,
        "ggn_operator",
        "no examples",
    ),
    case(
        "hessian_operator_stream_empty_first_batch",
        lambda: jaxmc.spectrum.hessian_operator(
            _sp_loss, _SP_P, lambda: [(_SP_D[0][:0], _SP_D[1][:0])]
        ),
        ValueError,
        "first batch",
        "no examples",
    ),
    case(
        "input_hessian_operator_empty_inputs",
        lambda: jaxmc.spectrum.input_hessian_operator(
            lambda p, x: jnp.sum(x**2), _SP_P, jnp.ones((0, 2))
        ),
        ValueError,
        "input_hessian_operator",
        "`inputs`",
        "empty",
    ),
    case(
        "param_filter_string_in_mask",
        lambda: _sp_hess(param_filter={"w1": True, "w2": "yes"}),
        TypeError,
        "`param_filter`",
        "bools",
        "'yes'",
        "['w2']",
    ),
    case(
        "param_filter_int_in_mask",
        lambda: _sp_hess(param_filter={"w1": 1, "w2": 0}),
        TypeError,
        "`param_filter`",
        "int 1",
    ),
    case(
        "param_filter_callable_returns_string",
        lambda: _sp_hess(param_filter=lambda path, leaf: "w1"),
        TypeError,
        "`param_filter`",
        "the callable returned str",
    ),
    case(
        "param_filter_wrong_structure",
        lambda: _sp_hess(param_filter={"w1": True}),
        TypeError,
        "`param_filter`",
        "structure of `params`",
    ),
    case(
        "matvec_flat_vector_too_long",
        lambda: _sp_hess().matvec(jnp.ones(10)),
        ValueError,
        "HessianOperator.matvec",
        "shape (9,)",
        "shape (10,)",
    ),
    case(
        "matvec_pytree_missing_leaf",
        lambda: _sp_hess().matvec({"w1": jnp.ones((2, 3))}),
        ValueError,
        "matvec",
        "'w2': (3,)",
        "{'w1': (2, 3)}",
    ),
    case(
        "matvec_pytree_wrong_leaf_shape",
        lambda: _sp_hess().matvec({"w1": jnp.ones((3, 2)), "w2": jnp.ones(3)}),
        ValueError,
        "matvec",
        "'w1': (2, 3)",
    ),
    case(
        "matrix_operator_matvec_wrong_size",
        lambda: _SP_EYE.matvec(jnp.ones(9)),
        ValueError,
        "MatrixOperator.matvec",
        "shape (8,)",
        "(9,)",
    ),
    case(
        "matrix_operator_matvec_matrix",
        lambda: _SP_EYE.matvec(jnp.ones((8, 8))),
        ValueError,
        "shape (8,)",
        "(8, 8)",
    ),
    case(
        "user_operator_returns_wrong_shape_eigenvalues",
        lambda: jaxmc.spectrum.eigenvalues(_SP_BAD_OUT, 1, key=_SP_KEY),
        ValueError,
        "eigenvalues",
        "matvec must map a vector of shape (3,)",
        "shape (2,)",
    ),
    case(
        "user_operator_returns_wrong_shape_trace",
        lambda: jaxmc.spectrum.trace(_SP_BAD_OUT, key=_SP_KEY),
        ValueError,
        "trace",
        "shape (2,)",
    ),
    case(
        "user_operator_returns_wrong_shape_density",
        lambda: jaxmc.spectrum.spectral_density(_SP_BAD_OUT, key=_SP_KEY),
        ValueError,
        "spectral_density",
        "shape (2,)",
    ),
    case(
        "user_operator_returns_wrong_shape_matvec",
        lambda: _SP_BAD_OUT.matvec(jnp.ones(3)),
        ValueError,
        "LinearOperator.matvec",
        "shape (2,)",
    ),
    case(
        "user_operator_matvec_raises",
        lambda: jaxmc.spectrum.diagonal(_SP_RAISES, key=_SP_KEY),
        ValueError,
        "diagonal",
        "calling the operator's matvec",
        "failed",
    ),
    case(
        "matrix_operator_not_symmetric",
        lambda: jaxmc.spectrum.matrix_operator(jnp.triu(jnp.ones((4, 4)))),
        ValueError,
        "matrix_operator",
        "`M` must be symmetric",
        "(M + M.T) / 2",
    ),
    case(
        "matrix_operator_subnormal_entries",
        lambda: jaxmc.spectrum.matrix_operator(
            np.diag(np.array([1e-40, 1e-39], np.float32))
        ),
        ValueError,
        "matrix_operator",
        "subnormal",
        "Rescale",
    ),
    case(
        "matrix_operator_empty",
        lambda: jaxmc.spectrum.matrix_operator(jnp.ones((0, 0))),
        ValueError,
        "matrix_operator",
        "empty",
    ),
    case(
        "trace_check_symmetric_not_bool",
        lambda: jaxmc.spectrum.trace(_SP_EYE, key=_SP_KEY, check_symmetric="yes"),
        TypeError,
        "trace",
        "`check_symmetric`",
        "True or False",
    ),
    case(
        "kpm_check_symmetric_finds_asymmetry",
        lambda: jaxmc.spectrum.kpm_density(
            jaxmc.spectrum.LinearOperator(
                lambda v: jnp.triu(jnp.ones((6, 6))) @ v, size=6, dtype=float
            ),
            key=_SP_KEY,
            check_symmetric=True,
        ),
        ValueError,
        "kpm_density",
        "not symmetric",
    ),
    case(
        "spectral_density_sigma_string",
        lambda: jaxmc.spectrum.spectral_density(_SP_EYE, key=_SP_KEY, sigma="wide"),
        TypeError,
        "spectral_density",
        "`sigma`",
        "positive real scalar",
        "'wide'",
    ),
    case(
        "spectral_density_sigma_negative",
        lambda: jaxmc.spectrum.spectral_density(_SP_EYE, key=_SP_KEY, sigma=-1.0),
        ValueError,
        "`sigma`",
        "positive",
        "-1.0",
    ),
    case(
        "spectral_density_sigma_vector",
        lambda: jaxmc.spectrum.spectral_density(
            _SP_EYE, key=_SP_KEY, sigma=jnp.ones(2)
        ),
        TypeError,
        "`sigma`",
        "shape (2,)",
    ),
    case(
        "spectral_density_confidence_string",
        lambda: jaxmc.spectrum.spectral_density(
            _SP_EYE, key=_SP_KEY, confidence="high"
        ),
        TypeError,
        "`confidence`",
        "(0, 1)",
        "'high'",
    ),
    case(
        "kpm_density_confidence_out_of_range",
        lambda: jaxmc.spectrum.kpm_density(_SP_EYE, key=_SP_KEY, confidence=1.5),
        ValueError,
        "kpm_density",
        "`confidence`",
        "1.5",
    ),
    case(
        "spectral_density_deflate_negative",
        lambda: jaxmc.spectrum.spectral_density(_SP_EYE, key=_SP_KEY, deflate=-2),
        ValueError,
        "`deflate`",
        ">= 0",
    ),
    case(
        "spectral_density_grid_string",
        lambda: jaxmc.spectrum.spectral_density(_SP_EYE, key=_SP_KEY, grid="fine"),
        TypeError,
        "`grid`",
    ),
    case(
        "kpm_density_num_moments_too_small",
        lambda: jaxmc.spectrum.kpm_density(_SP_EYE, key=_SP_KEY, num_moments=1),
        ValueError,
        "`num_moments`",
        ">= 2",
    ),
    case(
        "kpm_density_bounds_miss_spectrum",
        lambda: jaxmc.spectrum.kpm_density(
            jaxmc.spectrum.matrix_operator(jnp.diag(jnp.linspace(0.0, 10.0, 20))),
            key=_SP_KEY,
            num_moments=30,
            bounds=(0.0, 8.0),
        ),
        ValueError,
        "kpm_density",
        "`bounds`",
        "miss part of the spectrum",
    ),
    case(
        "kpm_density_bounds_string",
        lambda: jaxmc.spectrum.kpm_density(_SP_EYE, key=_SP_KEY, bounds="auto"),
        TypeError,
        "`bounds`",
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
