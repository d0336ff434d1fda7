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
SYMBOLIC = [
    # Division by a constant zero: a ParseError at the division's position.
    case("sym-div-zero", lambda: jaxmc.symbolic.derive("sum(x)/0", wrt="x"),
         ValueError, "jaxmc.symbolic.parse", "division by zero", "position 6"),
    case("sym-x-div-zero", lambda: jaxmc.symbolic.derive("x/0", wrt="x"),
         ValueError, "division by zero", "position 1"),
    case("sym-ediv-zero", lambda: jaxmc.symbolic.derive("sum(x)./0", wrt="x"),
         ValueError, "division by zero", "position 6"),
    case("sym-times-one-over-zero", lambda: jaxmc.symbolic.derive("sum(x)*(1/0)", wrt="x"),
         ValueError, "division by zero", "position 9"),
    case("sym-div-identically-zero", lambda: jaxmc.symbolic.parse("x./(x - x)"),
         ValueError, "division by zero", "`x - x`", "position 1"),
    case("sym-zero-negative-power", lambda: jaxmc.symbolic.parse("0^-1*x"),
         ValueError, "division by zero", "position 1"),
    case("sym-python-div-zero",
         lambda: jaxmc.symbolic.Symbol("x", "vector") / 0,
         ValueError, "jaxmc.symbolic", "division by the constant zero"),
    # Deep nesting: a clear limit, not a RecursionError.
    case("sym-deep-parentheses",
         lambda: jaxmc.symbolic.parse("(" * 200 + "x" + ")" * 200),
         ValueError, "jaxmc.symbolic.parse", "nested more than 100 levels"),
    case("sym-deep-signs", lambda: jaxmc.symbolic.parse("-" * 300 + "x"),
         ValueError, "nested more than 100 levels"),
    # Singular everywhere: said so, not blamed on a rule.
    case("sym-singular-rank-one",
         lambda: jaxmc.symbolic.derive("sum(inv(x*x')*b)", wrt="x"),
         ArithmeticError, "singular", "`x*x'` has condition number", "verify=False"),
    case("sym-singular-low-rank",
         lambda: jaxmc.symbolic.derive("log(det(A*A'))", wrt="A", A=(3, 2)),
         ArithmeticError, "singular", "`A*A'`", "rows(A)=3"),
    # Options take booleans only.
    case("sym-verify-string",
         lambda: jaxmc.symbolic.derive("x'*x", wrt="x", verify="no"),
         TypeError, "jaxmc.symbolic.derive", "`verify`", "bool", "'no'"),
    case("sym-hessian-int",
         lambda: jaxmc.symbolic.derive("x'*x", wrt="x", hessian=1),
         TypeError, "`hessian`", "bool", "int 1"),
    case("sym-differential-verify",
         lambda: jaxmc.symbolic.differential("inv(X)", wrt="X", verify=None),
         TypeError, "jaxmc.symbolic.differential", "`verify`", "None"),
    # The generated function rejects complex inputs.
    case("sym-fn-complex",
         lambda: jaxmc.symbolic.derive("x'*x", wrt="x", verify=False).fn(
             jnp.ones(3) * 1j),
         TypeError, "argument `x`", "must be real", "complex128"),
    # Derivatives that are tensors outside the vec layout.
    case("sym-diag-3-way",
         lambda: jaxmc.symbolic.derive("diag(x)", wrt="x"),
         ValueError, "3-way tensor", "layout='vec'"),
    case("sym-inv-4-way",
         lambda: jaxmc.symbolic.derive("inv(X)", wrt="X"),
         ValueError, "matrix-valued", "4-way tensor", "layout='vec'"),
    case("sym-hessian-matrix-mixed",
         lambda: jaxmc.symbolic.derive("tr(X'*X)", wrt="X", hessian=True),
         ValueError, "Hessian", "4-way tensor", "layout='vec'"),
]  # fmt: skip


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
