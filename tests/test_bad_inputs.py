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
    # zero-size variables and outputs: nothing to differentiate
    case(
        "hessian-zero-size",
        lambda: jaxmc.hessian(lambda x: jnp.sum(x**2))(jnp.ones(0)),
        ValueError,
        "jaxmc.hessian",
        "args[0]",
        "no entries",
        "(0,)",
    ),
    case(
        "hessian-zero-size-chunked",
        lambda: jaxmc.hessian(jnp.sum, chunk_size=2)(jnp.ones((0, 3))),
        ValueError,
        "jaxmc.hessian",
        "no entries",
    ),
    case(
        "jacobian-zero-size-chunked",
        lambda: jaxmc.jacobian(jnp.sin, chunk_size=2)(jnp.ones(0)),
        ValueError,
        "jaxmc.jacobian",
        "args[0]",
        "no entries",
    ),
    case(
        "jacobian-zero-size",
        lambda: jaxmc.jacobian(jnp.sin, layout="vec")(jnp.ones((2, 0))),
        ValueError,
        "jaxmc.jacobian",
        "no entries",
    ),
    case(
        "jacobian-empty-output",
        lambda: jaxmc.jacobian(lambda x: x[:0], mode="reverse", chunk_size=2)(
            jnp.ones(3)
        ),
        ValueError,
        "jaxmc.jacobian",
        "`f` returned an array with no entries",
    ),
    case(
        "gradient-zero-size",
        lambda: jaxmc.gradient(jnp.sum)(jnp.ones(0)),
        ValueError,
        "jaxmc.gradient",
        "no entries",
    ),
    case(
        "gradient-empty-pytree",
        lambda: jaxmc.gradient(lambda p: 0.0)({}),
        ValueError,
        "jaxmc.gradient",
        "args[0]",
        "arrays to differentiate",
    ),
    case(
        "cost-report-zero-size",
        lambda: jaxmc.cost_report(jnp.sin, jnp.ones(0), repeats=1),
        ValueError,
        "cost_report",
        "no entries",
    ),
    case(
        "choose-mode-zero-size",
        lambda: jaxmc.choose_mode(jnp.sin, jnp.ones((0, 2))),
        ValueError,
        "choose_mode",
        "no entries",
    ),
    case(
        "jacobian-from-differential-zero-size",
        lambda: jaxmc.jacobian_from_differential(lambda d: 2 * d, jnp.ones((0, 2))),
        ValueError,
        "jacobian_from_differential",
        "`X`",
        "no entries",
    ),
    case(
        "gradient-from-differential-zero-size",
        lambda: jaxmc.gradient_from_differential(jnp.sum, jnp.ones(0)),
        ValueError,
        "gradient_from_differential",
        "no entries",
    ),
    case(
        "hessian-from-second-differential-zero-size",
        lambda: jaxmc.hessian_from_second_differential(lambda d: d @ d, jnp.ones(0)),
        ValueError,
        "hessian_from_second_differential",
        "no entries",
    ),
    case(
        "differential-zero-size",
        lambda: jaxmc.differential(jnp.sum)(jnp.ones(0), jnp.ones(0)),
        ValueError,
        "jaxmc.differential",
        "no entries",
    ),
    # degenerate sizes in the identity samplers
    case(
        "sample-size-zero",
        lambda: jaxmc.identities.get("logdet.X").sample(
            jnp.array([0, 0], dtype=jnp.uint32), {"m": 0, "n": 0, "p": 0, "q": 0}
        ),
        ValueError,
        "Identity.sample",
        "dims['m']",
        ">= 1",
        "got 0",
    ),
    case(
        "sample-size-negative",
        lambda: jaxmc.identities.get("trace.AX").sample(
            jnp.array([0, 0], dtype=jnp.uint32), {"m": 2, "n": -1, "p": 2, "q": 2}
        ),
        ValueError,
        "dims['n']",
        ">= 1",
        "got -1",
    ),
    case(
        "sample-size-bool",
        lambda: jaxmc.identities.get("trace.AX").sample(
            jnp.array([0, 0], dtype=jnp.uint32), {"m": True, "n": 2, "p": 2, "q": 2}
        ),
        TypeError,
        "dims['m']",
        "not a bool",
    ),
    case(
        "sample-size-float",
        lambda: jaxmc.identities.get("trace.AX").sample(
            jnp.array([0, 0], dtype=jnp.uint32), {"m": 2.5, "n": 2, "p": 2, "q": 2}
        ),
        TypeError,
        "dims['m']",
        "must be an int",
    ),
    case(
        "sample-dims-not-a-dict",
        lambda: jaxmc.identities.get("trace.AX").sample(
            jnp.array([0, 0], dtype=jnp.uint32), 3
        ),
        TypeError,
        "`dims`",
        "dict of sizes",
        "int",
    ),
    case(
        "sample-unknown-symbol",
        lambda: jaxmc.identities.get("trace.AX").sample(
            jnp.array([0, 0], dtype=jnp.uint32),
            {"m": 2, "n": 2, "p": 2, "q": 2, "k": 3},
        ),
        ValueError,
        "unknown size symbols",
        "'k'",
    ),
    case(
        "sample-dtype",
        lambda: jaxmc.identities.get("trace.AX").sample(
            jnp.array([0, 0], dtype=jnp.uint32), dtype="small"
        ),
        ValueError,
        "Identity.sample",
        "`dtype`",
        "float32 or float64",
        "'small'",
    ),
    # options not validated
    case(
        "verify-rtol-negative",
        lambda: jaxmc.identities.verify(
            "trace.AX", key=jnp.array([0, 0], dtype=jnp.uint32), rtol=-1
        ),
        ValueError,
        "identities.verify",
        "`rtol`",
        ">= 0",
        "-1",
    ),
    case(
        "verify-rtol-nan",
        lambda: jaxmc.identities.verify(
            "trace.AX", key=jnp.array([0, 0], dtype=jnp.uint32), rtol=float("nan")
        ),
        ValueError,
        "`rtol`",
        "finite",
    ),
    case(
        "verify-rtol-string",
        lambda: jaxmc.identities.verify(
            "trace.AX", key=jnp.array([0, 0], dtype=jnp.uint32), rtol="small"
        ),
        TypeError,
        "`rtol`",
        "real number",
        "'small'",
    ),
    case(
        "verify-rtol-bool",
        lambda: jaxmc.identities.verify(
            "trace.AX", key=jnp.array([0, 0], dtype=jnp.uint32), rtol=True
        ),
        TypeError,
        "`rtol`",
        "real number",
        "bool",
    ),
    case(
        "verify-empty-list",
        lambda: jaxmc.identities.verify([], key=jnp.array([0, 0], dtype=jnp.uint32)),
        ValueError,
        "identities.verify",
        "`identity`",
        "selects no identity",
    ),
    case(
        "verify-dtype-string",
        lambda: jaxmc.identities.verify(
            "trace.AX", key=jnp.array([0, 0], dtype=jnp.uint32), dtype="small"
        ),
        ValueError,
        "`dtype`",
        "float32 or float64",
    ),
    case(
        "verify-trials-bool",
        lambda: jaxmc.identities.verify(
            "trace.AX", key=jnp.array([0, 0], dtype=jnp.uint32), trials=True
        ),
        TypeError,
        "`trials`",
        "not a bool",
    ),
    case(
        "commutation-matrix-bool",
        lambda: jaxmc.commutation_matrix(True, 2),
        TypeError,
        "commutation_matrix",
        "`m`",
        "not a bool",
    ),
    case(
        "duplication-matrix-float",
        lambda: jaxmc.duplication_matrix(2.0),
        TypeError,
        "duplication_matrix",
        "`n`",
        "must be an int",
    ),
    case(
        "commute-negative",
        lambda: jaxmc.commute(jnp.ones(4), -2, -2),
        ValueError,
        "commute",
        "`m`",
        ">= 0",
    ),
    case(
        "jacobian-chunk-bool",
        lambda: jaxmc.jacobian(jnp.sin, chunk_size=True),
        TypeError,
        "`chunk_size`",
        "not a bool",
    ),
    case(
        "hessian-memory-limit-float",
        lambda: jaxmc.hessian(jnp.sum, memory_limit=1e9),
        TypeError,
        "`memory_limit`",
        "must be an int",
    ),
    case(
        "choose-mode-integer-input",
        lambda: jaxmc.choose_mode(lambda x: 2 * x, jnp.arange(3)),
        TypeError,
        "choose_mode",
        "args[0]",
        "floating dtype",
        "int",
    ),
    case(
        "choose-mode-refine-string",
        lambda: jaxmc.choose_mode(jnp.sin, jnp.ones(3), refine="no"),
        TypeError,
        "choose_mode",
        "`refine`",
        "True or False",
    ),
    case(
        "cost-report-modes-int",
        lambda: jaxmc.cost_report(jnp.sin, jnp.ones(3), modes=5),
        TypeError,
        "cost_report",
        "`modes`",
        "sequence",
        "int 5",
    ),
    case(
        "cost-report-repeats-zero",
        lambda: jaxmc.cost_report(jnp.sin, jnp.ones(3), repeats=np.int64(0)),
        ValueError,
        "cost_report",
        "`repeats`",
        ">= 1",
    ),
    case(
        "layout-unknown",
        lambda: jaxmc.gradient(jnp.sum, layout="rows"),
        ValueError,
        "jaxmc.gradient",
        "`layout`",
        "'numerator'",
        "'rows'",
    ),
    case(
        "layout-undefined-for-a-pytree-leaf",
        lambda: jaxmc.jacobian(lambda p: p["W"] * 2.0, layout="numerator")(
            {"W": jnp.ones((2, 2))}
        ),
        ValueError,
        "jaxmc.jacobian",
        "layout='vec'",
        "args[0]['W']",
    ),
    # user functions of the wrong kind
    case(
        "jacobian-f-returns-string",
        lambda: jaxmc.jacobian(lambda x: "y")(jnp.ones(3)),
        TypeError,
        "jaxmc.jacobian",
        "`f` must return an array",
        "str",
    ),
    case(
        "jacobian-f-raises",
        lambda: jaxmc.jacobian(lambda x: jnp.ones((2, 3)) @ x)(jnp.ones(4)),
        ValueError,
        "jaxmc.jacobian",
        "calling `f` on (array of shape (4,)",
        "failed",
        "It raised TypeError",
    ),
    case(
        "gradient-f-raises",
        lambda: jaxmc.gradient(lambda x: jnp.reshape(x, (7,)))(jnp.ones(3)),
        ValueError,
        "jaxmc.gradient",
        "calling `f`",
        "cannot reshape",
    ),
    case(
        "gradient-f-returns-none",
        lambda: jaxmc.gradient(lambda x: None)(jnp.ones(3)),
        TypeError,
        "jaxmc.gradient",
        "`f` must return a single array",
    ),
    case(
        "cost-report-f-returns-string",
        lambda: jaxmc.cost_report(lambda x: "y", jnp.ones(3), repeats=1),
        TypeError,
        "cost_report",
        "`f` must return an array",
        "str",
    ),
    case(
        "cost-report-f-raises",
        lambda: jaxmc.cost_report(
            (lambda x: jnp.reshape(x, (7,))), jnp.ones(3), repeats=1
        ),
        ValueError,
        "cost_report",
        "calling `f`",
        "cannot reshape",
    ),
    case(
        "hessian-f-raises",
        lambda: jaxmc.hessian(lambda x: jnp.reshape(x, (7,)))(jnp.ones(3)),
        ValueError,
        "jaxmc.hessian",
        "calling `f`",
        "TypeError: cannot reshape",
    ),
    case(
        "choose-mode-f-raises",
        lambda: jaxmc.choose_mode((lambda x: jnp.reshape(x, (7,))), jnp.ones(3)),
        ValueError,
        "choose_mode",
        "calling `f`",
    ),
    case(
        "jacobian-from-differential-returns-string",
        lambda: jaxmc.jacobian_from_differential(lambda d: "dF", jnp.ones(3)),
        TypeError,
        "jacobian_from_differential",
        "`dF` must return an array",
    ),
    case(
        "jacobian-from-differential-raises",
        lambda: jaxmc.jacobian_from_differential(
            (lambda x: jnp.reshape(x, (7,))), jnp.ones(3)
        ),
        ValueError,
        "jacobian_from_differential",
        "calling `dF`",
        "cannot reshape",
    ),
    case(
        "gradient-from-differential-raises",
        lambda: jaxmc.gradient_from_differential(
            lambda d: jnp.trace(jnp.ones((3, 3)) @ d), jnp.ones((2, 2))
        ),
        ValueError,
        "gradient_from_differential",
        "calling `df` on (array of shape (2, 2)",
    ),
    case(
        "hessian-from-second-differential-returns-string",
        lambda: jaxmc.hessian_from_second_differential(lambda d: "q", jnp.ones(2)),
        TypeError,
        "hessian_from_second_differential",
        "`d2f` must return an array",
    ),
    case(
        "differential-f-raises",
        lambda: jaxmc.differential(lambda x: jnp.reshape(x, (7,)))(
            jnp.ones(2), jnp.ones(2)
        ),
        ValueError,
        "jaxmc.differential",
        "calling `f`",
    ),
    # non-finite values where jaxmc computes the result from the input
    case(
        "symmetric-gradient-nan",
        lambda: jaxmc.symmetric_gradient(jnp.full((2, 2), jnp.nan)),
        ValueError,
        "symmetric_gradient",
        "`G`",
        "finite",
        "index (0, 0)",
    ),
    case(
        "symmetric-gradient-inf-vech",
        lambda: jaxmc.symmetric_gradient(
            jnp.array([[1.0, jnp.inf], [0.0, 1.0]]), convention="vech"
        ),
        ValueError,
        "`G`",
        "1 non-finite entry",
        "(0, 1)",
    ),
    # pytrees and lists: leaves that are not arrays, ragged lists, int leaves
    case(
        "gradient-pytree-string-leaf",
        lambda: jaxmc.gradient(lambda p: jnp.sum(p["a"]))({"a": jnp.ones(2), "b": "x"}),
        TypeError,
        "jaxmc.gradient",
        "args[0]['b']",
        "must be an array",
        "str",
    ),
    case(
        "jacobian-pytree-int-leaf",
        lambda: jaxmc.jacobian(lambda p: p[0] * 2.0)([jnp.ones(2), jnp.arange(2)]),
        TypeError,
        "args[0][1]",
        "floating dtype",
        "int",
    ),
    case(
        "jacobian-ragged-list",
        lambda: jaxmc.jacobian(lambda x: x)([[1.0, 2.0], [3.0]]),
        ValueError,
        "jaxmc.jacobian",
        "args[0]",
        "does not form an array",
    ),
    case(
        "jacobian-int-scalar",
        lambda: jaxmc.jacobian(lambda x: x**2)(3),
        TypeError,
        "args[0]",
        "floating dtype",
    ),
    case(
        "jacobian-pytree-output",
        lambda: jaxmc.jacobian(lambda x: {"y": x})(jnp.ones(2)),
        TypeError,
        "jaxmc.jacobian",
        "single array",
        "pytree output",
    ),
    case(
        "hessian-dict-argument",
        lambda: jaxmc.hessian(lambda p: jnp.sum(p["a"] ** 2))({"a": jnp.ones(2)}),
        TypeError,
        "jaxmc.hessian",
        "args[0]",
        "must be an array",
        "dict",
        "ravel_pytree",
    ),
    case(
        "jacobian-from-differential-dict",
        lambda: jaxmc.jacobian_from_differential(lambda d: d, {"a": jnp.ones(2)}),
        TypeError,
        "jacobian_from_differential",
        "`X`",
        "dict",
    ),
]


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


def _sp_host_tanh(x):
    # evaluates, but cannot be differentiated (no JVP rule for a callback)
    out = jax.ShapeDtypeStruct(x.shape, x.dtype)
    return jax.pure_callback(lambda a: np.tanh(a), out, x)


def _sp_no_jvp_model(p, batch):
    return _sp_host_tanh(batch[0] @ p["w1"]) @ p["w2"]


# A Hessian and a GGN that construct (the loss evaluates) but whose matvec
# fails: the algorithms skip their matvec check for these operators and run
# it only when the solve fails, so the error still names the algorithm.
_SP_NO_JVP = {
    "hessian": jaxmc.spectrum.hessian_operator(
        lambda p, b: _sp_mse(_sp_no_jvp_model(p, b), b), _SP_P, _SP_D
    ),
    "ggn": jaxmc.spectrum.ggn_operator(_sp_no_jvp_model, _sp_mse, _SP_P, _SP_D),
}
_SP_ALGORITHMS = {
    "eigenvalues": lambda op: jaxmc.spectrum.eigenvalues(op, 2, key=_SP_KEY),
    "power_iteration": lambda op: jaxmc.spectrum.power_iteration(op, key=_SP_KEY),
    "trace": lambda op: jaxmc.spectrum.trace(op, key=_SP_KEY),
    "diagonal": lambda op: jaxmc.spectrum.diagonal(op, key=_SP_KEY),
    "spectral_density": lambda op: jaxmc.spectrum.spectral_density(op, key=_SP_KEY),
    "kpm_density": lambda op: jaxmc.spectrum.kpm_density(op, key=_SP_KEY),
    "logdet": lambda op: jaxmc.spectrum.logdet(op, key=_SP_KEY, lanczos_steps=5),
}
SPECTRUM += [
    case(
        f"{kind}_matvec_fails_{name}{'_jit' if jitted else ''}",
        (
            (lambda f=f, op=op: jax.jit(lambda: f(op))())
            if jitted
            else (lambda f=f, op=op: f(op))
        ),
        ValueError,
        f"jaxmc.spectrum.{name}:",
        "calling the operator's matvec",
        "Pure callbacks do not support JVP",
    )
    for kind, op in _SP_NO_JVP.items()
    for name, f in _SP_ALGORITHMS.items()
    for jitted in (False, True)
]


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
